"""ChunkExecutor: turns timestamped action chunks into a position command at any time.

The System 1 node calls ``submit(chunk, now)`` from its inference thread when a chunk arrives and
``sample(now)`` from its 120 Hz timer (under one lock; the executor itself is not thread-safe).
Time is always an argument (float seconds on the node's clock), never read here.

Why time-based sampling: a chunk's step i is due at ``start_time + i * step_period`` where
``start_time`` is the observation stamp, so the steps that elapsed during inference (100-300 ms on
a Jetson, Isaac-GR00T #410) are skipped without bookkeeping, and interpolation between the 20 Hz
steps gives the 120 Hz stream. Isaac-GR00T #272 ("returns a few steps back every time a new action
horizon arrives") is exactly what executing a late chunk from its step 0 does.

Chunk switching:
    replace  the new chunk takes over at once; any disagreement between old and new plan is a
             position jump (left to the safety limiter). Use with RTC guidance, which makes the
             new chunk agree with the old one where it matters.
    blend    from the arrival time, cross-fade from the current plan (old chunk, or an unfinished
             blend) to the new chunk over ``blend_duration_s``: output = (1 - w) old + w new, with
             w rising 0 -> 1. Continuous in position for every weighting; ``cosine`` also starts
             and ends with zero weight slope, so velocity stays continuous as well. It is the
             time-continuous form of weighting "overlapping steps" (LeRobot's aggregate_fn, ACT's
             temporal ensemble) without their jump at the first overlapping step.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .chunk import (
    REJECT_FUTURE,
    REJECT_OUT_OF_ORDER,
    REJECT_STALE,
    Chunk,
    ChunkRejected,
    ChunkTrajectory,
    validate_chunk,
)
from .realtime_chunking import RtcGuidance, build_rtc_guidance

logger = logging.getLogger(__name__)

SWITCH_MODES = ("replace", "blend")
BLEND_WEIGHTINGS = ("linear", "cosine", "exponential")


@dataclass(frozen=True)
class ExecutorConfig:
    """How chunks are executed and switched. ``joint_names`` is the executor's column order.

    Attributes:
        joint_names: the joints every chunk must carry (in any order), from the robot config.
        switch_mode: ``replace`` or ``blend`` (see the module docstring).
        blend_duration_s: cross-fade length in ``blend`` mode. Longer hides more disagreement
            between consecutive chunks but reacts later; 0.1-0.3 s fits 20 Hz chunks of 16 steps.
        blend_weighting: ``cosine`` (C1: no velocity kink), ``linear`` or ``exponential``.
        exponential_rate: steepness k of ``w(s) = (1 - e^{-k s}) / (1 - e^{-k})``, s in [0, 1].
        execution_horizon_steps: execute only the first K steps of each chunk, then hold (0 = all).
        max_blend_depth: cap on nested blends (a chunk arriving during a blend blends against the
            blend, so evaluation cost grows with nesting). Past the cap the running blend is
            resampled every 2 ms into a plain trajectory first: exact at the arrival instant
            (no jump), within interpolation error of that grid afterwards.
        reject_out_of_order: refuse a chunk computed from an older observation than the active
            one (a slow inference overtaken by a faster one must not pull the robot back).
        max_start_ahead_s: refuse a chunk whose start time lies further than this ahead of
            ``now`` (no observation is stamped in the future beyond the clock skew). Without it one
            chunk from a future-stamped observation would become the active chunk and, through
            ``reject_out_of_order``, refuse every correct chunk until a reset.
    """

    joint_names: tuple[str, ...]
    switch_mode: str = "blend"
    blend_duration_s: float = 0.2
    blend_weighting: str = "cosine"
    exponential_rate: float = 5.0
    execution_horizon_steps: int = 0
    max_blend_depth: int = 8
    reject_out_of_order: bool = True
    max_start_ahead_s: float = math.inf

    def __post_init__(self) -> None:
        object.__setattr__(self, "joint_names", tuple(self.joint_names))
        if not self.joint_names:
            raise ValueError("ExecutorConfig.joint_names must not be empty")
        if len(set(self.joint_names)) != len(self.joint_names):
            raise ValueError(f"ExecutorConfig.joint_names has duplicates: {self.joint_names}")
        if self.switch_mode not in SWITCH_MODES:
            raise ValueError(f"switch_mode must be one of {SWITCH_MODES}, got {self.switch_mode!r}")
        if self.blend_weighting not in BLEND_WEIGHTINGS:
            raise ValueError(f"blend_weighting must be one of {BLEND_WEIGHTINGS}, got {self.blend_weighting!r}")
        if not (self.blend_duration_s >= 0.0 and math.isfinite(self.blend_duration_s)):
            raise ValueError(f"blend_duration_s must be finite and >= 0, got {self.blend_duration_s}")
        if self.switch_mode == "blend" and self.blend_duration_s == 0.0:
            raise ValueError("switch_mode 'blend' needs blend_duration_s > 0 (or use 'replace')")
        if not self.exponential_rate > 0.0:
            raise ValueError(f"exponential_rate must be > 0, got {self.exponential_rate}")
        if self.execution_horizon_steps < 0:
            raise ValueError(
                f"execution_horizon_steps must be >= 0 (0 = whole chunk), got {self.execution_horizon_steps}"
            )
        if self.max_blend_depth < 1:
            raise ValueError(f"max_blend_depth must be >= 1, got {self.max_blend_depth}")
        if not self.max_start_ahead_s >= 0.0:
            raise ValueError(f"max_start_ahead_s must be >= 0 (inf = no bound), got {self.max_start_ahead_s}")


def blend_weight_function(weighting: str, exponential_rate: float = 5.0) -> Callable[[float], float]:
    """w(s) for s in [0, 1] with w(0) = 0, w(1) = 1, monotone: the new chunk's share."""
    if weighting == "linear":
        return lambda s: s
    if weighting == "cosine":
        return lambda s: 0.5 - 0.5 * math.cos(math.pi * s)
    if weighting == "exponential":
        norm = -math.expm1(-exponential_rate)
        return lambda s: -math.expm1(-exponential_rate * s) / norm
    raise ValueError(f"unknown blend weighting {weighting!r}; choose one of {BLEND_WEIGHTINGS}")


