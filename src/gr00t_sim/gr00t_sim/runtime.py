"""The simulator as a running thing, without ROS: physics stepping and pacing, camera rendering,
commands and trajectories, resets and task episodes, the scene state.

`SimRuntime` owns a `GR1TabletopSim` and two threads; `gr00t_sim.sim_node` only wires ROS topics,
services and parameters to it. What the runtime produces goes to a `SimOutputs` (the node's
publishers; a list in tests); what it receives comes through its methods, which validate and queue
input from any thread and raise ValueError for input it refuses (the caller counts and logs it).

Threads: the caller's thread only validates and queues inputs; the physics thread owns the
simulation (steps paced to wall time x realtime_factor, applies inputs, hands out joint states,
clock ticks and scene states); the camera thread renders snapshots of the state handed over by the
physics thread. Rendering on a CPU takes 15-35 ms a frame (224x224 to 640x480): in the physics
thread it would stall stepping that long 30 times a second. MuJoCo releases the GIL while
rendering, so the two threads overlap. When paced, a frame still rendering when the next is due is
skipped (counted, logged) rather than slowing the physics; as fast as possible, the physics waits so
every frame is rendered.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import mujoco
import numpy as np

from gr00t_description import RobotConfig
from gr00t_description.ros.parameters import parameter
from gr00t_sim.configuration_sim import SimConfig
from gr00t_sim.pacing import RealtimePacer
from gr00t_sim.scene import HEAD_CAMERA, OVERVIEW_CAMERA
from gr00t_sim.sim_interfaces import checked_task_name
from gr00t_sim.tabletop_sim import GR1TabletopSim
from gr00t_sim.tasks import EpisodeSpec, TableLayout, get_task
from gr00t_sim.tasks.sim_binding import apply_episode
from gr00t_sim.trajectory import LinearTrajectory, validate_points

SCENE_STATE_HZ = 20.0  # scene states per sim second
MAX_TRAJECTORY_POINTS = 10_000  # 10 s at 1 kHz; more is a runaway publisher, not a trajectory
MAX_TRAJECTORY_LEAD_S = 60.0  # a trajectory may be scheduled this far ahead of the sim's clock, no further
RESET_TIMEOUT_S = 5.0  # a reset waits this long for the physics thread
_JOIN_TIMEOUT_S = 5.0
_WARM_UP_TIMEOUT_S = 30.0
_MAX_LAG_S = 0.1  # paced mode: fall this far behind wall time and the backlog is dropped
_WARNING_PERIOD_S = 5.0  # at most one line per kind of slowness per period


@dataclass(frozen=True)
class SimNodeConfig:
    """The simulator node's parameters (`nodes.sim` of the stack YAML)."""

    realtime_factor: float = field(
        metadata=parameter("sim seconds per wall second; 0 = as fast as possible", 0.0, 1000.0)
    )
    publish_clock: bool = field(
        metadata=parameter("publish /clock and stamp with sim time (also on with use_sim_time or realtime_factor 0)")
    )
    physics_hz: float = field(
        metadata=parameter("physics steps per sim second (MuJoCo timestep = 1 / this)", 10.0, 10000.0)
    )
    joint_state_hz: float = field(metadata=parameter("joint_states per sim second", 1.0, 10000.0))
    camera_hz: float = field(metadata=parameter("camera frames per sim second", 0.1, 1000.0))
    render_width: int = field(metadata=parameter("camera image width, px", 16, 4096))
    render_height: int = field(metadata=parameter("camera image height, px", 16, 4096))
    camera: str = field(
        metadata=parameter("MuJoCo camera published on the camera topic", choices=(HEAD_CAMERA, OVERVIEW_CAMERA))
    )
    seed: int = field(metadata=parameter("seed of the object placements", 0, 2**31 - 1))
    decimate_meshes: float = field(metadata=parameter("fraction of mesh faces kept (rendering speed)", 0.001, 1.0))
    publish_camera: bool = field(
        metadata=parameter(
            "false: the camera topics stop while everything else runs (camera outage rehearsal)", dynamic=True
        )
    )

    def sim_config(self) -> SimConfig:
        """The scene settings among these parameters (the same mapping every stack reader uses)."""
        return SimConfig.from_node_parameters(dataclasses.asdict(self))

    def sim_stamps(self, use_sim_time: bool) -> bool:
        """Whether stamps are sim time (and /clock is published): unpaced time is meaningless on the
        wall clock, and a use_sim_time graph needs the sim as its clock source."""
        return self.publish_clock or use_sim_time or self.realtime_factor == 0


