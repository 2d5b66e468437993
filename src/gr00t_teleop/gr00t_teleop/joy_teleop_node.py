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
from typing import Any

from rclpy.node import Node
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import JointState, Joy
from std_srvs.srv import Trigger

from gr00t_description import load_stack
from gr00t_policy.joint_states import JointStateBuffer, JointStateError
from gr00t_description.ros.diagnostics import DiagnosticsPublisher, InputLog, now_seconds
from gr00t_description.ros.node_main import run_node
from gr00t_teleop.teleop.ik_teleop import IKTeleop, IKTeleopConfig, IKTeleopError
from gr00t_teleop.teleop.joy_mapping import JoyCommand, JoyMapping, JoyMappingConfig, JoyMappingError


class JoyTeleopNode(Node):
    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("gr00t_joy_teleop", **node_kwargs)
        self.stack = load_stack(self.declare_parameter("stack_config", "").value or None)
        section = self.stack.nodes.get("joy_teleop", {})
        p = lambda name, default: self.declare_parameter(name, section.get(name, default)).value  # noqa: E731
        defaults_map, defaults_ik = JoyMappingConfig(), IKTeleopConfig()
        joy_topic = p("joy_topic", "joy")
        # The leader teleop's input, read from its own section so the two cannot disagree.
        leader_topic = p("leader_topic", self.stack.nodes.get("leader_teleop", {}).get("leader_topic", "leader/joint_states"))
        self.rate_hz = float(p("rate_hz", 60.0))
        self.joy_timeout_s = float(p("joy_timeout_s", 0.5))
        self.joint_state_timeout_s = float(p("joint_state_timeout_s", 0.25))
        mapping_config = JoyMappingConfig.from_dict(
            {
                "axes": p("axes", list(defaults_map.axes)),
                "axis_scales_m_s": p("axis_scales_m_s", list(defaults_map.axis_scales_m_s)),
                "deadzone": p("deadzone", defaults_map.deadzone),
                "button_switch_arm": p("button_switch_arm", defaults_map.button_switch_arm),
                "button_open_hand": p("button_open_hand", defaults_map.button_open_hand),
                "button_close_hand": p("button_close_hand", defaults_map.button_close_hand),
                "button_home": p("button_home", defaults_map.button_home),
            }
        )
        ik_config = IKTeleopConfig(
            period_s=1.0 / self.rate_hz,
            start_side=p("start_side", defaults_ik.start_side),
            workspace_min_m=tuple(float(v) for v in p("workspace_min_m", list(defaults_ik.workspace_min_m))),
            workspace_max_m=tuple(float(v) for v in p("workspace_max_m", list(defaults_ik.workspace_max_m))),
            max_target_lead_m=float(p("max_target_lead_m", defaults_ik.max_target_lead_m)),
            home_speed_m_s=float(p("home_speed_m_s", defaults_ik.home_speed_m_s)),
            hand_speed_per_s=float(p("hand_speed_per_s", defaults_ik.hand_speed_per_s)),
            max_joint_speed_rad_s=float(p("max_joint_speed_rad_s", defaults_ik.max_joint_speed_rad_s)),
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

        self.create_subscription(Joy, joy_topic, self._on_joy, qos_profile_sensor_data)
        self.create_subscription(JointState, self.stack.topics["joint_states"], self._on_joint_state, qos_profile_sensor_data)
        self.leader_pub = self.create_publisher(JointState, leader_topic, QoSProfile(depth=1))
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
            self.get_logger().info(
                "waiting for joint_states with every arm and hand joint", throttle_duration_sec=5.0
            )
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
        values = {"started": started, "active_arm": side, "joy_age_s": joy_age, "joy_rejected": self._rejections.count("joy"),
                  "joint_states_rejected": self._rejections.count("joint_states"),
                  "leader_samples_published": self._samples_published}
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
