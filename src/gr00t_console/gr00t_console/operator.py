"""gr00t-operator: command the running gr00t-ros graph from a shell, with or without a ROS install.

    gr00t-operator instruct "use your left hand to touch the yellow cylinder" --timeout 20
    gr00t-operator status --watch
    gr00t-operator estop
    gr00t-operator record start "pick up the red cube"

It talks to the graph with the graph's own interfaces (names from the stack YAML, relative to
--namespace): the ExecuteInstruction action, System 1's set_enabled / estop / reset_estop, System
2's set_instruction, the controller status topic, and the recorder node's services.

Exit codes (for scripts):
  0  done (instruct: the action ran for its whole timeout)
  1  refused or failed: the node answered no (e-stop latched, recorder idle, ...), or the action
     ended otherwise (aborted, rejected, preempted, canceled by someone else)
  2  bad command line
  3  the graph is not running: the node / service / action / topic needed is not there (the
     message names it)
  4  no answer in time from a node that is there
  130  interrupted by Ctrl-C (instruct: the action was canceled first; status --watch ends with 0)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_NOT_RUNNING, EXIT_TIMEOUT, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
RECORDER_NODE = "gr00t_recorder"
SYSTEM1_NODE = "gr00t_system1"
SYSTEM2_NODE = "gr00t_system2"
RECORD_SERVICES = {"stop": "stop_success", "success": "stop_success", "fail": "stop_failure", "discard": "cancel"}
STATE_NAMES = {0: "DISABLED", 1: "RAMPING", 2: "RUNNING", 3: "HOLDING", 4: "ESTOPPED"}
OUTCOME_NAMES = {0: "timeout_reached", 1: "canceled", 2: "preempted", 3: "aborted", 4: "rejected"}
_NODE_DISCOVERY_GRACE_S = 2.0


class OperatorError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gr00t-operator",
        description="Command the running gr00t-ros graph.",
        epilog="exit codes: 0 done, 1 refused/failed, 2 bad command line, 3 graph not running "
        "(the message names what is missing), 4 no answer in time, 130 Ctrl-C",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--namespace", default="", help="ROS namespace of the graph (launch's namespace:=)")
    parser.add_argument(
        "--stack", default="", help="stack YAML the graph runs (names of topics and services; '' = the default stack)"
    )
    parser.add_argument(
        "--wait", type=float, default=5.0, help="seconds to wait for the graph's nodes to be discovered (default 5)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    p = sub.add_parser(
        "instruct", help="run the policy on an instruction (ExecuteInstruction); shows feedback, Ctrl-C cancels"
    )
    p.add_argument("text", help="the language instruction")
    p.add_argument("--timeout", type=float, default=0.0, help="seconds to run (0 = the server's default)")
    p.add_argument("--quiet", action="store_true", help="no feedback lines, only the result")
    sub.add_parser(
        "stop",
        help="cancel every running ExecuteInstruction goal and clear the instruction (the policy holds position)",
    )
    sub.add_parser("estop", help="e-stop System 1 (latches until reset-estop)")
    sub.add_parser("reset-estop", help="release a latched e-stop (the controller stays disabled)")
    for name, text in (
        ("enable", "enable the command stream (ramps from the measured pose)"),
        ("disable", "disable the command stream"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--reason", default="gr00t-operator", help="free text for the controller's log")
    p = sub.add_parser("status", help="controller state, faults, rates, the current instruction (and the recorder)")
    p.add_argument("--watch", action="store_true", help="print a line on every change and every --period until Ctrl-C")
    p.add_argument("--period", type=float, default=1.0, help="--watch: seconds between lines (default 1)")
    p.add_argument("--json", action="store_true", help="one JSON object per status")
    p = sub.add_parser("record", help="the episode recorder: start TEXT | stop | success | fail | discard")
    p.add_argument(
        "action",
        choices=("start", "stop", "success", "fail", "discard"),
        help="start an episode; stop = success (kept, labelled successful); fail (kept, labelled "
        "failed); discard (deleted)",
    )
    p.add_argument("text", nargs="?", default="", help="start: the task instruction of the demonstration")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # Ctrl-C before the command started (imports, discovery)
        return EXIT_INTERRUPTED


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "record" and (args.action == "start") != bool(args.text.strip()):
        parser.error("record start needs the task instruction; the other record actions take none")
    if args.wait <= 0 or (args.command == "status" and args.period <= 0):
        parser.error("--wait and --period must be positive")
    try:
        from gr00t_description import load_stack

        stack = load_stack(args.stack or None)
    except (OSError, ValueError) as exc:
        print(f"gr00t-operator: {exc}", file=sys.stderr)
        return EXIT_USAGE
    operator = Operator(stack, args.namespace, args.wait)
    try:
        return operator.run(args)
    except OperatorError as exc:
        print(f"gr00t-operator: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    finally:
        operator.close()


class Operator:
    def __init__(self, stack: Any, namespace: str, wait_s: float) -> None:
        import rclpy
        from rclpy.node import Node

        self.stack = stack
        self.wait_s = wait_s
        self.namespace = "/" + namespace.strip("/") if namespace.strip("/") else "/"
        from gr00t_description.ros.node_main import init_without_signal_handlers

        # Without rclpy's signal handler: Ctrl-C is a KeyboardInterrupt here, and the context stays
        # valid to send the cancel of a running goal.
        init_without_signal_handlers([])
        self._rclpy = rclpy
        self.node = Node("gr00t_operator", namespace=self.namespace, start_parameter_services=False)

    def close(self) -> None:
        try:
            self.node.destroy_node()
        finally:
            self._rclpy.try_shutdown()

    def run(self, args: argparse.Namespace) -> int:
        command = args.command
        if command == "instruct":
            return self.instruct(args.text, args.timeout, args.quiet)
        if command == "stop":
            return self.stop()
        if command in ("estop", "reset-estop"):
            from std_srvs.srv import Trigger

            key = command.replace("-", "_")
            response = self.call(Trigger, self.stack.services[key], Trigger.Request(), SYSTEM1_NODE)
            return self.report(response.success, response.message or command)
        if command in ("enable", "disable"):
            from gr00t_interfaces.srv import SetEnabled

            request = SetEnabled.Request(enable=command == "enable", reason=args.reason)
            response = self.call(SetEnabled, self.stack.services["set_enabled"], request, SYSTEM1_NODE)
            state = STATE_NAMES.get(response.state, str(response.state))
            return self.report(response.success, f"{response.message} (state {state})".strip())
        if command == "status":
            return self.status(args.watch, args.period, args.json)
        if command == "record":
            return self.record(args.action, args.text)
        raise AssertionError(command)

    @staticmethod
    def report(ok: bool, message: str) -> int:
        print(message, file=sys.stdout if ok else sys.stderr)
        return EXIT_OK if ok else EXIT_REFUSED

    # ------------------------------------------------------------------ graph lookups
    def _resolved(self, name: str) -> str:
        if name.startswith("/"):
            return name
        return (self.namespace.rstrip("/") + "/" + name) if self.namespace != "/" else "/" + name

    def _graph_nodes(self, owner: str) -> set[tuple[str, str]]:
        """(name, namespace) of the nodes in the graph. Node names are discovered separately from
        services and, on a loaded machine, later: wait up to 2 s more for `owner` before concluding
        that it runs nowhere (which would send the user to start a graph that is already running)."""
        deadline = time.monotonic() + _NODE_DISCOVERY_GRACE_S
        while True:
            nodes = set(self.node.get_node_names_and_namespaces())
            if any(n == owner for n, _ in nodes) or time.monotonic() >= deadline:
                return nodes
            time.sleep(0.1)

    def missing(self, owner: str, what: str, name: str) -> OperatorError:
        """The 'graph not running' error: which node, and whether it runs without the interface."""
        nodes = self._graph_nodes(owner)
        ns = self.namespace
        if (owner, ns) in nodes:
            text = f"{owner} is running in namespace {ns} but offers no {what} {self._resolved(name)}"
        else:
            elsewhere = sorted(n_ns for n, n_ns in nodes if n == owner)
            text = (
                f"{owner} is not running in namespace {ns} (no {what} {self._resolved(name)} within {self.wait_s:g} s)"
            )
            if elsewhere:
                text += f"; it runs in {', '.join(elsewhere)}: pass --namespace"
            else:
                text += "; start the graph (gr00t-launch sim, gr00t-launch teleop_sim or robot.launch.py)"
        return OperatorError(text, EXIT_NOT_RUNNING)

    def call(self, srv_type: Any, name: str, request: Any, owner: str) -> Any:
        client = self.node.create_client(srv_type, name)
        try:
            if not client.wait_for_service(timeout_sec=self.wait_s):
                raise self.missing(owner, "service", name)
            future = client.call_async(request)
            self._rclpy.spin_until_future_complete(self.node, future, timeout_sec=10.0)
            if not future.done():
                raise OperatorError(f"no answer from {self._resolved(name)} within 10 s", EXIT_TIMEOUT)
            return future.result()
        finally:
            self.node.destroy_client(client)

    # ------------------------------------------------------------------ instruct / stop
    def instruct(self, text: str, timeout_s: float, quiet: bool) -> int:
        from rclpy.action import ActionClient

        from gr00t_interfaces.action import ExecuteInstruction

        name = self.stack.actions["execute_instruction"]
        client = ActionClient(self.node, ExecuteInstruction, name)
        if not client.wait_for_server(timeout_sec=self.wait_s):
            raise self.missing(SYSTEM1_NODE, "action", name)
        goal = ExecuteInstruction.Goal(instruction=text)
        goal.timeout.sec = int(timeout_s)
        goal.timeout.nanosec = int(round((timeout_s - int(timeout_s)) * 1e9)) % 1_000_000_000
        last = [0.0]

        def feedback(message: Any) -> None:
            fb = message.feedback
            now = time.monotonic()
            if not quiet and now - last[0] >= 0.5:
                last[0] = now
                elapsed = fb.elapsed.sec + fb.elapsed.nanosec * 1e-9
                print(
                    f"  {elapsed:6.1f} s  {fb.chunks_executed:5d} chunks  "
                    f"{fb.state_text or STATE_NAMES.get(fb.controller_state, '')}",
                    flush=True,
                )

        goal_future = client.send_goal_async(goal, feedback_callback=feedback)
        self._rclpy.spin_until_future_complete(self.node, goal_future, timeout_sec=10.0)
        if not goal_future.done():
            raise OperatorError(f"no answer to the goal from {self._resolved(name)} within 10 s", EXIT_TIMEOUT)
        handle = goal_future.result()
        if not handle.accepted:
            return self.report(False, f"goal rejected by {self._resolved(name)}")
        print(f"running: {text!r}" + (f" for {timeout_s:g} s" if timeout_s else "") + " (Ctrl-C cancels)", flush=True)
        result_future = handle.get_result_async()
        interrupted = False
        try:
            while not result_future.done():
                self._rclpy.spin_once(self.node, timeout_sec=0.1)
        except KeyboardInterrupt:
            interrupted = True
            print("canceling the action ...", file=sys.stderr, flush=True)
            cancel = handle.cancel_goal_async()
            deadline = time.monotonic() + 10.0
            while not result_future.done() and time.monotonic() < deadline:
                try:
                    self._rclpy.spin_once(self.node, timeout_sec=0.1)
                except KeyboardInterrupt:
                    continue
            if not cancel.done() and not result_future.done():
                raise OperatorError("the action server did not confirm the cancel", EXIT_TIMEOUT) from None
        if not result_future.done():
            return EXIT_INTERRUPTED
        result = result_future.result().result
        elapsed = result.elapsed.sec + result.elapsed.nanosec * 1e-9
        outcome = OUTCOME_NAMES.get(result.outcome, str(result.outcome))
        line = (
            f"result: {outcome}"
            + (f" ({result.reason})" if result.reason else "")
            + f", {result.chunks_executed} chunks in {elapsed:.1f} s"
        )
        if interrupted:
            print(line, file=sys.stderr)
            return EXIT_INTERRUPTED
        return self.report(result.outcome == ExecuteInstruction.Result.OUTCOME_TIMEOUT_REACHED, line)

    def stop(self) -> int:
        from action_msgs.srv import CancelGoal

        from gr00t_interfaces.srv import SetInstruction

        action = self.stack.actions["execute_instruction"]
        cancel = self.call(CancelGoal, f"{action}/_action/cancel_goal", CancelGoal.Request(), SYSTEM1_NODE)
        print(f"{len(cancel.goals_canceling)} goal(s) canceling")
        try:
            cleared = self.call(
                SetInstruction, self.stack.services["set_instruction"], SetInstruction.Request(text=""), SYSTEM2_NODE
            )
        except OperatorError as exc:  # System 2 elsewhere or down: the goals are canceled all the same
            print(f"instruction not cleared: {exc}", file=sys.stderr)
            return EXIT_OK
        return self.report(
            cleared.accepted,
            "instruction cleared (the policy holds)"
            if cleared.accepted
            else f"instruction not cleared: {cleared.message}",
        )

    # ------------------------------------------------------------------ record
    def record(self, action: str, text: str) -> int:
        if action == "start":
            from gr00t_interfaces.srv import SetInstruction

            response = self.call(
                SetInstruction, f"{RECORDER_NODE}/start", SetInstruction.Request(text=text), RECORDER_NODE
            )
            return self.report(response.accepted, response.message)
        from std_srvs.srv import Trigger

        response = self.call(Trigger, f"{RECORDER_NODE}/{RECORD_SERVICES[action]}", Trigger.Request(), RECORDER_NODE)
        return self.report(response.success, response.message)

    # ------------------------------------------------------------------ status
    def status(self, watch: bool, period: float, as_json: bool) -> int:
        from gr00t_console.recorder_view import recorder_view
        from gr00t_description.ros.qos import LATCHED_QOS, LATEST_RELIABLE_QOS
        from gr00t_interfaces.msg import ActionChunk, ControllerStatus, GoalTokens, RecorderStatus

        seen: dict[str, Any] = {"controller": None, "instruction": None, "recorder": None}
        chunk_times: list[float] = []
        changed = [False]

        def on_status(msg: Any) -> None:
            previous = seen["controller"]
            seen["controller"] = msg
            if previous is None or (previous.state, list(previous.active_faults)) != (
                msg.state,
                list(msg.active_faults),
            ):
                changed[0] = True

        def on_recorder(msg: Any) -> None:
            seen["recorder"] = recorder_view(msg)

        topics = self.stack.topics
        self.node.create_subscription(ControllerStatus, topics["controller_status"], on_status, LATCHED_QOS)
        # The instruction in effect, as System 2 stamps it on every goal.
        self.node.create_subscription(
            GoalTokens, topics["goal_tokens"], lambda m: seen.update(instruction=m.instruction), LATEST_RELIABLE_QOS
        )
        self.node.create_subscription(
            ActionChunk, topics["action_chunk"], lambda _m: chunk_times.append(time.monotonic()), LATEST_RELIABLE_QOS
        )
        self.node.create_subscription(RecorderStatus, f"{RECORDER_NODE}/status", on_recorder, LATCHED_QOS)
        deadline = time.monotonic() + self.wait_s
        while seen["controller"] is None and time.monotonic() < deadline:
            self._rclpy.spin_once(self.node, timeout_sec=0.05)
        if seen["controller"] is None:
            raise self.missing(SYSTEM1_NODE, "controller status on topic", topics["controller_status"])
        window_end = time.monotonic() + 1.0  # a second of chunks for the chunk rate
        # ... and, when a recorder runs, its (latched) status, which discovery may deliver later
        recorder_deadline = max(deadline, window_end) + 2.0
        recorder_running: bool | None = None  # looked up once, with the discovery grace of _graph_nodes
        while True:
            now = time.monotonic()
            if now >= window_end:
                if seen["recorder"] is not None or now >= recorder_deadline:
                    break
                if recorder_running is None:
                    recorder_running = (RECORDER_NODE, self.namespace) in self._graph_nodes(RECORDER_NODE)
                if not recorder_running:
                    break
            self._rclpy.spin_once(self.node, timeout_sec=0.05)
        while True:
            now = time.monotonic()
            recent = [t for t in chunk_times if now - t <= 2.0]
            chunk_times[:] = recent
            span = min(2.0, max(1.0, now - (recent[0] if recent else now)))
            print(self._format_status(seen, len(recent) / span, as_json), flush=True)
            if not watch:
                return EXIT_OK
            changed[0] = False
            next_line = time.monotonic() + period
            try:
                while time.monotonic() < next_line and not changed[0]:
                    self._rclpy.spin_once(self.node, timeout_sec=0.05)
            except KeyboardInterrupt:  # the way to end --watch: a normal end
                return EXIT_OK

    def _format_status(self, seen: dict[str, Any], chunk_rate: float, as_json: bool) -> str:
        msg = seen["controller"]
        status = {
            "state": STATE_NAMES.get(msg.state, str(msg.state)),
            "reason": msg.reason,
            "faults": list(msg.active_faults),
            "dry_run": bool(msg.dry_run),
            "chunks_executed": int(msg.chunks_executed),
            "command_rate_hz": round(float(msg.command_rate), 1),
            "chunk_rate_hz": round(chunk_rate, 1),
            "instruction": seen["instruction"],
        }
        recorder = seen["recorder"]
        if isinstance(recorder, dict):
            status["recorder"] = {k: recorder[k] for k in ("state", "episode", "task", "last_episode") if k in recorder}
        if as_json:
            return json.dumps(status)
        parts = [
            f"{status['state']}" + (f" ({status['reason']})" if status["reason"] else ""),
            f"faults: {', '.join(status['faults']) or 'none'}",
            f"commands {status['command_rate_hz']:.1f} Hz, chunks {status['chunk_rate_hz']:.1f} Hz, "
            f"{status['chunks_executed']} executed" + (" [dry run]" if status["dry_run"] else ""),
            f"instruction: {status['instruction']!r}" if status["instruction"] is not None else "instruction: (none)",
        ]
        if "recorder" in status:
            rec = status["recorder"]
            parts.append(f"recorder: {rec.get('state', '?')}" + (f" {rec['episode']}" if rec.get("episode") else ""))
        return " | ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
