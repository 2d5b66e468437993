"""ROS 2 node wrapping `GR1TabletopSim`: the simulated GR-1 controller of the gr00t-ros stack.

Topics (names from the stack YAML, relative so a namespace applies):
  publishes  joint_states (sensor_msgs/JointState, reliable depth 10) at rates.joint_state_hz
             head_camera/image_raw + camera_info (sensor-data QoS: best effort, depth 5) at
             rates.camera_hz, rgb8, frame `head_camera_optical_frame`
             /clock (rosgraph_msgs/Clock, reliable depth 1) every physics step when publishing sim
             time; reliable so it serves rclpy/rclcpp time sources (best effort) and reliable
             subscribers alike, keep-last 1 so a slow reader never holds the writer back
  subscribes joint_command (sensor_msgs/JointState: positions by name, any subset; best effort
             depth 10, which matches reliable and best-effort publishers and keeps partial
             commands from different publishers that arrive together; applied on receipt, its
             stamp is not used)
             joint_trajectory (trajectory_msgs/JointTrajectory; reliable depth 10 like
             ros2_controllers' JointTrajectoryController)
  service    ~/reset (std_srvs/Trigger): home pose, objects re-placed; sim time keeps running.
  service    ~/reset_episode (gr00t_interfaces/ResetEpisode): request task + seed; the episode is
             sampled with the task library (`get_task(task).sample(seed, layout_of(sim))`) and applied
             in the physics thread (`apply_episode`: home pose, objects placed). The response carries
             the sampled episode (instruction, objects, placements, region), or `success` false and
             the reason.
  Malformed input never changes the targets and never stops the node: a command or trajectory
  with wrong sizes, unknown or repeated names, NaN/inf, too many points, or (trajectory) a start
  stamp more than MAX_TRAJECTORY_LEAD_S ahead of the sim's clock or an end already past is dropped
  as a whole; a refused reset changes nothing. Each is logged (at most one line per
  REJECTION_LOG_PERIOD_S) and counted in /diagnostics (`*_rejected`).
  publishes  ~/scene_state (sensor_msgs/JointState, reliable depth 10) at SCENE_STATE_HZ sim time:
             privileged scene state for evaluation; names `<object>_x/_y/_z` for every object, then
             `left_palm_x/y/z`, `right_palm_x/y/z`; positions = world-frame metres.

Parameter `publish_camera` (bool, settable at run time, e.g. `ros2 param set /gr00t_sim
publish_camera false`): false stops the camera topics while everything else runs, to rehearse a
camera outage (System 2 goes stale, System 1 must hold).

Stamps are sim time when publishing /clock (`publish_clock`, `use_sim_time`, or
`realtime_factor: 0`), else wall-clock time.

Threads: the executor thread runs the callbacks, which only validate and queue inputs; the
physics thread owns the simulation (steps paced to wall time x realtime_factor, applies inputs,
publishes joint states and /clock); the camera thread renders snapshots of the state handed over
by the physics thread. Rendering on a CPU takes 15-35 ms a frame (224x224 to 640x480): in the
physics thread it would stall stepping that long 30 times a second. MuJoCo releases the GIL while
rendering, so the two threads overlap. When paced, a frame still rendering when the next is due
makes that next frame be skipped (counted, logged) rather than slowing the physics; as fast as
possible, the physics waits so every frame is rendered.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import mujoco
import numpy as np
import rclpy
from builtin_interfaces.msg import Time as TimeMsg
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.time import Time
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from gr00t_description import load_stack
from gr00t_description.robot_description import robot_description
from gr00t_interfaces.msg import ObjectPlacement as ObjectPlacementMsg
from gr00t_interfaces.srv import ResetEpisode
from gr00t_description.ros.diagnostics import InputLog
from gr00t_sim.configuration_sim import SimConfig
from gr00t_sim.pacing import RealtimePacer
from gr00t_sim.scene import HEAD_CAMERA
from gr00t_sim.tabletop_sim import GR1TabletopSim
from gr00t_sim.tasks import EpisodeSpec, SceneObservation, get_task
from gr00t_sim.tasks.sim_binding import apply_episode, layout_of
from gr00t_sim.trajectory import LinearTrajectory, validate_points

NODE_NAME = "gr00t_sim"  # as in gr00t_bringup's graph
STACK_SECTION = "sim"  # the node's parameters in the stack YAML: nodes.sim
CAMERA_FRAME_ID = "head_camera_optical_frame"
REJECTION_LOG_PERIOD_S = 1.0  # at most one log line per rejected input per period (a flood costs no CPU)
MAX_TASK_NAME_BYTES = 64  # longer names are refused before the (quadratic) close-match hint is computed
MAX_TRAJECTORY_POINTS = 10_000  # 10 s at 1 kHz; more is a runaway publisher, not a trajectory
MAX_TRAJECTORY_LEAD_S = 60.0  # a trajectory may be scheduled this far ahead of the sim's clock, no further
_RESET_TIMEOUT_S = 5.0
_JOIN_TIMEOUT_S = 5.0
_WARM_UP_TIMEOUT_S = 30.0
_MAX_LAG_S = 0.1  # paced mode: fall this far behind wall time and the backlog is dropped
SCENE_STATE_HZ = 20.0  # ~/scene_state rate (sim time)


@dataclass(frozen=True)
class SimNodeSettings:
    """The node's parameters after defaults from the stack YAML and overrides are applied."""

    realtime_factor: float
    publish_clock: bool  # effective: also true when use_sim_time or realtime_factor == 0
    physics_hz: float
    joint_state_hz: float
    camera_hz: float
    render_width: int
    render_height: int
    camera: str
    seed: int
    decimate_meshes: float

    def __post_init__(self) -> None:
        for name in ("physics_hz", "joint_state_hz", "camera_hz"):
            if not getattr(self, name) > 0:
                raise ValueError(f"parameter {name} must be > 0, got {getattr(self, name)}")
        if self.realtime_factor < 0:
            raise ValueError(
                f"parameter realtime_factor must be >= 0 (0 = as fast as possible), got {self.realtime_factor}"
            )
        if self.render_width <= 0 or self.render_height <= 0:
            raise ValueError(f"render size must be positive, got {self.render_width}x{self.render_height}")

    def sim_config(self) -> SimConfig:
        return SimConfig(
            physics_hz=self.physics_hz,
            render_width=self.render_width,
            render_height=self.render_height,
            mesh_keep_ratio=self.decimate_meshes,
            seed=self.seed,
        )


