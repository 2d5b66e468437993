"""`gr00t-record-demos`: synthetic demonstrations through the teleop path, one MCAP bag per episode.

    gr00t-record-demos --tasks reach,touch_one_of_two --episodes 60 --output-dir ~/gr00t_episodes

Starts the `teleop_sim` graph with the scripted demonstrator as the teleop input (sim, scripted
teleop -> leader teleop (safety layer) -> joint_command, recorder) and, per training seed:

  disable the leader teleop -> sim ~/reset_episode {task, seed} -> enable (the teleop re-bases on
  the measured home pose and ramps) -> recorder ~/start (the episode's instruction) -> scripted
  teleop ~/start -> follow ~/scene_state until the task succeeded and `--settle` seconds passed,
  or the task's time is up -> scripted teleop ~/stop -> recorder ~/stop_success | ~/stop_failure.

Seeds are training seeds (below gr00t_sim.tasks.EVAL_SEED_START), so `gr00t-eval` never sees them.
Then `gr00t-convert <output-dir> -o <dataset>` and `gr00t-finetune`.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gr00t_bringup.graph import GraphOptions, build_graph
from gr00t_bringup.processes import Graph
from gr00t_description import StackConfig, load_stack

LEADER_NODE = "gr00t_leader_teleop"
RECORDER_NODE = "gr00t_recorder"
SCRIPTED_NODE = "gr00t_scripted_teleop"
_SERVICE_TIMEOUT_S = 30.0
_RESET_SETTLE_S = 0.2  # after the reset, before enabling: the sim publishes the home pose


@dataclass
class RecordingSummary:
    episodes: list[dict[str, Any]] = field(default_factory=list)
    wall_time_s: float = 0.0
    exit_codes: dict[str, int] = field(default_factory=dict)

    def per_task(self) -> dict[str, dict[str, int]]:
        result: dict[str, dict[str, int]] = {}
        for episode in self.episodes:
            counts = result.setdefault(episode["task"], {"episodes": 0, "successes": 0})
            counts["episodes"] += 1
            counts["successes"] += int(episode["success"])
        return result


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    from gr00t_sim.tasks import EVAL_SEED_START, TASKS

    parser = argparse.ArgumentParser(prog="gr00t-record-demos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"comma-separated, from {sorted(TASKS)}")
    parser.add_argument("--episodes", type=int, default=50, help="episodes per task (default 50)")
    parser.add_argument(
        "--seed-start",
        type=int,
        default=0,
        help=f"first training seed (episodes use seed-start ... < {EVAL_SEED_START})",
    )
    parser.add_argument("--output-dir", type=Path, required=True, help="where the recorder writes the bags")
    parser.add_argument("--settle", type=float, default=0.4, help="seconds recorded after success (default 0.4)")
    parser.add_argument(
        "--startup-ramp", type=float, default=0.3, help="leader teleop start-up ramp per episode, s (default 0.3)"
    )
    parser.add_argument(
        "--recovery-probability",
        type=float,
        default=None,
        help="share of reach/touch episodes that first come down beside the target and then "
        "correct (default: the stack's scripted_teleop.recovery_probability)",
    )
    parser.add_argument("--stack", default=None, help="stack YAML (default: the bundled sim stack)")
    parser.add_argument("--startup-timeout", type=float, default=120.0)
    parser.add_argument("--summary", type=Path, default=None, help="write a JSON summary here")
    parser.add_argument("--verbose-nodes", action="store_true", help="forward the nodes' output")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error("--episodes must be >= 1")
    if args.seed_start < 0 or args.seed_start + args.episodes > EVAL_SEED_START:
        parser.error(f"training seeds must lie in [0, {EVAL_SEED_START}); evaluation seeds start there")
    if args.recovery_probability is not None and not 0.0 <= args.recovery_probability <= 1.0:
        parser.error("--recovery-probability must be in [0, 1]")
    return args


def record_demonstrations(
    stack: StackConfig,
    tasks: Sequence[str],
    seeds: Sequence[int],
    output_dir: Path,
    settle_s: float = 0.4,
    startup_ramp_s: float = 0.3,
    startup_timeout_s: float = 120.0,
    recovery_probability: float | None = None,
    log=None,
    progress=None,
) -> RecordingSummary:
    """Record one episode per (task, seed) through the teleop graph; see the module docstring.

    `recovery_probability` overrides the scripted teleop's parameter of that name (None: the stack's).
    """
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.node import Node
    from std_srvs.srv import Trigger

    from gr00t_interfaces.srv import SetEnabled, SetInstruction, StartDemonstration
    from gr00t_sim import SimConfig
    from gr00t_sim.sim_interfaces import ResetEpisodeClient, subscribe_scene_state
    from gr00t_sim.tasks import SceneObservation, TableLayout, get_task

    layout = TableLayout.from_sim_config(SimConfig.from_node_parameters(stack.node_parameters("sim")))
    options = GraphOptions(
        scripted_teleop=True,
        console=False,  # a batch run: no browser console
        extra={
            RECORDER_NODE: {"output_dir": str(output_dir), "operator": "gr00t-record-demos (scripted demonstrator)"},
            LEADER_NODE: {"startup_ramp_s": float(startup_ramp_s), "enable_on_start": False},
            **(
                {}
                if recovery_probability is None
                else {SCRIPTED_NODE: {"recovery_probability": float(recovery_probability)}}
            ),
        },
    )
    summary = RecordingSummary()
    started = time.perf_counter()
    context = Context()
    rclpy.init(context=context)
    graph = Graph(build_graph(stack, "teleop_sim", options), log=log)
    node = Node("gr00t_record_demos", context=context)
    lock = threading.Lock()
    scene: list[SceneObservation] = []
    accepting = [False]

    def on_scene(observation: SceneObservation) -> None:
        with lock:
            if accepting[0]:
                scene.append(observation)

    # Names relative to this node's namespace (the graph's): `<node>/<service>`.
    subscribe_scene_state(node, on_scene)
    reset_episode = ResetEpisodeClient(node, graph.wait_for, _SERVICE_TIMEOUT_S)
    clients = {
        "enable": node.create_client(SetEnabled, f"{LEADER_NODE}/set_enabled"),
        "record": node.create_client(SetInstruction, f"{RECORDER_NODE}/start"),
        "stop_success": node.create_client(Trigger, f"{RECORDER_NODE}/stop_success"),
        "stop_failure": node.create_client(Trigger, f"{RECORDER_NODE}/stop_failure"),
        "demonstrate": node.create_client(StartDemonstration, f"{SCRIPTED_NODE}/start"),
        "halt": node.create_client(Trigger, f"{SCRIPTED_NODE}/stop"),
    }
    executor = MultiThreadedExecutor(num_threads=2, context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()

    def call(name: str, request, what: str = ""):
        return graph.wait_for(clients[name].call_async(request), _SERVICE_TIMEOUT_S, what or clients[name].srv_name)

    def enable(on: bool, reason: str) -> None:
        response = call("enable", SetEnabled.Request(enable=on, reason=reason))
        if not response.success:
            raise RuntimeError(f"leader teleop refused {'enable' if on else 'disable'}: {response.message}")

    recording = False
    try:
        deadline = time.monotonic() + startup_timeout_s
        for client in (reset_episode, *clients.values()):
            while not client.wait_for_service(0.2):
                if exited := graph.exited():
                    raise RuntimeError(f"node(s) exited during start-up: {exited}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{client.srv_name} not available after {startup_timeout_s:.0f} s")
        for task_name in tasks:
            task = get_task(task_name)
            for seed in seeds:
                spec = task.sample(seed, layout)
                enable(False, "next episode")  # a held pose must not pull the arm after the reset
                reset_episode.reset(task_name, seed)
                time.sleep(_RESET_SETTLE_S)
                enable(True, f"{task_name}/{seed}")
                response = call("record", SetInstruction.Request(text=spec.instruction), "recorder start")
                if not response.accepted:
                    raise RuntimeError(f"recorder refused to start {task_name}/{seed}: {response.message}")
                recording, bag = True, response.id
                with lock:
                    scene.clear()
                    accepting[0] = True
                response = call(
                    "demonstrate", StartDemonstration.Request(task=task_name, seed=seed), "scripted teleop start"
                )
                if not response.success:
                    raise RuntimeError(f"scripted teleop refused {task_name}/{seed}: {response.message}")
                tracker = task.tracker(spec, layout)
                wall_deadline = time.monotonic() + spec.max_duration_s * 3 + 10.0  # a loaded machine lags
                consumed = 0
                while time.monotonic() < wall_deadline:
                    with lock:
                        fresh, consumed = scene[consumed:], len(scene)
                    for observation in fresh:
                        tracker.update(observation)
                    if tracker.succeeded and tracker.elapsed_s >= tracker.success_time_s + settle_s:
                        break
                    if tracker.elapsed_s >= spec.max_duration_s:
                        break
                    if exited := graph.exited():
                        raise RuntimeError(f"node(s) exited during {task_name}/{seed}: {exited}")
                    time.sleep(0.02)
                with lock:
                    accepting[0] = False
                call("halt", Trigger.Request(), "scripted teleop stop")
                outcome = tracker.outcome()
                stop = call("stop_success" if outcome.success else "stop_failure", Trigger.Request(), "recorder stop")
                recording = False
                summary.episodes.append(
                    {
                        "task": task_name,
                        "seed": seed,
                        "instruction": spec.instruction,
                        "bag": bag,
                        "success": bool(outcome.success),
                        "duration_s": outcome.duration_s,
                        "recorder": stop.message,
                    }
                )
                if progress is not None:
                    progress(len(summary.episodes), summary.episodes[-1])
        enable(False, "recording finished")
    finally:
        if recording:
            try:
                call("stop_failure", Trigger.Request(), "recorder stop")
            except RuntimeError:
                pass  # the recorder's own shutdown marks the episode interrupted
        executor.shutdown()
        spinner.join(timeout=5.0)
        node.destroy_node()
        summary.exit_codes = graph.shutdown()
        rclpy.try_shutdown(context=context)
    summary.wall_time_s = time.perf_counter() - started
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    from tqdm import tqdm

    from gr00t_sim.tasks import train_seeds

    args = parse_args(argv)
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    seeds = train_seeds(args.episodes, args.seed_start)
    stack = load_stack(args.stack)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    with tqdm(total=len(tasks) * len(seeds), unit="episode", disable=args.quiet, file=sys.stderr) as bar:

        def progress(done: int, episode: dict[str, Any]) -> None:
            bar.update(done - bar.n)
            bar.set_postfix_str(f"{episode['task']}/{episode['seed']} {'ok' if episode['success'] else 'FAILED'}")

        try:
            summary = record_demonstrations(
                stack,
                tasks,
                seeds,
                args.output_dir,
                settle_s=args.settle,
                startup_ramp_s=args.startup_ramp,
                startup_timeout_s=args.startup_timeout,
                recovery_probability=args.recovery_probability,
                log=sys.stderr if args.verbose_nodes else None,
                progress=progress,
            )
        except RuntimeError as exc:
            print(f"gr00t-record-demos: {exc}", file=sys.stderr)
            return 1
    for task, counts in summary.per_task().items():
        print(f"{task:18s} {counts['successes']}/{counts['episodes']} demonstrations succeeded")
    print(f"{len(summary.episodes)} episodes in {summary.wall_time_s:.0f} s -> {args.output_dir}")
    if args.summary is not None:
        args.summary.write_text(
            json.dumps(
                {
                    "episodes": summary.episodes,
                    "per_task": summary.per_task(),
                    "wall_time_s": summary.wall_time_s,
                    "exit_codes": summary.exit_codes,
                },
                indent=2,
            )
            + "\n"
        )
    return 0 if all(code == 0 for code in summary.exit_codes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
