#!/usr/bin/env python3
"""Soak benchmark (not a test): the full sim graph for --minutes with System 2 killed and restarted
every --restart-every seconds. Reports missed command deadlines, the max command period, limit
violations of the commanded positions/velocities (must be 0) and the RSS growth of every node.
Exits 1 on a limit violation, a node exiting non-zero, or System 1 disabling itself.

    python src/gr00t_bringup/benchmarks/soak.py --minutes 10 --out docs/benchmarks/soak_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState

from gr00t_bringup.graph import GraphOptions, build_graph
from gr00t_bringup.processes import Graph
from gr00t_description import load_stack
from gr00t_interfaces.msg import ControllerStatus
from gr00t_interfaces.srv import SetInstruction


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


class CommandAudit:
    """Checks every received command against the robot's operating limits."""

    def __init__(self, stack) -> None:
        self.joints = stack.robot.joints
        self.receive_times: list[float] = []
        self.position_violations = 0
        self.velocity_violations = 0
        self.examples: list[dict] = []  # the first violations, for diagnosis
        self._last: tuple[float, dict[str, float]] | None = None
        self.lock = threading.Lock()

    def on_command(self, msg: JointState) -> None:
        now = time.monotonic()
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        positions = dict(zip(msg.name, msg.position))
        with self.lock:
            self.receive_times.append(now)
            for name, value in positions.items():
                spec = self.joints[name]
                if not spec.lower - 1e-9 <= value <= spec.upper + 1e-9:
                    self.position_violations += 1
                    self._example("position", name, value, stamp)
            if self._last is not None and stamp > self._last[0]:
                dt = stamp - self._last[0]
                for name, value in positions.items():
                    previous = self._last[1].get(name)
                    # 1% + 1e-6 slack: the limiter caps ticks at max_dt, stamps carry publish jitter.
                    if (
                        previous is not None
                        and abs(value - previous) > self.joints[name].max_velocity * dt * 1.01 + 1e-6
                    ):
                        self.velocity_violations += 1
                        self._example("velocity", name, (value - previous) / dt, stamp)
            self._last = (stamp, positions)

    def _example(self, kind: str, joint: str, value: float, stamp: float) -> None:
        if len(self.examples) < 20:
            self.examples.append({"kind": kind, "joint": joint, "value": value, "stamp": stamp})


