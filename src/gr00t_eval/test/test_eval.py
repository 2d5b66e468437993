"""gr00t-eval: statistics, compliance and intervention counting, and a short end-to-end run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gr00t_description import load_stack
from gr00t_eval.cli import main
from gr00t_eval.evaluation import EvalConfig, count_limit_interventions, summarise_task
from gr00t_eval.stats import wilson_interval
from gr00t_sim.tasks import EpisodeOutcome


def outcome(
    success: bool, first_touched: str | None, target: str = "red_cube", seed: int = 10_000, closest: float | None = None
) -> EpisodeOutcome:
    return EpisodeOutcome(
        task="touch_one_of_two",
        seed=seed,
        instruction="touch the red cube",
        target_object=target,
        success=success,
        time_to_success_s=1.0 if success else None,
        duration_s=2.0,
        first_touched_object=first_touched,
        touched_objects=[first_touched] if first_touched else [],
        wrong_object_touched=first_touched not in (None, target),
        final_target_position=[0.0, 0.0, 0.9],
        closest_hand_distance_m=closest,
    )


def test_wilson_interval_matches_known_values() -> None:
    low, high = wilson_interval(8, 10)  # textbook: 0.490, 0.943
    assert low == pytest.approx(0.4902, abs=1e-3) and high == pytest.approx(0.9433, abs=1e-3)
    assert wilson_interval(0, 50)[0] == 0.0 and wilson_interval(0, 50)[1] == pytest.approx(0.0714, abs=1e-3)
    assert wilson_interval(50, 50)[1] == 1.0
    with pytest.raises(ValueError):
        wilson_interval(3, 0)


def test_language_compliance_counts_the_first_touched_object() -> None:
    summary = summarise_task(
        [outcome(True, "red_cube"), outcome(False, "blue_cube"), outcome(False, None), outcome(False, "red_cube")]
    )
    assert summary["success_rate"] == 0.25
    assert summary["language_compliance_rate"] == 0.5  # touching nothing does not comply
    assert summary["language_compliance_rate_when_touching"] == pytest.approx(2 / 3)
    assert summary["wrong_object_touched_rate"] == 0.25
    assert summary["mean_time_to_success_s"] == 1.0
    assert summary["failures_median_closest_hand_distance_m"] is None  # no distances recorded


def test_failures_closest_approach_is_the_median_over_failed_episodes_only() -> None:
    outcomes = [
        outcome(True, "red_cube", closest=0.0),
        outcome(False, None, closest=0.05),
        outcome(False, None, closest=0.30),
        outcome(False, "blue_cube", closest=0.07),
    ]
    assert summarise_task(outcomes)["failures_median_closest_hand_distance_m"] == pytest.approx(0.07)


def test_pair_compliance_needs_both_seeds_of_a_scene_pair_to_comply() -> None:
    # Scene pair 5000: red named then blue named; a policy always touching red complies once.
    always_red = [outcome(True, "red_cube", "red_cube", 10_000), outcome(False, "red_cube", "blue_cube", 10_001)]
    following = [outcome(True, "red_cube", "red_cube", 10_002), outcome(True, "blue_cube", "blue_cube", 10_003)]
    unpaired = [outcome(True, "red_cube", "red_cube", 10_004)]
    summary = summarise_task(always_red + following + unpaired)
    assert summary["language_compliance_rate"] == 0.8
    assert summary["scene_pairs"] == 2
    assert summary["pair_compliance_rate"] == 0.5


def test_limit_interventions_count_out_of_window_and_too_fast_steps() -> None:
    robot = load_stack().robot
    names = ["left_elbow_pitch_joint"]  # window [-2.27, 0.3], max 3 rad/s
    commands = np.array([[-1.0], [-1.1], [-0.5], [0.5], [0.5]])  # 12 rad/s jump, then above the window
    assert count_limit_interventions(robot, names, commands, 0.05) == 3


def test_config_refuses_training_seeds_and_unknown_tasks() -> None:
    with pytest.raises(ValueError, match="evaluation seeds"):
        EvalConfig(seed_start=5)
    with pytest.raises(ValueError, match="unknown task"):
        EvalConfig(tasks=("reach", "stack_cubes"))


def test_cli_writes_a_json_report_and_a_png(tmp_path: Path) -> None:
    report_path = tmp_path / "eval.json"
    assert main(["--episodes", "1", "--output", str(report_path), "--no-frames", "--quiet"]) == 0
    report = json.loads(report_path.read_text())
    assert set(report["tasks"]) == {"reach", "push_to_region", "touch_one_of_two"}
    assert len(report["episodes"]) == 3 and all(e["seed"] == 10_000 for e in report["episodes"])
    assert "language_compliance_rate" in report["tasks"]["touch_one_of_two"]
    assert (tmp_path / "eval.png").stat().st_size > 1000


def test_language_probe_separates_instruction_from_noise(tmp_path: Path) -> None:
    from gr00t_eval.language_probe import GROUNDING_QUESTIONS, language_sensitivity
    from gr00t_eval.language_probe import main as probe_main
    from gr00t_policy.policy import Gr00tPolicy

    models = Path(__file__).resolve().parents[3] / "models"
    policy, stack = Gr00tPolicy.from_pretrained(models / "gr00t_random"), load_stack()
    same = language_sensitivity(policy, stack, pairs=1, instructions=("touch the red cube",) * 2)
    assert same["instruction_effect_rad"] == 0.0 and same["noise_effect_rad"] > 0.0  # the control
    assert same["goal_token_relative_change"] == 0.0 and same["cross_attention_on_changed_tokens"] == 0.0
    differing = language_sensitivity(
        policy, stack, pairs=1, instructions=("touch the red cube", "reach for the blue cylinder")
    )
    assert differing["instruction_effect_rad"] > 0.0 and differing["goal_token_relative_change"] > 0.05
    # GR00T N1 prompt order: only the text positions differ, a small part of ~90 tokens.
    assert 0.0 < differing["cross_attention_on_changed_tokens"] < 0.5
    policy.config.backbone.instruction_first = True  # now every image token depends on the text too
    first = language_sensitivity(
        policy, stack, pairs=1, instructions=("touch the red cube", "reach for the blue cylinder")
    )
    assert first["cross_attention_on_changed_tokens"] > 0.5
    with pytest.raises(ValueError, match="even"):
        language_sensitivity(policy, stack, pairs=1, seed_start=10_001)
    out = tmp_path / "probe.json"
    args = [
        "--model",
        str(models / "gr00t_random"),
        "--pairs",
        "1",
        "--episodes",
        "2",
        "--draws",
        "2",
        "--grounding",
        "6",
        "4",
    ]
    assert probe_main([*args, "--output", str(out)]) == 0
    result = json.loads(out.read_text())["results"][0]
    assert result["pairs"] == 1
    assert [c["task"] for c in result["arm_choice"]] == ["reach", "touch_one_of_two"]
    assert all(c["instructed_arm_rate"] in (0.0, 0.25, 0.5, 0.75, 1.0) for c in result["arm_choice"])
    assert set(result["grounding_readout"]) == set(GROUNDING_QUESTIONS)
    assert all(accuracy in (0.0, 0.25, 0.5, 0.75, 1.0) for accuracy in result["grounding_readout"].values())


def test_grounding_questions_and_the_linear_readout() -> None:
    import torch

    from gr00t_eval.language_probe import GROUNDING_QUESTIONS, _ridge_accuracy
    from gr00t_sim import SimConfig
    from gr00t_sim.tasks import TableLayout, get_task

    task = get_task("touch_one_of_two")
    layout = TableLayout.from_sim_config(SimConfig())
    first, second = task.sample(10_000, layout), task.sample(10_001, layout)  # a scene pair
    vision, language, binding = GROUNDING_QUESTIONS.values()
    assert vision(first) == vision(second)  # the same scene
    assert binding(first) != binding(second) and (first.hand == "left") == binding(first)
    assert language(first) == (first.target_object.split("_")[0] in ("red", "yellow"))
    # A feature that carries the answer reads out; XOR of two features does not (a linear probe).
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(200, 20)))
    plain = (x[:, 0] > 0).double()
    xor = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).double()
    assert _ridge_accuracy(x[:100], plain[:100], x[100:], plain[100:], penalty=1.0) > 0.9
    assert _ridge_accuracy(x[:100], xor[:100], x[100:], xor[100:], penalty=1.0) < 0.7


def test_arm_choice_reads_the_arm_that_moves_more() -> None:
    from gr00t_eval.language_probe import _arm_moved_more

    groups = (("left_arm", 2), ("right_arm", 2), ("left_hand", 1))
    state = {"left_arm": np.zeros(2), "right_arm": np.ones(2), "left_hand": np.zeros(1)}
    assert _arm_moved_more(np.array([0.1, 0.0, 1.0, 1.5, 3.0]), state, groups) == "right"
    assert _arm_moved_more(np.array([0.1, -0.5, 1.0, 1.2, 0.0]), state, groups) == "left"


def test_model_policy_runs_a_checkpoint_through_the_limiter_at_the_configured_rates() -> None:
    from gr00t_eval.model_policy import ModelEpisodePolicy
    from gr00t_policy.policy import Gr00tPolicy
    from gr00t_sim import GR1TabletopSim, SimConfig
    from gr00t_sim.scripted import rollout
    from gr00t_sim.tasks import get_task
    from gr00t_sim.tasks.sim_binding import layout_of

    stack = load_stack()
    policy = Gr00tPolicy.from_pretrained(Path(__file__).resolve().parents[3] / "models" / "gr00t_random")
    calls = {"chunks": 0, "goals": []}
    predict, encode = policy.predict_chunk, policy.encode_goal

    def counting_predict(*args, **kwargs):
        calls["chunks"] += 1
        return predict(*args, **kwargs)

    def recording_encode(images, instruction):
        calls["goals"].append(instruction)
        return encode(images, instruction)

    policy.predict_chunk, policy.encode_goal = counting_predict, recording_encode
    task = get_task("reach")
    with GR1TabletopSim(stack.robot, SimConfig.from_node_parameters(stack.node_parameters("sim"))) as sim:
        episode_policy = ModelEpisodePolicy(
            policy, sim, stack.robot, policy_period_s=0.05, goal_period_s=0.1, replan_steps=4, instruction="do the task"
        )
        spec = task.sample(10_000, layout_of(sim))
        result = rollout(sim, task, spec, episode_policy, policy_period_s=0.05, stop_on_success=False)
    steps = len(result.commands)
    assert steps == round(spec.max_duration_s / 0.05)
    assert calls["chunks"] == -(-steps // 4) and len(calls["goals"]) == -(-steps // 2)
    assert set(calls["goals"]) == {"do the task"}  # the override replaces the episode's instruction
    # Random weights command wild targets; the limiter keeps every step inside the window and the
    # velocity limits, and counts the steps it had to clamp.
    assert count_limit_interventions(stack.robot, result.joint_names, result.commands, 0.05) == 0
    assert episode_policy.limited_steps > 0
    with pytest.raises(ValueError, match="replan_steps"):
        ModelEpisodePolicy(policy, sim, stack.robot, policy_period_s=0.05, replan_steps=17)


def test_cli_evaluates_a_checkpoint_in_process(tmp_path: Path) -> None:
    models = Path(__file__).resolve().parents[3] / "models"
    report_path = tmp_path / "eval.json"
    args = [
        "--policy",
        "model",
        "--model",
        str(models / "gr00t_random"),
        "--tasks",
        "touch_one_of_two",
        "--episodes",
        "1",
        "--blank-instruction",
        "--output",
        str(report_path),
        "--no-frames",
        "--quiet",
    ]
    assert main(args) == 0
    report = json.loads(report_path.read_text())
    (episode,) = report["episodes"]
    assert episode["task"] == "touch_one_of_two" and episode["extra"]["instruction_sent"] == 0.0
    assert main(["--policy", "scripted", "--model", str(models / "gr00t_random"), "--output", str(report_path)]) == 2
    assert main(["--policy", "model", "--replan-steps", "0", "--output", str(report_path)]) == 2
