"""Latest measured joint positions by name, with validation and staleness (pure; clock passed in)."""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence

import numpy as np

from gr00t_policy.safety.input_checks import PositionBounds, StampWindow


def group_positions(
    joints_of: Mapping[str, Sequence[str]], positions: Mapping[str, float], groups: Sequence[tuple[str, int]]
) -> dict[str, np.ndarray]:
    """Joint positions by name -> the policy's state input: group -> (dim,) in the group's joint order.

    ``joints_of`` is the robot config's ``groups``; ``groups`` a data config's ``state_groups``.
    """
    return {g: np.array([positions[n] for n in joints_of[g]], dtype=np.float64) for g, _ in groups}


def ungroup_chunk(chunk: Mapping[str, np.ndarray], groups: Sequence[tuple[str, int]]) -> np.ndarray:
    """A policy chunk (group -> (horizon, dim)) -> (horizon, joints) in the groups' order."""
    return np.concatenate([np.asarray(chunk[g], dtype=np.float64) for g, _ in groups], axis=1)


class JointStateError(ValueError):
    """A joint-state message is malformed (size mismatch, duplicate names, NaN/inf)."""


class JointStateBuffer:
    """Merges joint-state messages (full or partial) and answers "where is every joint I need, now".

    A message is accepted or rejected as a whole: size mismatches, duplicate names and non-finite
    positions of required joints are rejected so a single bad sample can never reach the policy.
    With ``stamp_window``, a stamp the node's clock cannot have produced is rejected too (a stamp of
    0 means unstamped: the receive time stands in for it); with ``position_bounds``, positions the
    robot cannot physically report. Rejected messages change nothing, so no bad stamp or value
    outlives the message that carried it.
    """

    def __init__(
        self,
        required: Sequence[str],
        stamp_window: StampWindow | None = None,
        position_bounds: PositionBounds | None = None,
    ) -> None:
        self.required = tuple(required)
        self.stamp_window = stamp_window
        self.position_bounds = position_bounds
        self._positions: dict[str, float] = {}
        self._received: dict[str, float] = {}
        self._stamp = -1.0
        self._lock = threading.Lock()

    def update(self, names: Sequence[str], positions: Sequence[float], stamp: float, now: float) -> None:
        if len(names) != len(positions):
            raise JointStateError(f"{len(names)} names but {len(positions)} positions")
        if len(set(names)) != len(names):
            raise JointStateError("duplicate joint names")
        relevant = {n: float(p) for n, p in zip(names, positions) if n in self.required}
        bad = [n for n, p in relevant.items() if not math.isfinite(p)]
        if bad:
            raise JointStateError(f"non-finite positions for {bad}")
        if names and not relevant:
            raise JointStateError(f"none of the {len(names)} joints is one of ours (first: {names[0]!r})")
        if self.stamp_window is not None and stamp != 0.0:
            stamp_problem = self.stamp_window.problem(stamp, now)
            if stamp_problem:
                raise JointStateError(stamp_problem)
        if self.position_bounds is not None:
            position_problem = self.position_bounds.problem(relevant)
            if position_problem:
                raise JointStateError(position_problem)
        with self._lock:
            self._positions.update(relevant)
            for name in relevant:
                self._received[name] = now
            self._stamp = stamp if stamp > 0 else now

    def _fresh(self, names: Sequence[str], now: float, timeout: float) -> bool:
        return all(n in self._received and now - self._received[n] <= timeout for n in names)

    def snapshot(self, now: float, timeout: float) -> tuple[dict[str, float], float] | None:
        """All required joints and the newest stamp, or None if any is missing or older than timeout."""
        with self._lock:
            if not self._fresh(self.required, now, timeout):
                return None
            return {n: self._positions[n] for n in self.required}, self._stamp

    def positions_of(self, names: Sequence[str], now: float, timeout: float) -> np.ndarray | None:
        with self._lock:
            if not self._fresh(names, now, timeout):
                return None
            return np.array([self._positions[n] for n in names], dtype=np.float64)

    def missing(self) -> list[str]:
        with self._lock:
            return [n for n in self.required if n not in self._positions]
