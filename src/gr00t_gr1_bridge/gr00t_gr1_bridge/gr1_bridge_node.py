"""ROS 2 node: the gr00t-ros command stream <-> a real Fourier GR-1 (fourier-grx-client).

Topics (relative names from the stack YAML, so a namespace applies):
  subscribes joint_command (sensor_msgs/JointState: radians by name, any subset; best effort depth
             10, which matches System 1's reliable publisher and best-effort ones)
  publishes  joint_states (sensor_msgs/JointState, radians, the 32 body joints by URDF name, at
             rates.joint_state_hz whenever the server sent a new sample; reliable depth 10)
             /diagnostics (1 Hz)
  service    ~/set_enabled (gr00t_interfaces/SetEnabled, as System 1's and the leader teleop's):
             enable = start streaming from the measured pose (motors switched ON first unless
             dry_run); disable = stop streaming. Motors stay ON when disabled: switching them off
             lets the arms fall. The response's `state` is a ControllerStatus.STATE_*.

Nothing is sent before an explicit enable, and nothing at all with dry_run (the default), which
still connects, publishes joint states and computes the limited commands (see diagnostics).
Commands go out at `command_hz` through `BridgeCore` (limits, watchdogs; see bridge_core.py).
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState
from std_msgs.msg import String

from gr00t_description.robot_description import robot_description
from gr00t_description.ros.diagnostics import InputLog
from gr00t_description.ros.parameters import declare_config, declare_stack, parameter
from gr00t_description.ros.qos import LATCHED_QOS
from gr00t_gr1_bridge.bridge_core import BridgeConfig, BridgeCore, BridgeState
from gr00t_gr1_bridge.grx_client import SESSIONS_LEFT_OPEN, FourierGrxRobot
from gr00t_gr1_bridge.joint_map import FourierJointMap
from gr00t_gr1_bridge.robot_interface import Gr1Robot
from gr00t_interfaces.msg import ControllerStatus
from gr00t_interfaces.srv import SetEnabled
from gr00t_policy.safety import JointLimiter, LimiterConfig
from gr00t_policy.safety.input_checks import PositionBounds

NODE_NAME = "gr00t_gr1_bridge"  # as in gr00t_bringup's graph
STACK_SECTION = "gr1_bridge"
_THROTTLE_S = 1.0
_DIAGNOSTICS_PERIOD_S = 1.0
_RAD_PER_DEG = math.pi / 180.0


# The bridge's state as SetEnabled's `state` (ControllerStatus.STATE_*), the vocabulary System 1 and
# the leader teleop answer in: ENABLED streams; FAULT sends nothing until enabled again, like DISABLED
# (the message says why).
CONTROLLER_STATE = {
    BridgeState.DISABLED: ControllerStatus.STATE_DISABLED,
    BridgeState.ENABLED: ControllerStatus.STATE_RUNNING,
    BridgeState.FAULT: ControllerStatus.STATE_DISABLED,
}


@dataclass(frozen=True)
class BridgeNodeConfig:
    """The bridge node's parameters (values: ``nodes.gr1_bridge`` of the stack YAML)."""

    server_ip: str = field(
        metadata=parameter(
            "address of the grx server (fourier-grx on the robot computer); its port 7447 is fixed by the client"
        )
    )
    grx_namespace: str = field(metadata=parameter("zenoh key prefix of the grx server"))
    dry_run: bool = field(
        metadata=parameter(
            "true: read and publish joint states and compute the limited commands, never send a position command"
        )
    )
    command_hz: float = field(
        metadata=parameter("position commands sent to the server (slew-limited) per second, Hz", 10.0, 1000.0)
    )
    command_timeout_s: float = field(
        metadata=parameter("no joint_command for this long while enabled -> hold the last command, s", 0.005, 10.0)
    )
    state_timeout_s: float = field(
        metadata=parameter("no joint state from the server for this long -> stop sending and fault, s", 0.005, 10.0)
    )
    joint_state_limit_margin_rad: float = field(
        metadata=parameter(
            "enable is refused while a controlled joint reads further than this outside its URDF range "
            "(an encoder or server fault: the stream would start at that reading), rad",
            0.0,
            3.2,
        )
    )
    velocity_scale: float = field(
        metadata=parameter("fraction of the robot config's joint velocity limits the commands may use", 0.01, 1.0)
    )
    acceleration_scale: float = field(
        metadata=parameter("fraction of the robot config's joint acceleration limits the commands may use", 0.01, 1.0)
    )
    enable_motors: bool = field(
        metadata=parameter("set_enabled(enable) also switches the motors ON (control/enable) unless dry_run")
    )
    motor_order: list[str] = field(
        metadata=parameter("URDF joint name of each of Fourier's 32 motor indices, in motor index order")
    )


