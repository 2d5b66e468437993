"""`gr00t-launch`: start the gr00t-ros graph without `ros2 launch` (same graph, same YAML).

    gr00t-launch sim --duration 20 --instruction "pick up the red cube" --summary run.json
    gr00t-launch sim --episode reach/10000 --duration 15     # a seeded task episode, judged by the sim
    gr00t-launch teleop_sim --scripted-teleop                # the teleop + recorder graph

Starts the nodes of the profile as processes (as `ros2 launch gr00t_bringup <profile>.launch.py`
would, with the same arguments as options: `dry_run:=false` is `--no-dry-run`), sends the
instruction through the ExecuteInstruction action, prints a summary (rates, inference latencies,
chunks executed, joint motion) and stops every process on exit or Ctrl-C. Node exits follow the
launch files' policy (stack YAML `respawn`): System 2 is respawned up to its retries; any other
node exiting stops the graph and gr00t-launch exits 1, naming the node and its exit code.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from gr00t_bringup.arguments import ArgumentError, arguments_of, resolve_arguments
from gr00t_bringup.graph import PROFILES, NodeSpec, build_graph
from gr00t_bringup.processes import Graph
from gr00t_description import ConfigError, StackConfig, load_stack
from gr00t_description.ros.node_main import shutdown_executor, spin_in_background

DEFAULT_INSTRUCTION = "pick up the red cube"
# `instruction:=` of the launch files sets System 2's initial instruction parameter; gr00t-launch's
# --instruction is sent through the ExecuteInstruction action instead (below).
_RUNNER_OWN = {"instruction"}


def _add_launch_arguments(parser: argparse.ArgumentParser, profile: str) -> None:
    """The launch file's arguments as options; booleans both ways (--dry-run / --no-dry-run)."""
    from gr00t_bringup.arguments import parse_bool

    group = parser.add_argument_group(f"arguments of {profile}.launch.py")
    for a in arguments_of(profile):
        if a.name in _RUNNER_OWN:
            continue
        flag = "--" + a.name.replace("_", "-")
        default = a.default(profile)
        if a.kind in ("bool", "optional_bool"):
            group.add_argument(
                flag,
                dest=a.name,
                action=argparse.BooleanOptionalAction,
                default=parse_bool(a.name, default) if default else None,
                help=a.help,
            )
        else:
            group.add_argument(
                flag,
                dest=a.name,
                default=default,
                help=f"{a.help} (default {default!r})",
                choices=("", *a.choices) if a.kind == "choice" else None,
            )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gr00t-launch", description=__doc__.split("\n\n")[0])
    profiles = parser.add_subparsers(dest="profile", required=True, metavar="{" + ",".join(PROFILES) + "}")
    for profile in PROFILES:
        sub = profiles.add_parser(profile, help=f"the graph of {profile}.launch.py")
        _add_launch_arguments(sub, profile)
        if profile != "teleop_sim":
            sub.add_argument(
                "--instruction",
                default=None,
                help=f"sent through ExecuteInstruction; '' = send none "
                f"(default: the episode's, else {DEFAULT_INSTRUCTION!r})",
            )
        if profile == "sim":
            sub.add_argument(
                "--episode",
                default="",
                metavar="TASK/SEED",
                help="set up this task episode (gr00t_sim.tasks, e.g. reach/10000), send its "
                "instruction and report whether the task succeeded (judged from the sim's scene state)",
            )
        sub.add_argument("--duration", type=float, default=0.0, help="seconds to run (0 = until Ctrl-C)")
        sub.add_argument("--summary", type=Path, help="write the run summary as JSON here")
        sub.add_argument("--startup-timeout", type=float, default=60.0, help="seconds to wait for the action server")
        sub.add_argument(
            "--quiet", action=argparse.BooleanOptionalAction, default=False, help="do not forward node output"
        )
    args = parser.parse_args(argv)
    values = {}
    for a in arguments_of(args.profile):
        if a.name not in _RUNNER_OWN:
            value = getattr(args, a.name)
            values[a.name] = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    try:
        args.stack_name, args.options = resolve_arguments(args.profile, values)
    except ArgumentError as exc:
        parser.error(str(exc))
    episode = getattr(args, "episode", "")
    if episode:
        task, _, seed = episode.partition("/")
        if not seed.isdigit():
            parser.error(f"--episode must be TASK/SEED, e.g. reach/10000; got {episode!r}")
        args.episode = (task, int(seed))
    return args