@dataclass
class _TrajectoryRequest:
    joint_indices: np.ndarray
    start_sim_time_s: float | None  # None = when the physics thread picks it up ("now")
    time_from_start_s: np.ndarray
    positions: np.ndarray


@dataclass
class _Inbox:
    """Inputs handed from the executor thread to the physics thread (guarded by `lock`)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    commands: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    trajectory: _TrajectoryRequest | None = None
    cancel_trajectory: bool = False
    resets: list[threading.Event] = field(default_factory=list)
    episodes: list[_EpisodeRequest] = field(default_factory=list)


@dataclass
class _EpisodeRequest:
    spec: EpisodeSpec
    done: threading.Event = field(default_factory=threading.Event)
    error: Exception | None = None


class SimNode(Node):
    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__(NODE_NAME, **node_kwargs)
        stack_path = self.declare_parameter(
            "stack_config", "", ParameterDescriptor(description="stack YAML path or name; '' = the default stack")
        ).value
        self._stack = load_stack(stack_path or None)
        self.settings = self._declare_settings()
        self._sim = GR1TabletopSim(self._stack.robot, self.settings.sim_config())
        self._joint_names = list(self._sim.joint_names)
        self._sim_stamps = self.settings.publish_clock
        self._inbox = _Inbox()
        self._trajectory: LinearTrajectory | None = None
        self._latest_sim_time = self._sim.time
        self._stop = threading.Event()
        self._rejections = InputLog(self.get_logger(), REJECTION_LOG_PERIOD_S)
        self._create_interfaces()
        self._camera = _CameraWorker(self, self._sim, self.settings, self._publish_frame)
        self._physics = threading.Thread(target=self._physics_main, name="sim_physics", daemon=True)
        # The first render creates the GL context (~0.3 s of GIL-heavy set-up): finish it before
        # the physics clock starts, or the paced loop would begin by dropping that backlog.
        self._camera.start_and_warm_up()
        self._physics.start()
        build = self._sim.build
        self.get_logger().info(
            f"GR1 tabletop sim: {len(self._joint_names)} actuated joints, model "
            f"{'loaded from cache' if build.from_cache else 'built'} in {build.seconds:.2f} s ({build.path}); "
            f"physics {self.settings.physics_hz:g} Hz, joint_states {self.settings.joint_state_hz:g} Hz, "
            f"camera {self.settings.camera_hz:g} Hz {self.settings.render_width}x{self.settings.render_height}, "
            f"realtime_factor {self.settings.realtime_factor:g}, stamps "
            f"{'sim time (publishing /clock)' if self._sim_stamps else 'wall clock'}"
        )

    # ------------------------------------------------------------------ set-up
    def _declare_settings(self) -> SimNodeSettings:
        """Declare the parameters; defaults come from the stack YAML (`nodes.sim`, `rates`)."""
        yaml_params = self._stack.node_parameters(STACK_SECTION)
        rates = self._stack.rates

        def declare(name: str, fallback: Any, description: str) -> Any:
            default = type(fallback)(yaml_params.get(name, fallback))
            return self.declare_parameter(name, default, ParameterDescriptor(description=description)).value

        realtime_factor = declare("realtime_factor", 1.0, "sim seconds per wall second; 0 = as fast as possible")
        publish_clock = declare("publish_clock", False, "publish /clock and stamp with sim time")
        use_sim_time = bool(self.get_parameter("use_sim_time").value)
        return SimNodeSettings(
            realtime_factor=realtime_factor,
            # Unpaced time is meaningless on the wall clock, and a use_sim_time graph needs the sim
            # as its clock source, so both imply publishing /clock.
            publish_clock=publish_clock or use_sim_time or realtime_factor == 0,
            physics_hz=declare("physics_hz", float(rates.get("physics_hz", 500.0)), "physics steps per sim second"),
            joint_state_hz=declare(
                "joint_state_hz", float(rates.get("joint_state_hz", 200.0)), "joint_states rate (sim time)"
            ),
            camera_hz=declare("camera_hz", float(rates.get("camera_hz", 30.0)), "camera rate (sim time)"),
            render_width=declare("render_width", 224, "camera image width (px)"),
            render_height=declare("render_height", 224, "camera image height (px)"),
            camera=declare("camera", HEAD_CAMERA, "MuJoCo camera published on the first camera topic"),
            seed=declare("seed", 0, "seed of the object placements"),
            decimate_meshes=declare("decimate_meshes", 0.1, "fraction of mesh faces kept (rendering speed)"),
        )

    def _create_interfaces(self) -> None:
        topics = self._stack.topics
        cameras = self._stack.camera_topics()
        if not cameras:
            raise ValueError(f"{self._stack.path}: topics.cameras is empty; the sim needs one camera topic pair")
        camera_topics = next(iter(cameras.values()))
        reliable = QoSProfile(depth=10)
        self._joint_state_pub = self.create_publisher(JointState, topics["joint_states"], reliable)
        self._image_pub = self.create_publisher(Image, camera_topics["image"], qos_profile_sensor_data)
        self._camera_info_pub = self.create_publisher(CameraInfo, camera_topics["camera_info"], qos_profile_sensor_data)
        self._clock_pub = None
        if self._sim_stamps:
            self._clock_pub = self.create_publisher(Clock, topics.get("clock", "/clock"), QoSProfile(depth=1))
        command_qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
        self.create_subscription(JointState, topics["joint_command"], self._on_joint_command, command_qos)
        self.create_subscription(JointTrajectory, topics["joint_trajectory"], self._on_joint_trajectory, reliable)
        self.create_service(Trigger, "~/reset", self._on_reset)
        self.create_service(ResetEpisode, "~/reset_episode", self._on_reset_episode)
        self._scene_state_pub = self.create_publisher(JointState, "~/scene_state", reliable)
        # The URDF the simulator is built from, for RViz and Foxglove (latched, like robot_state_publisher's).
        self._description_pub = self.create_publisher(String, "robot_description", QoSProfile(
            depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL))
        self._description_pub.publish(String(data=robot_description(self._stack.robot)[0]))
        self._layout = layout_of(self._sim)
        self._camera_info = self._make_camera_info()
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._frames_published = 0
        self._frames_suppressed = 0
        self._publish_camera = bool(
            self.declare_parameter(
                "publish_camera", True, ParameterDescriptor(description="false: camera outage (fault rehearsal)")
            ).value
        )
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._dropped_sim_s = 0.0
        self._last_diagnostics = (time.monotonic(), self._sim.time, 0)
        self.create_timer(1.0, self._publish_diagnostics)

    def _publish_diagnostics(self) -> None:
        wall, sim_time, frames = time.monotonic(), self._latest_sim_time, self._frames_published
        last_wall, last_sim, last_frames = self._last_diagnostics
        self._last_diagnostics = (wall, sim_time, frames)
        elapsed = max(wall - last_wall, 1e-6)
        realtime_ratio = (sim_time - last_sim) / elapsed
        paced = self.settings.realtime_factor > 0
        lagging = paced and realtime_ratio < 0.9 * self.settings.realtime_factor
        status = DiagnosticStatus(
            level=DiagnosticStatus.WARN if lagging else DiagnosticStatus.OK,
            name=f"{self.get_name()}: mujoco_gr1",
            hardware_id="mujoco_gr1",
            message="physics behind real time" if lagging else "running",
            values=[
                KeyValue(key="realtime_ratio", value=f"{realtime_ratio:.3f}"),
                KeyValue(key="target_realtime_factor", value=f"{self.settings.realtime_factor:g}"),
                KeyValue(key="camera_fps", value=f"{(frames - last_frames) / elapsed:.1f}"),
                KeyValue(key="camera_frames_skipped", value=str(self._camera.frames_skipped)),
                KeyValue(key="sim_time_dropped_s", value=f"{self._dropped_sim_s:.3f}"),
                KeyValue(key="sim_time_s", value=f"{sim_time:.3f}"),
                *(KeyValue(key=f"{name}_rejected", value=str(self._rejections.count(name))) for name in ("joint_command", "joint_trajectory", "reset_episode")),
            ],
        )
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics_pub.publish(array)

    def _make_camera_info(self) -> CameraInfo:
        width, height = self.settings.render_width, self.settings.render_height
        fx, fy, cx, cy = self._sim.camera_intrinsics(self.settings.camera, width, height)
        info = CameraInfo(width=width, height=height, distortion_model="plumb_bob")
        info.header.frame_id = CAMERA_FRAME_ID
        info.d = [0.0] * 5  # a rendered pinhole camera has no lens distortion
        info.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
        info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        info.p = [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
        return info

    # ------------------------------------------------------- executor thread
    def _on_joint_command(self, msg: JointState) -> None:
        try:
            idx, values = self._sim.target_map.resolve(list(msg.name), np.asarray(msg.position, dtype=np.float64))
        except ValueError as exc:
            self._reject("joint_command", exc)
            return
        if idx.size == 0:
            return
        with self._inbox.lock:
            self._inbox.commands.append((idx, values))

    def _on_joint_trajectory(self, msg: JointTrajectory) -> None:
        if not msg.points:
            # As in JointTrajectoryController: an empty trajectory stops the active one.
            with self._inbox.lock:
                self._inbox.trajectory, self._inbox.cancel_trajectory = None, True
            return
        try:
            if not msg.joint_names:
                raise ValueError("joint_names is empty")
            if len(msg.points) > MAX_TRAJECTORY_POINTS:
                raise ValueError(f"{len(msg.points)} points, more than {MAX_TRAJECTORY_POINTS}")
            idx = self._sim.target_map.indices(list(msg.joint_names))
            offsets, points = validate_points(
                [_duration_s(p.time_from_start) for p in msg.points],
                [list(p.positions) for p in msg.points],
                len(idx),
            )
            start_s = self._trajectory_start(msg.header.stamp)
            if start_s is not None:
                lead_s = start_s - self._latest_sim_time
                if lead_s > MAX_TRAJECTORY_LEAD_S:
                    raise ValueError(
                        f"starts {lead_s:.3g} s after the sim's clock (stamp far in the future?); "
                        f"at most {MAX_TRAJECTORY_LEAD_S:g} s ahead is accepted"
                    )
                if start_s + offsets[-1] < self._latest_sim_time:
                    raise ValueError(
                        f"ended {self._latest_sim_time - start_s - offsets[-1]:.3g} s before the sim's clock "
                        "(stamp in the past?): stamp 0 starts a trajectory on receipt"
                    )
        except ValueError as exc:
            self._reject("joint_trajectory", exc)
            return
        points = np.clip(points, self._sim.target_map.lower[idx], self._sim.target_map.upper[idx])
        request = _TrajectoryRequest(idx, start_s, offsets, points)
        with self._inbox.lock:
            self._inbox.trajectory, self._inbox.cancel_trajectory = request, False

    def _trajectory_start(self, stamp: TimeMsg) -> float | None:
        """Sim time at which a trajectory stamped `stamp` starts; None = now (stamp 0)."""
        stamp_s = stamp.sec + stamp.nanosec * 1e-9
        if stamp_s == 0.0:
            return None
        if self._sim_stamps:
            return stamp_s
        wall_now_s = self.get_clock().now().nanoseconds * 1e-9
        return self._latest_sim_time + (stamp_s - wall_now_s) * self.settings.realtime_factor

    def _on_reset(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        done = threading.Event()
        with self._inbox.lock:
            self._inbox.resets.append(done)
        response.success = done.wait(_RESET_TIMEOUT_S)
        response.message = (
            f"reset at sim time {self._latest_sim_time:.3f} s"
            if response.success
            else f"the physics thread did not reset within {_RESET_TIMEOUT_S} s"
        )
        return response

    def _on_reset_episode(self, request: ResetEpisode.Request, response: ResetEpisode.Response) -> ResetEpisode.Response:
        response.success = False
        try:
            spec = get_task(checked_task_name(request.task)).sample(int(request.seed), self._layout)
        except ValueError as exc:
            response.message = f"rejected: {exc}"
            self._rejections.error("reset_episode", f"reset_episode refused: {exc}")
            return response
        episode = _EpisodeRequest(spec)
        with self._inbox.lock:
            self._inbox.episodes.append(episode)
        if not episode.done.wait(_RESET_TIMEOUT_S):
            response.message = f"the physics thread did not apply the episode within {_RESET_TIMEOUT_S} s"
        elif episode.error is not None:
            response.message = f"applying the episode failed: {episode.error}"
        else:
            fill_episode_response(spec, response)
            response.success = True
            response.message = f"episode {response.id} in place"
        return response

    def _reject(self, topic: str, exc: Exception) -> None:
        self._rejections.error(topic, f"{topic} message ignored: {exc}; keeping the previous targets")

    # --------------------------------------------------------- physics thread
    def _physics_main(self) -> None:
        try:
            self._run_physics()
        except Exception as exc:  # noqa: BLE001 - report once, then let the node shut down cleanly
            if not self._stopping():
                self.get_logger().fatal(f"physics thread stopped: {exc!r}")
                raise

    def _run_physics(self) -> None:
        settings = self.settings
        pacer = RealtimePacer(settings.realtime_factor, self._sim.timestep, _MAX_LAG_S)
        joint_state_period, frame_period = 1.0 / settings.joint_state_hz, 1.0 / settings.camera_hz
        scene_state_period = 1.0 / SCENE_STATE_HZ
        next_joint_state, next_frame, next_scene_state = self._sim.time, self._sim.time, self._sim.time
        reported_drop = 0.0
        pacer.anchor(self._sim.time, time.monotonic())
        while not self._stop.is_set():
            now = time.monotonic()
            due = pacer.steps_due(self._sim.time, now)
            if due == 0:
                self._stop.wait(max(0.0, pacer.wall_time_of(self._sim.time + self._sim.timestep) - now))
                continue
            for _ in range(due):
                sim_time = self._advance_one_step()
                if sim_time >= next_joint_state - 1e-9:
                    self._publish_joint_state(sim_time)
                    next_joint_state = _next_tick(next_joint_state, joint_state_period, sim_time)
                if sim_time >= next_scene_state - 1e-9:
                    self._publish_scene_state(sim_time)
                    next_scene_state = _next_tick(next_scene_state, scene_state_period, sim_time)
                if sim_time >= next_frame - 1e-9:
                    self._camera.submit(self._stamp(sim_time), wait_if_busy=pacer.as_fast_as_possible)
                    next_frame = _next_tick(next_frame, frame_period, sim_time)
            self._dropped_sim_s = pacer.dropped_sim_s
            if pacer.dropped_sim_s > reported_drop + 1e-9:
                reported_drop = pacer.dropped_sim_s
                self.get_logger().warning(
                    f"physics cannot keep up with realtime_factor {settings.realtime_factor:g}: "
                    f"{reported_drop:.2f} s of sim time skipped so far",
                    throttle_duration_sec=5.0,
                )

    def _advance_one_step(self) -> float:
        self._apply_inbox()
        if self._trajectory is not None:
            trajectory = self._trajectory
            self._sim.set_position_targets_by_index(trajectory.joint_indices, trajectory.sample(self._sim.time))
            if self._sim.time >= trajectory.end_time_s:
                self._trajectory = None  # targets now hold the last point
        self._sim.step()
        sim_time = self._sim.time
        self._latest_sim_time = sim_time
        if self._clock_pub is not None:
            self._clock_pub.publish(Clock(clock=self._stamp(sim_time)))
        return sim_time

    def _apply_inbox(self) -> None:
        inbox = self._inbox
        if not (inbox.commands or inbox.trajectory or inbox.cancel_trajectory or inbox.resets or inbox.episodes):
            return  # unlocked fast path: a racing append is picked up at the next step
        with inbox.lock:
            commands, inbox.commands = inbox.commands, []
            request, inbox.trajectory = inbox.trajectory, None
            cancel, inbox.cancel_trajectory = inbox.cancel_trajectory, False
            resets, inbox.resets = inbox.resets, []
            episodes, inbox.episodes = inbox.episodes, []
        if commands or cancel:
            # The newest source wins: a streamed command ends an active trajectory.
            self._trajectory = None
        for idx, values in commands:
            self._sim.set_position_targets_by_index(idx, values)
        if request is not None:
            self._trajectory = LinearTrajectory.from_points(
                request.joint_indices,
                self._sim.time if request.start_sim_time_s is None else request.start_sim_time_s,
                request.time_from_start_s,
                request.positions,
                start_positions=self._sim.position_targets()[request.joint_indices],
            )
        if resets:
            self._sim.reset()
            self._trajectory = None
            for done in resets:
                done.set()
        for episode in episodes:  # in order: the newest request's scene is the one that stays
            try:
                apply_episode(self._sim, episode.spec)
                self._trajectory = None
            except Exception as exc:  # noqa: BLE001 - reported to the caller, the physics keeps running
                episode.error = exc
            episode.done.set()

    def _publish_scene_state(self, sim_time: float) -> None:
        names: list[str] = []
        positions: list[float] = []
        for prefix, position in scene_state_items(self._sim.object_positions(), self._sim.hand_positions()):
            names.extend(f"{prefix}_{axis}" for axis in "xyz")
            positions.extend(float(v) for v in position[:3])
        msg = JointState(name=names, position=positions)
        msg.header.stamp = self._stamp(sim_time)
        self._scene_state_pub.publish(msg)

    def _publish_joint_state(self, sim_time: float) -> None:
        _, positions, velocities, efforts = self._sim.joint_state()
        msg = JointState(
            name=self._joint_names, position=positions.tolist(), velocity=velocities.tolist(), effort=efforts.tolist()
        )
        msg.header.stamp = self._stamp(sim_time)
        self._joint_state_pub.publish(msg)

    def _stamp(self, sim_time: float) -> TimeMsg:
        if self._sim_stamps:
            return Time(nanoseconds=int(round(sim_time * 1e9))).to_msg()
        return self.get_clock().now().to_msg()

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

    # ----------------------------------------------------------- camera thread
    def _publish_frame(self, rgb: np.ndarray, stamp: TimeMsg) -> None:
        if not self._publish_camera:
            self._frames_suppressed += 1
            return
        height, width, _ = rgb.shape
        msg = Image(height=height, width=width, encoding="rgb8", is_bigendian=0, step=width * 3)
        msg.header.stamp = stamp
        msg.header.frame_id = CAMERA_FRAME_ID
        msg.data = rgb.tobytes()
        self._camera_info.header.stamp = stamp
        self._image_pub.publish(msg)
        self._camera_info_pub.publish(self._camera_info)
        self._frames_published += 1

    # --------------------------------------------------------------- shutdown
    def _stopping(self) -> bool:
        return self._stop.is_set() or not self.context.ok()

    def destroy_node(self) -> None:
        """Stop the physics and camera threads (the camera thread frees the renderer), then the node."""
        # getattr: also called (by rclpy) on a node whose constructor failed half-way.
        stop, camera, physics = (getattr(self, name, None) for name in ("_stop", "_camera", "_physics"))
        if stop is not None:
            stop.set()
        if camera is not None:
            camera.stop()  # first: a physics thread waiting for a frame slot is released
        if physics is not None and physics.is_alive():
            physics.join(_JOIN_TIMEOUT_S)
        super().destroy_node()


class _CameraWorker:
    """Renders state snapshots on its own thread, which owns the GL context for its lifetime."""

    def __init__(
        self,
        node: SimNode,
        sim: GR1TabletopSim,
        settings: SimNodeSettings,
        publish: Callable[[np.ndarray, TimeMsg], None],
    ) -> None:
        self._node = node
        self._sim = sim
        self._settings = settings
        self._publish = publish
        self._state = mujoco.MjData(sim.model)
        self._stamp: TimeMsg | None = None  # set while a frame is pending or rendering
        self._cond = threading.Condition()
        self._stop = False
        self.frames_published = 0
        self.frames_skipped = 0
        self._warm = threading.Event()  # set after the warm-up frames, or on failure with `_error`
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._main, name="sim_camera", daemon=True)

    def start_and_warm_up(self) -> None:
        """Start the thread and wait until it has rendered (and discarded) its warm-up frames."""
        self._thread.start()
        if not self._warm.wait(_WARM_UP_TIMEOUT_S):
            raise RuntimeError(f"the camera thread did not render a first frame within {_WARM_UP_TIMEOUT_S} s")
        if self._error is not None:
            raise RuntimeError(
                f"offscreen rendering failed: {self._error!r}; on a machine without a display set "
                "MUJOCO_GL=egl (Mesa libEGL) or MUJOCO_GL=osmesa"
            ) from self._error

    def submit(self, stamp: TimeMsg, wait_if_busy: bool) -> None:
        """Snapshot the sim state for rendering (physics thread). If the previous frame is still
        rendering, wait for it (`wait_if_busy`) or skip this frame."""
        with self._cond:
            if self._stamp is not None and wait_if_busy:
                self._cond.wait_for(lambda: self._stamp is None or self._stop)
            if self._stop:
                return
            if self._stamp is not None:
                self.frames_skipped += 1
                if self.frames_published > 0:  # the first frame is slow while the threads spin up
                    self._node.get_logger().warning(
                        f"camera rendering slower than {self._settings.camera_hz:g} Hz: "
                        f"{self.frames_skipped} frames skipped so far",
                        throttle_duration_sec=5.0,
                    )
                return
            self._sim.snapshot(into=self._state)
            self._stamp = stamp
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(_JOIN_TIMEOUT_S)

    def _main(self) -> None:
        settings = self._settings
        try:
            # Two frames: Mesa compiles shaders and uploads meshes lazily during the first ones.
            self._sim.snapshot(into=self._state)
            for _ in range(2):
                self._sim.render(settings.camera, settings.render_width, settings.render_height, state=self._state)
            self._warm.set()
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._stamp is not None or self._stop)
                    if self._stop:
                        return
                    stamp = self._stamp
                # The physics thread leaves `_state` alone while `_stamp` is set.
                rgb = self._sim.render(
                    settings.camera, settings.render_width, settings.render_height, state=self._state
                )
                self._publish(rgb, stamp)
                self.frames_published += 1
                with self._cond:
                    self._stamp = None
                    self._cond.notify_all()
        except Exception as exc:  # noqa: BLE001
            if not self._warm.is_set():  # failed during start-up: start_and_warm_up reports it
                self._error = exc
            elif not self._node._stopping():
                self._node.get_logger().fatal(f"camera thread stopped: {exc!r}")
                raise
        finally:
            with self._cond:  # never leave the physics thread waiting for a frame slot
                self._stop = True
                self._cond.notify_all()
            self._warm.set()
            self._sim.close()  # the GL context belongs to this thread


def scene_state_items(objects: dict[str, np.ndarray], hands: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
    """(name prefix, position) pairs of ~/scene_state: every object, then `<side>_palm`."""
    return [*objects.items(), *((f"{side}_palm", position) for side, position in hands.items())]


def scene_observation(msg: JointState) -> SceneObservation:
    """A ~/scene_state message as the task library's observation (time = its header stamp, s)."""
    objects, hands = parse_scene_state(list(msg.name), list(msg.position))
    stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
    return SceneObservation(time_s=stamp, object_positions=objects, hand_positions=hands)


