"""Joint-space teleoperation: a leader `sensor_msgs/JointState` (exoskeleton, retargeted hand
tracking, a twin robot) streamed to the follower's `joint_command` at the command rate, through
the same safety layer as the policy (limits, start-up ramp from the measured pose, watchdogs,
e-stop). A stale leader holds the pose; stale joint states hold at once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger

from gr00t_description.ros.diagnostics import DiagnosticsPublisher, InputLog, now_seconds, ros_log_callback
from gr00t_description.ros.node_main import run_node
from gr00t_description.ros.parameters import declare_config, declare_stack, parameter
from gr00t_description.ros.qos import LATCHED_QOS, LATEST_RELIABLE_QOS, SENSOR_QOS
from gr00t_interfaces.msg import ControllerStatus
from gr00t_interfaces.srv import SetEnabled
from gr00t_policy.joint_states import JointStateBuffer, JointStateError
from gr00t_policy.safety.input_checks import PositionBounds, StampWindow, stamp_seconds
from gr00t_policy.safety.limits import JointLimiter
from gr00t_policy.safety.supervisor import SafetySupervisor, SupervisorConfig, SupervisorState
from gr00t_teleop.teleop.leader_mapping import LeaderMapping, LeaderMappingError

STACK_SECTION = "leader_teleop"


@dataclass(frozen=True)
class LeaderTeleopConfig:
    """The leader teleop's parameters (values: ``nodes.leader_teleop`` of the stack YAML)."""

    leader_topic: str = field(metadata=parameter("the leader's sensor_msgs/JointState topic (relative: namespaced)"))
    groups: list[str] = field(
        metadata=parameter(
            "joint groups of the robot YAML the leader drives (their joints are the commanded follower joints)"
        )
    )
    mapping: dict = field(
        metadata=parameter("follower joint -> leader joint name or {source, scale, offset}; {} = the same names")
    )
    leader_timeout_s: float = field(
        metadata=parameter("no leader sample for this long -> hold the pose, s", 0.01, 10.0)
    )
    joint_state_timeout_s: float = field(
        metadata=parameter("no joint state for this long -> hold at once (the safety layer is blind), s", 0.005, 10.0)
    )
    startup_ramp_s: float = field(
        metadata=parameter("minimum blend time from the measured pose to the leader on enable and resume, s", 0.0, 60.0)
    )
    ramp_max_velocity_rad_s: float = field(
        metadata=parameter(
            "the ramp is lengthened so the joint furthest from the leader moves no faster than this on "
            "average (0 = fixed duration), rad/s",
            0.0,
            10.0,
        )
    )
    disable_after_s: float = field(
        metadata=parameter("holding for this long -> disabled (needs an explicit enable; 0 = never), s", 0.0, 3600.0)
    )
    resume_after_s: float = field(
        metadata=parameter("faults must stay clear this long before the stream resumes (no flapping), s", 0.0, 60.0)
    )
    restart_position_threshold_rad: float = field(
        metadata=parameter(
            "measured pose this far from the last command: after a joint-state outage a controller restart "
            "(re-ramp from the measured pose), otherwise a tracking-error hold (0 = neither check), rad",
            0.0,
            6.3,
        )
    )
    tracking_error_timeout_s: float = field(
        metadata=parameter("how long such a gap (without an outage) lasts before the tracking-error hold, s", 0.0, 60.0)
    )
    enable_on_start: bool = field(
        metadata=parameter("enable the command stream at start-up (otherwise enable explicitly with ~/set_enabled)")
    )
    dry_run: bool = field(metadata=parameter("compute the commands, publish none"))
    max_stamp_skew_s: float = field(
        metadata=parameter(
            "how far a joint-state or leader stamp may lie ahead of this node's clock, and behind it beyond "
            "the input's timeout (0 = unstamped: receive time). Implausibly stamped samples are rejected, s",
            0.001,
            60.0,
        )
    )
    joint_state_limit_margin_rad: float = field(
        metadata=parameter(
            "joint states further than this outside a joint's URDF range are rejected as implausible, rad",
            0.0,
            3.2,
        )
    )


class LeaderTeleopNode(Node):
    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("gr00t_leader_teleop", **node_kwargs)
        self.stack = declare_stack(self)
        config = declare_config(self, self.stack, STACK_SECTION, LeaderTeleopConfig)
        self.leader_timeout_s = config.leader_timeout_s
        self.joint_state_timeout_s = config.joint_state_timeout_s
        # The rate of every joint_command stream of the stack (System 1's too).
        self.command_rate_hz = float(self.stack.rates["command_hz"])
        robot = self.stack.robot
        self.mapping = LeaderMapping.from_config(robot.group_joints(config.groups), config.mapping)
        self.joints = list(self.mapping.follower_joints)
        skew = config.max_stamp_skew_s
        self._leader_stamps = StampWindow(skew, skew + self.leader_timeout_s)
        self.joint_buffer = JointStateBuffer(
            self.joints,
            stamp_window=StampWindow(skew, skew + self.joint_state_timeout_s),
            position_bounds=PositionBounds.from_robot(robot, self.joints, config.joint_state_limit_margin_rad),
        )
        self.supervisor = SafetySupervisor(
            SupervisorConfig(
                ramp_duration_s=config.startup_ramp_s,
                ramp_max_velocity_rad_s=config.ramp_max_velocity_rad_s,
                joint_state_timeout_s=self.joint_state_timeout_s,
                goal_timeout_s=0.0,  # no goal tokens, chunks or inference in teleop: watchdogs off
                chunk_timeout_s=0.0,
                exhausted_timeout_s=0.0,
                inference_timeout_s=0.0,
                disable_after_s=config.disable_after_s,
                resume_after_s=config.resume_after_s,
                restart_position_threshold_rad=config.restart_position_threshold_rad,
                tracking_error_timeout_s=config.tracking_error_timeout_s,
                dry_run=config.dry_run,
            ),
            JointLimiter.from_robot(robot, self.joints),
            log=ros_log_callback(self.get_logger()),
        )
        self._lock = threading.Lock()
        self._leader_command = None
        self._leader_time = -1.0

        topics = self.stack.topics
        self.create_subscription(JointState, config.leader_topic, self._on_leader, SENSOR_QOS)
        self.create_subscription(JointState, topics["joint_states"], self._on_joint_state, SENSOR_QOS)
        self.command_pub = self.create_publisher(JointState, topics["joint_command"], LATEST_RELIABLE_QOS)
        self.status_pub = self.create_publisher(ControllerStatus, "~/status", LATCHED_QOS)
        self.create_service(SetEnabled, "~/set_enabled", self._on_set_enabled)
        self.create_service(Trigger, "~/estop", self._on_estop)
        self.create_service(Trigger, "~/reset_estop", self._on_reset_estop)
        self.create_timer(1.0 / self.command_rate_hz, self._on_tick)
        self._ticks = 0
        self._commands_sent = 0
        self._input_log = InputLog(self.get_logger())
        DiagnosticsPublisher(self, "gr00t_leader_teleop", self._diagnostics)
        if config.enable_on_start:
            self.supervisor.enable(self._now(), "enable_on_start")
        self.get_logger().info(
            f"leader teleop: {config.leader_topic} -> {topics['joint_command']} for {len(self.joints)} joints "
            f"at {self.command_rate_hz:.0f} Hz (dry_run={config.dry_run})"
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
