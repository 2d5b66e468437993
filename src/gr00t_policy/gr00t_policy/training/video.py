"""Dataset videos: whole episodes decoded with PyAV and kept in a small LRU cache, frames looked up by time."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np


def decode_video(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """All frames of an mp4 -> (times (F,) seconds, frames (F, H, W, 3) uint8 RGB), with PyAV."""
    try:
        import av
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "decoding dataset videos needs PyAV (pip install av); or train without video (--no-video)"
        ) from exc
    if not path.is_file():
        raise FileNotFoundError(f"video {path} is missing")
    times, frames = [], []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            times.append(float(frame.pts * stream.time_base) if frame.pts is not None else float(frame.time))
            frames.append(frame.to_ndarray(format="rgb24"))
    if not frames:
        raise ValueError(f"video {path} has no frames")
    return np.asarray(times), np.stack(frames)


class VideoFrameCache:
    """Decoded episodes kept in memory, least recently used evicted.

    Decoding a whole episode once and indexing it is far cheaper than seeking an H.264 stream
    per sample; the LRU bounds memory (a 400-frame 256 px episode is ~79 MB per camera).
    """

    def __init__(self, max_episodes: int) -> None:
        self.max_episodes = max(1, int(max_episodes))
        self._cache: OrderedDict[Path, tuple[np.ndarray, np.ndarray]] = OrderedDict()

    def frame_at(self, path: Path, timestamp: float, tolerance_s: float) -> np.ndarray:
        """The frame nearest ``timestamp`` (the original loader matches parquet timestamps)."""
        entry = self._cache.get(path)
        if entry is None:
            entry = decode_video(path)
            self._cache[path] = entry
            while len(self._cache) > self.max_episodes:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(path)
        times, frames = entry
        i = int(np.clip(np.searchsorted(times, timestamp), 1, len(times) - 1)) if len(times) > 1 else 0
        if len(times) > 1 and abs(times[i - 1] - timestamp) <= abs(times[i] - timestamp):
            i -= 1
        if abs(times[i] - timestamp) > tolerance_s:
            raise ValueError(
                f"video {path} has no frame within {tolerance_s:.3f} s of timestamp {timestamp:.3f} s "
                f"(nearest {times[i]:.3f} s; {len(times)} frames)"
            )
        return frames[i]
