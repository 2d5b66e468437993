"""Piecewise-linear joint trajectories sampled by time (pure NumPy; time is an argument).

Carries `trajectory_msgs/JointTrajectory` semantics without ROS: points at `start + time_from_start`,
linear interpolation between them, the last point held after the end. As in ros2_controllers'
JointTrajectoryController, motion toward the first point starts from the targets held when the
trajectory is received (from its start if no receipt time is given), so a first point that lies
ahead, a `time_from_start > 0` or a start stamp in the future, is reached smoothly, never jumped to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LinearTrajectory:
    """`positions[k]` (J,) is reached at `times_s[k]` (absolute seconds, strictly increasing)."""

    joint_indices: np.ndarray  # (J,) indices into the simulator's joint_names, one per column
    times_s: np.ndarray  # (P,)
    positions: np.ndarray  # (P, J) radians

    @classmethod
    def from_points(
        cls,
        joint_indices: np.ndarray,
        start_time_s: float,
        time_from_start_s: Sequence[float],
        positions: np.ndarray,
        start_positions: np.ndarray,
        received_time_s: float | None = None,
    ) -> LinearTrajectory:
        """Build from message-like points; `start_positions` (J,) are the targets held when the
        trajectory is received at `received_time_s` (None: at its start). Motion toward the first point
        starts there and then: a trajectory stamped in the future moves from receipt toward its first
        point, reached at its time, like ros2_controllers' JTC (a first point at `time_from_start` 0
        would otherwise be jumped to on receipt).

        Raises ValueError for empty, non-finite, unordered or mis-shaped points.
        """
        offsets, points = validate_points(time_from_start_s, positions, len(joint_indices))
        times = start_time_s + offsets
        anchor = start_time_s if received_time_s is None else float(received_time_s)
        if times[0] > anchor:
            times = np.concatenate([[anchor], times])
            start = np.asarray(start_positions, dtype=np.float64).reshape(1, len(joint_indices))
            points = np.vstack([start, points])
        return cls(np.asarray(joint_indices, dtype=np.intp), times, points)

    @property
    def end_time_s(self) -> float:
        return float(self.times_s[-1])

    def sample(self, time_s: float) -> np.ndarray:
        """Positions (J,) at `time_s`: the first point before the start, the last after the end."""
        k = int(np.searchsorted(self.times_s, time_s, side="right"))
        if k == 0:
            return self.positions[0].copy()
        if k == len(self.times_s):
            return self.positions[-1].copy()
        t0, t1 = self.times_s[k - 1], self.times_s[k]
        alpha = (time_s - t0) / (t1 - t0)
        return (1.0 - alpha) * self.positions[k - 1] + alpha * self.positions[k]


def validate_points(
    time_from_start_s: Sequence[float], positions: np.ndarray | Sequence[Sequence[float]], joint_count: int
) -> tuple[np.ndarray, np.ndarray]:
    """(offsets (P,), positions (P, J)) as float arrays; ValueError if they cannot form a trajectory."""
    offsets = np.asarray(time_from_start_s, dtype=np.float64).reshape(-1)
    if offsets.size == 0:
        raise ValueError("a trajectory needs at least one point")
    try:
        points = np.asarray(positions, dtype=np.float64)
    except ValueError as exc:  # ragged rows: points with different numbers of positions
        raise ValueError(f"every point needs {joint_count} positions (one per joint name)") from exc
    if points.shape != (offsets.size, joint_count):
        raise ValueError(
            f"expected {offsets.size} points x {joint_count} positions (one per joint name), got shape {points.shape}"
        )
    if not (np.all(np.isfinite(points)) and np.all(np.isfinite(offsets))):
        raise ValueError("trajectory points must be finite (NaN/inf found)")
    if offsets[0] < 0 or np.any(np.diff(offsets) <= 0):
        raise ValueError(f"time_from_start must be >= 0 and strictly increasing, got {offsets.tolist()}")
    return offsets, points
