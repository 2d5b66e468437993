"""Rate and latency statistics for diagnostics and run summaries (pure, clock passed in)."""

from __future__ import annotations

from collections import deque

import numpy as np


class RateMeter:
    """Events per second over a sliding time window."""

    def __init__(self, window_s: float = 2.0) -> None:
        self.window_s = window_s
        self._times: deque[float] = deque()
        self.total = 0

    def tick(self, now: float) -> None:
        self._times.append(now)
        self.total += 1
        self._trim(now)

    def rate(self, now: float) -> float:
        self._trim(now)
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0

    def _trim(self, now: float) -> None:
        while self._times and self._times[0] < now - self.window_s:
            self._times.popleft()


class LatencyStats:
    """Keeps the last `capacity` samples (seconds) and reports percentiles in milliseconds."""

    def __init__(self, capacity: int = 2000) -> None:
        self._samples: deque[float] = deque(maxlen=capacity)
        self.count = 0

    def add(self, seconds: float) -> None:
        self._samples.append(seconds)
        self.count += 1

    def summary_ms(self) -> dict[str, float]:
        if not self._samples:
            return {"count": 0}
        values = np.asarray(self._samples) * 1e3
        return {
            "count": self.count,
            "p50": float(np.percentile(values, 50)),
            "p99": float(np.percentile(values, 99)),
            "max": float(values.max()),
            "mean": float(values.mean()),
        }
