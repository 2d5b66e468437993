"""SafetySupervisor: the state machine between the policy and the controller (issue 4).

    DISABLED --enable()--> RAMPING --ramp done--> RUNNING
                              ^  |                   |
              faults clear    |  | fault             | fault (watchdog, bad input)
              (resume_after_s)|  v                   v
                            HOLDING <----------------+
                               | held > disable_after_s
                               v
                            DISABLED            any state --estop()--> ESTOPPED --reset_estop()--> DISABLED

* RAMPING first holds the measured pose ("waiting for policy command"); once a valid policy
  command exists and no fault is active it blends from the current command to the policy with a
  cosine profile over ``ramp_duration_s`` (longer if a joint is far away), so enabling never jumps.
  Resuming from HOLDING goes through the same ramp, starting from the held command.
* HOLDING commands the pose held at fault onset, not the measured pose each tick (re-commanding
  the measured pose lets an arm sag under gravity step by step).
* Every command passes the JointLimiter last, so the stream stays within position, velocity and
  acceleration limits in every state, transitions included.
* Controller restart: when joint states come back after being stale (a restarted driver or
  controller goes quiet first) and the measured pose is further than
  ``restart_position_threshold_rad`` from the last command, the controller restarted at a
  different pose: commanding the old pose would make it jump. The limiter is re-based on the
  measured pose and the stream re-ramps from there. After DISABLED / ESTOPPED the stream always
  restarts from the measured pose.
* Tracking error: the same gap *without* a joint-state outage means the robot is not following
  (a stalled simulator, a saturated or blocked joint), not a restart. Re-basing there would make
  the command stream itself jump by the gap; instead, once the gap has lasted
  ``tracking_error_timeout_s`` (a controller lagging through a short stall catches up sooner), the
  supervisor holds (fault ``tracking_error``) the pose measured at that moment: the limiter walks
  the command there within the velocity and acceleration limits (a blocked arm stops pressing),
  and the stream resumes through the ramp once the gap is within half the threshold.
* ESTOPPED sends nothing and latches; only ``reset_estop()`` leaves it, into DISABLED, so motion
  needs a deliberate ``enable()`` afterwards.

State values equal ``gr00t_interfaces/msg/ControllerStatus.msg`` STATE_* constants. Pure: time is
an argument, nothing here touches ROS; the node calls ``on_*`` from its callbacks and ``tick``
from its 120 Hz timer (under one lock). State changes are reported through the ``log`` callback
the node passes (its ROS logger, so they appear with the node's other lines), or through Python's
``logging`` without one. Reasons that callers hand in are cut to ``MAX_REASON_CHARS``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np

from ..execution.chunk_executor import ExecutorStatus
from .input_checks import truncate_text
from .limits import JointLimiter

logger = logging.getLogger(__name__)


class SupervisorState(IntEnum):
    """Same values as ControllerStatus.STATE_* (gr00t_interfaces/msg/ControllerStatus.msg)."""

    DISABLED = 0
    RAMPING = 1
    RUNNING = 2
    HOLDING = 3
    ESTOPPED = 4


# Fault names, as published in ControllerStatus.active_faults.
FAULT_STALE_JOINT_STATES = "stale_joint_states"
FAULT_INVALID_JOINT_STATES = "invalid_joint_states"
FAULT_STALE_GOAL_TOKENS = "stale_goal_tokens"
FAULT_STALE_CHUNK = "stale_chunk"
FAULT_EXECUTOR_EXHAUSTED = "executor_exhausted"
FAULT_INFERENCE_OVERRUN = "inference_overrun"
FAULT_NO_POLICY_COMMAND = "no_policy_command"
FAULT_INVALID_POLICY_COMMAND = "invalid_policy_command"
FAULT_TRACKING_ERROR = "tracking_error"

_JOINT_STATE_FAULTS = (FAULT_STALE_JOINT_STATES, FAULT_INVALID_JOINT_STATES)


@dataclass(frozen=True)
class SupervisorConfig:
    """Timeouts in seconds; a timeout of 0 disables that watchdog. No defaults: a node fills every
    field from its parameters (the stack YAML), so a deployment's values live in one place.

    Attributes:
        ramp_duration_s: minimum blend time from the current pose to the policy (start-up, resume).
        ramp_max_velocity_rad_s: the ramp is lengthened so that the joint furthest from the
            policy moves no faster than this on average (0 = fixed duration).
        joint_state_timeout_s: no joint state for this long -> hold at once (we are blind).
        goal_timeout_s: no goal tokens for this long -> hold (System 2 dead or slow).
        chunk_timeout_s: no chunk accepted for this long -> hold (System 1 inference stuck).
        exhausted_timeout_s: executor past the last step of its newest chunk for this long -> hold.
        inference_timeout_s: one inference running longer than this -> hold (overrun).
        disable_after_s: in HOLDING for this long -> DISABLED (needs an explicit enable).
        resume_after_s: faults must stay clear this long before resuming (no flapping).
        restart_position_threshold_rad: measured pose this far (any joint) from the last
            command: after a joint-state outage -> controller restart assumed, re-ramp from the
            measured pose; otherwise -> ``tracking_error`` hold. Set it above the tracking lag of
            the controller at full speed. 0 disables both checks.
        tracking_error_timeout_s: how long the gap (without an outage) must last before the
            ``tracking_error`` hold.
        dry_run: compute everything, send nothing (``TickOutput.command`` is None).
    """

    ramp_duration_s: float
    ramp_max_velocity_rad_s: float
    joint_state_timeout_s: float
    goal_timeout_s: float
    chunk_timeout_s: float
    exhausted_timeout_s: float
    inference_timeout_s: float
    disable_after_s: float
    resume_after_s: float
    restart_position_threshold_rad: float
    tracking_error_timeout_s: float
    dry_run: bool

    def __post_init__(self) -> None:
        for name in (
            "ramp_duration_s",
            "ramp_max_velocity_rad_s",
            "joint_state_timeout_s",
            "goal_timeout_s",
            "chunk_timeout_s",
            "exhausted_timeout_s",
            "inference_timeout_s",
            "disable_after_s",
            "resume_after_s",
            "restart_position_threshold_rad",
            "tracking_error_timeout_s",
        ):
            value = getattr(self, name)
            if not (value >= 0.0 and math.isfinite(value)):
                raise ValueError(f"SupervisorConfig.{name} must be finite and >= 0, got {value}")
        if self.joint_state_timeout_s == 0.0:
            raise ValueError("joint_state_timeout_s must be > 0: commanding blind is never allowed")


@dataclass(frozen=True, eq=False)
class TickOutput:
    """Result of one tick.

    Attributes:
        command: (N,) radians to send now, or None = send nothing (disabled, e-stopped, dry run,
            or no pose known yet to hold).
        computed_command: what would be sent, also in dry run (None when nothing is computed).
        state / reason: for ControllerStatus (reason empty while running normally).
        active_faults: fault names active this tick (reported in every state).
        ramp_progress: 0..1 blend ratio of the current ramp (1 while running).
        limited: the limiter changed the command this tick (diagnostics / interventions).
        state_changed: the state differs from the previous tick (publish status now).
    """

    command: np.ndarray | None
    computed_command: np.ndarray | None
    state: SupervisorState
    reason: str
    active_faults: tuple[str, ...]
    ramp_progress: float
    limited: bool
    state_changed: bool


@dataclass(frozen=True)
class CommandResult:
    """Answer to enable / disable / estop / reset_estop (maps onto SetEnabled / Trigger)."""

    success: bool
    message: str
    state: SupervisorState


class SafetySupervisor:
    """See the module docstring. Joint order is the limiter's (``limiter.joint_names``)."""

    def __init__(
        self,
        config: SupervisorConfig,
        limiter: JointLimiter,
        log: Callable[[int, str], None] | None = None,
    ) -> None:
        """``log(level, message)`` receives the state changes (``logging`` levels); default: ``logging``."""
        self.config = config
        self._log = log or (lambda level, message: logger.log(level, "%s", message))
        self.limiter = limiter
        self.joint_names = limiter.joint_names
        n = limiter.num_joints
        self._state = SupervisorState.DISABLED
        self._reason = "disabled at start-up"
        self._previous_tick_state = self._state
        self._joint_state_time = -math.inf
        self._goal_time = -math.inf
        self._inference_started_at: float | None = None
        self._rebase_pending = True  # re-base the limiter on the next valid measured pose
        self._joint_state_outage = False  # joint states were stale/invalid while enabled
        self._tracking_error = ""  # why the robot is considered not following ('' = it is)
        self._tracking_gap_since: float | None = None
        self._hold_pose = np.zeros(n)
        # The last command is a pose we may hold only while we have been commanding it: after
        # DISABLED / ESTOPPED the robot may have been moved, so nothing is held until re-based.
        self._command_trusted = False
        self._holding_since = -math.inf
        self._faults_clear_since: float | None = None
        self._ramp_start_pose = np.zeros(n)
        self._ramp_started_at: float | None = None  # None while waiting for a policy command
        self._ramp_duration = config.ramp_duration_s
        self._ramp_cause = ""
        self._command = np.zeros(n)
        self.holds = 0
        self.restarts_detected = 0
        self.tracking_errors = 0
        self.estops = 0

    # ----------------------------------------------------------------- state and services
    @property
    def state(self) -> SupervisorState:
        return self._state

    @property
    def reason(self) -> str:
        return self._reason

    @property
    def enabled(self) -> bool:
        return self._state in (SupervisorState.RAMPING, SupervisorState.RUNNING, SupervisorState.HOLDING)

    def enable(self, now: float, reason: str = "") -> CommandResult:
        if self._state == SupervisorState.ESTOPPED:
            return CommandResult(False, f"e-stop latched ({self._reason}); call reset_estop first", self._state)
        if self.enabled:
            return CommandResult(True, "already enabled", self._state)
        self._rebase_pending = True
        reason = truncate_text(reason)
        self._start_waiting(now, f"enabled{' (' + reason + ')' if reason else ''}")
        return CommandResult(True, "enabled: holding the measured pose, then ramping to the policy", self._state)

    def disable(self, reason: str = "disabled on request") -> CommandResult:
        if self._state == SupervisorState.ESTOPPED:
            return CommandResult(False, "e-stop latched; call reset_estop first", self._state)
        reason = truncate_text(reason)
        self._transition(SupervisorState.DISABLED, reason)
        return CommandResult(True, reason, self._state)

    def estop(self, reason: str = "e-stop requested") -> CommandResult:
        reason = truncate_text(reason)
        if self._state != SupervisorState.ESTOPPED:
            self.estops += 1
            self._transition(SupervisorState.ESTOPPED, reason, level=logging.ERROR)
        return CommandResult(True, f"e-stop latched: {reason}", self._state)

    def reset_estop(self) -> CommandResult:
        if self._state != SupervisorState.ESTOPPED:
            return CommandResult(True, "e-stop was not latched", self._state)
        self._transition(SupervisorState.DISABLED, "e-stop reset; enable to resume")
        return CommandResult(True, "e-stop reset; state DISABLED", self._state)

    # ----------------------------------------------------------------- input heartbeats
    def on_joint_state(self, now: float) -> None:
        """A joint-state message arrived (call with the receive time on the node's clock)."""
        self._joint_state_time = now

    def on_goal_tokens(self, now: float) -> None:
        self._goal_time = now

    def on_inference_started(self, now: float) -> None:
        self._inference_started_at = now

    def on_inference_finished(self, now: float) -> None:
        self._inference_started_at = None

    # ----------------------------------------------------------------- the 120 Hz tick
    def tick(
        self,
        now: float,
        measured_positions: np.ndarray | None,
        policy_command: np.ndarray | None,
        executor_status: ExecutorStatus | None = None,
    ) -> TickOutput:
        """Advance the state machine and return the command to send at ``now``.

        Args:
            measured_positions: latest measured pose (N,) in the limiter's joint order, or None
                if none was received yet; its freshness comes from ``on_joint_state``.
            policy_command: the executor's sample at ``now`` (N,), or None if it has no chunk.
            executor_status: ``ChunkExecutor.status(now)`` for the chunk watchdogs (optional).
        """
        measured = None if measured_positions is None else np.asarray(measured_positions, dtype=np.float64)
        policy = None if policy_command is None else np.asarray(policy_command, dtype=np.float64)
        joint_faults = self._joint_state_faults(now, measured)
        policy_faults = self._policy_faults(now, policy, executor_status)
        faults = tuple(joint_faults + policy_faults)

        command: np.ndarray | None = None
        if self._state in (SupervisorState.DISABLED, SupervisorState.ESTOPPED):
            if joint_faults:
                self._rebase_pending = True
        elif joint_faults:
            # Blind: hold at once. When joint states return, a restarted controller shows up as a
            # measured pose away from the held command (restart threshold) and is re-based then;
            # re-basing after every gap would make the command stream jump back by the tracking lag.
            self._joint_state_outage = True
            if self._state != SupervisorState.HOLDING:
                self._enter_holding(now, f"holding: {', '.join(joint_faults)}")
            command = self._hold_or_disable(now, joint_faults)
        else:
            assert measured is not None  # no joint faults implies a valid measured pose
            self._rebase_if_needed(now, measured)
            if self._tracking_error:
                policy_faults = [f"{FAULT_TRACKING_ERROR}: {self._tracking_error}", *policy_faults]
                faults = tuple(joint_faults + policy_faults)
            command = self._enabled_step(now, policy, joint_faults, policy_faults)

        output = None
        limited = False
        if command is not None:
            output = self.limiter.limit(command, now, out=self._command).copy()
            limited = self.limiter.last_any_clamped
        changed = self._state != self._previous_tick_state
        self._previous_tick_state = self._state
        return TickOutput(
            command=None if self.config.dry_run else output,
            computed_command=output,
            state=self._state,
            reason="" if self._state == SupervisorState.RUNNING else self._reason,
            active_faults=faults,
            ramp_progress=self._ramp_progress(now),
            limited=limited,
            state_changed=changed,
        )

    # ----------------------------------------------------------------- internals
    def _joint_state_faults(self, now: float, measured: np.ndarray | None) -> list[str]:
        if measured is None or now - self._joint_state_time > self.config.joint_state_timeout_s:
            return [FAULT_STALE_JOINT_STATES]
        if measured.shape != (self.limiter.num_joints,) or not np.isfinite(measured).all():
            return [FAULT_INVALID_JOINT_STATES]
        return []

    def _policy_faults(self, now: float, policy: np.ndarray | None, status: ExecutorStatus | None) -> list[str]:
        cfg = self.config
        faults: list[str] = []
        if cfg.goal_timeout_s > 0.0 and now - self._goal_time > cfg.goal_timeout_s:
            faults.append(FAULT_STALE_GOAL_TOKENS)
        if status is not None and status.has_chunk:
            if cfg.chunk_timeout_s > 0.0 and status.time_since_chunk_s > cfg.chunk_timeout_s:
                faults.append(FAULT_STALE_CHUNK)
            if cfg.exhausted_timeout_s > 0.0 and status.exhausted and status.time_past_end_s > cfg.exhausted_timeout_s:
                faults.append(FAULT_EXECUTOR_EXHAUSTED)
        if (
            cfg.inference_timeout_s > 0.0
            and self._inference_started_at is not None
            and now - self._inference_started_at > cfg.inference_timeout_s
        ):
            faults.append(FAULT_INFERENCE_OVERRUN)
        if policy is None:
            faults.append(FAULT_NO_POLICY_COMMAND)
        elif policy.shape != (self.limiter.num_joints,) or not np.isfinite(policy).all():
            faults.append(FAULT_INVALID_POLICY_COMMAND)
        return faults

    def _rebase_if_needed(self, now: float, measured: np.ndarray) -> None:
        outage, self._joint_state_outage = self._joint_state_outage, False
        reason = ""
        if self._rebase_pending or not self.limiter.initialised:
            reason = "joint states (re)appeared"
        elif not self.config.dry_run and self.config.restart_position_threshold_rad > 0.0:
            threshold = self.config.restart_position_threshold_rad
            deviation = np.abs(measured - self.limiter.last_command)
            worst = int(np.argmax(deviation))
            gap = f"{self.joint_names[worst]!r} measured {deviation[worst]:.3f} rad from the last command"
            if outage and deviation[worst] > threshold:
                self.restarts_detected += 1
                self._tracking_error = ""
                reason = f"controller restart suspected after a joint-state outage: {gap}"
            elif deviation[worst] > threshold:
                if self._tracking_gap_since is None:
                    self._tracking_gap_since = now
                if self._tracking_error or now - self._tracking_gap_since >= self.config.tracking_error_timeout_s:
                    if not self._tracking_error:
                        self.tracking_errors += 1
                        self._hold_pose[:] = measured  # reached through the limiter, never jumped to
                        self._command_trusted = True
                    self._tracking_error = gap
            elif deviation[worst] <= 0.5 * threshold:  # hysteresis: no flapping at the threshold
                self._tracking_error = ""
                self._tracking_gap_since = None
            elif not self._tracking_error:
                self._tracking_gap_since = None
        if not reason:
            return
        self._rebase_pending = False
        self._tracking_error = ""
        self._tracking_gap_since = None
        self.limiter.reset(measured, now)
        self._hold_pose[:] = measured
        self._command_trusted = True
        if self._state in (SupervisorState.RAMPING, SupervisorState.RUNNING):
            self._start_waiting(now, f"re-ramping from the measured pose: {reason}")
        else:
            self._log(logging.INFO, f"re-based on the measured pose while {self._state.name}: {reason}")

    def _enabled_step(
        self, now: float, policy: np.ndarray | None, joint_faults: list[str], policy_faults: list[str]
    ) -> np.ndarray | None:
        cfg = self.config
        if self._state == SupervisorState.HOLDING:
            # No policy command yet is not a reason to stay in HOLDING: the ramp waits for it.
            blocking = [f for f in policy_faults if f != FAULT_NO_POLICY_COMMAND]
            if blocking:
                return self._hold_or_disable(now, blocking)
            if self._faults_clear_since is None:
                self._faults_clear_since = now
            if now - self._faults_clear_since < cfg.resume_after_s:
                return self._hold_command(now)
            self._start_waiting(now, "faults cleared")

        if self._state == SupervisorState.RAMPING and self._ramp_started_at is None:
            if policy_faults:
                return self._hold_command(now)
            self._start_ramp(now, policy)

        if policy_faults:
            self._enter_holding(now, f"holding: {', '.join(policy_faults)}")
            return self._hold_command(now)
        assert policy is not None
        if self._state == SupervisorState.RAMPING:
            progress = self._ramp_progress(now)
            if progress >= 1.0:
                self._transition(SupervisorState.RUNNING, "")
                return policy
            return self._ramp_start_pose + progress * (policy - self._ramp_start_pose)
        return policy

    def _start_waiting(self, now: float, cause: str) -> None:
        """RAMPING, holding the current command until a valid policy command starts the ramp."""
        if self._command_trusted:
            self._hold_pose[:] = self.limiter.last_command
        self._ramp_started_at = None
        self._ramp_cause = cause
        self._faults_clear_since = None
        self._transition(SupervisorState.RAMPING, f"{cause}; waiting for policy command")

    def _start_ramp(self, now: float, policy: np.ndarray) -> None:
        self._ramp_start_pose[:] = self.limiter.last_command
        duration = self.config.ramp_duration_s
        if self.config.ramp_max_velocity_rad_s > 0.0:
            # Measured to the reachable target: a wild policy value beyond the position limits
            # must not stretch the ramp (the limiter clamps it anyway).
            limits = self.limiter.limits
            reachable = np.clip(policy, limits.lower, limits.upper)
            distance = float(np.max(np.abs(reachable - self._ramp_start_pose)))
            duration = max(duration, distance / self.config.ramp_max_velocity_rad_s)
        self._ramp_duration = duration
        self._ramp_started_at = now
        self._reason = f"{self._ramp_cause}; ramping to the policy over {duration:.2f} s"
        self._log(logging.INFO, self._reason)

    def _ramp_progress(self, now: float) -> float:
        if self._state == SupervisorState.RUNNING:
            return 1.0
        if self._state != SupervisorState.RAMPING or self._ramp_started_at is None:
            return 0.0
        if self._ramp_duration <= 0.0:
            return 1.0
        s = min(max((now - self._ramp_started_at) / self._ramp_duration, 0.0), 1.0)
        # Cosine profile: zero blend velocity at both ends, so the ramp adds no velocity step.
        return 0.5 - 0.5 * math.cos(math.pi * s)

    def _enter_holding(self, now: float, reason: str) -> None:
        if self._command_trusted and not self._tracking_error:  # a tracking error holds its own pose
            self._hold_pose[:] = self.limiter.last_command
        self._holding_since = now
        self._faults_clear_since = None
        self.holds += 1
        self._transition(SupervisorState.HOLDING, reason, level=logging.WARNING)

    def _hold_command(self, now: float) -> np.ndarray | None:
        return self._hold_pose if self._command_trusted else None

    def _hold_or_disable(self, now: float, faults: list[str]) -> np.ndarray | None:
        """In HOLDING with faults still active: hold, or give up after ``disable_after_s``."""
        self._faults_clear_since = None
        held_for = now - self._holding_since
        if self.config.disable_after_s > 0.0 and held_for > self.config.disable_after_s:
            self._transition(
                SupervisorState.DISABLED,
                f"disabled after holding {held_for:.1f} s: {', '.join(faults)}",
                level=logging.WARNING,
            )
            return None
        return self._hold_command(now)

    def _transition(self, state: SupervisorState, reason: str, level: int = logging.INFO) -> None:
        if state != self._state or reason != self._reason:
            self._log(level, f"{self._state.name} -> {state.name}: {reason or 'running'}")
        if state in (SupervisorState.DISABLED, SupervisorState.ESTOPPED):
            self._rebase_pending = True
            self._command_trusted = False
            self._ramp_started_at = None
        self._state = state
        self._reason = reason

    def diagnostics(self) -> Mapping[str, Any]:
        return {
            "state": self._state.name,
            "reason": self._reason,
            "dry_run": self.config.dry_run,
            "holds": self.holds,
            "restarts_detected": self.restarts_detected,
            "tracking_errors": self.tracking_errors,
            "estops": self.estops,
            "limiter": self.limiter.diagnostics(),
        }
