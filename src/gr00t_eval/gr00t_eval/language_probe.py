"""How much the instruction moves a policy's action chunk, against how much the sampling noise does.

A diagnostic for language grounding without running closed-loop episodes: for scene pairs of
touch-one-of-two (same images, the other object named, see ``TouchOneOfTwoTask``) it renders the
head camera at the episode start, samples one chunk per instruction from the same initial noise and
one more from another noise, and reports the mean absolute joint difference of the final chunk step
in both cases, how much the goal tokens (System 2's output) differ between the two instructions, and
which share of the action head's cross-attention falls on the goal tokens that differ (a head that
attends only to instruction-independent tokens cannot follow the instruction, whatever System 2 does).
A policy that follows the language moves its chunk with the instruction by an amount comparable to
(or above) the noise spread; one that ignores it shows a ratio near 0.

It also measures whether the chunk goes the right way: in reach (the instruction names the hand)
and touch-one-of-two (it names an object; the two lie on either side) episodes at the start, how
often the first chunk moves the arm on the instructed side more than the other one (the scripted
demonstrations: always; a policy that ignores the instruction: about half the time).

And where grounding fails: linear read-outs of System 2's goal tokens at touch-one-of-two starts,
fitted on training seeds and scored on evaluation seeds, for the colour of the object on the left
(vision), of the named object (language), and the named object's side (binding, both combined).

    python -m gr00t_eval.language_probe --model models/gr00t_demo [models/gr00t_random ...] --pairs 10 \
        [--episodes 20 --draws 5] [--grounding 160 80] [--output probe.json]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gr00t_description import StackConfig, load_stack
from gr00t_eval.model_policy import measured_state
from gr00t_policy.joint_states import ungroup_chunk
from gr00t_policy.policy import GoalTokens, Gr00tPolicy, resolve_model_path
from gr00t_sim import GR1TabletopSim, SimConfig
from gr00t_sim.tasks import EVAL_SEED_START, EpisodeSpec, get_task
from gr00t_sim.tasks.sim_binding import layout_of, render_episode_start


def _episode_start(
    sim: GR1TabletopSim, spec: EpisodeSpec, policy: Gr00tPolicy, stack: StackConfig
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Place ``spec``'s scene, let it settle; the head-camera image and the policy state input."""
    return render_episode_start(sim, spec), measured_state(sim, stack.robot, policy.data_config.state_groups)


def _final_step(policy: Gr00tPolicy, state: dict[str, np.ndarray], goal: GoalTokens, noise: torch.Tensor) -> np.ndarray:
    chunk = policy.predict_chunk(state, policy.prepare_goal(goal), noise=noise)
    return ungroup_chunk(chunk, policy.data_config.action_groups)[-1]


def _goal_token_change(a: GoalTokens, b: GoalTokens) -> float:
    """Mean |Δ| over the token positions where two goals differ, relative to the mean |token|.

    The LLM is causal, so only the positions from the instruction on can differ (the text positions
    in the GR00T N1 prompt order; the image tokens too with ``instruction_first``); positions past
    the shorter prompt are left out.
    """
    n = min(a.num_tokens, b.num_tokens)
    diff = (a.tokens[0, :n] - b.tokens[0, :n]).abs().mean(-1)
    changed = diff[diff > 0]
    return float(changed.mean() / a.tokens[0].abs().mean()) if len(changed) else 0.0


def _changed_positions(a: GoalTokens, b: GoalTokens) -> torch.Tensor:
    """(T_a,) bool: goal token positions of ``a`` that differ from ``b`` (all past ``b``'s length)."""
    changed = torch.ones(a.num_tokens, dtype=torch.bool)
    n = min(a.num_tokens, b.num_tokens)
    changed[:n] = (a.tokens[0, :n] != b.tokens[0, :n]).any(-1).cpu()
    return changed


