"""ROS 2 node of the simulated GR-1 controller: wires topics, services and parameters to `SimRuntime`.

Topics (names from the stack YAML, relative so a namespace applies):
  publishes  joint_states (sensor_msgs/JointState, reliable depth 10) at joint_state_hz (sim time)
             head_camera/image_raw + camera_info (sensor-data QoS: best effort, depth 5) at
             camera_hz (sim time), rgb8, frame `head_camera_optical_frame`
             /clock (rosgraph_msgs/Clock, reliable depth 1) every physics step when publishing sim
             time; reliable so it serves rclpy/rclcpp time sources (best effort) and reliable
             subscribers alike, keep-last 1 so a slow reader never holds the writer back
             robot_description (std_msgs/String, latched): the URDF the simulator is built from
             ~/scene_state (gr00t_interfaces/SceneState, reliable depth 10) at SCENE_STATE_HZ sim time:
             privileged scene state for evaluation and the scripted demonstrator: every object's
             position and yaw, both palm centres (world frame, m, rad); read it with
             `gr00t_sim.sim_interfaces.scene_observation`
  subscribes joint_command (sensor_msgs/JointState: positions by name, any subset; best effort
             depth 10, which matches reliable and best-effort publishers and keeps partial
             commands from different publishers that arrive together; applied on receipt, its
             stamp is not used)
             joint_trajectory (trajectory_msgs/JointTrajectory; reliable depth 10 like
             ros2_controllers' JointTrajectoryController)
  service    ~/reset (std_srvs/Trigger): home pose, objects re-placed; sim time keeps running.
  service    ~/reset_episode (gr00t_interfaces/ResetEpisode): request task + seed; the episode is
             sampled with the task library and applied in the physics thread (home pose, objects
             placed). The response carries the sampled episode (instruction, objects, placements,
             region), or `success` false and the reason. Clients: `sim_interfaces.ResetEpisodeClient`.
  Malformed input never changes the targets and never stops the node: a command or trajectory
  with wrong sizes, unknown or repeated names, NaN/inf, too many points, or (trajectory) a start
  stamp more than MAX_TRAJECTORY_LEAD_S ahead of the sim's clock or an end already past is dropped
  as a whole; a refused reset changes nothing. Each is logged (at most one line per
  REJECTION_LOG_PERIOD_S) and counted in /diagnostics (`*_rejected`).

Parameters: `SimNodeConfig` (`nodes.sim` of the stack YAML). `publish_camera` is settable at run
time (`ros2 param set /gr00t_sim publish_camera false`): false stops the camera topics while
everything else runs, to rehearse a camera outage (System 2 goes stale, System 1 must hold).

Stamps are sim time when publishing /clock (`publish_clock`, `use_sim_time`, or
`realtime_factor: 0`), else wall-clock time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import rclpy
from builtin_interfaces.msg import Time as TimeMsg
from diagnostic_msgs.msg import DiagnosticStatus
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.time import Time
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from gr00t_description.robot_description import robot_description
from gr00t_description.ros.diagnostics import DiagnosticsPublisher, InputLog, ros_log_callback
from gr00t_description.ros.parameters import declare_config, declare_stack
from gr00t_description.ros.qos import LATCHED_QOS, SENSOR_QOS
from gr00t_interfaces.msg import SceneState
from gr00t_interfaces.srv import ResetEpisode
from gr00t_sim.runtime import EpisodeRejected, SceneSnapshot, SimNodeConfig, SimRuntime
from gr00t_sim.sim_interfaces import SIM_NODE_NAME, fill_episode_response, scene_state_message

NODE_NAME = SIM_NODE_NAME
STACK_SECTION = "sim"  # the node's parameters in the stack YAML: nodes.sim
CAMERA_FRAME_ID = "head_camera_optical_frame"
REJECTION_LOG_PERIOD_S = 1.0  # at most one log line per rejected input per period (a flood costs no CPU)
_REJECTED = ("joint_command", "joint_trajectory", "reset_episode")


class SimNode(Node):
    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__(NODE_NAME, **node_kwargs)
        self._stack = declare_stack(self)
        self.config = declare_config(self, self._stack, STACK_SECTION, SimNodeConfig)
        self._publish_camera = self.config.publish_camera
        self._sim_stamps = self.config.sim_stamps(bool(self.get_parameter("use_sim_time").value))
        self._rejections = InputLog(self.get_logger(), REJECTION_LOG_PERIOD_S)
        self._log = ros_log_callback(self.get_logger())
        self._runtime = SimRuntime(
            self._stack.robot, self.config, self, sim_stamps=self._sim_stamps, keep_running=self.context.ok
        )
        try:
            self._create_interfaces()
            self._runtime.start()
        except BaseException:
            self._runtime.stop()
            raise
        build, c = self._runtime.sim.build, self.config
        self.get_logger().info(
            f"GR1 tabletop sim: {len(self._runtime.joint_names)} actuated joints, model "
            f"{'loaded from cache' if build.from_cache else 'built'} in {build.seconds:.2f} s ({build.path}); "
            f"physics {c.physics_hz:g} Hz, joint_states {c.joint_state_hz:g} Hz, "
            f"camera {c.camera_hz:g} Hz {c.render_width}x{c.render_height}, realtime_factor {c.realtime_factor:g}, "
            f"stamps {'sim time (publishing /clock)' if self._sim_stamps else 'wall clock'}"
        )

    # ------------------------------------------------------------------ set-up
    def _create_interfaces(self) -> None:
        topics = self._stack.topics
        cameras = self._stack.camera_topics()
        if not cameras:
            raise ValueError(f"{self._stack.path}: topics.cameras is empty; the sim needs one camera topic pair")
        camera_topics = next(iter(cameras.values()))
        reliable = QoSProfile(depth=10)
        self._joint_state_pub = self.create_publisher(JointState, topics["joint_states"], reliable)
        self._image_pub = self.create_publisher(Image, camera_topics["image"], SENSOR_QOS)
        self._camera_info_pub = self.create_publisher(CameraInfo, camera_topics["camera_info"], SENSOR_QOS)
        self._clock_pub = None
        if self._sim_stamps:
            self._clock_pub = self.create_publisher(Clock, topics.get("clock", "/clock"), QoSProfile(depth=1))
        self._scene_state_pub = self.create_publisher(SceneState, "~/scene_state", reliable)
        command_qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
        self.create_subscription(JointState, topics["joint_command"], self._on_joint_command, command_qos)
        self.create_subscription(JointTrajectory, topics["joint_trajectory"], self._on_joint_trajectory, reliable)
        self.create_service(Trigger, "~/reset", self._on_reset)
        self.create_service(ResetEpisode, "~/reset_episode", self._on_reset_episode)
        # The URDF the simulator is built from, for RViz and Foxglove (latched, like robot_state_publisher's).
        self.create_publisher(String, "robot_description", LATCHED_QOS).publish(
            String(data=robot_description(self._stack.robot)[0])
        )
        self._camera_info = self._make_camera_info()
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._diagnostics = DiagnosticsPublisher(self, "mujoco_gr1", self._diagnostics_values)

    def _make_camera_info(self) -> CameraInfo:
        width, height = self.config.render_width, self.config.render_height
        fx, fy, cx, cy = self._runtime.camera_intrinsics()
        info = CameraInfo(width=width, height=height, distortion_model="plumb_bob")
        info.header.frame_id = CAMERA_FRAME_ID
        info.d = [0.0] * 5  # a rendered pinhole camera has no lens distortion
        info.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
        info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        info.p = [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
        return info

    def _diagnostics_values(self) -> tuple[int, str, dict[str, Any]]:
        lagging, values = self._runtime.health()
        counts = self._rejections.snapshot()
        values.update({f"{name}_rejected": counts.get(name, 0) for name in _REJECTED})
        level = DiagnosticStatus.WARN if lagging else DiagnosticStatus.OK
        return level[0], "physics behind real time" if lagging else "running", values

    # ------------------------------------------------------- executor thread
    def _on_joint_command(self, msg: JointState) -> None:
        try:
            self._runtime.command(list(msg.name), msg.position)
        except ValueError as exc:
            self._reject("joint_command", exc)

    def _on_joint_trajectory(self, msg: JointTrajectory) -> None:
        try:
            self._runtime.follow_trajectory(
                list(msg.joint_names),
                [p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in msg.points],
                [list(p.positions) for p in msg.points],
                stamp_s=msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9,
                wall_now_s=self.get_clock().now().nanoseconds * 1e-9,
            )
        except ValueError as exc:
            self._reject("joint_trajectory", exc)

    def _on_reset(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        response.success = self._runtime.reset()
        response.message = (
            f"reset at sim time {self._runtime.sim_time:.3f} s"
            if response.success
            else "the physics thread did not reset in time"
        )
        return response

    def _on_reset_episode(
        self, request: ResetEpisode.Request, response: ResetEpisode.Response
    ) -> ResetEpisode.Response:
        response.success = False
        try:
            spec = self._runtime.reset_episode(request.task, request.seed)
        except EpisodeRejected as exc:
            response.message = f"rejected: {exc}"
            self._rejections.error("reset_episode", f"reset_episode refused: {exc}")
        except RuntimeError as exc:
            response.message = str(exc)
        else:
            fill_episode_response(spec, response)
            response.success = True
            response.message = f"episode {response.id} in place"
        return response

    def _reject(self, topic: str, exc: Exception) -> None:
        self._rejections.error(topic, f"{topic} message ignored: {exc}; keeping the previous targets")

    def _on_set_parameters(self, parameters) -> SetParametersResult:
        for parameter in parameters:
            if parameter.name == "publish_camera":
                if not isinstance(parameter.value, bool):
                    return SetParametersResult(successful=False, reason="publish_camera must be a bool")
                self._publish_camera = parameter.value
                if parameter.value:
                    self.get_logger().info("camera topics resumed")
                else:
                    self.get_logger().warning("camera topics stopped (publish_camera false)")
        return SetParametersResult(successful=True)

    # ------------------------------------------- SimOutputs (physics and camera threads)
    def stamp(self, sim_time: float) -> TimeMsg:
        if self._sim_stamps:
            return Time(nanoseconds=int(round(sim_time * 1e9))).to_msg()
        return self.get_clock().now().to_msg()

    def joint_state(
        self, stamp: TimeMsg, names: Sequence[str], positions: np.ndarray, velocities: np.ndarray, efforts: np.ndarray
    ) -> None:
        msg = JointState(
            name=list(names), position=positions.tolist(), velocity=velocities.tolist(), effort=efforts.tolist()
        )
        msg.header.stamp = stamp
        self._joint_state_pub.publish(msg)

    def clock(self, sim_time: float) -> None:
        if self._clock_pub is not None:
            self._clock_pub.publish(Clock(clock=self.stamp(sim_time)))

    def scene_state(self, stamp: TimeMsg, scene: SceneSnapshot) -> None:
        self._scene_state_pub.publish(
            scene_state_message(stamp, scene.object_positions, scene.object_yaws, scene.hand_positions)
        )

    def frame(self, stamp: TimeMsg, rgb: np.ndarray) -> bool:
        if not self._publish_camera:
            return False
        height, width, _ = rgb.shape
        msg = Image(height=height, width=width, encoding="rgb8", is_bigendian=0, step=width * 3)
        msg.header.stamp = stamp
        msg.header.frame_id = CAMERA_FRAME_ID
        msg.data = rgb.tobytes()
        self._camera_info.header.stamp = stamp
        self._image_pub.publish(msg)
        self._camera_info_pub.publish(self._camera_info)
        return True

    def log(self, level: int, message: str) -> None:
        self._log(level, message)

    # --------------------------------------------------------------- shutdown
    def destroy_node(self) -> None:
        """Stop the physics and camera threads (the camera thread frees the renderer), then the node."""
        # getattr: also called (by rclpy) on a node whose constructor failed half-way.
        runtime = getattr(self, "_runtime", None)
        if runtime is not None:
            runtime.stop()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    from gr00t_description import ConfigError
    from gr00t_description.ros.node_main import run_node

    # Ctrl-C / SIGTERM stop it cleanly: destroy_node stops the physics and camera threads while the
    # context is still valid. A failure while running is a bug and keeps its traceback; bad
    # parameters, config files or rendering set-up end it with a message that says what to fix.
    run_node(
        SimNode,
        args=args,
        startup_errors=(ConfigError, ValueError, RuntimeError, OSError),
        startup_exit_code=1,
        report_startup_error=lambda exc: rclpy.logging.get_logger(NODE_NAME).fatal(f"cannot start: {exc}"),
    )


if __name__ == "__main__":
    main()
