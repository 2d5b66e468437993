"""`gr00t-launch`: start the gr00t-ros graph without `ros2 launch` (same graph, same YAML).

    gr00t-launch sim --duration 20 --instruction "pick up the red cube" --summary run.json

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
    parser.add_argument("--instruction", default=DEFAULT_INSTRUCTION, help="'' = send no instruction")
    parser.add_argument("--duration", type=float, default=0.0, help="seconds to run (0 = until Ctrl-C)")
    parser.add_argument("--summary", type=Path, help="write the run summary as JSON here")
    parser.add_argument("--dry-run", dest="dry_run", action="store_const", const=True, default=None)
    parser.add_argument("--realtime-factor", type=float, default=None)
    parser.add_argument("--use-sim-time", action="store_true")
    parser.add_argument("--startup-timeout", type=float, default=60.0, help="seconds to wait for the action server")
    parser.add_argument("--quiet", action="store_true", help="do not forward node output")
    return parser.parse_args(argv)


def _print_summary(summary: dict[str, Any]) -> None:
    rates, latency = summary["rates_hz"], summary["inference_latency_ms"]
    motion = summary["joint_motion"]
    action = summary.get("action", {})
    print("\n=== gr00t-launch summary ===")
    print(f"instruction        : {summary['instruction']!r}  -> {action.get('outcome', 'n/a')} ({action.get('reason', '')})")
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
        goal_future = None
        if args.instruction:
            goal = ExecuteInstruction.Goal(instruction=args.instruction)
            goal.timeout.sec = int(args.duration) if args.duration > 0 else 0
            goal_future = monitor.action_client.send_goal_async(goal, feedback_callback=monitor.on_feedback)
            print(f"gr00t-launch: graph up; instruction sent: {args.instruction!r}", flush=True)
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
            "instruction": args.instruction,
            "duration_s": elapsed,
            "action": action,
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


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