def prepare(args: argparse.Namespace) -> tuple[StackConfig, list[NodeSpec]]:
    """The stack and the node specs; ConfigError / ValueError before anything starts."""
    stack = load_stack(args.stack_name)
    return stack, build_graph(stack, args.profile, args.options)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


class _EpisodeJudge:
    """Follows the sim's scene state with the task's tracker (as gr00t-eval does)."""

    def __init__(self, node, stack, task_name: str, seed: int) -> None:
        from gr00t_sim import SimConfig
        from gr00t_sim.sim_interfaces import subscribe_scene_state
        from gr00t_sim.tasks import TableLayout, get_task

        self.task = get_task(task_name)
        self.layout = TableLayout.from_sim_config(SimConfig.from_node_parameters(stack.node_parameters("sim")))
        self.spec = self.task.sample(seed, self.layout)
        self.tracker = None
        self._clock = node.get_clock()
        self._accept_after = float("inf")  # scene states of the episode only (ROS time, s)
        self._lock = threading.Lock()
        subscribe_scene_state(node, self._on_scene)

    def start(self) -> None:
        """Call right after the episode's reset: later scene states are judged."""
        with self._lock:
            self.tracker = self.task.tracker(self.spec, self.layout)
            self._accept_after = self._clock.now().nanoseconds * 1e-9

    def _on_scene(self, observation) -> None:
        with self._lock:
            if self.tracker is not None and not self.tracker.succeeded and observation.time_s >= self._accept_after:
                self.tracker.update(observation)

    def summary(self) -> dict[str, Any]:
        with self._lock:
            outcome = self.tracker.outcome() if self.tracker is not None else None
        return {
            "task": self.spec.task,
            "seed": self.spec.seed,
            "instruction": self.spec.instruction,
            "success": bool(outcome.success) if outcome else False,
            "time_to_success_s": outcome.time_to_success_s if outcome else None,
        }


def _print_summary(summary: dict[str, Any]) -> None:
    rates, latency = summary["rates_hz"], summary["inference_latency_ms"]
    motion = summary["joint_motion"]
    action = summary.get("action", {})
    print("\n=== gr00t-launch summary ===")
    print(
        f"instruction        : {summary['instruction']!r}  "
        f"-> {action.get('outcome', 'n/a')} ({action.get('reason', '')})"
    )
    if episode := summary.get("episode"):
        result = (
            f"SUCCESS after {episode['time_to_success_s']:.2f} s" if episode["success"] else "not achieved in the run"
        )
        print(f"task episode       : {episode['task']}/{episode['seed']}: {result}")
    print(
        f"System 2 goal rate : {rates['system2_goal_tokens']:6.2f} Hz   latency p50/p99 "
        f"{latency['system2'].get('p50', float('nan')):.1f} / {latency['system2'].get('p99', float('nan')):.1f} ms"
    )
    print(
        f"System 1 chunk rate: {rates['system1_action_chunks']:6.2f} Hz   latency p50/p99 "
        f"{latency['system1'].get('p50', float('nan')):.1f} / {latency['system1'].get('p99', float('nan')):.1f} ms"
    )
    period = summary["command_period_ms"]
    print(
        f"command rate       : {rates['joint_commands']:6.2f} Hz   period p50/p99/max "
        f"{period.get('p50', float('nan')):.2f} "
        f"/ {period.get('p99', float('nan')):.2f} / {period.get('max', float('nan')):.2f} ms"
    )
    print(f"chunks executed    : {action.get('chunks_executed', 0)} (published {summary['counts']['action_chunks']})")
    print(
        f"joint motion       : max {motion['max_displacement_rad']:.3f} rad, "
        f"{motion['joints_moved_over_0.01_rad']} joints moved > 0.01 rad"
    )
    print(f"controller states  : {' -> '.join(summary['controller_states'])}")
    print(f"node exit codes    : {summary['exit_codes']}")


