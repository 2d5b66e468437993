"""An operator-side ROS node for the runner: sends the instruction through the ExecuteInstruction
action and measures what the graph does (rates, latencies, chunks, joint motion)."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
from rclpy.action import ActionClient
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState

from gr00t_description import StackConfig
from gr00t_interfaces.action import ExecuteInstruction
from gr00t_interfaces.msg import ActionChunk, ControllerStatus, GoalTokens
from gr00t_interfaces.srv import SetInstruction

OUTCOME_NAMES = {
    ExecuteInstruction.Result.OUTCOME_TIMEOUT_REACHED: "timeout_reached",
    ExecuteInstruction.Result.OUTCOME_CANCELED: "canceled",
    ExecuteInstruction.Result.OUTCOME_PREEMPTED: "preempted",
    ExecuteInstruction.Result.OUTCOME_ABORTED: "aborted",
    ExecuteInstruction.Result.OUTCOME_REJECTED: "rejected",
}
STATE_NAMES = {
    ControllerStatus.STATE_DISABLED: "disabled",
    ControllerStatus.STATE_RAMPING: "ramping",
    ControllerStatus.STATE_RUNNING: "running",
    ControllerStatus.STATE_HOLDING: "holding",
    ControllerStatus.STATE_ESTOPPED: "estopped",
}


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    array = np.asarray(values)
    return {
        "count": int(array.size),
        "p50": float(np.percentile(array, 50)),
        "p99": float(np.percentile(array, 99)),
        "max": float(array.max()),
    }


def _rate(times: list[float]) -> float:
    if len(times) < 2 or times[-1] <= times[0]:
        return 0.0
    return (len(times) - 1) / (times[-1] - times[0])


class StackMonitor(Node):
    def __init__(self, stack: StackConfig) -> None:
        super().__init__("gr00t_launch_monitor")
        self.stack = stack
        self.joints = list(stack.robot.joint_names)
        topics = stack.topics
        self._lock = threading.Lock()
        self.goal_times: list[float] = []
        self.goal_latency_s: list[float] = []
        self.chunk_times: list[float] = []
        self.chunk_latency_s: list[float] = []
        self.command_times: list[float] = []
        self.joint_state_times: list[float] = []
        self.image_times: list[float] = []
        self.first_positions: dict[str, float] = {}
        self.last_positions: dict[str, float] = {}
        self.max_displacement: dict[str, float] = {}
        self.last_command: dict[str, float] = {}
        self.tracking_error: list[float] = []
        self.states: list[str] = []
        self.feedback: dict[str, Any] = {}
        latched = QoSProfile(
            depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
        )
        self.create_subscription(GoalTokens, topics["goal_tokens"], self._on_goal, 10)
        self.create_subscription(ActionChunk, topics["action_chunk"], self._on_chunk, 10)
        self.create_subscription(JointState, topics["joint_command"], self._on_command, 50)
        self.create_subscription(JointState, topics["joint_states"], self._on_joint_state, qos_profile_sensor_data)
        self.create_subscription(ControllerStatus, topics["controller_status"], self._on_status, latched)
        first_camera = next(iter(stack.camera_topics().values()))
        # Counted, not decoded: raw delivery keeps the monitor from competing for CPU with the graph.
        self.create_subscription(Image, first_camera["image"], self._on_image, qos_profile_sensor_data, raw=True)
        self.action_client = ActionClient(self, ExecuteInstruction, stack.actions["execute_instruction"])
        # Only probed for readiness: System 1 hands an action's instruction to System 2 through it.
        self.system2_instruction_client = self.create_client(SetInstruction, stack.services["set_instruction"])

    # wall-clock receive times: rates and jitter as the consumer sees them
    def _on_goal(self, msg: GoalTokens) -> None:
        with self._lock:
            self.goal_times.append(time.monotonic())
            self.goal_latency_s.append(float(msg.inference_latency))

    def _on_chunk(self, msg: ActionChunk) -> None:
        with self._lock:
            self.chunk_times.append(time.monotonic())
            self.chunk_latency_s.append(float(msg.inference_latency))

    def _on_command(self, msg: JointState) -> None:
        with self._lock:
            self.command_times.append(time.monotonic())
            self.last_command.update(zip(msg.name, msg.position))

    def _on_image(self, _serialized: bytes) -> None:
        with self._lock:
            self.image_times.append(time.monotonic())

    def _on_joint_state(self, msg: JointState) -> None:
        with self._lock:
            self.joint_state_times.append(time.monotonic())
            positions = dict(zip(msg.name, msg.position))
            for name in self.joints:
                if name not in positions:
                    continue
                value = positions[name]
                start = self.first_positions.setdefault(name, value)
                self.last_positions[name] = value
                self.max_displacement[name] = max(self.max_displacement.get(name, 0.0), abs(value - start))
            common = [n for n in self.joints if n in positions and n in self.last_command]
            if common:
                error = max(abs(positions[n] - self.last_command[n]) for n in common)
                self.tracking_error.append(error)

    def _on_status(self, msg: ControllerStatus) -> None:
        with self._lock:
            name = STATE_NAMES.get(msg.state, str(msg.state))
            if not self.states or self.states[-1] != name:
                self.states.append(name)

    def on_feedback(self, feedback_msg) -> None:
        feedback = feedback_msg.feedback
        with self._lock:
            self.feedback = {
                "elapsed_s": feedback.elapsed.sec + feedback.elapsed.nanosec * 1e-9,
                "chunks_executed": int(feedback.chunks_executed),
                "state": feedback.state_text,
            }

    def summary(self) -> dict[str, Any]:
        with self._lock:
            command_periods_ms = list(np.diff(self.command_times) * 1e3) if len(self.command_times) > 1 else []
            displacement = {k: round(v, 5) for k, v in sorted(self.max_displacement.items())}
            return {
                "rates_hz": {
                    "system2_goal_tokens": _rate(self.goal_times),
                    "system1_action_chunks": _rate(self.chunk_times),
                    "joint_commands": _rate(self.command_times),
                    "joint_states": _rate(self.joint_state_times),
                    "camera": _rate(self.image_times),
                },
                "inference_latency_ms": {
                    "system2": _stats([v * 1e3 for v in self.goal_latency_s]),
                    "system1": _stats([v * 1e3 for v in self.chunk_latency_s]),
                },
                "command_period_ms": _stats(command_periods_ms),
                "counts": {
                    "goal_tokens": len(self.goal_times),
                    "action_chunks": len(self.chunk_times),
                    "joint_commands": len(self.command_times),
                },
                "joint_motion": {
                    "max_displacement_rad": max(displacement.values(), default=0.0),
                    "joints_moved_over_0.01_rad": sum(v > 0.01 for v in displacement.values()),
                    "per_joint_max_displacement_rad": displacement,
                    "tracking_error_rad": _stats(self.tracking_error),
                },
                "controller_states": list(self.states),
            }
