"""Scripted teleoperator node: the tabletop tasks' IK demonstrator (`gr00t_sim.scripted_teleop`) as a
teleop input.

It publishes joint targets on the leader topic (`nodes.leader_teleop.leader_topic`), exactly as an
exoskeleton or the Joy teleop would, so synthetic demonstrations take the operator's path:
leader -> leader_teleop_node (safety layer) -> joint_command -> sim, recorded by the recorder node.

Services (private):
  ~/start  gr00t_interfaces/srv/StartDemonstration  task + seed: solve that episode (reset the
           sim's ~/reset_episode to the same task and seed first); the response carries the
           episode's instruction
  ~/stop   std_srvs/Trigger                          stop publishing (the leader goes stale: teleop holds)
Subscribes the sim's privileged scene state (`gr00t_sim/scene_state`, gr00t_interfaces/SceneState)
and `joint_states` (the arm pose the IK starts from). Publishes `~/status` (std_msgs/String JSON,
latched) on change. Malformed input is dropped or refused (see `gr00t_sim.scripted_teleop`), logged
at most once per REJECTION_LOG_PERIOD_S and counted in /diagnostics (`*_rejected`); it never
changes the episode. Parameters: `ScriptedTeleopConfig` (`nodes.scripted_teleop`).

Privileged state exists only in simulation, so this node does too; it builds the sim's MuJoCo
model (from the same config, cached) for the kinematics, never steps it.
"""

from __future__ import annotations

import json
import time
from typing import Any

from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.node import Node
from rclpy.qos import QoSProfile
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger

from gr00t_description.ros.diagnostics import DiagnosticsPublisher, InputLog
from gr00t_description.ros.parameters import declare_config, declare_stack
from gr00t_description.ros.qos import LATCHED_QOS, SENSOR_QOS
from gr00t_interfaces.srv import StartDemonstration
from gr00t_sim.configuration_sim import SimConfig
from gr00t_sim.scripted_teleop import ScriptedTeleop, ScriptedTeleopConfig, checked_episode
from gr00t_sim.sim_interfaces import SCENE_STATE_TOPIC, subscribe_scene_state

NODE_NAME = "gr00t_scripted_teleop"
STACK_SECTION = "scripted_teleop"
REJECTION_LOG_PERIOD_S = 2.0
_REJECTED = ("scene_state", "joint_states", "start")

__all__ = ["NODE_NAME", "ScriptedTeleopNode", "checked_episode", "main"]