def run(args: argparse.Namespace, stack: StackConfig, specs: list[NodeSpec]) -> int:
    import rclpy
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    from gr00t_bringup.monitor import OUTCOME_NAMES, StackMonitor
    from gr00t_interfaces.action import ExecuteInstruction

    namespace = args.options.namespace
    stop = _stop_on_signals()

    # Our own SIGINT/SIGTERM handling stops the run and shuts the graph down in order; rclpy's
    # default handler would invalidate the context under the monitor instead.
    rclpy.init(
        args=["--ros-args", "-r", f"__ns:={namespace}"] if namespace else None,
        signal_handler_options=SignalHandlerOptions.NO,
    )
    graph = Graph(specs, namespace=namespace, log=None if args.quiet else sys.stdout)
    print(f"gr00t-launch: started {', '.join(f'{n.spec.name} (pid {n.pid})' for n in graph.nodes)}")
    monitor = executor = judge = spin_thread = None
    stop_spinning = threading.Event()
    episode = getattr(args, "episode", "")
    instruction = args.instruction
    action: dict[str, Any] = {}
    node_failure = None
    start = time.monotonic()
    try:
        monitor = StackMonitor(stack)
        executor = MultiThreadedExecutor(num_threads=2)
        executor.add_node(monitor)
        spin_thread = spin_in_background(executor, executor.context, "gr00t_launch_spin", stop_spinning)
        judge = _EpisodeJudge(monitor, stack, *episode) if episode else None
        if instruction is None:
            instruction = judge.spec.instruction if judge is not None else DEFAULT_INSTRUCTION
        # Without System 1 here (`--no-system1`: it runs on another host) there is no action server
        # to wait for or send the instruction to.
        local_system1 = any(spec.name == "gr00t_system1" for spec in specs)
        instruction = instruction if local_system1 else ""
        # System 1 gives an action's instruction to System 2 and refuses the goal if System 2's
        # service is not up within 5 s: on a loaded machine System 2 may still be loading its model
        # when System 1's action server appears.
        local_system2 = any(spec.name == "gr00t_system2" for spec in specs)

        def graph_up() -> bool:
            return monitor.action_client.wait_for_server(timeout_sec=0.1) and (
                not local_system2 or monitor.system2_instruction_client.wait_for_service(timeout_sec=0.1)
            )

        deadline = time.monotonic() + args.startup_timeout
        while local_system1 and not graph_up():
            if stop.is_set():
                raise RuntimeError("stopped before the graph was up")
            if node_failure := graph.supervise():
                raise RuntimeError(f"{node_failure} during start-up")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"ExecuteInstruction server or System 2's instruction service not available "
                    f"after {args.startup_timeout:.0f} s"
                )
        if judge is not None:
            _reset_episode(monitor, graph, *episode)
            judge.start()
            print(f"gr00t-launch: episode {episode[0]}/{episode[1]} set up", flush=True)
        goal_future = None
        if instruction:
            goal = ExecuteInstruction.Goal(instruction=instruction)
            goal.timeout.sec = int(args.duration) if args.duration > 0 else 0
            goal_future = monitor.action_client.send_goal_async(goal, feedback_callback=monitor.on_feedback)
            print(f"gr00t-launch: graph up; instruction sent: {instruction!r}", flush=True)
        goal_handle = result_future = None
        start = time.monotonic()  # the run starts once the graph is up, not while models load
        while not stop.is_set():
            if args.duration > 0 and time.monotonic() - start >= args.duration + (5.0 if goal_future else 0.0):
                break  # the action should have ended at `duration`; don't wait forever
            if node_failure := graph.supervise():
                break
            if goal_future is not None and goal_future.done() and goal_handle is None:
                goal_handle = goal_future.result()
                if not goal_handle.accepted:
                    action = {"outcome": "rejected", "reason": "goal not accepted"}
                    goal_future = None
                else:
                    result_future = goal_handle.get_result_async()
            if result_future is not None and result_future.done():
                result = result_future.result().result
                action = {
                    "outcome": OUTCOME_NAMES.get(result.outcome, str(result.outcome)),
                    "reason": result.reason,
                    "chunks_executed": int(result.chunks_executed),
                    "elapsed_s": result.elapsed.sec + result.elapsed.nanosec * 1e-9,
                }
                if args.duration > 0:
                    break
                result_future = None
            time.sleep(0.05)
        if goal_handle is not None and goal_handle.accepted and not action:
            cancel = goal_handle.cancel_goal_async()
            deadline = time.monotonic() + 3.0
            while not cancel.done() and time.monotonic() < deadline:
                time.sleep(0.05)
            action = {"outcome": "canceled", "reason": "runner stopped", **monitor.feedback}
    except RuntimeError as exc:
        if not node_failure:  # that one is said just below
            print(f"gr00t-launch: {exc}", file=sys.stderr)
        action = {"outcome": "error", "reason": str(exc)}
    finally:
        if node_failure:
            print(f"gr00t-launch: {node_failure}: shutting the graph down", file=sys.stderr, flush=True)
        elapsed = time.monotonic() - start
        summary = {
            "profile": args.profile,
            "stack": str(stack.path),
            "instruction": instruction,
            "duration_s": elapsed,
            "action": action,
            **({"node_failure": node_failure} if node_failure else {}),
            **({"episode": judge.summary()} if judge is not None else {}),
            **(monitor.summary() if monitor is not None else {}),
        }
        stop_spinning.set()
        if spin_thread is not None:
            spin_thread.join(timeout=2.0)
        if executor is not None:
            shutdown_executor(executor)
        if monitor is not None:
            monitor.destroy_node()
        summary["exit_codes"] = graph.shutdown()  # also removes the nodes' parameter files
        if rclpy.ok():
            rclpy.shutdown()
    if monitor is not None:
        _print_summary(summary)
    if args.summary:
        args.summary.parent.mkdir(parents=True, exist_ok=True)
        args.summary.write_text(json.dumps(summary, indent=2))
        print(f"summary written to {args.summary}")
    failed = node_failure or action.get("outcome") in ("error", "rejected", "aborted")
    return 1 if failed else 0


