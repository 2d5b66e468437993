"""The small interface between the bridge node and a GR-1 robot server (real client or a fake).

Everything on it is in the server's own terms (32-vector, motor index order, degrees), so the adapter
of fourier-grx-client stays a thin pass-through and unit conversion lives in `joint_map` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class MotorState:
    """One measured sample from the server.

    positions_deg / velocities_deg: (32,) in motor index order (velocities None if not received).
    received_monotonic_s: time.monotonic() when it arrived (the server's payload carries no stamp).
    sequence: counts samples, so a reader can tell a new sample from the one it already saw.
    """

    positions_deg: np.ndarray
    velocities_deg: np.ndarray | None
    received_monotonic_s: float
    sequence: int


class Gr1Robot(Protocol):
    def connect(self) -> None:
        """Open the connection; raises ConnectionError if the server does not answer."""

    def latest_state(self) -> MotorState | None:
        """The newest joint sample, or None before the first one."""

    def set_motors_enabled(self, enabled: bool) -> None:
        """Switch the motors ON / OFF (Fourier's control/enable service)."""

    def send_positions_deg(self, positions_deg: np.ndarray) -> None:
        """Send one full (32,) position target in degrees, executed by the server at once."""

    def close(self) -> None: ...