class EpisodeRejected(ValueError):
    """A ResetEpisode request that names no episode (unknown task, oversize name, bad seed)."""


@dataclass(frozen=True)
class SceneSnapshot:
    """The privileged scene state at one physics step (world frame, metres, radians)."""

    object_positions: dict[str, np.ndarray]
    object_yaws: dict[str, float]
    hand_positions: dict[str, np.ndarray]


class SimOutputs(Protocol):
    """Where the runtime's products go (the node's publishers). Called from the physics and camera
    threads; `stamp` is taken when the state is captured, so a frame carries its snapshot's time."""

    def stamp(self, sim_time: float) -> Any: ...

    def joint_state(
        self, stamp: Any, names: Sequence[str], positions: np.ndarray, velocities: np.ndarray, efforts: np.ndarray
    ) -> None: ...

    def clock(self, sim_time: float) -> None: ...

    def scene_state(self, stamp: Any, scene: SceneSnapshot) -> None: ...

    def frame(self, stamp: Any, rgb: np.ndarray) -> bool:
        """Publish a rendered frame; False when it was withheld (camera outage)."""
        ...

    def log(self, level: int, message: str) -> None: ...


@dataclass
class _TrajectoryRequest:
    joint_indices: np.ndarray
    start_sim_time_s: float | None  # None = when the physics thread picks it up ("now")
    time_from_start_s: np.ndarray
    positions: np.ndarray


@dataclass
class _EpisodeRequest:
    spec: EpisodeSpec
    done: threading.Event = field(default_factory=threading.Event)
    error: Exception | None = None


