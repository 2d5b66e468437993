"""System 1, ROS-free: inference scheduling, chunk execution and the safety supervisor.

The node feeds it decoded inputs and the time (``now`` on the node's clock) and publishes what it
returns; nothing here touches ROS, so every rule (which input is plausible, when to replan, which
goal a chunk is planned from, when to hold) is testable with a fake clock.

Threads: the node's inference thread calls ``infer_once``, its command loop ``tick``, callbacks
the ``on_*`` methods. The chunk executor and the supervisor are not thread-safe: ``_control_lock``
guards both; ``_lock`` guards the goal state.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gr00t_policy.backends import BackendUnavailable, create_backend
from gr00t_policy.execution import (
    Chunk,
    ChunkExecutor,
    ChunkRejected,
    ExecutorConfig,
    InferenceDelayEstimator,
    ReplanConfig,
    ReplanScheduler,
)
from gr00t_policy.execution.realtime_chunking import RtcGuidance
from gr00t_policy.joint_states import JointStateBuffer, JointStateError, group_positions, ungroup_chunk
from gr00t_policy.metrics import LatencyStats, RateMeter
from gr00t_policy.runtime.config import System1Config
from gr00t_policy.runtime.goal_encoding import EncodedGoal, EventLog, GoalEncoder
from gr00t_policy.runtime.trajectory_output import TrajectoryPoints, copy_for_forecast, forecast_supervisor
from gr00t_policy.safety.input_checks import PositionBounds, StampWindow
from gr00t_policy.safety.limits import JointLimiter
from gr00t_policy.safety.supervisor import CommandResult, SafetySupervisor, SupervisorConfig, SupervisorState


def create_system1_backend(config: System1Config, policy: Any) -> Any:
    """The inference backend ``config`` names, with its backend-specific options."""
    if config.chunk_switch == "rtc" and config.backend != "torch":
        raise BackendUnavailable(f"chunk_switch rtc (guided sampling) needs backend torch, not {config.backend}")
    cache_dir = config.compiled_cache_dir or None  # None = $XDG_CACHE_HOME/gr00t/...
    options: dict[str, Any] = {
        "torch": {"cuda_graph": config.cuda_graph},
        "onnxruntime": {"cache_dir": cache_dir, "intra_op_threads": config.num_threads or None},
        "tensorrt": {"cache_dir": cache_dir, "precision": config.tensorrt_precision},
    }[config.backend]
    return create_backend(config.backend, policy, **options)


def supervisor_config(config: System1Config) -> SupervisorConfig:
    """The safety supervisor's settings, every one from the node's parameters."""
    return SupervisorConfig(
        ramp_duration_s=config.startup_ramp_s,
        ramp_max_velocity_rad_s=config.ramp_max_velocity_rad_s,
        joint_state_timeout_s=config.joint_state_timeout_s,
        goal_timeout_s=config.goal_timeout_s,
        chunk_timeout_s=config.chunk_timeout_s,
        exhausted_timeout_s=config.exhausted_timeout_s,
        inference_timeout_s=config.inference_timeout_s,
        disable_after_s=config.disable_after_s,
        resume_after_s=config.resume_after_s,
        restart_position_threshold_rad=config.restart_position_threshold_rad,
        tracking_error_timeout_s=config.tracking_error_timeout_s,
        dry_run=config.dry_run,
    )


def rtc_prefix_by_group(
    guidance: RtcGuidance, groups: Mapping[str, Sequence[str]], action_groups: Sequence[tuple[str, int]]
) -> dict[str, Any]:
    """RTC guidance (columns in the executor's joint order) as the policy takes it: a prefix per
    action group (columns in the group's joint order) and the per-step weights."""
    column = {name: i for i, name in enumerate(guidance.joint_names)}
    prefix = {
        group: guidance.prefix_positions[:, [column[name] for name in groups[group]]] for group, _ in action_groups
    }
    return {"prefix": prefix, "prefix_weights": guidance.guidance_weights}


@dataclass(frozen=True, eq=False)
class PlannedChunk:
    """A chunk the executor accepted, with what the node publishes about it."""

    chunk: Chunk
    latency_s: float
    goal_sequence: int | None  # the System 2 goal it was planned from (dual_rate); None in fused mode
    goal_stamp: float | None


@dataclass(frozen=True, eq=False)
class CommandTick:
    command: np.ndarray | None  # radians for `action_joints`, or None = send nothing this tick
    publish_status: bool  # the state or the set of faults changed this tick: publish at once
    # command_output joint_trajectory: a trajectory to send now (it replaces the running one), else None
    trajectory: TrajectoryPoints | None = None


def _python_log(level: int, message: str) -> None:
    logging.getLogger("gr00t_policy.safety.supervisor").log(level, "%s", message)


def _silent(level: int, message: str) -> None:
    """The log callback of the supervisor copies that forecast trajectories: their state changes are not news."""


@dataclass(frozen=True)
class ControllerSnapshot:
    """What ControllerStatus reports."""

    state: SupervisorState
    reason: str
    dry_run: bool
    active_faults: tuple[str, ...]
    chunks_executed: int
    command_rate_hz: float


class System1Runtime:
    """System 1 for one robot and one policy: see the module docstring.

    ``command_rate_hz`` is reported in /diagnostics (the node runs the stream at it); ``events``
    counts and throttles per-source log lines of rejected inputs; in ``fused`` mode ``goal_encoder``
    (System 2's ``GoalEncoder``) holds the frames and the instruction the goal is computed from.
    """

    def __init__(
        self,
        config: System1Config,
        robot: Any,
        camera_keys: Sequence[str],
        command_rate_hz: float,
        policy: Any,
        backend: Any,
        events: EventLog,
        log: Callable[[int, str], None] | None = None,
    ) -> None:
        self.config = config
        self.robot = robot
        self.command_rate_hz = command_rate_hz
        self.policy = policy
        self.backend = backend
        self.events = events
        data_config = policy.data_config
        self.state_groups = [(g, d) for g, d in data_config.state_groups]
        self.action_groups = [(g, d) for g, d in data_config.action_groups]
        self.action_joints = robot.group_joints([g for g, _ in self.action_groups])
        state_joints = robot.group_joints([g for g, _ in self.state_groups])
        buffered_joints = sorted(set(state_joints) | set(self.action_joints))
        skew = config.max_stamp_skew_s
        # Behind the clock, each input may be as old as its own watchdog lets it be, plus the skew;
        # goal tokens carry their camera frame's stamp, which may lag the newest frame that long.
        self.frame_stamps = StampWindow(skew, skew + config.goal_lag_timeout_s)
        self.goal_stamps = StampWindow(skew, skew + config.goal_lag_timeout_s + config.goal_timeout_s)
        self.joint_buffer = JointStateBuffer(
            buffered_joints,
            stamp_window=StampWindow(skew, skew + config.joint_state_timeout_s),
            position_bounds=PositionBounds.from_robot(robot, buffered_joints, config.joint_state_limit_margin_rad),
        )
        # fused: System 2's computation runs here, on the same rules; a goal from frames older than
        # the goal watchdog's limit would be stale on arrival, so such frames are not used.
        self.goal_encoder = (
            GoalEncoder(
                policy,
                camera_keys,
                self.frame_stamps,
                config.goal_timeout_s or math.inf,
                config.max_instruction_bytes,
                events,
            )
            if config.mode == "fused"
            else None
        )
        self._control_lock = threading.Lock()
        self.chunk_executor = ChunkExecutor(
            ExecutorConfig(
                joint_names=tuple(self.action_joints),
                # With RTC the new chunk already continues the old one: switch at once.
                switch_mode="replace" if config.chunk_switch == "rtc" else config.chunk_switch,
                blend_duration_s=config.blend_duration_s,
                execution_horizon_steps=config.execution_horizon_steps,
                max_start_ahead_s=skew,
            )
        )
        # The supervisor reports state changes through `log` (the node's logger), else Python's logging;
        # the runtime keeps the callback to silence it in the copies that forecast trajectories.
        self._supervisor_log = log or _python_log
        self.supervisor = SafetySupervisor(
            supervisor_config(config), JointLimiter.from_robot(robot, self.action_joints), log=self._supervisor_log
        )
        self.trajectory_output = config.command_output == "joint_trajectory"
        self._trajectory_running = False  # a trajectory with points was sent after the last stop
        self._trajectory_chunks = -1  # chunks the executor had accepted when that trajectory was forecast
        self.trajectories_sent = 0
        self.replanner = ReplanScheduler(
            ReplanConfig(
                replan_every_steps=config.replan_every_steps,
                min_interval_s=config.replan_min_interval_s,
                execution_horizon_steps=config.execution_horizon_steps,
            )
        )
        self.delay_estimator = InferenceDelayEstimator()
        self._lock = threading.Lock()
        self._goal: Any = None  # backend goal cache of the current goal
        self._goal_meta: Any = None  # the decoded goal tokens it came from (dual_rate)
        self._pending_goal: Any = None
        self._newest_frame_stamp = -1.0
        self._ended_instruction_ids: set[str] = set()
        self.chunks_executed = 0
        self.active_faults: tuple[str, ...] = ()
        self.chunk_latency = LatencyStats()
        self.command_rate = RateMeter()

    # -- state ---------------------------------------------------------------------------------
    @property
    def state(self) -> SupervisorState:
        return SupervisorState(self.supervisor.state)

    @property
    def reason(self) -> str:
        return self.supervisor.reason

    @property
    def has_goal(self) -> bool:
        """A goal (dual_rate: from System 2's tokens) is ready to plan from."""
        with self._lock:
            return self._goal is not None or self._pending_goal is not None

    # -- inputs --------------------------------------------------------------------------------
    def on_joint_state(self, names: Sequence[str], positions: Sequence[float], stamp: float, now: float) -> None:
        try:
            self.joint_buffer.update(names, positions, stamp, now)
        except JointStateError as exc:
            self.events.error("rejected_joint_states", f"joint_states rejected: {exc}")
            return
        if self.joint_buffer.positions_of(self.action_joints, now, self.config.joint_state_timeout_s) is not None:
            with self._control_lock:
                self.supervisor.on_joint_state(now)

    def instruction_ended(self, instruction_id: str) -> bool:
        """True for tokens of an instruction whose action already ended (they are ignored)."""
        with self._lock:
            return instruction_id in self._ended_instruction_ids

    def on_goal_tokens(self, goal: Any, now: float) -> None:
        """Decoded goal tokens from System 2 (``DecodedGoal``: tokens, mask, sequence, stamp, instruction_id)."""
        if self.goal_encoder is not None or self.instruction_ended(goal.instruction_id):
            return
        stamp_problem = self.goal_stamps.problem(goal.stamp, now)
        if stamp_problem:
            self.events.error("rejected_goal_tokens", f"goal tokens rejected: {stamp_problem}")
            return
        with self._lock:
            lag = self._newest_frame_stamp - goal.stamp if self._newest_frame_stamp >= 0 else 0.0
        if lag > self.config.goal_lag_timeout_s:
            # System 2 is publishing, but from frames far older than the camera's: it is stuck.
            # Such goals do not count as fresh, so the goal watchdog holds the robot.
            self.events.error(
                "lagging_goal_tokens",
                f"goal tokens lag the newest camera frame by {lag:.2f} s (> {self.config.goal_lag_timeout_s:.2f} s)",
            )
            return
        with self._lock:
            self._pending_goal = goal
        with self._control_lock:
            self.supervisor.on_goal_tokens(now)

    def on_frame_stamp(self, label: str, stamp: float, now: float) -> bool:
        """Take a camera frame's stamp for the goal-lag watchdog, if plausible (judged first, so
        the newest stamp can never run ahead of the clock by more than the skew)."""
        problem = self.frame_stamps.problem(stamp, now)
        if problem:
            self.events.error("rejected_camera_frames", f"{label}: dropped frame: {problem}")
            return False
        with self._lock:
            self._newest_frame_stamp = max(self._newest_frame_stamp, stamp)
        return True

    def on_camera_frame(self, key: str, stamp: float, now: float, convert: Callable[[], np.ndarray]) -> None:
        """fused mode: a camera frame for the backbone (``convert()`` gives it as RGB, called only
        once the stamp is judged plausible)."""
        if self.on_frame_stamp(f"camera {key}", stamp, now) and self.goal_encoder is not None:
            self.goal_encoder.add_checked_frame(key, stamp, convert)

    # -- inference -----------------------------------------------------------------------------
    def _current_goal(self) -> tuple[Any, Any]:
        """The newest goal prepared for the backend and its tokens; (None, None) before the first
        one and after its instruction's action ended (the next action must not start from it)."""
        with self._lock:
            pending, self._pending_goal = self._pending_goal, None
        prepared = None if pending is None else self.backend.prepare_goal(pending.tokens, pending.mask)
        with self._lock:
            if pending is not None and pending.instruction_id not in self._ended_instruction_ids:
                self._goal, self._goal_meta = prepared, pending
            return self._goal, self._goal_meta

    def _goal_ended(self, goal: Any) -> bool:
        """True when ``goal`` was dropped meanwhile because its instruction's action ended (only
        the inference thread replaces the goal; ``end_instruction`` clears it)."""
        with self._lock:
            return self.goal_encoder is None and goal is not self._goal

    def _fused_goal(self, now: float) -> Any:
        """fused mode: System 2's computation on the frames and instruction held here."""
        encoded = self.goal_encoder.encode(now)
        if not isinstance(encoded, EncodedGoal):
            return None
        with self._control_lock:
            self.supervisor.on_goal_tokens(now)
        return self.backend.prepare_goal(encoded.tokens, encoded.mask)

    def rtc_guidance(self, start_time: float) -> dict[str, Any]:
        """Real-time chunking: steer the new chunk's first steps onto what the executor will
        command while this inference runs (prefix in policy groups, per-step weights); {} without a plan."""
        with self._control_lock:
            guidance = self.chunk_executor.rtc_guidance(
                start_time, self.config.step_period_s, self.policy.action_horizon, self.delay_estimator.estimate_s()
            )
        if guidance is None:
            return {}
        return rtc_prefix_by_group(guidance, self.robot.groups, self.action_groups)

    def infer_once(self, clock: Callable[[], float]) -> PlannedChunk | bool:
        """One step of the inference thread: plan a chunk if one is due. Returns the accepted chunk;
        True when an inference ran or was refused (go on at once); False when nothing was due (the
        thread may sleep briefly). ``clock()`` is the node's time, read where the old code read it."""
        now = clock()
        with self._control_lock:
            if not self.supervisor.enabled:
                return False
            if not self.replanner.should_request(now, self.chunk_executor.status(now), False):
                return False
        snapshot = self.joint_buffer.snapshot(now, self.config.joint_state_timeout_s)
        if snapshot is None:
            return False
        positions, state_stamp = snapshot
        start = time.perf_counter()
        with self._control_lock:
            self.replanner.mark_requested(now)
            self.supervisor.on_inference_started(now)
        meta = None
        try:
            if self.goal_encoder is not None:
                goal = self._fused_goal(now)
            else:
                goal, meta = self._current_goal()
            if goal is None:
                return False
            guidance = self.rtc_guidance(state_stamp) if self.config.chunk_switch == "rtc" else {}
            state = group_positions(self.robot.groups, positions, self.state_groups)
            actions = self.backend.predict_chunk(state, goal, **guidance)
        finally:
            with self._control_lock:
                self.supervisor.on_inference_finished(clock())
        latency = time.perf_counter() - start
        chunk = Chunk(
            start_time=state_stamp,
            step_period=self.config.step_period_s,
            joint_names=tuple(self.action_joints),
            positions=ungroup_chunk(actions, self.action_groups),
            sequence=self.chunks_executed,
        )
        try:
            with self._control_lock:  # an ending action clears its goal, then resets the executor under this lock
                if self._goal_ended(goal):  # planned for an action that ended during the inference
                    return True
                acceptance = self.chunk_executor.submit(chunk, clock())
        except ChunkRejected as exc:
            self.events.error("rejected_chunks", str(exc))
            return True
        self.delay_estimator.add(acceptance.latency_s)
        self.chunks_executed += 1
        self.chunk_latency.add(latency)
        if meta is None:
            return PlannedChunk(chunk, latency, None, None)
        return PlannedChunk(chunk, latency, meta.sequence, meta.stamp)

    # -- the command stream --------------------------------------------------------------------
    def tick(self, now: float) -> CommandTick:
        """One tick of the command stream: the chunk sampled at ``now`` through the supervisor."""
        measured = self.joint_buffer.positions_of(self.action_joints, now, math.inf)
        forecast = None
        with self._control_lock:
            policy_command = self.chunk_executor.sample(now)
            output = self.supervisor.tick(now, measured, policy_command, self.chunk_executor.status(now))
            # The supervisor has logged a state change itself; disabled or e-stopped, the plan is void.
            if output.state_changed and output.state in (SupervisorState.DISABLED, SupervisorState.ESTOPPED):
                self.chunk_executor.reset()
            faults_changed = output.active_faults != self.active_faults
            if self.trajectory_output and output.command is not None:
                chunks = self.chunk_executor.chunks_accepted
                if (
                    not self._trajectory_running
                    or output.state_changed
                    or faults_changed
                    or chunks != self._trajectory_chunks
                ):
                    # Copied under the lock, forecast outside it: the inference thread may submit meanwhile.
                    forecast = copy_for_forecast(self.supervisor, self.chunk_executor, self._supervisor_log, _silent)
                    self._trajectory_chunks = chunks
        self.active_faults = output.active_faults
        if output.command is not None:
            self.command_rate.tick(now)
        trajectory = None
        if forecast is not None:
            # The tail keeps a trajectory delivered up to max_stamp_skew_s late from having ended on arrival.
            trajectory = forecast_supervisor(
                *forecast, now, output.command, 1.0 / self.command_rate_hz, self.config.max_stamp_skew_s
            )
            self._trajectory_running = True
        elif self.trajectory_output and output.command is None and self._trajectory_running:
            # Nothing commanded any more (disabled, e-stopped): the running trajectory must not go on.
            trajectory = TrajectoryPoints.stop_at(now, self.action_joints)
            self._trajectory_running = False
        if trajectory is not None:
            self.trajectories_sent += 1
        # A new fault while already holding changes no state, but is news too.
        return CommandTick(output.command, output.state_changed or faults_changed, trajectory)

    # -- requests (services, the action) -------------------------------------------------------
    def enable(self, now: float, reason: str) -> CommandResult:
        with self._control_lock:
            return self.supervisor.enable(now, reason)

    def enable_if_disabled(self, now: float, reason: str) -> None:
        with self._control_lock:
            if self.supervisor.state == SupervisorState.DISABLED:
                self.supervisor.enable(now, reason)

    def disable(self, reason: str) -> CommandResult:
        with self._control_lock:
            result = self.supervisor.disable(reason)
            self.chunk_executor.reset()
        return result

    def estop(self, reason: str) -> CommandResult:
        with self._control_lock:
            result = self.supervisor.estop(reason)
            self.chunk_executor.reset()
        return result

    def reset_estop(self) -> CommandResult:
        with self._control_lock:
            return self.supervisor.reset_estop()

    def end_instruction(self, instruction_id: str) -> None:
        """An action on ``instruction_id`` ended: its goal tokens (held or still arriving) are dropped."""
        with self._lock:
            self._ended_instruction_ids.add(instruction_id)
            if self._goal_meta is not None and self._goal_meta.instruction_id == instruction_id:
                self._goal, self._goal_meta = None, None
            if self._pending_goal is not None and self._pending_goal.instruction_id == instruction_id:
                self._pending_goal = None

    def hold_position(self) -> None:
        """Drop the plan: the supervisor holds until a new chunk arrives."""
        with self._control_lock:
            self.chunk_executor.reset()

    # -- reports -------------------------------------------------------------------------------
    def snapshot(self, now: float) -> ControllerSnapshot:
        return ControllerSnapshot(
            state=self.state,
            reason=self.supervisor.reason,
            dry_run=self.config.dry_run,
            active_faults=tuple(self.active_faults),
            chunks_executed=self.chunks_executed,
            command_rate_hz=float(self.command_rate.rate(now)),
        )

    def diagnostics(self, now: float) -> tuple[int, str, dict[str, Any]]:
        """(level 0 OK / 1 WARN / 2 ERROR, message, values) for /diagnostics."""
        latency = self.chunk_latency.summary_ms()
        state = self.state
        level = (
            2
            if state == SupervisorState.ESTOPPED
            else 0
            if state in (SupervisorState.RUNNING, SupervisorState.RAMPING)
            else 1
        )
        return (
            level,
            f"{state.name.lower()}: {self.supervisor.reason}",
            {
                "command_rate_hz": self.command_rate.rate(now),
                "target_command_rate_hz": self.command_rate_hz,
                "chunk_latency_p50_ms": latency.get("p50", float("nan")),
                "chunk_latency_p99_ms": latency.get("p99", float("nan")),
                "chunks": self.chunks_executed,
                "active_faults": ",".join(self.active_faults),
                "limiter_interventions": self.supervisor.limiter.limited_ticks,
                "chunk_rejections": ",".join(
                    f"{k}={v}" for k, v in dict(self.chunk_executor.rejections_by_reason).items()
                ),
                **self.events.snapshot(),
                "backend": self.backend.name,
                "mode": self.config.mode,
                "command_output": self.config.command_output,
                "trajectories_sent": self.trajectories_sent,
                "dry_run": self.config.dry_run,
            },
        )
