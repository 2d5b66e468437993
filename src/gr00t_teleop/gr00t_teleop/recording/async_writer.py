"""A bounded queue and a writer thread in front of `McapBagWriter` (no rclpy).

Why a thread: subscription callbacks must return in microseconds (a 120 Hz command stream and
30 Hz cameras share the executor), while compressing a chunk or an fsync can take tens of
milliseconds. Callbacks only `submit()` bytes; the thread writes, flushes and checks the disk.

Back-pressure: the queue is bounded in messages *and* bytes (images dominate). When full, the
*incoming* message is dropped (tail drop) and counted per topic, so what is written stays in
arrival order and the episode metadata says exactly how much is missing.

Disk space: checked every `disk_check_period_s`; below `min_free_bytes` the thread stops writing,
and the owner (`EpisodeRecorder.poll`) closes the bag and marks the episode interrupted, while
there is still room for the summary and metadata.
"""

from __future__ import annotations

import collections
import logging
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .bag_writer import McapBagWriter

LOG = logging.getLogger(__name__)

FreeBytesFn = Callable[[Path], int]


def disk_free_bytes(path: Path) -> int:
    """Bytes available to this user on the file system holding `path` (or its nearest parent)."""
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


@dataclass(frozen=True)
class WriterQueueConfig:
    """Queue bounds and the writer thread's periodic work.

    max_queue_bytes: 256 MiB ≈ 8 s of 640x480 rgb8 at 30 Hz: rides out an fsync stall or a slow
        disk without drops, but cannot grow without bound when the disk is too slow.
    flush_period_s: close the open chunk at least this often, so a low-rate episode also reaches
        the disk (the most a crash can lose is max(this, one chunk)).
    fsync_period_s: force data to the device (power loss, not just a crashed process); 0 = never.
    min_free_bytes: stop recording below this much free space (room for the summary + metadata
        and for the rest of the system).
    """

    max_queue_messages: int = 20_000
    max_queue_bytes: int = 256 << 20
    flush_period_s: float = 0.5
    fsync_period_s: float = 2.0
    disk_check_period_s: float = 1.0
    min_free_bytes: int = 1 << 30

    def __post_init__(self) -> None:
        if self.max_queue_messages < 1 or self.max_queue_bytes < 1:
            raise ValueError(
                f"queue bounds must be positive, got {self.max_queue_messages} messages / {self.max_queue_bytes} bytes"
            )
        for name in ("flush_period_s", "disk_check_period_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.fsync_period_s < 0 or self.min_free_bytes < 0:
            raise ValueError("fsync_period_s and min_free_bytes must be >= 0")


@dataclass
class WriterResult:
    """What happened to an episode's messages, for the episode metadata."""

    written: dict[str, int]
    dropped_queue_full: dict[str, int]
    dropped_not_recording: dict[str, int]  # arrived after the writer stopped (failure or stop)
    failure: str | None  # why the writer stopped by itself (low disk, I/O error), else None
    metadata: dict[str, Any] | None  # the metadata.yaml document, None when closing failed
    close_error: str | None = None
    bytes_written: int = 0

    @property
    def dropped(self) -> dict[str, int]:
        topics = set(self.dropped_queue_full) | set(self.dropped_not_recording)
        return {
            t: self.dropped_queue_full.get(t, 0) + self.dropped_not_recording.get(t, 0)
            for t in sorted(topics)
            if self.dropped_queue_full.get(t, 0) + self.dropped_not_recording.get(t, 0)
        }

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())


@dataclass
class _Counters:
    queue_full: dict[str, int] = field(default_factory=dict)
    not_recording: dict[str, int] = field(default_factory=dict)