class StatusLog:
    """System 1's controller_status transitions (state, reason, faults), counted by cause."""

    def __init__(self) -> None:
        self.transitions: list[tuple[float, int, str, tuple[str, ...]]] = []

    def on_status(self, msg) -> None:
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        self.transitions.append((stamp, msg.state, msg.reason, tuple(msg.active_faults)))

    def state_seconds(self, start: float, end: float) -> dict[str, float]:
        """Seconds System 1 spent in each state between two ROS times (the header stamps' clock)."""
        names = {0: "DISABLED", 1: "RAMPING", 2: "RUNNING", 3: "HOLDING", 4: "ESTOPPED"}
        totals: dict[str, float] = {}
        ordered = sorted(self.transitions)
        for (stamp, state, _, _), following in zip(ordered, [*ordered[1:], (end, 0, "", ())]):
            a, b = max(stamp, start), min(following[0], end)
            if b > a:
                totals[names.get(state, str(state))] = totals.get(names.get(state, str(state)), 0.0) + b - a
        return totals

    def disabled_by(self) -> list[str]:
        """Reasons of the transitions into DISABLED from another state."""
        ordered = sorted(self.transitions)
        return [
            reason
            for (_, previous, _, _), (_, state, reason, _) in zip(ordered, ordered[1:])
            if state == 0 and previous != 0
        ]

    def causes(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for _, _, reason, faults in self.transitions:
            for cause in faults or ((reason,) if reason else ()):
                key = cause.split(";")[0].split(":")[0].strip()
                counts[key] = counts.get(key, 0) + 1
        return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--restart-every", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=30.0)
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks/soak_cpu.json"))
    parser.add_argument(
        "--node-log",
        type=Path,
        default=Path("/tmp/gr00t_soak_nodes.log"),
        help="every node's output, for diagnosing holds, disables and exit codes",
    )
    args = parser.parse_args()

    stack = load_stack()
    period = 1.0 / stack.rates["command_hz"]
    node_log = args.node_log.open("w")
    graph = Graph(build_graph(stack, "sim", GraphOptions(console=False)), log=node_log)
    rclpy.init()
    node = rclpy.create_node("gr00t_soak_probe")
    audit = CommandAudit(stack)
    node.create_subscription(JointState, stack.topics["joint_command"], audit.on_command, 50)
    status_log = StatusLog()
    latched = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    node.create_subscription(ControllerStatus, stack.topics["controller_status"], status_log.on_status, latched)
    instruction = node.create_client(SetInstruction, stack.services["set_instruction"])
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    stop = threading.Event()
    spinner = threading.Thread(target=lambda: [executor.spin_once(timeout_sec=0.05) for _ in iter(stop.is_set, True)])
    spinner.start()

    def send_instruction() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if instruction.wait_for_service(timeout_sec=1.0):
                future = instruction.call_async(SetInstruction.Request(text="pick up the red cube"))
                end = time.monotonic() + 3
                while not future.done() and time.monotonic() < end:
                    time.sleep(0.05)
                if future.done() and future.result().accepted:
                    return
        raise RuntimeError("System 2 never accepted the instruction")

    restarts = 0
    try:
        send_instruction()
        time.sleep(args.warmup)
        rss_start = {n.spec.name: rss_mb(n.pid) for n in graph.nodes}
        start = time.monotonic()
        start_ros = time.time()  # the nodes stamp with the wall clock (no sim time in this graph)
        next_restart = start + args.restart_every
        while time.monotonic() - start < args.minutes * 60:
            if exited := {k: v for k, v in graph.exited().items() if k != "gr00t_system2"}:
                raise RuntimeError(f"node(s) died: {exited}")
            if time.monotonic() >= next_restart:
                graph.kill("gr00t_system2")
                graph.restart("gr00t_system2")
                send_instruction()
                restarts += 1
                next_restart = time.monotonic() + args.restart_every
            time.sleep(0.2)
        rss_end = {n.spec.name: rss_mb(n.pid) for n in graph.nodes}
    finally:
        stop.set()
        spinner.join()
        node.destroy_node()
        rclpy.shutdown()
        exit_codes = graph.shutdown()
        node_log.close()

    with audit.lock:
        times = np.array([t for t in audit.receive_times if t >= start])
    periods = np.diff(times) * 1e3
    result = {
        "minutes": args.minutes,
        "system2_restarts": restarts,
        "commands": int(times.size),
        "command_rate_hz": float((times.size - 1) / (times[-1] - times[0])) if times.size > 1 else 0.0,
        # Commands received / expected over the whole soak: < 1 when System 1 stopped sending.
        "stream_coverage": float(times.size / (args.minutes * 60 / period)),
        "system1_state_seconds": status_log.state_seconds(start_ros, start_ros + args.minutes * 60),
        "command_period_ms": {
            "p50": float(np.percentile(periods, 50)),
            "p99": float(np.percentile(periods, 99)),
            "max": float(periods.max()),
        },
        "missed_deadlines": int((periods > 1.5 * period * 1e3).sum()),
        "missed_deadline_rule": f"receive-side gap > 1.5 x {period * 1e3:.2f} ms",
        "position_limit_violations": audit.position_violations,
        "velocity_limit_violations": audit.velocity_violations,
        "violation_examples": audit.examples,
        "controller_status_changes": len(status_log.transitions),
        "controller_status_causes": status_log.causes(),
        # Every transition into DISABLED from an enabled state, with its reason: the stream stops until
        # re-enabled (the status a node publishes before enable_on_start enables it is not one).
        "system1_disabled_by": status_log.disabled_by()[:20],
        "rss_mb_start": rss_start,
        "rss_mb_end": rss_end,
        "exit_codes": exit_codes,
        "node_log": str(args.node_log),
        "load_avg_at_end": os.getloadavg(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    # The pass/fail part of the soak: limits never exceeded, nobody crashed, System 1 never gave up.
    failures = [
        *(["limit violations"] if audit.position_violations or audit.velocity_violations else []),
        *([f"exit codes {exit_codes}"] if any(exit_codes.values()) else []),
        *(["System 1 disabled itself"] if result["system1_disabled_by"] else []),
    ]
    if failures:
        print(f"soak FAILED: {'; '.join(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
