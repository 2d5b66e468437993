"""Run the tabletop task suite and summarise it: success with 95% Wilson intervals, language
compliance, time to success, safety-limit interventions.

The library path (`run_library_eval`) drives `GR1TabletopSim` directly, as fast as the CPU
allows, with the scripted demonstrator or a checkpoint in-process (policy "model",
`gr00t_eval.model_policy`: the weights without real-time effects). The node path
(`gr00t_eval.node_eval.run_node_eval`, policy "node") runs the episodes through the running stack.
The summary functions take `EpisodeOutcome`s from any source, so both paths report the same numbers.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from gr00t_description import RobotConfig, StackConfig
from gr00t_eval.stats import wilson_interval
from gr00t_sim import GR1TabletopSim, SimConfig
from gr00t_sim.scripted import ScriptedDemonstrator, rollout
from gr00t_sim.tasks import TASKS, EpisodeOutcome, eval_seeds, get_task
from gr00t_sim.tasks.sim_binding import layout_of

if TYPE_CHECKING:
    from gr00t_eval.model_policy import ModelEpisodePolicy

POLICIES = ("scripted", "model", "node")
# What `--blank-instruction` sends: names no object, hand or place (the language ablation).
BLANK_INSTRUCTION = "do the task"


@dataclass(frozen=True)
class EvalConfig:
    """What to evaluate and how."""

    policy: str = "scripted"
    tasks: tuple[str, ...] = tuple(TASKS)
    episodes_per_task: int = 50
    seed_start: int = eval_seeds(1)[0]  # evaluation seeds only (>= EVAL_SEED_START)
    policy_period_s: float = 0.05  # System 1's step_period_s: one command per policy step
    # Head-camera frames kept per episode (at these episode times, plus the last state), for the
    # PNG's strips of a successful and a failed episode. Empty: no rendering.
    frame_times_s: tuple[float, ...] = (0.05, 0.6, 1.2)
    camera: str = "head"
    # policies "model" and "node": checkpoint directory ('' = the bundled model), the neutral
    # instruction instead of the episode's (language ablation); "node": the episode length (None =
    # the task's); "model": policy steps per System 1 chunk (one chunk step per policy step).
    model_path: str = ""
    blank_instruction: bool = False
    episode_seconds: float | None = None
    replan_steps: int = 8
    # "node": sim seconds per wall second, every node on the sim's /clock (None = the stack's pacing,
    # real time on the wall clock). Below 1 a slow machine's inference latency costs fewer sim seconds.
    sim_realtime_factor: float | None = None

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {self.policy!r}")
        for name in self.tasks:
            get_task(name)  # raises with the available names
        if self.episodes_per_task < 1:
            raise ValueError(f"episodes_per_task must be >= 1, got {self.episodes_per_task}")
        eval_seeds(1, self.seed_start)  # raises if below the evaluation range
        if self.policy_period_s <= 0:
            raise ValueError(f"policy_period_s must be > 0, got {self.policy_period_s}")
        if self.replan_steps < 1:
            raise ValueError(f"replan_steps must be >= 1, got {self.replan_steps}")
        if self.episode_seconds is not None and not self.episode_seconds > 0:
            raise ValueError(f"episode_seconds must be > 0, got {self.episode_seconds}")
        if self.policy == "scripted" and (self.model_path or self.blank_instruction):
            raise ValueError("model_path and blank_instruction apply to policies 'model' and 'node' only")
        if self.sim_realtime_factor is not None:
            if self.policy != "node":
                raise ValueError("sim_realtime_factor applies to policy 'node' only (the library path stops the clock)")
            if not self.sim_realtime_factor > 0:
                raise ValueError(f"sim_realtime_factor must be > 0, got {self.sim_realtime_factor}")


@dataclass
class EpisodeFrames:
    """Rendered frames of one episode: (episode time s, RGB uint8)."""

    outcome: EpisodeOutcome
    frames: list[tuple[float, np.ndarray]]


@dataclass
class EvalRun:
    """Everything an evaluation produced: per-episode outcomes, example frames, timing."""

    config: EvalConfig
    outcomes: list[EpisodeOutcome]
    examples: dict[str, dict[str, EpisodeFrames]] = field(default_factory=dict)  # task -> 'success'/'failure'
    wall_time_s: float = 0.0
    sim_time_s: float = 0.0
    exit_codes: dict[str, int] = field(default_factory=dict)  # node path: the graph's processes
    # node path: each process's ROS parameters as started (stack YAML path, System 1's execution settings)
    node_parameters: dict[str, dict[str, Any]] = field(default_factory=dict)


def count_limit_interventions(
    robot: RobotConfig, names: Sequence[str], commands: np.ndarray, period_s: float, tolerance: float = 1e-6
) -> int:
    """Policy steps whose command the safety layer would clamp (outside the operating position
    window, or faster than a joint's max_velocity from the previous command).

    The library path has no safety supervisor in the loop, so this counts what it would have
    done; through the nodes the count comes from `gr00t/controller_status` instead.
    """
    if len(commands) == 0:
        return 0
    lower = np.array([robot.joints[n].lower for n in names])
    upper = np.array([robot.joints[n].upper for n in names])
    max_velocity = np.array([robot.joints[n].max_velocity for n in names])
    out_of_window = np.any((commands < lower - tolerance) | (commands > upper + tolerance), axis=1)
    too_fast = np.zeros(len(commands), dtype=bool)
    too_fast[1:] = np.any(np.abs(np.diff(commands, axis=0)) / period_s > max_velocity + tolerance, axis=1)
    return int(np.count_nonzero(out_of_window | too_fast))


def run_library_eval(
    config: EvalConfig,
    stack: StackConfig,
    sim_config: SimConfig | None = None,
    progress: Callable[[int], None] | None = None,
) -> EvalRun:
    """Episodes of every task on the simulator library with the scripted demonstrator or a model.

    `progress(n)` is called after each episode with the number of episodes done (e.g. a tqdm update).
    """
    if config.policy == "node":
        raise ValueError("policy 'node' runs through the nodes (gr00t_eval.node_eval), not the library")
    sim_config = sim_config or SimConfig.from_node_parameters(stack.node_parameters("sim"))
    run = EvalRun(config=config, outcomes=[])
    started = time.perf_counter()
    with GR1TabletopSim(stack.robot, sim_config) as sim:
        model_policy = _model_policy(config, stack, sim) if config.policy == "model" else None
        demonstrator = model_policy or ScriptedDemonstrator.for_sim(sim)
        layout = layout_of(sim)
        for task_name in config.tasks:
            task = get_task(task_name)
            for seed in eval_seeds(config.episodes_per_task, config.seed_start):
                spec = task.sample(seed, layout)
                limited_before = model_policy.limited_steps if model_policy is not None else 0
                result = rollout(
                    sim,
                    task,
                    spec,
                    demonstrator,
                    policy_period_s=config.policy_period_s,
                    frame_times=list(config.frame_times_s) if config.frame_times_s else None,
                    camera=config.camera,
                )
                outcome = result.outcome
                if model_policy is None:
                    outcome.safety_interventions = count_limit_interventions(
                        stack.robot, result.joint_names, result.commands, config.policy_period_s
                    )
                else:  # its commands went through the limiter: count the steps it changed
                    outcome.safety_interventions = model_policy.limited_steps - limited_before
                    outcome.extra["instruction_sent"] = 0.0 if config.blank_instruction else 1.0
                run.outcomes.append(outcome)
                run.sim_time_s += outcome.duration_s
                kind = "success" if outcome.success else "failure"
                examples = run.examples.setdefault(task_name, {})
                if result.frames and kind not in examples:
                    examples[kind] = EpisodeFrames(outcome, result.frames)
                if progress is not None:
                    progress(len(run.outcomes))
    run.wall_time_s = time.perf_counter() - started
    return run


def _model_policy(config: EvalConfig, stack: StackConfig, sim: GR1TabletopSim) -> ModelEpisodePolicy:
    # Imported here: the scripted path needs neither torch nor the policy package.
    from gr00t_eval.model_policy import ModelEpisodePolicy
    from gr00t_policy.policy import Gr00tPolicy, resolve_model_path

    return ModelEpisodePolicy(
        Gr00tPolicy.from_pretrained(resolve_model_path(config.model_path)),
        sim,
        stack.robot,
        policy_period_s=config.policy_period_s,
        goal_period_s=1.0 / stack.rates["system2_hz"],
        replan_steps=config.replan_steps,
        camera=config.camera,
        instruction=BLANK_INSTRUCTION if config.blank_instruction else None,
    )


def summarise_task(outcomes: Sequence[EpisodeOutcome]) -> dict[str, Any]:
    """Per-task numbers: success rate with its 95% Wilson interval, time to success, interventions,
    and, where a distractor is named (two-object task), language compliance."""
    n = len(outcomes)
    successes = sum(o.success for o in outcomes)
    low, high = wilson_interval(successes, n)
    times = [o.time_to_success_s for o in outcomes if o.time_to_success_s is not None]
    missed = [o.closest_hand_distance_m for o in outcomes if not o.success and o.closest_hand_distance_m is not None]
    summary: dict[str, Any] = {
        "episodes": n,
        "successes": successes,
        "success_rate": successes / n,
        "success_ci95": [low, high],
        "mean_time_to_success_s": float(np.mean(times)) if times else None,
        "median_time_to_success_s": float(np.median(times)) if times else None,
        "wrong_object_touched_rate": sum(o.wrong_object_touched for o in outcomes) / n,
        # How close the failures came: a median a few cm beyond the touch distance = near misses.
        "failures_median_closest_hand_distance_m": float(np.median(missed)) if missed else None,
        "safety_interventions": sum(o.safety_interventions for o in outcomes),
        "episodes_with_safety_interventions": sum(o.safety_interventions > 0 for o in outcomes),
    }
    if outcomes and outcomes[0].task == "touch_one_of_two":
        # Compliance: the first object the policy touched is the one the instruction named. An
        # episode that touches nothing does not comply (it did not follow the instruction either);
        # the rate among episodes that touched something is given too, to tell "wrong object"
        # apart from "no object".
        complied = sum(o.first_touched_object == o.target_object for o in outcomes)
        touched_any = [o for o in outcomes if o.first_touched_object is not None]
        c_low, c_high = wilson_interval(complied, n)
        summary["language_compliance_rate"] = complied / n
        summary["language_compliance_ci95"] = [c_low, c_high]
        summary["language_compliance_rate_when_touching"] = (
            sum(o.first_touched_object == o.target_object for o in touched_any) / len(touched_any)
            if touched_any
            else None
        )
        # Seed pairs (2k, 2k + 1) show the same scene with the other object named (see
        # TouchOneOfTwoTask): a policy that decides by the scene complies in at most one of the two
        # (a random picker in both ~25% of the time), so complying in both is the stricter measure.
        by_pair: dict[int, list[bool]] = {}
        for o in outcomes:
            by_pair.setdefault(o.seed // 2, []).append(o.first_touched_object == o.target_object)
        pairs = [both for both in by_pair.values() if len(both) == 2]
        if pairs:
            both_complied = sum(all(p) for p in pairs)
            p_low, p_high = wilson_interval(both_complied, len(pairs))
            summary["scene_pairs"] = len(pairs)
            summary["pair_compliance_rate"] = both_complied / len(pairs)
            summary["pair_compliance_ci95"] = [p_low, p_high]
    return summary


def build_report(run: EvalRun) -> dict[str, Any]:
    """The JSON report: configuration, machine, per-task summaries and every episode."""
    tasks = {
        name: summarise_task([o for o in run.outcomes if o.task == name])
        for name in run.config.tasks
        if any(o.task == name for o in run.outcomes)
    }
    return {
        "benchmark": "gr00t-ros GR-1 tabletop suite (gr00t_sim.tasks)",
        "policy": run.config.policy,
        "path": (
            "nodes (sim_node + system2_node + system1_node processes; scene state from ~/scene_state)"
            if run.config.policy == "node"
            else "library (GR1TabletopSim driven directly, no ROS nodes)"
        ),
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine()},
        "config": {
            **asdict(run.config),
            "seeds": [run.config.seed_start, run.config.seed_start + run.config.episodes_per_task],
        },
        "wall_time_s": run.wall_time_s,
        "sim_time_s": run.sim_time_s,
        "realtime_factor": run.sim_time_s / run.wall_time_s if run.wall_time_s > 0 else None,
        "tasks": tasks,
        # The episodes whose frames the PNG shows (one success, one failure per task where any).
        "example_frames": {
            task: {
                kind: {"seed": ex.outcome.seed, "frame_times_s": [t for t, _ in ex.frames]}
                for kind, ex in kinds.items()
            }
            for task, kinds in run.examples.items()
        },
        **({"node_parameters": run.node_parameters} if run.node_parameters else {}),
        **({"node_exit_codes": run.exit_codes} if run.exit_codes else {}),
        "episodes": [asdict(o) for o in run.outcomes],
    }
