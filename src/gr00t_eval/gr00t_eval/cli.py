"""`gr00t-eval`: run the GR-1 tabletop benchmark and write a JSON report and a PNG summary."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from gr00t_description import load_stack
from gr00t_eval.evaluation import POLICIES, EvalConfig, build_report, run_library_eval
from gr00t_eval.node_eval import NODE_FRAME_TIMES_S
from gr00t_eval.report import write_json, write_png
from gr00t_sim.tasks import EVAL_SEED_START, TASKS


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gr00t-eval", description=__doc__)
    parser.add_argument(
        "--policy",
        choices=POLICIES,
        default="scripted",
        help="scripted: the privileged-state IK demonstrator on the sim library (upper bound); "
        "model: a checkpoint in-process on the sim library, the clock stopped while it infers "
        "(the weights without real-time effects); "
        "node: the GR00T stack through the ROS nodes (sim + System 2 + System 1 processes)",
    )
    parser.add_argument(
        "--model",
        default="",
        help="model/node: checkpoint directory or Hugging Face repo id "
        "org/name[@revision] from the Hub cache ('' = the bundled demo model)",
    )
    parser.add_argument(
        "--blank-instruction",
        action="store_true",
        help="model/node: a neutral instruction instead of the episode's (language ablation)",
    )
    parser.add_argument(
        "--replan-steps",
        type=int,
        default=EvalConfig.replan_steps,
        help="model: 20 Hz policy steps per System 1 chunk (default %(default)s of 16)",
    )
    parser.add_argument(
        "--episode-seconds",
        type=float,
        default=None,
        help="node: seconds per episode (default: the task's max_duration_s)",
    )
    parser.add_argument(
        "--sim-realtime-factor",
        type=float,
        default=None,
        help="node: sim seconds per wall second, every node on the sim's /clock (default: real "
        "time on the wall clock); below 1 gives a slow machine's inference more wall time per sim second",
    )
    parser.add_argument("--startup-timeout", type=float, default=180.0, help="node: seconds to wait for the graph")
    parser.add_argument("--verbose-nodes", action="store_true", help="node: forward the nodes' output")
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"comma-separated, from {sorted(TASKS)}")
    parser.add_argument("--episodes", type=int, default=50, help="episodes per task (default 50)")
    parser.add_argument(
        "--seed-start",
        type=int,
        default=EVAL_SEED_START,
        help=f"first evaluation seed (>= {EVAL_SEED_START}; training seeds lie below)",
    )
    parser.add_argument("--stack", default=None, help="stack YAML (default: the bundled sim stack)")
    parser.add_argument("--output", type=Path, default=Path("eval_report.json"), help="JSON report path")
    parser.add_argument("--png", type=Path, default=None, help="PNG summary path (default: next to --output)")
    parser.add_argument("--no-frames", action="store_true", help="render no camera frames (faster; PNG has bars only)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        config = EvalConfig(
            policy=args.policy,
            tasks=tuple(t.strip() for t in args.tasks.split(",") if t.strip()),
            episodes_per_task=args.episodes,
            seed_start=args.seed_start,
            frame_times_s=()
            if args.no_frames
            else NODE_FRAME_TIMES_S
            if args.policy == "node"
            else EvalConfig.frame_times_s,
            model_path=args.model,
            blank_instruction=args.blank_instruction,
            episode_seconds=args.episode_seconds,
            replan_steps=args.replan_steps,
            sim_realtime_factor=args.sim_realtime_factor,
        )
    except ValueError as exc:
        print(f"gr00t-eval: {exc}", file=sys.stderr)
        return 2
    if config.model_path:
        from gr00t_policy.policy import resolve_model_path

        try:
            # Before any process starts: a Hub id is fetched (or found in the cache) once, here, and a
            # missing model is one clear line instead of a node failing in the graph.
            resolve_model_path(config.model_path)
        except (FileNotFoundError, ValueError) as exc:
            print(f"gr00t-eval: {exc}", file=sys.stderr)
            return 2
    stack = load_stack(args.stack)
    total = config.episodes_per_task * len(config.tasks)
    with tqdm(total=total, unit="episode", disable=args.quiet, file=sys.stderr) as bar:
        if config.policy == "node":
            from gr00t_eval.node_eval import run_node_eval

            try:
                run = run_node_eval(
                    config,
                    stack,
                    startup_timeout_s=args.startup_timeout,
                    log=sys.stderr if args.verbose_nodes else None,
                    progress=lambda done: bar.update(done - bar.n),
                )
            except RuntimeError as exc:
                print(f"gr00t-eval: {exc}", file=sys.stderr)
                return 1
        else:
            run = run_library_eval(config, stack, progress=lambda done: bar.update(done - bar.n))
    report = build_report(run)
    png = args.png if args.png is not None else args.output.with_suffix(".png")
    write_json(report, args.output)
    write_png(report, run, png)
    for name, task in report["tasks"].items():
        low, high = task["success_ci95"]
        line = f"{name:18s} success {task['success_rate']:6.1%} "
        "[{low:.1%}, {high:.1%}] ({task['successes']}/{task['episodes']})"
        if task["mean_time_to_success_s"] is not None:
            line += f", mean time to success {task['mean_time_to_success_s']:.2f} s"
        if "language_compliance_rate" in task:
            line += f", language compliance {task['language_compliance_rate']:.1%}"
        line += f", safety interventions {task['safety_interventions']}"
        print(line)
    print(
        f"{run.sim_time_s:.0f} s simulated in {run.wall_time_s:.0f} s ({report['realtime_factor']:.1f}x real time); "
        f"wrote {args.output} and {png}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