class ScriptedTeleopNode(Node):
    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__(NODE_NAME, **node_kwargs)
        stack = declare_stack(self)
        self.config = declare_config(self, stack, STACK_SECTION, ScriptedTeleopConfig)
        # The leader teleop's input topic, as that node reads it (one source: its stack section).
        leader_topic = stack.nodes.get("leader_teleop", {}).get("leader_topic")
        if not leader_topic:
            raise ValueError(f"{stack.path}: nodes.leader_teleop.leader_topic is missing: the topic to publish on")
        self.teleop = ScriptedTeleop(
            stack.robot, SimConfig.from_node_parameters(stack.node_parameters("sim")), self.config
        )
        self._rejections = InputLog(self.get_logger(), REJECTION_LOG_PERIOD_S)

        self.leader_pub = self.create_publisher(JointState, leader_topic, QoSProfile(depth=10))
        self.status_pub = self.create_publisher(String, "~/status", LATCHED_QOS)
        subscribe_scene_state(self, self._on_scene, on_error=lambda exc: self._reject("scene_state", exc), qos=10)
        self.create_subscription(JointState, stack.topics["joint_states"], self._on_joint_state, SENSOR_QOS)
        self.create_service(StartDemonstration, "~/start", self._on_start)
        self.create_service(Trigger, "~/stop", self._on_stop)
        self.create_timer(self.config.policy_period_s, self._on_step)
        self._diagnostics = DiagnosticsPublisher(self, "gr00t_scripted_teleop", self._diagnostics_values)
        self._publish_status("idle", None)
        self.get_logger().info(
            f"scripted teleop: {SCENE_STATE_TOPIC} -> {leader_topic} every {self.config.policy_period_s * 1e3:.0f} ms "
            f"({len(self.teleop.demonstrator.joint_names)} joints, recovery demonstrations "
            f"{self.config.recovery_probability:.0%}); waiting for ~/start"
        )

    # ------------------------------------------------------------------ inputs
    def _on_scene(self, observation) -> None:
        try:
            self.teleop.observe_scene(observation, time.monotonic())
        except ValueError as exc:
            self._reject("scene_state", exc)

    def _on_joint_state(self, msg: JointState) -> None:
        try:
            self.teleop.observe_joints(list(msg.name), list(msg.position), time.monotonic())
        except ValueError as exc:
            self._reject("joint_states", exc)

    def _reject(self, source: str, exc: Exception) -> None:
        self._rejections.error(source, f"{source} rejected: {exc}")

    # ------------------------------------------------------------------ services
    def _on_start(self, request: StartDemonstration.Request, response: StartDemonstration.Response):
        response.success = False
        try:
            checked_episode(request.task, request.seed)
        except ValueError as exc:
            response.message = f"rejected: {exc}"
            self._rejections.error("start", f"start refused: {exc}")
            return response
        try:
            spec = self.teleop.start(request.task, request.seed, time.monotonic())
        except ValueError as exc:  # not ready (no fresh measured pose): not the caller's fault
            response.message = f"rejected: {exc}"
            return response
        response.success, response.id, response.instruction = True, f"{spec.task}/{spec.seed}", spec.instruction
        response.message = f"demonstrating {response.id}"
        self.get_logger().info(f"demonstrating {response.id}: {spec.instruction!r}")
        self._publish_status("running", spec)
        return response

    def _on_stop(self, _request, response: Trigger.Response):
        was, steps = self.teleop.stop()
        response.success = True
        response.message = f"stopped {was.task}/{was.seed} after {steps} steps" if was else "was idle"
        self._publish_status("idle", None)
        return response

    # ------------------------------------------------------------------ the policy step
    def _on_step(self) -> None:
        now = time.monotonic()
        targets = self.teleop.step(now)
        if targets is None:
            if self.teleop.waiting_for_scene(now):
                self.get_logger().warning(
                    "no fresh scene_state: publishing nothing (teleop holds)", throttle_duration_sec=2.0
                )
            return
        names, positions = targets
        msg = JointState(name=names, position=positions)
        msg.header.stamp = self.get_clock().now().to_msg()
        self.leader_pub.publish(msg)

    def _diagnostics_values(self) -> tuple[int, str, dict[str, Any]]:
        status = self.teleop.status(time.monotonic())
        spec = status["episode"]
        counts = self._rejections.snapshot()
        message = (
            "no fresh scene_state: holding"
            if status["stale"]
            else f"demonstrating {spec.task}/{spec.seed}"
            if spec
            else "idle"
        )
        values = {
            "steps": status["steps"],
            "scene_state_age_s": status["scene_age_s"],
            **{f"{name}_rejected": counts.get(name, 0) for name in _REJECTED},
        }
        level = DiagnosticStatus.WARN if status["stale"] else DiagnosticStatus.OK
        return level[0], message, values

    def _publish_status(self, state: str, spec) -> None:
        status = {"state": state, "task": spec.task if spec else "", "seed": spec.seed if spec else -1}
        self.status_pub.publish(String(data=json.dumps(status)))

    def shutdown(self) -> None:
        self.teleop.close()


def main(args: list[str] | None = None) -> None:
    import sys

    from gr00t_description import ConfigError
    from gr00t_description.ros.node_main import run_node

    run_node(
        ScriptedTeleopNode,
        num_threads=2,
        args=args,
        startup_errors=(ConfigError, ValueError, OSError),
        report_startup_error=lambda exc: print(f"scripted_teleop_node: {exc}", file=sys.stderr),
    )


if __name__ == "__main__":
    main()
