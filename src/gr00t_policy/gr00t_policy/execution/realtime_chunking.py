"""Real-time chunking (RTC) guidance targets for the flow-matching sampler.

Black, Galliker, Levine, "Real-Time Execution of Action Chunking Flow Policies" (2025): while a new
chunk is being sampled, the robot keeps executing the previous one. The first ``d`` steps of the new
chunk are due before it can arrive, so they will never be executed as predicted; the steps after
them should continue what the robot is actually doing. RTC therefore *inpaints*: at every
denoising step the sampler's velocity is guided toward a prefix target ``Y`` (the previous plan,
re-sampled onto the new chunk's time grid) with a per-step soft mask ``W`` (paper eq. 5):

    W_i = 1                                   i < d          (frozen: executes during inference)
    W_i = c_i (e^{c_i} - 1) / (e - 1)         d <= i < E     (decays toward 0)
    W_i = 0                                   i >= E         (beyond the previous plan)
    c_i = (E - i) / (E - d + 1)

The paper writes ``E = H - s`` for a previous chunk that started ``s`` steps earlier on the same
grid; here ``E`` is derived from timestamps instead (the number of new-grid steps the previous
plan still covers), which also handles different step periods and latency jitter.

This module only builds ``Y`` and ``W`` (numpy, radians, executor joint order). Applying them is
the sampler's job (paper Algorithm 1, ΠGDM guidance with the weight clipped at β, 5 in the paper):
it must map the joints into its action layout and normalise ``Y`` exactly as it normalises
actions, and use ``W`` per step (the same weight for every action dimension of that step).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .chunk import Chunk, ChunkTrajectory, validate_chunk

GUIDANCE_SCHEDULES = ("exponential", "linear", "hard")

# Tolerance (in steps) so that a step due exactly at a boundary time is classified stably.
_STEP_EPS = 1e-9


@dataclass(frozen=True, eq=False)
class RtcGuidance:
    """Inpainting target for the next chunk, on that chunk's own time grid.

    Attributes:
        start_time: stamp of the observation the new chunk is computed from (its step 0 time).
        step_period: new chunk's step period (s); step i is due at start_time + i * step_period.
        joint_names: column order of ``prefix_positions`` (the executor's joint order).
        prefix_positions: (H, N) radians: what the executor will command at each new step time
            if nothing changes (the previous plan, including an active blend; past its end the
            executor holds its last step, and so does the prefix).
        guidance_weights: (H,) in [0, 1]: 1 for frozen steps, decaying, 0 where there is no plan.
        frozen_steps: d, the steps due before the chunk is expected to arrive.
        overlap_steps: E, the new-grid steps covered by the previous plan (>= d).
    """

    start_time: float
    step_period: float
    joint_names: tuple[str, ...]
    prefix_positions: np.ndarray
    guidance_weights: np.ndarray
    frozen_steps: int
    overlap_steps: int

    @property
    def horizon(self) -> int:
        return int(self.guidance_weights.shape[0])


def rtc_guidance_weights(
    horizon: int, frozen_steps: int, overlap_steps: int, schedule: str = "exponential"
) -> np.ndarray:
    """The (horizon,) soft mask W of paper eq. 5 (``schedule='exponential'``).

    ``linear`` uses ``c_i`` itself; ``hard`` freezes the first ``frozen_steps`` only (weight 0
    elsewhere), the "naive inpainting" baseline of the paper. ``frozen_steps`` and
    ``overlap_steps`` are clipped to [0, horizon], and ``overlap_steps`` to at least ``frozen_steps``.
    """
    if schedule not in GUIDANCE_SCHEDULES:
        raise ValueError(f"unknown RTC guidance schedule {schedule!r}; choose one of {GUIDANCE_SCHEDULES}")
    if horizon <= 0:
        raise ValueError(f"horizon must be > 0, got {horizon}")
    d = min(max(int(frozen_steps), 0), horizon)
    e = min(max(int(overlap_steps), d), horizon)
    weights = np.zeros(horizon)
    weights[:d] = 1.0
    if schedule != "hard" and e > d:
        i = np.arange(d, e, dtype=np.float64)
        c = (e - i) / (e - d + 1)
        weights[d:e] = c * np.expm1(c) / math.expm1(1.0) if schedule == "exponential" else c
    return weights


def build_rtc_guidance(
    sample_into: Callable[[float, np.ndarray], np.ndarray],
    plan_end_time: float,
    joint_names: Sequence[str],
    new_start_time: float,
    new_step_period: float,
    new_horizon: int,
    inference_delay_s: float,
    schedule: str = "exponential",
) -> RtcGuidance:
    """RTC guidance from any plan given as ``sample_into(t, out) -> out`` (N,) positions.

    Args:
        sample_into: the executor's planned command at time t (holds past ``plan_end_time``).
        plan_end_time: time of the plan's last executable step; steps after it get weight 0.
        new_start_time: stamp of the observation the new chunk is computed from (s).
        new_step_period / new_horizon: the new chunk's grid (s, steps).
        inference_delay_s: expected time from ``new_start_time`` until the new chunk reaches the
            executor (inference + transport). Over-estimate rather than under-estimate it: a
            too-short delay leaves executed steps unfrozen, the jump LeRobot PR #4223 reports.
    """
    if not (new_step_period > 0.0 and math.isfinite(new_step_period)):
        raise ValueError(f"new_step_period must be a positive finite number, got {new_step_period}")
    if new_horizon <= 0:
        raise ValueError(f"new_horizon must be > 0, got {new_horizon}")
    if not (inference_delay_s >= 0.0 and math.isfinite(inference_delay_s)):
        raise ValueError(f"inference_delay_s must be finite and >= 0, got {inference_delay_s}")
    # Steps with t_i < new_start_time + delay are due before arrival: i < delay / period.
    frozen = math.ceil(inference_delay_s / new_step_period - _STEP_EPS)
    covered = math.floor((plan_end_time - new_start_time) / new_step_period + _STEP_EPS) + 1
    frozen = min(max(frozen, 0), new_horizon)
    overlap = min(max(covered, frozen), new_horizon)
    prefix = np.empty((new_horizon, len(joint_names)))
    for i in range(new_horizon):
        sample_into(new_start_time + i * new_step_period, prefix[i])
    return RtcGuidance(
        start_time=float(new_start_time),
        step_period=float(new_step_period),
        joint_names=tuple(joint_names),
        prefix_positions=prefix,
        guidance_weights=rtc_guidance_weights(new_horizon, frozen, overlap, schedule),
        frozen_steps=frozen,
        overlap_steps=overlap,
    )


def rtc_guidance_for_chunk(
    previous: Chunk,
    joint_names: Sequence[str],
    new_start_time: float,
    new_step_period: float,
    new_horizon: int,
    inference_delay_s: float,
    *,
    execution_horizon_steps: int = 0,
    schedule: str = "exponential",
) -> RtcGuidance:
    """RTC guidance from a single previous chunk (no blending): for samplers and offline tools.

    Inside the running system prefer ``ChunkExecutor.rtc_guidance``, which uses exactly what the
    executor will command (including an unfinished blend). Raises ChunkRejected if ``previous``
    is malformed or its joints differ from ``joint_names``.
    """
    trajectory = ChunkTrajectory(previous, validate_chunk(previous, joint_names), execution_horizon_steps)
    return build_rtc_guidance(
        trajectory.sample_into,
        trajectory.end_time,
        joint_names,
        new_start_time,
        new_step_period,
        new_horizon,
        inference_delay_s,
        schedule,
    )