def parse_scene_state(names: list[str], positions: list[float]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Inverse of the ~/scene_state layout: ({object: xyz}, {hand side: xyz})."""
    if len(names) != len(positions) or len(names) % 3:
        raise ValueError(f"scene_state needs xyz triples, got {len(names)} names and {len(positions)} positions")
    objects: dict[str, np.ndarray] = {}
    hands: dict[str, np.ndarray] = {}
    for i in range(0, len(names), 3):
        prefix = names[i][: -len("_x")]
        if [names[i], names[i + 1], names[i + 2]] != [f"{prefix}_{axis}" for axis in "xyz"]:
            raise ValueError(f"scene_state names {names[i:i + 3]} are not an x/y/z triple")
        value = np.asarray(positions[i : i + 3], dtype=np.float64)
        if prefix.endswith("_palm"):
            hands[prefix[: -len("_palm")]] = value
        else:
            objects[prefix] = value
    return objects, hands


def checked_task_name(task: str) -> str:
    """`task` if it can name a task: ValueError for an oversize or undecodable name (the check that
    must come before the task library's lookup, whose close-match hint is quadratic in the length)."""
    size = len(task.encode("utf-8", errors="surrogatepass"))
    if size > MAX_TASK_NAME_BYTES:
        raise ValueError(f"task name of {size} bytes; task names have at most {MAX_TASK_NAME_BYTES}")
    if "\ufffd" in task:  # what invalid UTF-8 on the wire decodes to
        raise ValueError("task name is not valid UTF-8")
    return task


def fill_episode_response(spec: EpisodeSpec, response: Any) -> None:
    """Copy the episode into a ResetEpisode response (id, instruction, objects, placements, region)."""
    response.id = f"{spec.task}/{spec.seed}"
    response.instruction = spec.instruction
    response.target_object = spec.target_object
    response.other_object = spec.other_object or ""
    response.hand = spec.hand
    response.max_duration_s = float(spec.max_duration_s)
    response.placements = [
        ObjectPlacementMsg(name=name, position=[float(v) for v in p.position], yaw=float(p.yaw))
        for name, p in spec.placements.items()
    ]
    if spec.region is not None:
        response.region_name = spec.region.name
        response.region_x_m = [float(v) for v in spec.region.x_m]
        response.region_y_m = [float(v) for v in spec.region.y_m]
        response.region_min_z_m = float(spec.region.min_z_m)


def _duration_s(duration: Any) -> float:
    return duration.sec + duration.nanosec * 1e-9


def _next_tick(scheduled: float, period: float, now: float) -> float:
    """Next publication time: keeps the long-run rate exact, but never schedules in the past."""
    upcoming = scheduled + period
    return upcoming if upcoming > now else now + period


def main(args: list[str] | None = None) -> None:
    from gr00t_description.ros.node_main import run_node

    # Ctrl-C / SIGTERM stop it cleanly: destroy_node stops the physics and camera threads while the
    # context is still valid. A failure while running is a bug and keeps its traceback; bad
    # parameters, config files or rendering set-up end it with a message that says what to fix.
    run_node(
        SimNode,
        args=args,
        startup_errors=(ValueError, RuntimeError, OSError),
        startup_exit_code=1,
        report_startup_error=lambda exc: rclpy.logging.get_logger(NODE_NAME).fatal(f"cannot start: {exc}"),
    )


if __name__ == "__main__":
    main()
