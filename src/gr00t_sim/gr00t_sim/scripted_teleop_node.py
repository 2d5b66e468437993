"""Scripted teleoperator: the tabletop tasks' IK demonstrator as a teleop input.

It publishes joint targets on the leader topic (`nodes.leader_teleop.leader_topic`), exactly as an
exoskeleton or the Joy teleop would, so synthetic demonstrations take the operator's path:
leader -> leader_teleop_node (safety layer) -> joint_command -> sim, recorded by the recorder node.

Services (private):
  ~/start  gr00t_interfaces/srv/StartDemonstration  task + seed: solve that episode (reset the
           sim's ~/reset_episode to the same task and seed first); the response carries the
           episode's instruction
  ~/stop   std_srvs/Trigger                          stop publishing (the leader goes stale: teleop holds)
Subscribes the sim's privileged `~/scene_state` (object and palm positions) and `joint_states`
(the arm pose the IK starts from). Publishes `~/status` (std_msgs/String JSON, latched) on change.
Malformed input (mismatched sizes, NaN/inf, positions far outside the robot's joint ranges or the
workspace, an oversize or undecodable task name) is dropped or refused, logged at most once per
REJECTION_LOG_PERIOD_S and counted in /diagnostics (`*_rejected`); it never changes the episode.

Privileged state exists only in simulation, so this node does too; it builds the sim's MuJoCo
model (from the same config, cached) for the kinematics, never steps it.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from gr00t_interfaces.srv import StartDemonstration
from gr00t_description.ros.diagnostics import InputLog
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger

from gr00t_description import load_stack
from gr00t_sim.configuration_sim import SimConfig
from gr00t_sim.scripted import ScriptedDemonstrator, ScriptedDemonstratorConfig
from gr00t_sim.sim_node import NODE_NAME as SIM_NODE_NAME
from gr00t_sim.sim_node import checked_task_name, scene_observation
from gr00t_sim.tabletop_sim import GR1TabletopSim
from gr00t_sim.tasks import EpisodeSpec, SceneObservation, TableLayout, get_task

NODE_NAME = "gr00t_scripted_teleop"
_LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


REJECTION_LOG_PERIOD_S = 2.0
# Scene positions further than this from the robot's base (m) are not a tabletop scene: a bad
# publisher, not an object to reach for (the IK would chase it).
MAX_SCENE_DISTANCE_M = 5.0
# Measured joint positions this far outside the URDF range (rad) are a broken joint_states
# publisher; within it, the encoders' overshoot at a stop.
JOINT_RANGE_TOLERANCE_RAD = 0.2


def checked_episode(task: str, seed: int) -> tuple[str, int]:
    """(task, seed) of a StartDemonstration request; ValueError with the reason otherwise."""
    get_task(checked_task_name(task))  # raises with the available names
    return task, int(seed)


class ScriptedTeleopNode(Node):
    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__(NODE_NAME, **node_kwargs)
        self.stack = load_stack(self.declare_parameter("stack_config", "").value or None)
        leader_section = self.stack.nodes.get("leader_teleop", {})
        section = self.stack.nodes.get("scripted_teleop", {})
        p = lambda name, default: self.declare_parameter(name, section.get(name, default)).value  # noqa: E731
        leader_topic = p("leader_topic", leader_section.get("leader_topic", "leader/joint_states"))
        scene_topic = p("scene_state_topic", f"{SIM_NODE_NAME}/scene_state")
        period_s = float(p("policy_period_s", 0.05))
        self.scene_timeout_s = float(p("scene_state_timeout_s", 0.5))
        self.joint_state_timeout_s = float(p("joint_state_timeout_s", 1.0))
        # Built first: a bad parameter fails before the sim model is.
        demonstrator_config = ScriptedDemonstratorConfig(
            policy_period_s=period_s, recovery_probability=float(p("recovery_probability", 0.0))
        )

        sim_params = self.stack.node_parameters("sim")
        sim_config = SimConfig.from_stack(self.stack.rates, sim_params)
        self.layout = TableLayout.from_sim_config(sim_config)
        # The kinematic model only: no renderer is created, the model is never stepped.
        self._kinematics = GR1TabletopSim(self.stack.robot, sim_config)
        self.demonstrator = ScriptedDemonstrator.for_sim(self._kinematics, demonstrator_config)
        model = self._kinematics.model
        self._qpos_adr = {n: int(model.jnt_qposadr[model.joint(n).id]) for n in self.stack.robot.joint_names}

        self._lock = threading.Lock()
        self._scene: SceneObservation | None = None
        self._scene_received = -1.0
        self._joints: dict[str, float] = {}
        self._joints_received = -1.0
        self._spec: EpisodeSpec | None = None
        self._steps = 0
        self._rejections = InputLog(self.get_logger(), REJECTION_LOG_PERIOD_S)
        robot = self.stack.robot
        tolerance = JOINT_RANGE_TOLERANCE_RAD
        self._joint_range = {
            name: (spec.urdf_lower - tolerance, spec.urdf_upper + tolerance) for name, spec in robot.joints.items()
        }

        self.leader_pub = self.create_publisher(JointState, leader_topic, QoSProfile(depth=10))
        self.status_pub = self.create_publisher(String, "~/status", _LATCHED)
        self.create_subscription(JointState, scene_topic, self._on_scene_state, QoSProfile(depth=10))
        self.create_subscription(
            JointState, self.stack.topics["joint_states"], self._on_joint_state, qos_profile_sensor_data
        )
        self.create_service(StartDemonstration, "~/start", self._on_start)
        self.create_service(Trigger, "~/stop", self._on_stop)
        self.create_timer(period_s, self._on_step)
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_timer(1.0, self._publish_diagnostics)
        self._publish_status("idle")
        self.get_logger().info(
            f"scripted teleop: {scene_topic} -> {leader_topic} every {period_s * 1e3:.0f} ms "
            f"({len(self.demonstrator.joint_names)} joints, recovery demonstrations "
            f"{demonstrator_config.recovery_probability:.0%}); waiting for ~/start"
        )

    # ------------------------------------------------------------------ inputs
    def _on_scene_state(self, msg: JointState) -> None:
        try:
            observation = scene_observation(msg)
        except ValueError as exc:
            self._rejections.error("scene_state", f"scene_state rejected: {exc}")
            return
        positions = (*observation.object_positions.values(), *observation.hand_positions.values())
        if not all(np.isfinite(v).all() and np.abs(v).max() <= MAX_SCENE_DISTANCE_M for v in positions):
            self._rejections.error("scene_state", 
                f"scene_state rejected: non-finite positions or positions beyond {MAX_SCENE_DISTANCE_M:g} m"
            )
            return
        with self._lock:
            self._scene = observation
            self._scene_received = time.monotonic()

    def _on_joint_state(self, msg: JointState) -> None:
        if len(msg.name) != len(msg.position) or not np.isfinite(msg.position).all():
            self._rejections.error("joint_states", "joint_states rejected: names/positions mismatch or non-finite")
            return
        known = {n: float(v) for n, v in zip(msg.name, msg.position) if n in self._joint_range}
        if outside := [n for n, v in known.items() if not self._joint_range[n][0] <= v <= self._joint_range[n][1]]:
            self._rejections.error("joint_states", f"joint_states rejected: outside the joint range: {outside[:3]}")
            return
        with self._lock:
            self._joints.update(known)
            self._joints_received = time.monotonic()

    # ------------------------------------------------------------------ services
    def _on_start(self, request: StartDemonstration.Request, response: StartDemonstration.Response):
        response.success = False
        try:
            task_name, seed = checked_episode(request.task, request.seed)
        except ValueError as exc:
            response.message = f"rejected: {exc}"
            self._rejections.error("start", f"start refused: {exc}")
            return response
        with self._lock:
            if self._joints_received < 0 or time.monotonic() - self._joints_received > self.joint_state_timeout_s:
                age = time.monotonic() - self._joints_received if self._joints_received >= 0 else float("inf")
                response.message = f"rejected: no fresh joint_states (newest {age:.2f} s old; is the sim running?)"
                return response
            missing = [n for n in self.demonstrator.joint_names if n not in self._joints]
            if missing:
                response.message = f"rejected: joint_states lack {missing[:3]}"
                return response
            spec = get_task(task_name).sample(seed, self.layout)
            qpos = self._kinematics.data.qpos.copy()
            for name, value in self._joints.items():
                if name in self._qpos_adr:
                    qpos[self._qpos_adr[name]] = value
            self.demonstrator.reset(spec, qpos)
            self._spec, self._steps = spec, 0
            self._scene = None  # act on scene states of this episode only
        response.success, response.id, response.instruction = True, f"{task_name}/{seed}", spec.instruction
        response.message = f"demonstrating {task_name}/{seed}"
        self.get_logger().info(f"demonstrating {task_name}/{seed}: {spec.instruction!r}")
        self._publish_status("running")
        return response

    def _on_stop(self, _request, response: Trigger.Response):
        with self._lock:
            was = self._spec
            self._spec = None
        response.success = True
        response.message = f"stopped {was.task}/{was.seed} after {self._steps} steps" if was else "was idle"
        self._publish_status("idle")
        return response

    # ------------------------------------------------------------------ the policy step
    def _on_step(self) -> None:
        now = time.monotonic()
        with self._lock:
            if self._spec is None:
                return
            if self._scene is None or now - self._scene_received > self.scene_timeout_s:
                self.get_logger().warning(
                    "no fresh scene_state: publishing nothing (teleop holds)", throttle_duration_sec=2.0
                )
                return
            names, positions = self.demonstrator.act(self._scene)
            self._steps += 1
        msg = JointState(name=list(names), position=[float(v) for v in positions])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.leader_pub.publish(msg)

    def _publish_diagnostics(self) -> None:
        now = time.monotonic()
        with self._lock:
            spec, steps = self._spec, self._steps
            scene_age = now - self._scene_received if self._scene_received >= 0 else float("inf")
        stale = spec is not None and scene_age > self.scene_timeout_s
        status = DiagnosticStatus(
            level=DiagnosticStatus.WARN if stale else DiagnosticStatus.OK,
            name=f"{self.get_name()}: scripted teleop",
            hardware_id="gr00t_scripted_teleop",
            message=("no fresh scene_state: holding" if stale else
                     f"demonstrating {spec.task}/{spec.seed}" if spec else "idle"),
            values=[
                KeyValue(key="steps", value=str(steps)),
                KeyValue(key="scene_state_age_s", value=f"{scene_age:.3f}"),
                *(KeyValue(key=f"{name}_rejected", value=str(self._rejections.count(name))) for name in ("scene_state", "joint_states", "start")),
            ],
        )
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics_pub.publish(array)

    def _publish_status(self, state: str) -> None:
        spec = self._spec
        status = {"state": state, "task": spec.task if spec else "", "seed": spec.seed if spec else -1}
        self.status_pub.publish(String(data=json.dumps(status)))

    def shutdown(self) -> None:
        self._kinematics.close()


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
