"""`gr00t-launch`: start the gr00t-ros graph without `ros2 launch` (same graph, same YAML).

    gr00t-launch sim --duration 20 --instruction "pick up the red cube" --summary run.json
    gr00t-launch sim --episode reach/10000 --duration 15     # a seeded task episode, judged by the sim

Starts the nodes of the profile as processes (as `ros2 launch gr00t_bringup <profile>.launch.py`
would), sends the instruction through the ExecuteInstruction action, prints a summary (rates,
inference latencies, chunks executed, joint motion) and stops every process on exit or Ctrl-C.
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

from gr00t_bringup.graph import POLICY_PROFILES, GraphOptions, build_graph
from gr00t_bringup.processes import Graph
from gr00t_description import load_stack

DEFAULT_INSTRUCTION = "pick up the red cube"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gr00t-launch", description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", choices=POLICY_PROFILES)
    parser.add_argument("--stack", default="", help="stack YAML path or installed name (default gr1t2_sim)")
    parser.add_argument("--namespace", default="")
    parser.add_argument("--model", default="", help="checkpoint directory ('' = bundled demo model)")
    parser.add_argument("--backend", default="", help="System 1 backend (torch | onnxruntime | tensorrt)")
    parser.add_argument("--mode", default="", choices=["", "dual_rate", "fused"])
    parser.add_argument("--instruction", default=None,
                        help=f"'' = send no instruction (default: the episode's, else {DEFAULT_INSTRUCTION!r})")
    parser.add_argument("--episode", default="", metavar="TASK/SEED",
                        help="sim: set up this task episode (gr00t_sim.tasks, e.g. reach/10000), send its "
                             "instruction and report whether the task succeeded (judged from the sim's scene state)")
    parser.add_argument("--duration", type=float, default=0.0, help="seconds to run (0 = until Ctrl-C)")
    parser.add_argument("--summary", type=Path, help="write the run summary as JSON here")
    parser.add_argument("--dry-run", dest="dry_run", action="store_const", const=True, default=None)
    parser.add_argument("--realtime-factor", type=float, default=None)
    parser.add_argument("--use-sim-time", action="store_true")
    parser.add_argument("--startup-timeout", type=float, default=60.0, help="seconds to wait for the action server")
    parser.add_argument("--quiet", action="store_true", help="do not forward node output")
    args = parser.parse_args(argv)
    if args.episode:
        if args.profile != "sim":
            parser.error("--episode needs the sim profile")
        task, _, seed = args.episode.partition("/")
        if not seed.isdigit():
            parser.error(f"--episode must be TASK/SEED, e.g. reach/10000; got {args.episode!r}")
        args.episode = (task, int(seed))
    return args


class _EpisodeJudge:
    """Follows the sim's ~/scene_state with the task's tracker (as gr00t-eval does)."""

    def __init__(self, node, stack, task_name: str, seed: int) -> None:
        from rclpy.qos import QoSProfile
        from sensor_msgs.msg import JointState

        from gr00t_sim import SimConfig
        from gr00t_sim.tasks import TableLayout, get_task

        self.task = get_task(task_name)
        self.layout = TableLayout.from_sim_config(SimConfig.from_stack(stack.rates, stack.node_parameters("sim")))
        self.spec = self.task.sample(seed, self.layout)
        self.tracker = None
        self._clock = node.get_clock()
        self._accept_after = float("inf")  # scene states of the episode only (ROS time, s)
        self._lock = threading.Lock()
        node.create_subscription(JointState, "/gr00t_sim/scene_state", self._on_scene, QoSProfile(depth=50))

    def start(self) -> None:
        """Call right after the episode's reset: later scene states are judged."""
        with self._lock:
            self.tracker = self.task.tracker(self.spec, self.layout)
            self._accept_after = self._clock.now().nanoseconds * 1e-9

    def _on_scene(self, msg) -> None:
        from gr00t_sim.sim_node import scene_observation

        observation = scene_observation(msg)
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
    print(f"instruction        : {summary['instruction']!r}  -> {action.get('outcome', 'n/a')} ({action.get('reason', '')})")
    if episode := summary.get("episode"):
        result = (f"SUCCESS after {episode['time_to_success_s']:.2f} s" if episode["success"]
                  else "not achieved in the run")
        print(f"task episode       : {episode['task']}/{episode['seed']}: {result}")
    print(f"System 2 goal rate : {rates['system2_goal_tokens']:6.2f} Hz   latency p50/p99 "
          f"{latency['system2'].get('p50', float('nan')):.1f} / {latency['system2'].get('p99', float('nan')):.1f} ms")
    print(f"System 1 chunk rate: {rates['system1_action_chunks']:6.2f} Hz   latency p50/p99 "
          f"{latency['system1'].get('p50', float('nan')):.1f} / {latency['system1'].get('p99', float('nan')):.1f} ms")
    period = summary["command_period_ms"]
    print(f"command rate       : {rates['joint_commands']:6.2f} Hz   period p50/p99/max "
          f"{period.get('p50', float('nan')):.2f} / {period.get('p99', float('nan')):.2f} / {period.get('max', float('nan')):.2f} ms")
    print(f"chunks executed    : {action.get('chunks_executed', 0)} (published {summary['counts']['action_chunks']})")
    print(f"joint motion       : max {motion['max_displacement_rad']:.3f} rad, "
          f"{motion['joints_moved_over_0.01_rad']} joints moved > 0.01 rad")
    print(f"controller states  : {' -> '.join(summary['controller_states'])}")
    print(f"node exit codes    : {summary['exit_codes']}")