class _Blend:
    """Cross-fade from ``old`` (a ChunkTrajectory or another _Blend) to ``new`` over a window."""

    __slots__ = ("old", "new", "start_time", "duration", "weight", "_scratch")

    def __init__(
        self,
        old: ChunkTrajectory | _Blend,
        new: ChunkTrajectory,
        start_time: float,
        duration: float,
        weight: Callable[[float], float],
    ) -> None:
        self.old = old
        self.new = new
        self.start_time = start_time
        self.duration = duration
        self.weight = weight
        # Allocated on chunk arrival so that sampling at 120 Hz allocates nothing.
        self._scratch = np.empty(new.num_joints)

    @property
    def end_time(self) -> float:
        return self.start_time + self.duration

    def depth(self) -> int:
        return 1 + (self.old.depth() if isinstance(self.old, _Blend) else 0)

    def sample_into(self, t: float, out: np.ndarray) -> np.ndarray:
        if t >= self.end_time:
            return self.new.sample_into(t, out)
        if t <= self.start_time:
            return self.old.sample_into(t, out)
        w = self.weight((t - self.start_time) / self.duration)
        self.old.sample_into(t, out)
        self.new.sample_into(t, self._scratch)
        # out = (1 - w) old + w new, written as old + w (new - old) to stay in place.
        self._scratch -= out
        self._scratch *= w
        out += self._scratch
        return out


def _finish_elapsed_blends(plan: ChunkTrajectory | _Blend, now: float) -> ChunkTrajectory | _Blend:
    """Drop blends whose window has passed: from then on they equal their new chunk."""
    if isinstance(plan, _Blend):
        if now >= plan.end_time:
            return plan.new
        plan.old = _finish_elapsed_blends(plan.old, now)
    return plan


# Grid on which a too-deeply nested blend is resampled (see ExecutorConfig.max_blend_depth).
_MATERIALISE_PERIOD_S = 0.002


def _materialise(plan: _Blend, now: float, duration: float, joint_names: tuple[str, ...]) -> ChunkTrajectory:
    """``plan`` over [now, now + duration] as a plain piecewise-linear trajectory."""
    steps = math.ceil(duration / _MATERIALISE_PERIOD_S) + 1
    positions = np.empty((steps, len(joint_names)))
    for i in range(steps):
        plan.sample_into(now + i * _MATERIALISE_PERIOD_S, positions[i])
    return ChunkTrajectory(Chunk(now, _MATERIALISE_PERIOD_S, joint_names, positions, -1), positions)


