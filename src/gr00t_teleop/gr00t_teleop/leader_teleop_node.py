"""Joint-space teleoperation: a leader `sensor_msgs/JointState` (exoskeleton, retargeted hand
tracking, a twin robot) streamed to the follower's `joint_command` at the command rate, through
the same safety layer as the policy (limits, start-up ramp from the measured pose, watchdogs,
e-stop). A stale leader holds the pose; stale joint states hold at once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from gr00t_interfaces.msg import ControllerStatus
from gr00t_interfaces.srv import SetEnabled
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger

from gr00t_description import load_stack
from gr00t_policy.joint_states import JointStateBuffer, JointStateError
from gr00t_description.ros.diagnostics import DiagnosticsPublisher, InputLog, now_seconds, ros_log_callback
from gr00t_description.ros.node_main import run_node
from gr00t_description.ros.parameters import declare_config, parameter
from gr00t_policy.safety.input_checks import PositionBounds, StampWindow, stamp_seconds
from gr00t_policy.safety.limits import JointLimiter
from gr00t_policy.safety.supervisor import SafetySupervisor, SupervisorConfig, SupervisorState
from gr00t_teleop.teleop.leader_mapping import LeaderMapping, LeaderMappingError


@dataclass(frozen=True)
class LeaderInputChecks:
    """What the leader teleop accepts from its inputs (values: ``nodes.leader_teleop`` of the stack YAML)."""

    max_stamp_skew_s: float = field(metadata=parameter(
        "how far a joint-state or leader stamp may lie ahead of this node's clock, and behind it beyond "
        "the input's timeout (0 = unstamped: receive time). Implausibly stamped samples are rejected",
        0.001, 60.0,
    ))
    joint_state_limit_margin_rad: float = field(metadata=parameter(
        "joint states further than this outside a joint's URDF range are rejected as implausible",
        0.0, 3.2,
    ))


class LeaderTeleopNode(Node):
    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("gr00t_leader_teleop", **node_kwargs)
        self.stack = load_stack(self.declare_parameter("stack_config", "").value or None)
        section = self.stack.nodes.get("leader_teleop", {})
        p = lambda name, default: self.declare_parameter(name, section.get(name, default)).value  # noqa: E731
        leader_topic = p("leader_topic", "leader/joint_states")
        groups = p("groups", ["left_arm", "right_arm", "left_hand", "right_hand"])
        self.leader_timeout_s = p("leader_timeout_s", 0.2)
        self.joint_state_timeout_s = p("joint_state_timeout_s", 0.25)
        self.command_rate_hz = p("command_rate_hz", self.stack.rates["command_hz"])
        dry_run = p("dry_run", False)
        robot = self.stack.robot
        self.mapping = LeaderMapping.from_config(robot.group_joints(groups), section.get("mapping", {}))
        self.joints = list(self.mapping.follower_joints)
        checks = declare_config(self, self.stack, "leader_teleop", LeaderInputChecks, reject_unknown=False)
        skew = checks.max_stamp_skew_s
        self._leader_stamps = StampWindow(skew, skew + self.leader_timeout_s)
        self.joint_buffer = JointStateBuffer(
            self.joints,
            stamp_window=StampWindow(skew, skew + self.joint_state_timeout_s),
            position_bounds=PositionBounds.from_robot(robot, self.joints, checks.joint_state_limit_margin_rad),
        )
        self.supervisor = SafetySupervisor(
            SupervisorConfig(
                ramp_duration_s=p("startup_ramp_s", 1.0),
                ramp_max_velocity_rad_s=p("ramp_max_velocity_rad_s", 0.5),
                joint_state_timeout_s=self.joint_state_timeout_s,
                goal_timeout_s=0.0,  # no goal tokens, chunks or inference in teleop: watchdogs off
                chunk_timeout_s=0.0,
                exhausted_timeout_s=0.0,
                inference_timeout_s=0.0,
                disable_after_s=p("disable_after_s", 30.0),
                dry_run=dry_run,
            ),
            JointLimiter.from_robot(robot, self.joints),
            log=ros_log_callback(self.get_logger()),
        )
        self._lock = threading.Lock()
        self._leader_command = None
        self._leader_time = -1.0

        topics = self.stack.topics
        self.create_subscription(JointState, leader_topic, self._on_leader, qos_profile_sensor_data)
        self.create_subscription(JointState, topics["joint_states"], self._on_joint_state, qos_profile_sensor_data)
        self.command_pub = self.create_publisher(JointState, topics["joint_command"], QoSProfile(depth=1))
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.status_pub = self.create_publisher(ControllerStatus, "~/status", latched)
        self.create_service(SetEnabled, "~/set_enabled", self._on_set_enabled)
        self.create_service(Trigger, "~/estop", self._on_estop)
        self.create_service(Trigger, "~/reset_estop", self._on_reset_estop)
        self.create_timer(1.0 / self.command_rate_hz, self._on_tick)
        self._ticks = 0
        self._commands_sent = 0
        self._input_log = InputLog(self.get_logger())
        DiagnosticsPublisher(self, "gr00t_leader_teleop", self._diagnostics)
        if p("enable_on_start", False):
            self.supervisor.enable(self._now(), "enable_on_start")
        self.get_logger().info(
            f"leader teleop: {leader_topic} -> {topics['joint_command']} for {len(self.joints)} joints "
            f"at {self.command_rate_hz:.0f} Hz (dry_run={dry_run})"
        )

    def _now(self) -> float:
        return now_seconds(self)

    def _on_leader(self, msg: JointState) -> None:
        stamp = stamp_seconds(msg.header.stamp)
        problem = self._leader_stamps.problem(stamp, self._now()) if stamp != 0.0 else None
        if problem:
            self._input_log.error("leader_joint_states", f"leader sample rejected: {problem}")
            return
        try:
            command = self.mapping.map(msg.name, msg.position)
        except LeaderMappingError as exc:
            self._input_log.error("leader_joint_states", f"leader sample rejected: {exc}")
            return
        with self._lock:
            self._leader_command, self._leader_time = command, self._now()

    def _on_joint_state(self, msg: JointState) -> None:
        now = self._now()
        try:
            self.joint_buffer.update(msg.name, msg.position, stamp_seconds(msg.header.stamp), now)
        except JointStateError as exc:
            self._input_log.error("rejected_joint_states", f"joint_states rejected: {exc}")
            return
        if self.joint_buffer.positions_of(self.joints, now, self.joint_state_timeout_s) is not None:
            with self._lock:
                self.supervisor.on_joint_state(now)

    def _on_tick(self) -> None:
        now = self._now()
        measured = self.joint_buffer.positions_of(self.joints, now, float("inf"))
        with self._lock:
            fresh = self._leader_time >= 0 and now - self._leader_time <= self.leader_timeout_s
            output = self.supervisor.tick(now, measured, self._leader_command if fresh else None)
            self._ticks += 1
            self._commands_sent += output.command is not None
        if output.state_changed:  # the supervisor has logged it (through this node's logger)
            self._publish_status(output)
        if output.command is not None:
            msg = JointState(name=self.joints, position=[float(v) for v in output.command])
            msg.header.stamp = self.get_clock().now().to_msg()
            self.command_pub.publish(msg)

    def _diagnostics(self) -> tuple[int, str, dict[str, Any]]:
        now = self._now()
        with self._lock:
            state, reason = self.supervisor.state, self.supervisor.reason
            values: dict[str, Any] = {
                "leader_age_s": now - self._leader_time if self._leader_time >= 0 else float("inf"),
                "ticks": self._ticks,
                "commands_sent": self._commands_sent,
                "leader_rejected": self._input_log.count("leader_joint_states"),
                **self._input_log.snapshot(),
                **{k: v for k, v in self.supervisor.diagnostics().items() if k != "limiter"},
            }
        level = {SupervisorState.HOLDING: 1, SupervisorState.ESTOPPED: 2}.get(state, 0)
        return level, f"{state.name.lower()}: {reason}" if reason else state.name.lower(), values

    def _publish_status(self, output) -> None:
        msg = ControllerStatus(state=int(output.state), reason=output.reason, active_faults=list(output.active_faults))
        msg.header.stamp = self.get_clock().now().to_msg()
        self.status_pub.publish(msg)

    def _on_set_enabled(self, request: SetEnabled.Request, response: SetEnabled.Response):
        with self._lock:
            if request.enable:
                result = self.supervisor.enable(self._now(), request.reason)
            else:
                result = self.supervisor.disable(request.reason or "disabled on request")
        response.success, response.message, response.state = result.success, result.message, int(result.state)
        return response

    def _on_estop(self, _request, response: Trigger.Response):
        with self._lock:
            result = self.supervisor.estop("e-stop service called")
        response.success, response.message = result.success, result.message
        return response

    def _on_reset_estop(self, _request, response: Trigger.Response):
        with self._lock:
            result = self.supervisor.reset_estop()
        response.success, response.message = result.success, result.message
        return response


def main(args: list[str] | None = None) -> None:
    from gr00t_description import ConfigError

    run_node(LeaderTeleopNode, num_threads=2, args=args, startup_errors=(ConfigError, LeaderMappingError))

if __name__ == "__main__":
    main()