class Gr1BridgeNode(Node):
    def __init__(self, robot: Gr1Robot | None = None, **node_kwargs: Any) -> None:
        super().__init__(NODE_NAME, **node_kwargs)
        self.stack = declare_stack(self)
        config = declare_config(self, self.stack, STACK_SECTION, BridgeNodeConfig)
        self.dry_run = config.dry_run
        self.enable_motors = config.enable_motors
        command_hz = config.command_hz
        # The stack's rate: the robot's joint states are republished at the rate every node expects.
        joint_state_hz = float(self.stack.rates["joint_state_hz"])
        limiter_config = LimiterConfig(
            max_dt_s=3.0 / command_hz,
            velocity_scale=config.velocity_scale,
            acceleration_scale=config.acceleration_scale,
        )
        robot_config = self.stack.robot
        self.joint_map = FourierJointMap.create(config.motor_order, robot_config.joint_names)
        limiter = JointLimiter.from_robot(robot_config, self.joint_map.controlled, limiter_config)
        self.core = BridgeCore(
            self.joint_map,
            limiter,
            BridgeConfig(
                dry_run=config.dry_run,
                command_timeout_s=config.command_timeout_s,
                state_timeout_s=config.state_timeout_s,
            ),
            ignored_joints=robot_config.joint_names,
            position_bounds=PositionBounds.from_robot(
                robot_config, self.joint_map.controlled, config.joint_state_limit_margin_rad
            ),
        )
        self._input_log = InputLog(self.get_logger(), period_s=_THROTTLE_S)

        self.robot: Gr1Robot = robot or FourierGrxRobot(server_ip=config.server_ip, namespace=config.grx_namespace)
        self.robot.connect()
        self._published_sequence = -1

        topics = self.stack.topics
        self._joint_state_pub = self.create_publisher(
            JointState, topics["joint_states"], QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        )
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        # The robot's URDF for RViz and Foxglove (latched, like robot_state_publisher's).
        self._description_pub = self.create_publisher(String, "robot_description", LATCHED_QOS)
        self._description_pub.publish(String(data=robot_description(robot_config)[0]))
        self.create_subscription(
            JointState,
            topics["joint_command"],
            self._on_joint_command,
            QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT),
        )
        self.create_service(SetEnabled, "~/set_enabled", self._on_set_enabled)
        self.create_timer(1.0 / command_hz, self._on_command_tick)
        self.create_timer(1.0 / joint_state_hz, self._on_state_tick)
        self.create_timer(_DIAGNOSTICS_PERIOD_S, self._publish_diagnostics)
        self.get_logger().info(
            f"GR-1 bridge: {len(self.joint_map.controlled)} controlled joints "
            f"({', '.join(self.joint_map.controlled)}), commands at {command_hz:.0f} Hz, joint states at "
            f"{joint_state_hz:.0f} Hz, velocity scale {limiter_config.velocity_scale}, "
            f"{'DRY RUN (nothing is sent)' if self.dry_run else 'ARMED (sends after ~/set_enabled true)'}"
        )

    # --- callbacks -------------------------------------------------------------------------------
    def _on_joint_command(self, msg: JointState) -> None:
        error = self.core.on_command(msg.name, msg.position, time.monotonic())
        if error is not None:
            self._input_log.warning("rejected_joint_commands", f"joint_command rejected: {error}; holding")

    def _on_set_enabled(self, request: SetEnabled.Request, response: SetEnabled.Response) -> SetEnabled.Response:
        response.success, response.message = self._set_enabled(request.enable, request.reason)
        response.state = CONTROLLER_STATE[self.core.state]
        return response

    def _set_enabled(self, enable: bool, reason: str) -> tuple[bool, str]:
        if not enable:
            self.core.disable(f"disabled on request: {reason}" if reason else "disabled on request")
            self.get_logger().info(self.core.reason)
            return True, self.core.reason
        latest = self.robot.latest_state()
        if latest is not None:
            self.core.on_state(latest)
        if not self.dry_run and self.enable_motors:
            try:
                self.robot.set_motors_enabled(True)
            except Exception as exc:  # noqa: BLE001 - report any client failure to the caller
                return False, f"switching the motors on failed: {exc}"
        ok, message = self.core.enable(time.monotonic())
        self.get_logger().info(f"set_enabled(enable{f', {reason!r}' if reason else ''}): {message}")
        return ok, message

    def _on_command_tick(self) -> None:
        latest = self.robot.latest_state()
        if latest is not None:
            self.core.on_state(latest)
        was = self.core.state
        command = self.core.tick(time.monotonic())
        if was == BridgeState.ENABLED and self.core.state == BridgeState.FAULT:
            self.get_logger().error(self.core.reason)
        if command is not None:
            self.robot.send_positions_deg(command)

    def _on_state_tick(self) -> None:
        latest = self.robot.latest_state()
        if latest is None or latest.sequence == self._published_sequence:
            return
        self._published_sequence = latest.sequence
        msg = JointState()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.name = list(self.joint_map.motor_order)
        # Degrees on the wire from the server, radians everywhere in ROS.
        msg.position = [float(v) for v in (latest.positions_deg * _RAD_PER_DEG)]
        if latest.velocities_deg is not None and latest.velocities_deg.shape == latest.positions_deg.shape:
            msg.velocity = [float(v) for v in (latest.velocities_deg * _RAD_PER_DEG)]
        self._joint_state_pub.publish(msg)

    def _publish_diagnostics(self) -> None:
        core = self.core
        level = {
            BridgeState.DISABLED: DiagnosticStatus.OK,
            BridgeState.ENABLED: DiagnosticStatus.OK,
            BridgeState.FAULT: DiagnosticStatus.ERROR,
        }[core.state]
        latest = self.robot.latest_state()
        state_age = "never" if latest is None else f"{time.monotonic() - latest.received_monotonic_s:.3f}"
        values = {
            "state": core.state.name,
            "dry_run": self.dry_run,
            "joint_state_age_s": state_age,
            "commands_sent": core.commands_sent,
            "commands_rejected": core.commands_rejected,
            "stale_command_ticks": core.stale_command_ticks,
            "limiter": core.limiter.diagnostics(),
        }
        status = DiagnosticStatus(
            level=level, name=f"{self.get_name()}: GR-1 bridge", message=core.reason, hardware_id="fourier-gr1"
        )
        status.values = [KeyValue(key=k, value=str(v)) for k, v in values.items()]
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        array.status = [status]
        self._diagnostics_pub.publish(array)

    def destroy_node(self) -> None:
        self.robot.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    from gr00t_description import ConfigError
    from gr00t_description.ros.node_main import run_node

    # destroy_node closes the robot connection before rclpy shuts down
    run_node(Gr1BridgeNode, args=args, startup_errors=(ConfigError,))
    if SESSIONS_LEFT_OPEN:
        # The stopped node is finished; a zenoh reader thread stuck in fourier-grx-client's session
        # (not a daemon) would keep the interpreter from exiting until a launcher's SIGKILL.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


if __name__ == "__main__":
    main()
