"""Plausibility checks on the inputs a node receives (pure: the node's clock is an argument).

Why they exist: one message must never disable or wedge the robot. A single camera frame stamped
an hour ahead made System 1 hold and then disable for good (it kept the newest stamp it had ever
seen), and a second of joint states stamped far ahead wedged the chunk executor until a manual
reset. So every stamped input is judged against the node's clock before it may change any state,
and measured values are judged against what the robot can physically report. Each check returns
*why* an input is implausible (None = plausible): the node logs that reason (throttled), counts it
for /diagnostics and drops the input. State then only ever holds plausible values, so the node
recovers by itself as soon as plausible input returns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - typing only; any object with these attributes works
    from gr00t_description.config import RobotConfig

# Free text that callers hand in (a SetEnabled reason) is republished in every ControllerStatus
# heartbeat and /diagnostics message and printed in the log: a status line, not a document.
MAX_REASON_CHARS = 200
TRUNCATION_MARKER = "...[truncated]"


def truncate_text(text: str, max_chars: int = MAX_REASON_CHARS) -> str:
    """``text`` cut to at most ``max_chars`` characters, marked when cut (the marker counts)."""
    if len(text) <= max_chars:
        return text
    return text[: max(0, max_chars - len(TRUNCATION_MARKER))] + TRUNCATION_MARKER


def stamp_seconds(stamp: object) -> float:
    """A builtin_interfaces/Time (or anything with ``sec`` and ``nanosec``) in seconds."""
    return stamp.sec + stamp.nanosec * 1e-9  # type: ignore[attr-defined]


@dataclass(frozen=True)
class StampWindow:
    """The stamps one input may carry, relative to the receiving node's clock.

    Attributes:
        ahead_s: how far a stamp may lie ahead of the clock: the clock offset between hosts plus
            delivery jitter. Nothing legitimate is stamped further in the future.
        behind_s: how far it may lie behind: the same skew plus the oldest the input may be when it
            arrives (e.g. a goal token carries the stamp of the frame it was computed from).
    """

    ahead_s: float
    behind_s: float

    def __post_init__(self) -> None:
        for name in ("ahead_s", "behind_s"):
            value = getattr(self, name)
            if not (value >= 0.0 and math.isfinite(value)):
                raise ValueError(f"StampWindow.{name} must be finite and >= 0, got {value}")

    def problem(self, stamp: float, now: float) -> str | None:
        """Why ``stamp`` (seconds) is implausible at ``now`` on the node's clock; None if it is not."""
        if not math.isfinite(stamp):
            return f"stamp {stamp} is not a time"
        lead = stamp - now
        if lead > self.ahead_s:
            return f"stamped {lead:.3f} s ahead of this node's clock (at most {self.ahead_s:.3f} s allowed)"
        if -lead > self.behind_s:
            return f"stamped {-lead:.3f} s behind this node's clock (at most {self.behind_s:.3f} s allowed)"
        return None


@dataclass(frozen=True, eq=False)
class PositionBounds:
    """The positions a joint can physically report: its mechanical (URDF) range widened by a margin.

    The operating window the limiter clamps commands to is narrower, and a robot may legitimately
    stand outside it (moved by hand while disabled; the limiter walks it back in). Beyond the
    mechanical range plus the margin (encoder noise, soft joint limits of a simulator) a reading is
    a sensor, driver or publisher fault, not a pose: commanding "from" it would be meaningless.
    """

    lower: Mapping[str, float]
    upper: Mapping[str, float]

    @classmethod
    def from_robot(cls, robot: RobotConfig, joint_names: Sequence[str], margin_rad: float) -> PositionBounds:
        if not (margin_rad >= 0.0 and math.isfinite(margin_rad)):
            raise ValueError(f"margin_rad must be finite and >= 0, got {margin_rad}")
        unknown = [n for n in joint_names if n not in robot.joints]
        if unknown:
            raise ValueError(f"joints {unknown} are not in robot config {robot.name!r} (see robot.joints)")
        specs = [robot.joints[n] for n in joint_names]
        return cls(
            lower={s.name: s.urdf_lower - margin_rad for s in specs},
            upper={s.name: s.urdf_upper + margin_rad for s in specs},
        )

    def problem(self, positions: Mapping[str, float]) -> str | None:
        """Why ``positions`` (name -> radians) are implausible; None if every known joint is in range."""
        outside = [
            (name, value)
            for name, value in positions.items()
            if name in self.lower and not self.lower[name] <= value <= self.upper[name]
        ]
        if not outside:
            return None
        name, value = outside[0]
        more = f" (and {len(outside) - 1} more joints)" if len(outside) > 1 else ""
        return (
            f"{name} measured {value:.3f} rad, outside its plausible range "
            f"[{self.lower[name]:.3f}, {self.upper[name]:.3f}] (URDF range +- margin){more}"
        )
