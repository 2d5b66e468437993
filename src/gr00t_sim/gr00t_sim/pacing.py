"""Pace simulated time against wall time (pure; both times are arguments).

With realtime factor r > 0 the physics should have reached `sim0 + r * (wall - wall0)`; the loop
steps until it has and sleeps otherwise. When it falls behind by more than `max_lag_s` (a slow
machine, a debugger pause) the backlog is dropped instead of sprinting to catch up, which would
publish a burst of stale-looking states; the drop is counted so the node can report it.
"""

from __future__ import annotations

import math


class RealtimePacer:
    def __init__(self, realtime_factor: float, timestep_s: float, max_lag_s: float = 0.1) -> None:
        if realtime_factor < 0 or not math.isfinite(realtime_factor):
            raise ValueError(f"realtime_factor must be >= 0 (0 = as fast as possible), got {realtime_factor}")
        if timestep_s <= 0:
            raise ValueError(f"timestep_s must be > 0, got {timestep_s}")
        self.realtime_factor = realtime_factor
        self.timestep_s = timestep_s
        self.max_lag_s = max_lag_s
        self.dropped_sim_s = 0.0  # simulated time skipped because the loop could not keep up
        self._sim0 = 0.0
        self._wall0 = 0.0

    @property
    def as_fast_as_possible(self) -> bool:
        return self.realtime_factor == 0

    def anchor(self, sim_time_s: float, wall_time_s: float) -> None:
        """Declare that `sim_time_s` corresponds to `wall_time_s` (call at start and after a pause)."""
        self._sim0, self._wall0 = sim_time_s, wall_time_s

    def steps_due(self, sim_time_s: float, wall_time_s: float) -> int:
        """Number of physics steps to take now (1 when running as fast as possible)."""
        if self.as_fast_as_possible:
            return 1
        lag = self._sim0 + (wall_time_s - self._wall0) * self.realtime_factor - sim_time_s
        if lag > self.max_lag_s:
            self.dropped_sim_s += lag
            self.anchor(sim_time_s, wall_time_s)
            return 1
        # The epsilon keeps float error in the anchor arithmetic from withholding a due step.
        return max(0, math.floor(lag / self.timestep_s + 1e-6))

    def wall_time_of(self, sim_time_s: float) -> float:
        """Wall time at which the physics should reach `sim_time_s` (paced mode only)."""
        if self.as_fast_as_possible:
            raise ValueError("no wall time mapping when running as fast as possible")
        return self._wall0 + (sim_time_s - self._sim0) / self.realtime_factor