class AsyncBagWriter:
    """Owns an opened `McapBagWriter` and a thread that drains a bounded queue into it."""

    def __init__(
        self,
        writer: McapBagWriter,
        config: WriterQueueConfig | None = None,
        free_bytes: FreeBytesFn = disk_free_bytes,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.writer = writer
        self.config = config or WriterQueueConfig()
        self._free_bytes = free_bytes
        self._monotonic = monotonic
        self._queue: collections.deque[tuple[str, bytes, int, int | None]] = collections.deque()
        self._queued_bytes = 0
        self._condition = threading.Condition()
        self._accepting = False
        self._stop_requested = False
        self._failure: str | None = None
        self._counters = _Counters()
        self._thread: threading.Thread | None = None
        self.high_water_bytes = 0

    # ------------------------------------------------------------------ producer side
    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("writer thread already started")
        self._accepting = True
        self._thread = threading.Thread(target=self._run, name=f"bag-writer:{self.writer.bag_dir.name}", daemon=True)
        self._thread.start()

    def submit(self, topic: str, data: bytes, log_time_ns: int, publish_time_ns: int | None = None) -> bool:
        """Queue one message; False (and counted) if the queue is full or the writer stopped."""
        size = len(data)
        with self._condition:
            if not self._accepting:
                self._counters.not_recording[topic] = self._counters.not_recording.get(topic, 0) + 1
                return False
            if (
                len(self._queue) >= self.config.max_queue_messages
                or self._queued_bytes + size > self.config.max_queue_bytes
            ):
                self._counters.queue_full[topic] = self._counters.queue_full.get(topic, 0) + 1
                return False
            self._queue.append((topic, data, log_time_ns, publish_time_ns))
            self._queued_bytes += size
            self.high_water_bytes = max(self.high_water_bytes, self._queued_bytes)
            self._condition.notify()
        return True

    @property
    def failure(self) -> str | None:
        """Why the writer stopped on its own (low disk, I/O error); None while healthy."""
        return self._failure

    @property
    def queued(self) -> tuple[int, int]:
        """(messages, bytes) waiting to be written."""
        with self._condition:
            return len(self._queue), self._queued_bytes

    def dropped_counts(self) -> dict[str, int]:
        with self._condition:
            counters = (self._counters.queue_full, self._counters.not_recording)
            return {t: sum(c.get(t, 0) for c in counters) for t in set().union(*counters)}

    def stop(
        self, custom_data: Mapping[str, str] | Callable[[WriterResult], Mapping[str, str]] | None = None
    ) -> WriterResult:
        """Drain the queue (unless the writer failed), finish the MCAP file and write metadata.yaml.

        `custom_data` may be a function of the (pre-close) result, so the episode metadata in the
        bag can include the final dropped counts and the failure reason.
        """
        with self._condition:
            self._accepting = False
            self._stop_requested = True
            self._condition.notify()
        if self._thread is not None:
            self._thread.join()
        with self._condition:
            # After a failure the thread left the rest queued: those messages are not written.
            for topic, _data, _t, _p in self._queue:
                self._counters.not_recording[topic] = self._counters.not_recording.get(topic, 0) + 1
            self._queue.clear()
            self._queued_bytes = 0
        result = WriterResult(
            written=dict(self.writer.statistics.message_counts),
            dropped_queue_full=dict(self._counters.queue_full),
            dropped_not_recording=dict(self._counters.not_recording),
            failure=self._failure,
            metadata=None,
            bytes_written=self.writer.bytes_written,
        )
        data = custom_data(result) if callable(custom_data) else custom_data
        try:
            result.metadata = self.writer.close(data)
        except Exception as exc:  # noqa: BLE001 - e.g. ENOSPC: the bag stays recoverable
            result.close_error = f"{type(exc).__name__}: {exc}"
            LOG.error("could not finish bag %s: %s (recover it with gr00t-reindex)", self.writer.bag_dir, exc)
            self.writer.abort()
        return result

    # ------------------------------------------------------------------ writer thread
    def _run(self) -> None:
        config = self.config
        now = self._monotonic()
        next_flush = now + config.flush_period_s
        next_fsync = now + config.fsync_period_s if config.fsync_period_s > 0 else float("inf")
        next_disk_check = now  # check at once: the start check may be seconds old
        try:
            while True:
                with self._condition:
                    if not self._queue and not self._stop_requested:
                        wait = min(next_flush, next_disk_check) - self._monotonic()
                        if wait > 0:
                            self._condition.wait(timeout=wait)
                    if self._queue:
                        topic, data, log_time_ns, publish_time_ns = self._queue.popleft()
                        self._queued_bytes -= len(data)
                    elif self._stop_requested:
                        return
                    else:
                        topic = ""
                if topic:
                    self.writer.write(topic, data, log_time_ns, publish_time_ns)
                now = self._monotonic()
                if now >= next_disk_check:
                    next_disk_check = now + config.disk_check_period_s
                    free = self._free_bytes(self.writer.bag_dir)
                    if free < config.min_free_bytes:
                        self._fail(
                            f"disk space low: {free / 2**20:.0f} MiB free on {self.writer.bag_dir} "
                            f"< min_free_bytes {config.min_free_bytes / 2**20:.0f} MiB"
                        )
                        self.writer.flush(fsync=True)
                        return
                if now >= next_flush:
                    fsync = now >= next_fsync
                    self.writer.flush(fsync=fsync)
                    next_flush = now + config.flush_period_s
                    if fsync:
                        next_fsync = now + config.fsync_period_s
        except Exception as exc:  # noqa: BLE001 - any write error ends the episode, never the node
            self._fail(f"write error: {type(exc).__name__}: {exc}")

    def _fail(self, reason: str) -> None:
        LOG.error("bag writer for %s stopped: %s", self.writer.bag_dir, reason)
        with self._condition:
            self._failure = reason
            self._accepting = False
