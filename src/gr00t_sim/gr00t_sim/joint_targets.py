"""Validate named joint-position targets and clamp them to joint limits (pure NumPy).

Shared by `GR1TabletopSim.set_position_targets` and the ROS node, which validates a command in its
subscription callback and hands the result to the physics thread.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class JointTargetMap:
    """Maps joint names to actuator indices and clamps targets to `[lower, upper]` (radians)."""

    def __init__(self, names: Sequence[str], lower: Sequence[float], upper: Sequence[float]) -> None:
        if not len(names) == len(lower) == len(upper):
            raise ValueError(f"{len(names)} names but {len(lower)} lower and {len(upper)} upper limits")
        if len(set(names)) != len(names):
            raise ValueError(f"joint names must be unique, got {list(names)}")
        self.names: tuple[str, ...] = tuple(names)
        self.lower = np.asarray(lower, dtype=np.float64)
        self.upper = np.asarray(upper, dtype=np.float64)
        if np.any(self.lower > self.upper):
            raise ValueError("every lower limit must be <= its upper limit")
        self._index = {name: i for i, name in enumerate(self.names)}

    def indices(self, names: Sequence[str]) -> np.ndarray:
        """Indices of `names`; unknown or repeated names raise ValueError naming them."""
        unknown = [n for n in names if n not in self._index]
        if unknown:
            raise ValueError(f"unknown joint names {unknown}; expected a subset of the robot config's joints")
        if len(set(names)) != len(names):
            repeated = sorted({n for n in names if list(names).count(n) > 1})
            raise ValueError(f"joint names repeated in one command: {repeated}")
        return np.fromiter((self._index[n] for n in names), dtype=np.intp, count=len(names))

    def resolve(self, names: Sequence[str], positions: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        """(indices, clamped positions) of a command; ValueError if it is malformed.

        A command that names a joint twice, names an unknown joint, has a different number of
        names and positions, or carries NaN/inf is rejected as a whole: applying part of a
        malformed command could move some joints toward a pose nobody asked for.
        """
        values = np.asarray(positions, dtype=np.float64).reshape(-1)
        if len(names) != values.size:
            raise ValueError(f"{len(names)} joint names but {values.size} positions")
        if not np.all(np.isfinite(values)):
            bad = [n for n, v in zip(names, values) if not np.isfinite(v)]
            raise ValueError(f"non-finite position targets for {bad}")
        idx = self.indices(names)
        return idx, self.clamp(idx, values)

    def clamp(self, idx: np.ndarray, values: np.ndarray) -> np.ndarray:
        return np.clip(values, self.lower[idx], self.upper[idx])