@dataclass
class _Inbox:
    """Inputs handed from the callers' threads to the physics thread (guarded by `lock`)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    commands: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    trajectory: _TrajectoryRequest | None = None
    cancel_trajectory: bool = False
    resets: list[threading.Event] = field(default_factory=list)
    episodes: list[_EpisodeRequest] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.commands or self.trajectory or self.cancel_trajectory or self.resets or self.episodes)


class SimRuntime:
    """A paced GR-1 tabletop simulation with a rendering camera; see the module docstring.

    `sim_stamps`: stamps are sim time (trajectory stamps are then sim time too); else wall clock.
    `keep_running`: False once the owner is going down, so a failing output is not reported as a crash.
    """

    def __init__(
        self,
        robot: RobotConfig,
        config: SimNodeConfig,
        outputs: SimOutputs,
        *,
        sim_stamps: bool,
        keep_running: Callable[[], bool] = lambda: True,
    ) -> None:
        self.config = config
        self.sim_stamps = sim_stamps
        self._outputs = outputs
        self._keep_running = keep_running
        self.sim = GR1TabletopSim(robot, config.sim_config())
        self.layout = TableLayout.from_sim_config(self.sim.config)
        self.joint_names: tuple[str, ...] = tuple(self.sim.joint_names)
        self._inbox = _Inbox()
        self._trajectory: LinearTrajectory | None = None
        self._latest_sim_time = self.sim.time
        self._stop = threading.Event()
        self.frames_published = 0
        self.dropped_sim_s = 0.0
        self._last_warning: dict[str, float] = {}
        self._camera = _CameraWorker(self.sim, config, self._deliver_frame, self._warn, outputs.log, self._going_down)
        self._physics = threading.Thread(target=self._physics_main, name="sim_physics", daemon=True)
        self._health_anchor = (time.monotonic(), self.sim.time, 0)

    # ------------------------------------------------------------------ life cycle
    def start(self) -> None:
        """Start the camera thread (waiting for its warm-up frames), then the physics thread."""
        # The first render creates the GL context (~0.3 s of GIL-heavy set-up): finish it before
        # the physics clock starts, or the paced loop would begin by dropping that backlog.
        self._camera.start_and_warm_up()
        self._physics.start()

    def stop(self) -> None:
        """Stop the camera thread (it frees the renderer), then the physics thread. Idempotent."""
        self._stop.set()
        self._camera.stop()  # first: a physics thread waiting for a frame slot is released
        if self._physics.is_alive():
            self._physics.join(_JOIN_TIMEOUT_S)
        if not self._camera.started:
            self.sim.close()  # no camera thread ever owned the renderer

    @property
    def running(self) -> bool:
        """Both the physics and the camera thread are alive."""
        return self._physics.is_alive() and self._camera.alive

    @property
    def sim_time(self) -> float:
        """Sim time of the latest physics step, s."""
        return self._latest_sim_time

    @property
    def frames_skipped(self) -> int:
        return self._camera.frames_skipped

    def camera_intrinsics(self) -> tuple[float, float, float, float]:
        """fx, fy, cx, cy (px) of the published camera at the published size."""
        return self.sim.camera_intrinsics(self.config.camera, self.config.render_width, self.config.render_height)

    # ------------------------------------------------------------------ inputs (any thread)
    def command(self, names: Sequence[str], positions: Sequence[float]) -> None:
        """Position targets by joint name (any subset), applied at the next step; a streamed command
        ends an active trajectory. ValueError (nothing changes) for unknown or repeated names, a size
        mismatch, NaN/inf."""
        idx, values = self.sim.target_map.resolve(list(names), np.asarray(positions, dtype=np.float64))
        if idx.size == 0:
            return
        with self._inbox.lock:
            self._inbox.commands.append((idx, values))

    def follow_trajectory(
        self,
        joint_names: Sequence[str],
        times_from_start_s: Sequence[float],
        positions: Sequence[Sequence[float]],
        stamp_s: float,
        wall_now_s: float,
    ) -> None:
        """Follow a trajectory (linear between points, clipped to the joint ranges) from `stamp_s`
        (0 = on receipt; sim or wall time as the stamps are). No points cancels the active one, as in
        ros2_controllers' JointTrajectoryController. ValueError (nothing changes) for a malformed one,
        or one that starts more than MAX_TRAJECTORY_LEAD_S ahead of the sim's clock or already ended."""
        if not len(positions):
            with self._inbox.lock:
                self._inbox.trajectory, self._inbox.cancel_trajectory = None, True
            return
        if not joint_names:
            raise ValueError("joint_names is empty")
        if len(positions) > MAX_TRAJECTORY_POINTS:
            raise ValueError(f"{len(positions)} points, more than {MAX_TRAJECTORY_POINTS}")
        idx = self.sim.target_map.indices(list(joint_names))
        offsets, points = validate_points(list(times_from_start_s), [list(p) for p in positions], len(idx))
        start_s = self._trajectory_start(stamp_s, wall_now_s)
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
        points = np.clip(points, self.sim.target_map.lower[idx], self.sim.target_map.upper[idx])
        request = _TrajectoryRequest(idx, start_s, offsets, points)
        with self._inbox.lock:
            self._inbox.trajectory, self._inbox.cancel_trajectory = request, False

    def reset(self, timeout_s: float = RESET_TIMEOUT_S) -> bool:
        """Home pose, objects re-placed, sim time running on; False if the physics did not answer."""
        done = threading.Event()
        with self._inbox.lock:
            self._inbox.resets.append(done)
        return done.wait(timeout_s)

    def reset_episode(self, task: str, seed: int, timeout_s: float = RESET_TIMEOUT_S) -> EpisodeSpec:
        """Sample episode (task, seed) with the task library and apply it in the physics thread (home
        pose, objects placed). EpisodeRejected for a request that names no episode (nothing changes);
        RuntimeError if the physics thread did not apply it."""
        try:
            spec = get_task(checked_task_name(task)).sample(int(seed), self.layout)
        except ValueError as exc:
            raise EpisodeRejected(str(exc)) from None
        episode = _EpisodeRequest(spec)
        with self._inbox.lock:
            self._inbox.episodes.append(episode)
        if not episode.done.wait(timeout_s):
            raise RuntimeError(f"the physics thread did not apply the episode within {timeout_s} s")
        if episode.error is not None:
            raise RuntimeError(f"applying the episode failed: {episode.error}")
        return spec

    # ------------------------------------------------------------------ health
    def health(self, wall_now_s: float | None = None) -> tuple[bool, dict[str, Any]]:
        """(lagging behind the realtime factor, values) since the previous call: the realtime ratio,
        camera frame rate, frames skipped, sim time dropped, sim time."""
        wall = time.monotonic() if wall_now_s is None else wall_now_s
        sim_time, frames = self._latest_sim_time, self.frames_published
        last_wall, last_sim, last_frames = self._health_anchor
        self._health_anchor = (wall, sim_time, frames)
        elapsed = max(wall - last_wall, 1e-6)
        realtime_ratio = (sim_time - last_sim) / elapsed
        factor = self.config.realtime_factor
        lagging = factor > 0 and realtime_ratio < 0.9 * factor
        return lagging, {
            "realtime_ratio": f"{realtime_ratio:.3f}",
            "target_realtime_factor": f"{factor:g}",
            "camera_fps": f"{(frames - last_frames) / elapsed:.1f}",
            "camera_frames_skipped": str(self.frames_skipped),
            "sim_time_dropped_s": f"{self.dropped_sim_s:.3f}",
            "sim_time_s": f"{sim_time:.3f}",
        }

    # ------------------------------------------------------------------ physics thread
    def _going_down(self) -> bool:
        return self._stop.is_set() or not self._keep_running()

    def _warn(self, key: str, message: str) -> None:
        now = time.monotonic()
        if now - self._last_warning.get(key, -float("inf")) >= _WARNING_PERIOD_S:
            self._last_warning[key] = now
            self._outputs.log(logging.WARNING, message)

    def _trajectory_start(self, stamp_s: float, wall_now_s: float) -> float | None:
        """Sim time at which a trajectory stamped `stamp_s` starts; None = now (stamp 0)."""
        if stamp_s == 0.0:
            return None
        if self.sim_stamps:
            return stamp_s
        return self._latest_sim_time + (stamp_s - wall_now_s) * self.config.realtime_factor

    def _physics_main(self) -> None:
        try:
            self._run_physics()
        except Exception as exc:  # noqa: BLE001 - report once, then let the owner shut down cleanly
            if not self._going_down():
                self._outputs.log(logging.CRITICAL, f"physics thread stopped: {exc!r}")
                raise

    def _run_physics(self) -> None:
        config, sim = self.config, self.sim
        pacer = RealtimePacer(config.realtime_factor, sim.timestep, _MAX_LAG_S)
        periods = (1.0 / config.joint_state_hz, 1.0 / SCENE_STATE_HZ, 1.0 / config.camera_hz)
        next_joint_state = next_scene_state = next_frame = sim.time
        reported_drop = 0.0
        pacer.anchor(sim.time, time.monotonic())
        while not self._stop.is_set():
            now = time.monotonic()
            due = pacer.steps_due(sim.time, now)
            if due == 0:
                self._stop.wait(max(0.0, pacer.wall_time_of(sim.time + sim.timestep) - now))
                continue
            for _ in range(due):
                sim_time = self._advance_one_step()
                if sim_time >= next_joint_state - 1e-9:
                    _, positions, velocities, efforts = sim.joint_state()
                    self._outputs.joint_state(
                        self._outputs.stamp(sim_time), self.joint_names, positions, velocities, efforts
                    )
                    next_joint_state = next_tick(next_joint_state, periods[0], sim_time)
                if sim_time >= next_scene_state - 1e-9:
                    scene = SceneSnapshot(sim.object_positions(), sim.object_yaws(), sim.hand_positions())
                    self._outputs.scene_state(self._outputs.stamp(sim_time), scene)
                    next_scene_state = next_tick(next_scene_state, periods[1], sim_time)
                if sim_time >= next_frame - 1e-9:
                    self._camera.submit(self._outputs.stamp(sim_time), wait_if_busy=pacer.as_fast_as_possible)
                    next_frame = next_tick(next_frame, periods[2], sim_time)
            self.dropped_sim_s = pacer.dropped_sim_s
            if pacer.dropped_sim_s > reported_drop + 1e-9:
                reported_drop = pacer.dropped_sim_s
                self._warn(
                    "physics",
                    f"physics cannot keep up with realtime_factor {config.realtime_factor:g}: "
                    f"{reported_drop:.2f} s of sim time skipped so far",
                )

    def _advance_one_step(self) -> float:
        self._apply_inbox()
        if self._trajectory is not None:
            trajectory = self._trajectory
            self.sim.set_position_targets_by_index(trajectory.joint_indices, trajectory.sample(self.sim.time))
            if self.sim.time >= trajectory.end_time_s:
                self._trajectory = None  # targets now hold the last point
        self.sim.step()
        sim_time = self.sim.time
        self._latest_sim_time = sim_time
        self._outputs.clock(sim_time)
        return sim_time

    def _apply_inbox(self) -> None:
        inbox = self._inbox
        if inbox.empty():
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
            self.sim.set_position_targets_by_index(idx, values)
        if request is not None:
            self._trajectory = LinearTrajectory.from_points(
                request.joint_indices,
                self.sim.time if request.start_sim_time_s is None else request.start_sim_time_s,
                request.time_from_start_s,
                request.positions,
                start_positions=self.sim.position_targets()[request.joint_indices],
                received_time_s=self.sim.time,  # a future start is approached from here, never jumped to
            )
        if resets:
            self.sim.reset()
            self._trajectory = None
            for done in resets:
                done.set()
        for episode in episodes:  # in order: the newest request's scene is the one that stays
            try:
                apply_episode(self.sim, episode.spec)
                self._trajectory = None
            except Exception as exc:  # noqa: BLE001 - reported to the caller, the physics keeps running
                episode.error = exc
            episode.done.set()

    # ------------------------------------------------------------------ camera thread
    def _deliver_frame(self, stamp: Any, rgb: np.ndarray) -> None:
        if self._outputs.frame(stamp, rgb):
            self.frames_published += 1