def run_teleop(args: argparse.Namespace, specs: list[NodeSpec]) -> int:
    """The teleop_sim graph: runs until Ctrl-C / --duration; no instruction, no summary of rates."""
    stop = _stop_on_signals()
    graph = Graph(specs, namespace=args.options.namespace, log=None if args.quiet else sys.stdout)
    print(f"gr00t-launch: started {', '.join(f'{n.spec.name} (pid {n.pid})' for n in graph.nodes)}", flush=True)
    node_failure = None
    start = time.monotonic()
    try:
        while not stop.is_set() and not (args.duration > 0 and time.monotonic() - start >= args.duration):
            if node_failure := graph.supervise():
                print(f"gr00t-launch: {node_failure}: shutting the graph down", file=sys.stderr, flush=True)
                break
            time.sleep(0.05)
    finally:
        codes = graph.shutdown()
    print(f"node exit codes    : {codes}", flush=True)
    summary = {
        "profile": args.profile,
        "duration_s": time.monotonic() - start,
        "exit_codes": codes,
        **({"node_failure": node_failure} if node_failure else {}),
    }
    if args.summary:
        args.summary.parent.mkdir(parents=True, exist_ok=True)
        args.summary.write_text(json.dumps(summary, indent=2))
    return 1 if node_failure else 0


def _reset_episode(node, graph: Graph, task: str, seed: int) -> None:
    from gr00t_sim.sim_interfaces import ResetEpisodeClient

    # Relative to the monitor node's namespace, which is the graph's.
    client = ResetEpisodeClient(node, graph.wait_for, timeout_s=30.0)
    if not client.wait_for_service(30.0):
        raise RuntimeError(f"the sim's {client.srv_name} service is not available")
    client.reset(task, seed)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        stack, specs = prepare(args)  # every stack / parameters-file error before any process starts
    except (ConfigError, ValueError) as exc:
        print(f"gr00t-launch: error: {exc}", file=sys.stderr)
        return 2
    return run_teleop(args, specs) if args.profile == "teleop_sim" else run(args, stack, specs)


if __name__ == "__main__":
    sys.exit(main())