def _cross_attention_share(
    policy: Gr00tPolicy, state: dict[str, np.ndarray], goal: GoalTokens, noise: torch.Tensor, positions: torch.Tensor
) -> float:
    """Mean attention weight on goal ``positions`` over every cross-attention call of one chunk.

    Averaged over blocks, denoising steps, heads and action/state tokens; recomputed from the
    inputs of each cross-attention module (the uncached sampler calls the modules).
    """
    dit = policy.model.action_head.model
    shares: list[float] = []

    def record(module: torch.nn.Module, args: tuple[torch.Tensor, torch.Tensor], _output: torch.Tensor) -> None:
        x, context = args
        query = module._split_heads(module.to_q(x))
        key = module._split_heads(module.to_k(context))
        weights = torch.softmax(query @ key.transpose(-1, -2) * module.head_dim**-0.5, dim=-1)
        shares.append(float(weights[..., positions.to(weights.device)].sum(-1).mean()))

    handles = [dit.transformer_blocks[i].attn1.register_forward_hook(record) for i in dit.cross_attention_blocks]
    try:
        policy.predict_chunk_naive(state, goal, noise=noise)
    finally:
        for handle in handles:
            handle.remove()
    return float(np.mean(shares))


def language_sensitivity(
    policy: Gr00tPolicy,
    stack: StackConfig,
    pairs: int,
    seed_start: int = EVAL_SEED_START,
    instructions: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Instruction effect vs noise effect (mean |Δ| rad of the last chunk step) over scene pairs.

    ``instructions`` overrides the pair's two instructions (e.g. the same text twice, as a control).
    """
    if seed_start % 2:
        raise ValueError(f"seed_start must be even (the first seed of a scene pair), got {seed_start}")
    task = get_task("touch_one_of_two")
    instruction_effect, noise_effect, token_change, attention_share = [], [], [], []
    sim_config = SimConfig.from_node_parameters(stack.node_parameters("sim"))
    noise_shape = (1, policy.action_horizon, policy.config.action_head.action_dim)
    with GR1TabletopSim(stack.robot, sim_config) as sim:
        layout = layout_of(sim)
        for k in range(pairs):
            first, second = (task.sample(seed_start + 2 * k + i, layout) for i in range(2))
            texts = instructions or (first.instruction, second.instruction)
            image, state = _episode_start(sim, first, policy, stack)
            noise = torch.randn(noise_shape, generator=torch.Generator().manual_seed(k))
            other_noise = torch.randn(noise_shape, generator=torch.Generator().manual_seed(10_000 + k))
            goal_a, goal_b = (policy.encode_goal([image], text) for text in texts)
            a = _final_step(policy, state, goal_a, noise)
            b = _final_step(policy, state, goal_b, noise)
            a_other_noise = _final_step(policy, state, goal_a, other_noise)
            token_change.append(_goal_token_change(goal_a, goal_b))
            attention_share.append(
                _cross_attention_share(policy, state, goal_a, noise, _changed_positions(goal_a, goal_b))
            )
            instruction_effect.append(float(np.abs(a - b).mean()))
            noise_effect.append(float(np.abs(a - a_other_noise).mean()))
    mean_instruction, mean_noise = float(np.mean(instruction_effect)), float(np.mean(noise_effect))
    return {
        "pairs": pairs,
        "seeds": [seed_start, seed_start + 2 * pairs],
        "instruction_effect_rad": mean_instruction,
        "noise_effect_rad": mean_noise,
        "instruction_to_noise_ratio": mean_instruction / mean_noise if mean_noise > 0 else None,
        # How much System 2 tells the two instructions apart (0 = identical goal tokens).
        "goal_token_relative_change": float(np.mean(token_change)),
        # Share of the action head's cross-attention on those instruction-dependent goal tokens.
        "cross_attention_on_changed_tokens": float(np.mean(attention_share)),
        "per_pair": {
            "instruction_effect_rad": instruction_effect,
            "noise_effect_rad": noise_effect,
            "goal_token_relative_change": token_change,
            "cross_attention_on_changed_tokens": attention_share,
        },
    }


def _arm_moved_more(chunk_end: np.ndarray, state: dict[str, np.ndarray], groups: Sequence[tuple[str, int]]) -> str:
    """'left' or 'right': the arm whose joints the chunk's last step moves further from ``state``."""
    columns, start = {}, 0
    for name, width in groups:
        columns[name] = slice(start, start + width)
        start += width
    moved = {
        side: float(np.abs(chunk_end[columns[f"{side}_arm"]] - state[f"{side}_arm"]).sum())
        for side in ("left", "right")
    }
    return max(moved, key=moved.get)


def arm_choice(
    policy: Gr00tPolicy,
    stack: StackConfig,
    task_name: str,
    episodes: int,
    draws: int,
    seed_start: int = EVAL_SEED_START,
) -> dict[str, Any]:
    """How often the first chunk of an episode moves the instructed side's arm more (``draws`` noises each)."""
    task = get_task(task_name)
    sim_config = SimConfig.from_node_parameters(stack.node_parameters("sim"))
    groups = policy.data_config.action_groups
    hits = []
    with GR1TabletopSim(stack.robot, sim_config) as sim:
        layout = layout_of(sim)
        for seed in range(seed_start, seed_start + episodes):
            spec = task.sample(seed, layout)
            image, state = _episode_start(sim, spec, policy, stack)
            goal = policy.prepare_goal(policy.encode_goal([image], spec.instruction))
            for k in range(draws):
                chunk = policy.predict_chunk(state, goal, generator=torch.Generator().manual_seed(k))
                hits.append(_arm_moved_more(ungroup_chunk(chunk, groups)[-1], state, groups) == spec.hand)
    return {"task": task_name, "episodes": episodes, "draws": draws, "instructed_arm_rate": float(np.mean(hits))}


# Linear read-outs of the goal tokens at touch-one-of-two episode starts, each a balanced yes/no:
# what the image shows, what the instruction names, and the two combined (where to go).
_WARM = ("red", "yellow")
GROUNDING_QUESTIONS = {
    "vision: the object on the left is red or yellow": lambda spec: _is_warm(_object_on(spec, "left")),
    "language: the named object is red or yellow": lambda spec: _is_warm(spec.target_object),
    "binding: the named object is on the left": lambda spec: spec.hand == "left",
}
_IMAGE_BLOCK_TOKENS = 80  # the last goal tokens: with instruction_first, the image block and the prompt's end


def _is_warm(name: str) -> bool:
    return name.split("_")[0] in _WARM


def _object_on(spec: EpisodeSpec, side: str) -> str:
    names = (spec.target_object, spec.other_object)
    return next(n for n in names if (spec.placements[n].position[1] > 0) == (side == "left"))


def _ridge_accuracy(
    train: torch.Tensor, y_train: torch.Tensor, test: torch.Tensor, y_test: torch.Tensor, penalty: float
) -> float:
    """Held-out accuracy of a ridge classifier (dual form: far fewer samples than features)."""
    mean, std = train.mean(0), train.std(0) + 1e-6
    a, b = (train - mean) / std, (test - mean) / std
    alpha = torch.linalg.solve(a @ a.T + penalty * torch.eye(len(a), dtype=a.dtype), y_train * 2 - 1)
    return float((((b @ (a.T @ alpha)) > 0).to(y_test.dtype) == y_test).double().mean())


def grounding_readout(
    policy: Gr00tPolicy,
    stack: StackConfig,
    train_episodes: int,
    test_episodes: int,
    penalty: float = 100.0,
    seed_start: int = EVAL_SEED_START,
) -> dict[str, float]:
    """Held-out accuracy of linear read-outs of the image-block goal tokens (``GROUNDING_QUESTIONS``).

    Fitted on training-seed episode starts, scored on evaluation seeds. Vision and language near
    100% with binding near 50% says System 2 sees the colours and reads the name but does not
    combine them; the action head then has to, or it picks a side at random.
    """
    task = get_task("touch_one_of_two")
    sim_config = SimConfig.from_node_parameters(stack.node_parameters("sim"))

    def collect(seeds: range) -> tuple[torch.Tensor, torch.Tensor]:
        tokens, answers = [], []
        with GR1TabletopSim(stack.robot, sim_config) as sim:
            layout = layout_of(sim)
            for seed in seeds:
                spec = task.sample(seed, layout)
                image, _state = _episode_start(sim, spec, policy, stack)
                goal = policy.encode_goal([image], spec.instruction).tokens[0, -_IMAGE_BLOCK_TOKENS:]
                tokens.append(goal.double().flatten())
                answers.append([float(question(spec)) for question in GROUNDING_QUESTIONS.values()])
        return torch.stack(tokens), torch.tensor(answers, dtype=torch.float64)

    train, y_train = collect(range(0, train_episodes))
    test, y_test = collect(range(seed_start, seed_start + test_episodes))
    return {
        question: _ridge_accuracy(train, y_train[:, k], test, y_test[:, k], penalty)
        for k, question in enumerate(GROUNDING_QUESTIONS)
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model",
        nargs="+",
        required=True,
        help="checkpoint directories or Hugging Face repo ids org/name[@revision] (Hub cache)",
    )
    parser.add_argument("--pairs", type=int, default=10, help="scene pairs (default 10)")
    parser.add_argument("--episodes", type=int, default=20, help="episode starts per task for the arm choice")
    parser.add_argument("--draws", type=int, default=5, help="noise draws per episode start for the arm choice")
    parser.add_argument("--seed-start", type=int, default=EVAL_SEED_START)
    parser.add_argument(
        "--grounding",
        type=int,
        nargs=2,
        default=(160, 80),
        metavar=("TRAIN", "TEST"),
        help="touch episode starts to fit / score the goal-token read-outs (0 0 skips them)",
    )
    parser.add_argument("--output", type=Path, default=None, help="JSON report path")
    args = parser.parse_args(argv)
    if min(args.pairs, args.episodes, args.draws) < 1:
        parser.error("--pairs, --episodes and --draws must be at least 1")
    stack = load_stack()
    results = []
    for model in args.model:
        policy = Gr00tPolicy.from_pretrained(resolve_model_path(model))
        result = {"model": str(model), **language_sensitivity(policy, stack, args.pairs, args.seed_start)}
        ratio = result["instruction_to_noise_ratio"]
        print(
            f"{model}: the instruction moves the last chunk step by {result['instruction_effect_rad']:.2e} rad, "
            f"the sampling noise by {result['noise_effect_rad']:.2e} rad (ratio {ratio:.2e}); goal tokens "
            f"change by {result['goal_token_relative_change']:.1%} where they differ and get "
            f"{result['cross_attention_on_changed_tokens']:.2%} of the action head's cross-attention; "
            f"{args.pairs} scene pairs"
        )
        result["arm_choice"] = [
            arm_choice(policy, stack, task, args.episodes, args.draws, args.seed_start)
            for task in ("reach", "touch_one_of_two")
        ]
        print(
            "    first chunk moves the instructed side's arm more: "
            + ", ".join(f"{c['task']} {c['instructed_arm_rate']:.0%}" for c in result["arm_choice"])
            + f" ({args.episodes} episode starts x {args.draws} noise draws)"
        )
        if min(args.grounding) > 0:
            result["grounding_readout"] = grounding_readout(policy, stack, *args.grounding, seed_start=args.seed_start)
            print(
                "    goal tokens, linear read-out accuracy on held-out episodes: "
                + "; ".join(f"{question} {accuracy:.0%}" for question, accuracy in result["grounding_readout"].items())
            )
        results.append(result)
    if args.output:
        args.output.write_text(json.dumps({"probe": "gr00t_eval.language_probe", "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