class _CameraWorker:
    """Renders state snapshots on its own thread, which owns the GL context for its lifetime."""

    def __init__(
        self,
        sim: GR1TabletopSim,
        config: SimNodeConfig,
        deliver: Callable[[Any, np.ndarray], None],
        warn: Callable[[str, str], None],
        log: Callable[[int, str], None],
        going_down: Callable[[], bool],
    ) -> None:
        self._sim = sim
        self._config = config
        self._deliver = deliver
        self._warn = warn
        self._log = log
        self._going_down = going_down
        self._state = mujoco.MjData(sim.model)
        self._stamp: Any = None  # set while a frame is pending or rendering
        self._cond = threading.Condition()
        self._stop = False
        self.frames_rendered = 0
        self.frames_skipped = 0
        self._warm = threading.Event()  # set after the warm-up frames, or on failure with `_error`
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._main, name="sim_camera", daemon=True)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def started(self) -> bool:
        return self._thread.ident is not None

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

    def submit(self, stamp: Any, wait_if_busy: bool) -> None:
        """Snapshot the sim state for rendering (physics thread). If the previous frame is still
        rendering, wait for it (`wait_if_busy`) or skip this frame."""
        with self._cond:
            if self._stamp is not None and wait_if_busy:
                self._cond.wait_for(lambda: self._stamp is None or self._stop)
            if self._stop:
                return
            if self._stamp is not None:
                self.frames_skipped += 1
                if self.frames_rendered > 0:  # the first frame is slow while the threads spin up
                    self._warn(
                        "camera",
                        f"camera rendering slower than {self._config.camera_hz:g} Hz: "
                        f"{self.frames_skipped} frames skipped so far",
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
        config = self._config
        try:
            # Two frames: Mesa compiles shaders and uploads meshes lazily during the first ones.
            self._sim.snapshot(into=self._state)
            for _ in range(2):
                self._sim.render(config.camera, config.render_width, config.render_height, state=self._state)
            self._warm.set()
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._stamp is not None or self._stop)
                    if self._stop:
                        return
                    stamp = self._stamp
                # The physics thread leaves `_state` alone while `_stamp` is set.
                rgb = self._sim.render(config.camera, config.render_width, config.render_height, state=self._state)
                self._deliver(stamp, rgb)
                self.frames_rendered += 1
                with self._cond:
                    self._stamp = None
                    self._cond.notify_all()
        except Exception as exc:  # noqa: BLE001
            if not self._warm.is_set():  # failed during start-up: start_and_warm_up reports it
                self._error = exc
            elif not self._going_down():
                self._log(logging.CRITICAL, f"camera thread stopped: {exc!r}")
                raise
        finally:
            with self._cond:  # never leave the physics thread waiting for a frame slot
                self._stop = True
                self._cond.notify_all()
            self._warm.set()
            self._sim.close()  # the GL context belongs to this thread


def next_tick(scheduled: float, period: float, now: float) -> float:
    """Next publication time: keeps the long-run rate exact, but never schedules in the past."""
    upcoming = scheduled + period
    return upcoming if upcoming > now else now + period


__all__ = [
    "MAX_TRAJECTORY_LEAD_S",
    "MAX_TRAJECTORY_POINTS",
    "RESET_TIMEOUT_S",
    "SCENE_STATE_HZ",
    "EpisodeRejected",
    "SceneSnapshot",
    "SimNodeConfig",
    "SimOutputs",
    "SimRuntime",
    "next_tick",
]
