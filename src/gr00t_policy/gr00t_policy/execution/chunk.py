"""Timestamped action chunks: the data type, its validation and its interpolation in time.

Time convention (shared with ``gr00t_interfaces/msg/ActionChunk.msg``): step ``i`` of a chunk is
due at ``start_time + i * step_period`` (seconds, the clock of the node that executes it), where
``start_time`` is the stamp of the observation the chunk was computed from. A chunk therefore
arrives "late" by its inference latency, and sampling it by time skips the steps that elapsed
during inference without any bookkeeping. Pure numpy: no ROS, no clock reads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Reason codes of ChunkRejected: short, stable strings for diagnostics and counters.
REJECT_SHAPE = "shape"
REJECT_EMPTY = "empty"
REJECT_JOINT_NAMES = "joint_names"
REJECT_NON_FINITE = "non_finite"
REJECT_TIMING = "timing"
REJECT_STALE = "stale"
REJECT_OUT_OF_ORDER = "out_of_order"
REJECT_FUTURE = "future"

# Step times closer than this fraction of a step to a grid point count as on the grid, so that
# `sample(start_time + i * step_period)` returns row i bit-exactly despite float rounding.
_GRID_SNAP_STEPS = 1e-9


class ChunkRejected(ValueError):
    """A chunk cannot be executed. ``reason`` is one of the ``REJECT_*`` codes.

    The node logs ``str(exc)`` (throttled), counts ``exc.reason`` and keeps executing / holding
    whatever it had before: a rejected chunk never changes the command stream.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"chunk rejected ({reason}): {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, eq=False)
class Chunk:
    """One predicted chunk of absolute joint-position targets.

    Attributes:
        start_time: time (s) step 0 is due: the stamp of the observation it was computed from.
        step_period: seconds between steps (> 0); GR00T N1 on GR-1 uses 0.05 (20 Hz data).
        joint_names: N names giving the column order of ``positions``; mapped by name.
        positions: (H, N) radians.
        sequence: producer's running number, for logs and traceability.
        meta: free-form extras (goal sequence, model id, inference latency, ...); not interpreted.
    """

    start_time: float
    step_period: float
    joint_names: tuple[str, ...]
    positions: np.ndarray
    sequence: int = 0
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def horizon(self) -> int:
        return int(np.shape(self.positions)[0]) if np.ndim(self.positions) >= 1 else 0

    def step_time(self, index: int) -> float:
        return self.start_time + index * self.step_period


def validate_chunk(chunk: Chunk, joint_names: Sequence[str]) -> np.ndarray:
    """Check ``chunk`` and return its positions as float64 (H, N) in the order of ``joint_names``.

    Raises ChunkRejected for a malformed array, an empty horizon, joint names that are not exactly
    ``joint_names`` (in any order: columns are mapped by name, never by position), non-finite
    values, or a non-finite start time / non-positive step period (step times must increase).
    """
    names = tuple(chunk.joint_names)
    try:
        positions = np.asarray(chunk.positions, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ChunkRejected(REJECT_SHAPE, f"positions are not numeric: {exc}") from exc
    if positions.ndim != 2:
        raise ChunkRejected(REJECT_SHAPE, f"positions must be (horizon, joints), got shape {positions.shape}")
    if positions.shape[0] == 0:
        raise ChunkRejected(REJECT_EMPTY, "horizon is 0 (no steps)")
    if positions.shape[1] != len(names):
        raise ChunkRejected(
            REJECT_SHAPE,
            f"positions have {positions.shape[1]} columns but {len(names)} joint names are given",
        )
    if len(set(names)) != len(names):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        raise ChunkRejected(REJECT_JOINT_NAMES, f"duplicate joint names {duplicates}")
    expected = set(joint_names)
    if set(names) != expected:
        missing = [n for n in joint_names if n not in names]
        unknown = [n for n in names if n not in expected]
        raise ChunkRejected(
            REJECT_JOINT_NAMES,
            f"joint names differ from the executor's joint set: missing {missing}, "
            f"unknown {unknown} (the executor's joints come from the robot config)",
        )
    if not (math.isfinite(chunk.start_time) and math.isfinite(chunk.step_period)):
        raise ChunkRejected(
            REJECT_TIMING,
            f"start_time {chunk.start_time!r} and step_period {chunk.step_period!r} must be finite",
        )
    if chunk.step_period <= 0.0:
        raise ChunkRejected(REJECT_TIMING, f"step_period must be > 0 (increasing step times), got {chunk.step_period}")
    if not np.isfinite(positions).all():
        bad_rows, bad_cols = np.nonzero(~np.isfinite(positions))
        raise ChunkRejected(
            REJECT_NON_FINITE,
            f"{bad_rows.size} non-finite values, first at step {int(bad_rows[0])} joint {names[int(bad_cols[0])]!r}",
        )
    if names != tuple(joint_names):
        column_of = {name: i for i, name in enumerate(names)}
        positions = positions[:, [column_of[n] for n in joint_names]]
    # Always a private copy: the executor keeps it read-only and must not freeze the caller's array.
    return np.array(positions, dtype=np.float64, order="C", copy=True)


class ChunkTrajectory:
    """A validated chunk as a function of time: piecewise linear through its steps.

    Before step 0 it holds step 0; after the last *executable* step it holds that step. The
    executable part is the first ``execution_horizon_steps`` steps (0 = all), so a chunk can be
    cut short the way openpi / Fourier's teleop execute 25 of 50 or 15 of 16 steps.
    """

    __slots__ = ("chunk", "positions", "start_time", "step_period", "last_index", "end_time")

    def __init__(self, chunk: Chunk, positions: np.ndarray, execution_horizon_steps: int = 0) -> None:
        self.chunk = chunk
        self.positions = positions
        self.positions.setflags(write=False)
        self.start_time = float(chunk.start_time)
        self.step_period = float(chunk.step_period)
        executable = positions.shape[0]
        if execution_horizon_steps > 0:
            executable = min(executable, execution_horizon_steps)
        self.last_index = executable - 1
        # Time of the last executable step: past it the trajectory holds (is "exhausted").
        self.end_time = self.start_time + self.last_index * self.step_period

    @property
    def num_joints(self) -> int:
        return int(self.positions.shape[1])

    def step_position(self, t: float) -> float:
        """Fractional step index at time t, clamped to [0, last_index], snapped onto the grid."""
        s = (t - self.start_time) / self.step_period
        if s <= 0.0:
            return 0.0
        if s >= self.last_index:
            return float(self.last_index)
        nearest = round(s)
        if abs(s - nearest) < _GRID_SNAP_STEPS:
            return float(nearest)
        return s

    def sample_into(self, t: float, out: np.ndarray) -> np.ndarray:
        """Write the (N,) position at time t into ``out`` without allocating; returns ``out``."""
        s = self.step_position(t)
        i = int(s)
        fraction = s - i
        if fraction == 0.0:
            out[:] = self.positions[i]
            return out
        # p_i + f (p_{i+1} - p_i): exact at f = 0 and no temporaries beyond `out`.
        np.subtract(self.positions[i + 1], self.positions[i], out=out)
        out *= fraction
        out += self.positions[i]
        return out

    def sample(self, t: float) -> np.ndarray:
        return self.sample_into(t, np.empty(self.num_joints))