@dataclass(frozen=True)
class ChunkAcceptance:
    """What ``submit`` did with an accepted chunk (for logs and diagnostics)."""

    sequence: int
    latency_s: float  # now - start_time: observation-to-execution delay, as measured
    skipped_steps: int  # steps already due on arrival (elapsed during inference)
    blended: bool  # True if a cross-fade from the previous plan started


@dataclass(frozen=True)
class ExecutorStatus:
    """Executor state at ``now`` for watchdogs and diagnostics.

    ``exhausted`` means ``now`` is past the last executable step of the newest chunk: the command
    is then a hold of that step, and ``time_past_end_s`` says for how long (a watchdog's input).
    """

    has_chunk: bool
    exhausted: bool
    time_past_end_s: float
    time_since_chunk_s: float  # since the newest chunk was accepted; inf if none
    active_sequence: int | None
    active_start_time: float | None
    active_step: float  # fractional step index of the newest chunk at now (0 if none)
    blending: bool
    chunks_accepted: int
    chunks_rejected: int
    materialised_blends: int


class ChunkExecutor:
    """Executes timestamped chunks; see the module docstring for the time conventions.

    Per tick (120 Hz timer): ``command = executor.sample(now)`` (None until a chunk was accepted)
    and ``executor.status(now)`` for the supervisor's watchdog. On chunk arrival:
    ``executor.submit(chunk, now)`` (raises ChunkRejected; the previous plan stays in force).
    Before starting an inference with RTC: ``executor.rtc_guidance(obs_stamp, ...)``.
    """

    def __init__(self, config: ExecutorConfig) -> None:
        self.config = config
        self.joint_names = config.joint_names
        self._weight = blend_weight_function(config.blend_weighting, config.exponential_rate)
        self._plan: ChunkTrajectory | _Blend | None = None
        self._newest: ChunkTrajectory | None = None
        self._newest_accepted_at = -math.inf
        self.chunks_accepted = 0
        self.chunks_rejected = 0
        self.rejections_by_reason: dict[str, int] = {}
        self.materialised_blends = 0

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def reset(self) -> None:
        """Forget every chunk, e.g. on disable, so a later enable never executes an old plan."""
        self._plan = None
        self._newest = None
        self._newest_accepted_at = -math.inf

    def submit(self, chunk: Chunk, now: float) -> ChunkAcceptance:
        """Validate ``chunk`` and make it the active plan from ``now`` on.

        Raises ChunkRejected (and counts it) for malformed chunks (see ``validate_chunk``), for
        stale ones (``now`` past their last executable step: nothing left to execute), for ones
        starting further ahead of ``now`` than ``max_start_ahead_s`` and, if configured, for
        chunks computed from an older observation than the active chunk.
        """
        try:
            positions = validate_chunk(chunk, self.joint_names)
            if chunk.start_time - now > self.config.max_start_ahead_s:
                raise ChunkRejected(
                    REJECT_FUTURE,
                    f"chunk {chunk.sequence} starts at {chunk.start_time:.3f} s, "
                    f"{chunk.start_time - now:.3f} s ahead of now ({now:.3f} s; at most "
                    f"{self.config.max_start_ahead_s:.3f} s allowed): its observation's stamp is implausible",
                )
            trajectory = ChunkTrajectory(chunk, positions, self.config.execution_horizon_steps)
            if now > trajectory.end_time:
                raise ChunkRejected(
                    REJECT_STALE,
                    f"chunk {chunk.sequence} ended at t={trajectory.end_time:.3f} s "
                    f"(start {chunk.start_time:.3f} s + {trajectory.last_index} x {chunk.step_period} s) "
                    f"but now is {now:.3f} s: inference latency {now - chunk.start_time:.3f} s "
                    f"exceeds the executable horizon",
                )
            if (
                self.config.reject_out_of_order
                and self._newest is not None
                and chunk.start_time < self._newest.start_time
            ):
                raise ChunkRejected(
                    REJECT_OUT_OF_ORDER,
                    f"chunk {chunk.sequence} starts at {chunk.start_time:.3f} s, before the active "
                    f"chunk {self._newest.chunk.sequence} ({self._newest.start_time:.3f} s)",
                )
        except ChunkRejected as exc:
            self.chunks_rejected += 1
            self.rejections_by_reason[exc.reason] = self.rejections_by_reason.get(exc.reason, 0) + 1
            raise

        blended = False
        if self._plan is None or self.config.switch_mode == "replace":
            self._plan = trajectory
        else:
            old = _finish_elapsed_blends(self._plan, now)
            if isinstance(old, _Blend) and old.depth() >= self.config.max_blend_depth:
                old = _materialise(old, now, self.config.blend_duration_s, self.joint_names)
                self.materialised_blends += 1
            self._plan = _Blend(old, trajectory, now, self.config.blend_duration_s, self._weight)
            blended = True
        self._newest = trajectory
        self._newest_accepted_at = now
        self.chunks_accepted += 1
        skipped = max(0, min(chunk.horizon, math.ceil((now - chunk.start_time) / chunk.step_period - 1e-9)))
        return ChunkAcceptance(
            sequence=chunk.sequence,
            latency_s=now - chunk.start_time,
            skipped_steps=skipped,
            blended=blended,
        )

    def sample(self, now: float, out: np.ndarray | None = None) -> np.ndarray | None:
        """The (N,) command at ``now`` (radians, executor joint order); None before any chunk.

        Pass a preallocated ``out`` to avoid allocation on the 120 Hz path. Past the end of the
        newest chunk's executable horizon this holds its last executable step.
        """
        if self._plan is None:
            return None
        self._plan = _finish_elapsed_blends(self._plan, now)
        if out is None:
            out = np.empty(self.num_joints)
        return self._plan.sample_into(now, out)

    def planned_positions(self, times: Sequence[float] | np.ndarray) -> np.ndarray | None:
        """(T, N) commands the current plan gives at ``times`` (no state change); None if no plan."""
        if self._plan is None:
            return None
        result = np.empty((len(times), self.num_joints))
        for row, t in zip(result, times):
            self._plan.sample_into(float(t), row)
        return result

    def status(self, now: float) -> ExecutorStatus:
        newest = self._newest
        if newest is None:
            return ExecutorStatus(
                has_chunk=False,
                exhausted=False,
                time_past_end_s=0.0,
                time_since_chunk_s=math.inf,
                active_sequence=None,
                active_start_time=None,
                active_step=0.0,
                blending=False,
                chunks_accepted=self.chunks_accepted,
                chunks_rejected=self.chunks_rejected,
                materialised_blends=self.materialised_blends,
            )
        past_end = now - newest.end_time
        return ExecutorStatus(
            has_chunk=True,
            exhausted=past_end >= 0.0,
            time_past_end_s=max(0.0, past_end),
            time_since_chunk_s=now - self._newest_accepted_at,
            active_sequence=newest.chunk.sequence,
            active_start_time=newest.start_time,
            active_step=max(0.0, (now - newest.start_time) / newest.step_period),
            blending=isinstance(self._plan, _Blend) and now < self._plan.end_time,
            chunks_accepted=self.chunks_accepted,
            chunks_rejected=self.chunks_rejected,
            materialised_blends=self.materialised_blends,
        )

    def rtc_guidance(
        self,
        new_start_time: float,
        new_step_period: float,
        new_horizon: int,
        inference_delay_s: float,
        schedule: str = "exponential",
    ) -> RtcGuidance | None:
        """RTC prefix and weights for the chunk about to be sampled; None if there is no plan.

        Call it when inference starts, with ``new_start_time`` = the stamp of the observation fed
        to the model and ``inference_delay_s`` = expected observation-to-arrival time (e.g. from
        ``InferenceDelayEstimator``). The prefix is the executor's own plan (including a running
        blend) on the new grid, so the guided chunk continues exactly what will be commanded.
        """
        if self._plan is None or self._newest is None:
            return None
        return build_rtc_guidance(
            self._plan.sample_into,
            self._newest.end_time,
            self.joint_names,
            new_start_time,
            new_step_period,
            new_horizon,
            inference_delay_s,
            schedule,
        )
