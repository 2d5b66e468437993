"""Palm teleop from a gamepad or the keyboard: `sensor_msgs/Joy` -> palm velocity -> differential IK
on the GR-1 -> a leader `JointState` (both arms and hands, by name) for `leader_teleop_node`, so the
commands reach the robot through the same safety layer as the policy's:

    joy (joy_linux / keyboard_joy) -> joy_teleop_node -> leader/joint_states -> leader_teleop_node
        -> joint_command -> sim / robot

Starts from the measured pose (first fresh `joint_states`), so taking over never moves the robot.
Bad Joy samples (too few axes or buttons, NaN, axes outside [-1, 1]) and bad joint states are
logged (flood-proof), counted in /diagnostics and ignored; without a fresh Joy for
`joy_timeout_s` the palms stop where they are commanded and the node keeps publishing that pose.
`~/resync` restarts from the measured pose (e.g. after the policy moved the arms).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from rclpy.node import Node
from sensor_msgs.msg import JointState, Joy
from std_srvs.srv import Trigger

from gr00t_description.ros.diagnostics import DiagnosticsPublisher, InputLog, now_seconds
from gr00t_description.ros.node_main import run_node
from gr00t_description.ros.parameters import declare_config, declare_stack, parameter
from gr00t_description.ros.qos import LATEST_RELIABLE_QOS, SENSOR_QOS
from gr00t_policy.joint_states import JointStateBuffer, JointStateError
from gr00t_teleop.teleop.ik_teleop import IKTeleop, IKTeleopConfig, IKTeleopError
from gr00t_teleop.teleop.joy_mapping import JoyCommand, JoyMapping, JoyMappingConfig, JoyMappingError

STACK_SECTION = "joy_teleop"
MAX_JOY_INDEX = 63  # axes and buttons of any gamepad (joy_linux reports at most a few dozen)
_BUTTON = "index in sensor_msgs/Joy.buttons"


@dataclass(frozen=True)
class JoyTeleopConfig:
    """The joy teleop's parameters (values: ``nodes.joy_teleop`` of the stack YAML)."""

    joy_topic: str = field(metadata=parameter("the sensor_msgs/Joy topic (joy_linux, keyboard_joy)"))
    rate_hz: float = field(metadata=parameter("IK steps and leader samples per second, Hz", 1.0, 500.0))
    joy_timeout_s: float = field(
        metadata=parameter("no valid Joy for this long -> the palms stop (targets held), s", 0.01, 10.0)
    )
    joint_state_timeout_s: float = field(
        metadata=parameter("the IK starts from measured joint states at most this old, s", 0.005, 10.0)
    )
    start_side: str = field(metadata=parameter("arm driven first", choices=("left", "right")))
    axes: list[int] = field(
        metadata=parameter("Joy axes (indices) -> palm x (forward), y (left), z (up) velocity", 0, MAX_JOY_INDEX)
    )
    axis_scales_m_s: list[float] = field(
        metadata=parameter("palm speed at full deflection per axis (negative inverts the axis), m/s", -2.0, 2.0)
    )
    deadzone: float = field(metadata=parameter("fraction of full deflection read as zero", 0.0, 0.95))
    button_switch_arm: int = field(metadata=parameter(f"{_BUTTON}: toggle the arm being driven", 0, MAX_JOY_INDEX))
    button_open_hand: int = field(metadata=parameter(f"{_BUTTON}: open the active hand while held", 0, MAX_JOY_INDEX))
    button_close_hand: int = field(metadata=parameter(f"{_BUTTON}: close the active hand while held", 0, MAX_JOY_INDEX))
    button_home: int = field(
        metadata=parameter(f"{_BUTTON}: both arms and hands back to the home pose", 0, MAX_JOY_INDEX)
    )
    workspace_min_m: list[float] = field(
        metadata=parameter("palm target box, lower corner (x, y, z) in the robot frame, m", -3.0, 3.0)
    )
    workspace_max_m: list[float] = field(
        metadata=parameter("palm target box, upper corner (x, y, z) in the robot frame, m", -3.0, 3.0)
    )
    max_target_lead_m: float = field(
        metadata=parameter("the palm target stops this far ahead of a palm that cannot follow, m", 0.001, 1.0)
    )
    home_speed_m_s: float = field(metadata=parameter("palm speed while homing, m/s", 0.01, 2.0))
    hand_speed_per_s: float = field(
        metadata=parameter(
            "hand closing/opening speed as a fraction of its open->closed range per second, 1/s", 0.01, 20.0
        )
    )
    max_joint_speed_rad_s: float = field(metadata=parameter("IK joint speed bound, rad/s", 0.01, 10.0))


