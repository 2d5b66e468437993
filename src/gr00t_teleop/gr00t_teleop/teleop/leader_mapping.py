"""Map a leader device's joint states (exoskeleton, retargeted hand tracking, another robot) onto
the follower's commanded joints, by name (pure; no ROS).

Each follower joint takes `scale * leader[source] + offset` from one leader joint; joints the
leader does not drive are simply not commanded (the controller keeps its last target for them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


class LeaderMappingError(ValueError):
    """A leader message or the mapping table is unusable."""


@dataclass(frozen=True)
class JointMap:
    source: str
    scale: float = 1.0
    offset: float = 0.0


class LeaderMapping:
    def __init__(self, follower_joints: Sequence[str], table: Mapping[str, JointMap]) -> None:
        unknown = [name for name in table if name not in follower_joints]
        if unknown:
            raise LeaderMappingError(f"mapping names joints the robot does not have: {unknown}")
        if not table:
            raise LeaderMappingError("the mapping drives no joint")
        self.follower_joints = tuple(name for name in follower_joints if name in table)
        self._maps = [table[name] for name in self.follower_joints]

    @classmethod
    def identity(cls, follower_joints: Sequence[str]) -> LeaderMapping:
        """The leader publishes the follower's own joint names (a twin robot, a retargeter)."""
        return cls(follower_joints, {name: JointMap(name) for name in follower_joints})

    @classmethod
    def from_config(cls, follower_joints: Sequence[str], config: Mapping[str, object]) -> LeaderMapping:
        """`{follower: leader_name}` or `{follower: {source, scale, offset}}`; empty = identity."""
        if not config:
            return cls.identity(follower_joints)
        table = {}
        for follower, spec in config.items():
            if isinstance(spec, str):
                table[follower] = JointMap(spec)
            elif isinstance(spec, Mapping) and "source" in spec:
                table[follower] = JointMap(
                    str(spec["source"]), float(spec.get("scale", 1.0)), float(spec.get("offset", 0.0))
                )
            else:
                raise LeaderMappingError(
                    f"mapping for {follower!r} must be a leader joint name or {{source, scale, offset}}"
                )
        return cls(follower_joints, table)

    def map(self, names: Sequence[str], positions: Sequence[float]) -> np.ndarray:
        """Follower command (in `follower_joints` order) from one leader message.

        Raises LeaderMappingError for size mismatches, duplicates, missing source joints and
        non-finite values: a partial or corrupt leader sample never becomes a command.
        """
        if len(names) != len(positions):
            raise LeaderMappingError(f"leader message has {len(names)} names but {len(positions)} positions")
        leader = dict(zip(names, positions))
        if len(leader) != len(names):
            raise LeaderMappingError("leader message repeats joint names")
        missing = [m.source for m in self._maps if m.source not in leader]
        if missing:
            raise LeaderMappingError(f"leader message lacks joints {missing[:5]}{'...' if len(missing) > 5 else ''}")
        values = np.array([m.scale * float(leader[m.source]) + m.offset for m in self._maps])
        if not all(math.isfinite(v) for v in values):
            raise LeaderMappingError("leader message has non-finite positions")
        return values