def run(args: argparse.Namespace) -> int:
    import rclpy
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    from gr00t_bringup.monitor import OUTCOME_NAMES, StackMonitor
    from gr00t_interfaces.action import ExecuteInstruction

    stack = load_stack(args.stack or None)
    options = GraphOptions(
        model_path=args.model,
        backend=args.backend,
        mode=args.mode,
        use_sim_time=args.use_sim_time,
        dry_run=args.dry_run,
        realtime_factor=args.realtime_factor,
    )
    specs = build_graph(stack, args.profile, options)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    # Our own SIGINT/SIGTERM handling stops the run and shuts the graph down in order; rclpy's
    # default handler would invalidate the context under the monitor instead.
    rclpy.init(
        args=["--ros-args", "-r", f"__ns:={args.namespace}"] if args.namespace else None,
        signal_handler_options=SignalHandlerOptions.NO,
    )
    graph = Graph(specs, namespace=args.namespace, log=None if args.quiet else sys.stdout)
    print(f"gr00t-launch: started {', '.join(f'{n.spec.name} (pid {n.pid})' for n in graph.nodes)}")
    monitor = StackMonitor(stack)
    executor = MultiThreadedExecutor(num_threads=2)
    executor.add_node(monitor)
    spin_thread = threading.Thread(target=executor.spin, daemon=True)
    spin_thread.start()
    judge = _EpisodeJudge(monitor, stack, *args.episode) if args.episode else None
    instruction = args.instruction
    if instruction is None:
        instruction = judge.spec.instruction if judge is not None else DEFAULT_INSTRUCTION
    action: dict[str, Any] = {}
    start = time.monotonic()
    try:
        deadline = time.monotonic() + args.startup_timeout
        while not monitor.action_client.wait_for_server(timeout_sec=0.2):
            if stop.is_set():
                raise RuntimeError("stopped before the graph was up")
            if exited := graph.exited():
                raise RuntimeError(f"node(s) exited during start-up: {exited}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"ExecuteInstruction server not available after {args.startup_timeout:.0f} s")
        if judge is not None:
            _reset_episode(monitor, graph, *args.episode)
            judge.start()
            print(f"gr00t-launch: episode {args.episode[0]}/{args.episode[1]} set up", flush=True)
        goal_future = None
        if instruction:
            goal = ExecuteInstruction.Goal(instruction=instruction)
            goal.timeout.sec = int(args.duration) if args.duration > 0 else 0
            goal_future = monitor.action_client.send_goal_async(goal, feedback_callback=monitor.on_feedback)
            print(f"gr00t-launch: graph up; instruction sent: {instruction!r}", flush=True)
        goal_handle = result_future = None
        start = time.monotonic()  # the run starts once the graph is up, not while models load
        while not stop.is_set():
            if args.duration > 0 and time.monotonic() - start >= args.duration + 5.0:
                break  # the action should have ended at `duration`; don't wait forever
            if exited := graph.exited():
                print(f"gr00t-launch: node(s) exited early: {exited}", file=sys.stderr)
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
        print(f"gr00t-launch: {exc}", file=sys.stderr)
        action = {"outcome": "error", "reason": str(exc)}
    finally:
        elapsed = time.monotonic() - start
        summary = {
            "profile": args.profile,
            "stack": str(stack.path),
            "instruction": instruction,
            "duration_s": elapsed,
            "action": action,
            **({"episode": judge.summary()} if judge is not None else {}),
            **monitor.summary(),
        }
        executor.shutdown()
        monitor.destroy_node()
        summary["exit_codes"] = graph.shutdown()
        if rclpy.ok():
            rclpy.shutdown()
    _print_summary(summary)
    if args.summary:
        args.summary.parent.mkdir(parents=True, exist_ok=True)
        args.summary.write_text(json.dumps(summary, indent=2))
        print(f"summary written to {args.summary}")
    failed = action.get("outcome") in ("error", "rejected", "aborted")
    return 1 if failed else 0


def _reset_episode(node, graph: Graph, task: str, seed: int) -> None:
    from gr00t_interfaces.srv import ResetEpisode

    client = node.create_client(ResetEpisode, "/gr00t_sim/reset_episode")
    if not client.wait_for_service(timeout_sec=30.0):
        raise RuntimeError("the sim's ~/reset_episode service is not available")
    request = ResetEpisode.Request(task=task, seed=seed)
    response = graph.wait_for(client.call_async(request), 30.0, "reset_episode")
    if not response.success:
        raise RuntimeError(f"episode {task}/{seed} refused: {response.message}")


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