class JoyTeleopNode(Node):
    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("gr00t_joy_teleop", **node_kwargs)
        self.stack = declare_stack(self)
        config = declare_config(self, self.stack, STACK_SECTION, JoyTeleopConfig)
        joy_topic = config.joy_topic
        # The leader teleop's input, read from its own section so the two cannot disagree.
        leader_topic = self.stack.nodes["leader_teleop"]["leader_topic"]
        self.rate_hz = config.rate_hz
        self.joy_timeout_s = config.joy_timeout_s
        self.joint_state_timeout_s = config.joint_state_timeout_s
        mapping_config = JoyMappingConfig(
            axes=tuple(config.axes),
            axis_scales_m_s=tuple(config.axis_scales_m_s),
            deadzone=config.deadzone,
            button_switch_arm=config.button_switch_arm,
            button_open_hand=config.button_open_hand,
            button_close_hand=config.button_close_hand,
            button_home=config.button_home,
        )
        ik_config = IKTeleopConfig(
            period_s=1.0 / self.rate_hz,
            start_side=config.start_side,
            workspace_min_m=tuple(config.workspace_min_m),
            workspace_max_m=tuple(config.workspace_max_m),
            max_target_lead_m=config.max_target_lead_m,
            home_speed_m_s=config.home_speed_m_s,
            hand_speed_per_s=config.hand_speed_per_s,
            max_joint_speed_rad_s=config.max_joint_speed_rad_s,
        )
        self.mapping = JoyMapping(mapping_config)
        self.teleop = self._build_teleop(ik_config)
        robot = self.stack.robot
        self.joints = list(self.teleop.joint_names)
        self.joint_buffer = JointStateBuffer(robot.joint_names)
        self._lock = threading.Lock()  # the teleop core and the latest Joy, shared with the callbacks
        self._command: JoyCommand | None = None
        self._command_time = -1.0
        self._resync = True

        self.create_subscription(Joy, joy_topic, self._on_joy, SENSOR_QOS)
        self.create_subscription(JointState, self.stack.topics["joint_states"], self._on_joint_state, SENSOR_QOS)
        self.leader_pub = self.create_publisher(JointState, leader_topic, LATEST_RELIABLE_QOS)
        self.create_service(Trigger, "~/resync", self._on_resync)
        self.create_timer(1.0 / self.rate_hz, self._on_tick)
        self._samples_published = 0
        self._rejections = InputLog(self.get_logger())
        DiagnosticsPublisher(self, "gr00t_joy_teleop", self._diagnostics)
        self.get_logger().info(
            f"joy teleop: {joy_topic} -> {leader_topic} for {len(self.joints)} joints at {self.rate_hz:.0f} Hz, "
            f"{ik_config.start_side} arm first; waiting for {self.stack.topics['joint_states']}"
        )

    def _build_teleop(self, config: IKTeleopConfig) -> IKTeleop:
        # The simulator's own model: the same URDF kinematics the sim (and the demonstrator) use.
        from gr00t_sim.configuration_sim import SimConfig
        from gr00t_sim.tabletop_sim import GR1TabletopSim

        sim_config = SimConfig.from_stack(self.stack.rates, self.stack.nodes.get("sim", {}))
        with GR1TabletopSim(self.stack.robot, sim_config) as sim:
            return IKTeleop.for_sim(sim, config)

    def _now(self) -> float:
        return now_seconds(self)

    def _on_joy(self, msg: Joy) -> None:
        try:
            command = self.mapping.map(msg.axes, msg.buttons)
        except JoyMappingError as exc:
            self._rejections.error("joy", f"Joy sample ignored: {exc}")
            return
        with self._lock:
            self._command, self._command_time = command, self._now()

    def _on_joint_state(self, msg: JointState) -> None:
        now = self._now()
        try:
            self.joint_buffer.update(msg.name, msg.position, now, now)
        except JointStateError as exc:
            self._rejections.error("joint_states", f"joint_states rejected: {exc}")

    def _on_tick(self) -> None:
        now = self._now()
        with self._lock:
            if self._resync and not self._start(now):
                return
            fresh = self._command_time >= 0 and now - self._command_time <= self.joy_timeout_s
            side = self.teleop.active_side
            positions = self.teleop.step(self._command if fresh else None)
            switched = self.teleop.active_side != side
        if switched:
            self.get_logger().info(f"driving the {self.teleop.active_side} arm")
        msg = JointState(name=self.joints, position=positions.tolist())
        msg.header.stamp = self.get_clock().now().to_msg()
        self.leader_pub.publish(msg)
        self._samples_published += 1

    def _start(self, now: float) -> bool:
        """(Re)start the teleop from the measured pose; False while there is none."""
        if self.joint_buffer.positions_of(self.joints, now, self.joint_state_timeout_s) is None:
            self.get_logger().info("waiting for joint_states with every arm and hand joint", throttle_duration_sec=5.0)
            return False
        snapshot = self.joint_buffer.snapshot(now, self.joint_state_timeout_s)
        if snapshot is not None:
            measured = snapshot[0]
        else:  # no waist / neck in joint_states: the teleop takes their home pose
            values = self.joint_buffer.positions_of(self.joints, now, self.joint_state_timeout_s)
            measured = dict(zip(self.joints, values))
        try:
            self.teleop.reset(measured)
        except IKTeleopError as exc:
            self.get_logger().error(f"cannot start from the measured pose: {exc}", throttle_duration_sec=2.0)
            return False
        self._resync = False
        # A Joy held from before the (re)start must not act on the new pose.
        self._command, self._command_time = None, -1.0
        left, right = self.teleop.palm_target("left"), self.teleop.palm_target("right")
        self.get_logger().info(
            f"started from the measured pose: palms at {left.round(3).tolist()} (left), "
            f"{right.round(3).tolist()} (right); driving the {self.teleop.active_side} arm"
        )
        return True

    def _diagnostics(self) -> tuple[int, str, dict[str, Any]]:
        now = self._now()
        with self._lock:
            started = not self._resync
            joy_age = now - self._command_time if self._command_time >= 0 else float("inf")
            side = self.teleop.active_side
        values = {
            "started": started,
            "active_arm": side,
            "joy_age_s": joy_age,
            "joy_rejected": self._rejections.count("joy"),
            "joint_states_rejected": self._rejections.count("joint_states"),
            "leader_samples_published": self._samples_published,
        }
        if not started:
            return 1, "waiting for joint_states", values
        if joy_age > self.joy_timeout_s:
            return 0, "idle: no fresh Joy (palms held)", values
        return 0, f"driving the {side} arm", values

    def _on_resync(self, _request, response: Trigger.Response):
        with self._lock:
            self._resync = True
        response.success, response.message = True, "restarting from the next measured pose"
        return response


def main(args: list[str] | None = None) -> None:
    from gr00t_description import ConfigError

    run_node(JoyTeleopNode, num_threads=2, args=args, startup_errors=(ConfigError, JoyMappingError, IKTeleopError))


if __name__ == "__main__":
    main()
