"""Put streams recorded at their own rates onto one dataset clock (pure numpy).

Every stream is sampled *causally*: the value at tick t_k is the latest sample stamped at or before
t_k — exactly what the live policy would have had at that instant (the latest joint state, the
command in effect, the newest camera frame). Interpolating commands would invent targets that were
never sent, and looking ahead would leak the future into the observation (Isaac-GR00T #663: a
state/action misalignment shows up as step-like jumps in training).
"""

from __future__ import annotations

import numpy as np


class ResamplingError(ValueError):
    """The streams do not overlap, or a stream is empty."""


def make_timeline(start_ns: int, end_ns: int, fps: float) -> np.ndarray:
    """Ticks `start + round(k * 1e9 / fps)` ns (int64) for every k with the tick <= end.

    Integer nanoseconds on purpose: in float seconds an epoch time has ~0.2 µs resolution, and a
    120 Hz command that coincides with a 20 Hz tick (every 6th one) would fall on either side of
    the tick by rounding.
    """
    if fps <= 0:
        raise ResamplingError(f"fps must be > 0, got {fps}")
    if end_ns < start_ns:
        raise ResamplingError(
            f"the streams do not overlap in time (start {start_ns * 1e-9:.3f} s > end {end_ns * 1e-9:.3f} s)"
        )
    count = int(np.floor((end_ns - start_ns) * fps / 1e9 + 1e-9)) + 1
    ticks = int(start_ns) + np.round(np.arange(count, dtype=np.float64) * (1e9 / fps)).astype(np.int64)
    return ticks[ticks <= end_ns]


def overlap(*time_arrays: np.ndarray) -> tuple[int, int]:
    """(latest first sample, earliest last sample) over the streams: the span where all have data."""
    for times in time_arrays:
        if len(times) == 0:
            raise ResamplingError("a required stream has no messages")
    return max(int(t[0]) for t in time_arrays), min(int(t[-1]) for t in time_arrays)


def latest_index(times: np.ndarray, ticks: np.ndarray) -> np.ndarray:
    """Index of the latest sample with time <= tick, for each tick. `times` must be sorted."""
    indices = np.searchsorted(times, ticks, side="right") - 1
    if len(indices) and indices.min() < 0:
        raise ResamplingError(f"tick {ticks[np.argmin(indices)] * 1e-9:.3f} s is before the stream's first sample")
    return indices


def sample_and_hold(times: np.ndarray, values: np.ndarray, ticks: np.ndarray) -> np.ndarray:
    """values[latest_index] — (len(ticks), ...)."""
    return values[latest_index(times, ticks)]


def sort_by_time(times: np.ndarray, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Stable sort of a stream by time (header stamps can arrive out of order across publishers)."""
    order = np.argsort(times, kind="stable")
    return (times[order], *(a[order] for a in arrays))


def forward_fill(values: np.ndarray) -> np.ndarray:
    """Fill NaNs with the previous valid value along axis 0, column by column.

    A JointState may name only some joints (a hand driver, a partial command); each joint then
    holds its last reported value until it is reported again. Leading NaNs stay NaN.
    """
    values = np.array(values, dtype=np.float64, copy=True)
    rows = np.arange(len(values))[:, None]
    valid = ~np.isnan(values)
    last_valid = np.maximum.accumulate(np.where(valid, rows, -1), axis=0)
    filled = values[np.maximum(last_valid, 0), np.arange(values.shape[1])[None, :]]
    filled[last_valid < 0] = np.nan
    return filled
