"""Episode recorder core: state machine + one bag per episode + metadata, with time as an argument.

The recorder node is a thin wrapper: subscriptions call `record()`, services call `start()` /
`stop()` / `cancel()`, a timer calls `poll()` (which finishes an episode that the writer stopped on
its own) and publishes `status()`. Nothing here imports rclpy, so all of it is unit-tested.

Layout: `<output_dir>/episode_<NNNNNN>_<UTC time>/` is both the episode directory and the rosbag2
bag directory: `episode_…_0.mcap`, `metadata.yaml` (written at stop), `episode.yaml` (written at
start with outcome `recording`, rewritten at stop) — so a crashed episode still knows its task,
and `gr00t-reindex` can finish its metadata.
"""

from __future__ import annotations

import datetime as _dt
import logging
import shutil
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .async_writer import AsyncBagWriter, FreeBytesFn, WriterQueueConfig, WriterResult, disk_free_bytes
from .bag_metadata import TopicInfo
from .bag_writer import BagWriterConfig, McapBagWriter
from .episode import (
    EpisodeMetadata,
    EpisodeOutcome,
    EpisodeState,
    EpisodeStateMachine,
    RecorderStateError,
    next_episode_index,
    write_episode_metadata,
)
from .message_definitions import MessageDefinition

LOG = logging.getLogger(__name__)

MAX_TASK_BYTES = 2048


@dataclass(frozen=True)
class RecorderConfig:
    """Where episodes go, what they are labelled with, and the writer's limits.

    min_free_bytes_to_start: refuse to start below this (a 60 s episode of one 640x480 camera is
        ~2 GB raw); while recording the writer stops at `queue.min_free_bytes`.
    required_topics: topics an episode cannot be trained on without (joint states, commands); a
        success stop with none of their messages written is kept as interrupted, with the reason.
    """

    output_dir: Path
    robot: str
    embodiment_tag: str
    data_config: str
    operator: str = ""
    calibration: str = ""
    min_free_bytes_to_start: int = 2 << 30
    bag: BagWriterConfig = field(default_factory=BagWriterConfig)
    queue: WriterQueueConfig = field(default_factory=WriterQueueConfig)
    required_topics: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.min_free_bytes_to_start < self.queue.min_free_bytes:
            raise ValueError(
                f"min_free_bytes_to_start ({self.min_free_bytes_to_start}) must be >= the stop threshold "
                f"queue.min_free_bytes ({self.queue.min_free_bytes}), or an episode would stop at once"
            )


@dataclass(frozen=True)
class EpisodeSummary:
    """What a stop/cancel/poll reports back (service responses, logs, tests)."""

    name: str
    path: Path | None  # None when discarded
    outcome: EpisodeOutcome
    message_counts: dict[str, int]
    dropped_messages: dict[str, int]
    duration_s: float
    interruption_reason: str = ""
    close_error: str | None = None

    def describe(self) -> str:
        total = sum(self.message_counts.values())
        dropped = sum(self.dropped_messages.values())
        text = f"episode {self.name}: {self.outcome.value}, {total} messages in {self.duration_s:.1f} s"
        if dropped:
            text += f", {dropped} dropped"
        if self.interruption_reason:
            text += f" ({self.interruption_reason})"
        if self.close_error:
            text += f"; bag not finished: {self.close_error} (run gr00t-reindex {self.path})"
        return text + (f" -> {self.path}" if self.path else "")


class EpisodeRecorder:
    def __init__(
        self,
        config: RecorderConfig,
        definitions: Callable[[str], MessageDefinition] | None = None,
        free_bytes: FreeBytesFn = disk_free_bytes,
        wall_clock: Callable[[], _dt.datetime] = lambda: _dt.datetime.now(_dt.UTC),
    ) -> None:
        self.config = config
        self._definitions = definitions
        self._free_bytes = free_bytes
        self._wall_clock = wall_clock
        self._machine = EpisodeStateMachine()
        # One lock for transitions; `record()` does not take it (hot path): it reads `_writer` once.
        self._lock = threading.Lock()
        self._writer: AsyncBagWriter | None = None
        self._episode: EpisodeMetadata | None = None
        self._bag_dir: Path | None = None
        self.last_summary: EpisodeSummary | None = None

    # ------------------------------------------------------------------ queries
    @property
    def state(self) -> EpisodeState:
        return self._machine.state

    @property
    def episode(self) -> EpisodeMetadata | None:
        return self._episode

    def status(self, now_ns: int | None = None) -> dict[str, Any]:
        """A JSON-able snapshot for the status topic and diagnostics."""
        status: dict[str, Any] = {"state": self.state.value, "output_dir": str(self.config.output_dir)}
        writer, episode = self._writer, self._episode
        if episode is not None:
            status.update(episode=episode.name, task=episode.task, path=str(self._bag_dir))
            if now_ns is not None:
                status["elapsed_s"] = round((now_ns - episode.start_time_ns) * 1e-9, 3)
        if writer is not None:
            queued_messages, queued_bytes = writer.queued
            status.update(
                messages=dict(writer.writer.statistics.message_counts),
                dropped=writer.dropped_counts(),
                queued_messages=queued_messages,
                queued_bytes=queued_bytes,
                bytes_written=writer.writer.bytes_written,
                writer_failure=writer.failure,
            )
        if self.last_summary is not None:
            status["last_episode"] = self.last_summary.describe()
        return status

    # ------------------------------------------------------------------ transitions
    def start(
        self,
        task: str,
        topics: list[TopicInfo],
        now_ns: int,
        initial_messages: list[tuple[str, bytes, int]] | None = None,
    ) -> EpisodeMetadata:
        """Open a new episode bag. `initial_messages` are (topic, bytes, log_time_ns) written first —
        the last value of latched topics (instruction), which rosbag2 gets from TRANSIENT_LOCAL."""
        task = task.strip()
        if not task:
            raise ValueError("the task instruction is empty; give the language instruction of this demonstration")
        size = len(task.encode("utf-8", errors="surrogatepass"))
        if size > MAX_TASK_BYTES:
            raise ValueError(f"the task instruction has {size} bytes, more than {MAX_TASK_BYTES}")
        # The instruction is the training label of every frame: text that is not what the operator
        # meant (invalid UTF-8 on the wire arrives as U+FFFD; control characters) is refused, not stored.
        if "\ufffd" in task or any(unicodedata.category(c) in ("Cc", "Cs") for c in task):
            raise ValueError("the task instruction is not valid UTF-8 text (replacement or control characters)")
        if not topics:
            raise ValueError("no topics to record")
        with self._lock:
            output_dir = Path(self.config.output_dir).expanduser()
            index = next_episode_index(output_dir)
            wall = self._wall_clock()
            name = f"episode_{index:06d}_{wall.strftime('%Y%m%dT%H%M%SZ')}"
            self._machine.begin_start(name)
            try:
                free = self._free_bytes(output_dir)
                if free < self.config.min_free_bytes_to_start:
                    raise RecorderStateError(
                        f"not enough disk space to start: {free / 2**30:.2f} GiB free on {output_dir}, "
                        f"need min_free_bytes_to_start = {self.config.min_free_bytes_to_start / 2**30:.2f} GiB"
                    )
                bag_dir = output_dir / name
                episode = EpisodeMetadata(
                    name=name,
                    index=index,
                    task=task,
                    robot=self.config.robot,
                    embodiment_tag=self.config.embodiment_tag,
                    data_config=self.config.data_config,
                    operator=self.config.operator,
                    calibration=self.config.calibration,
                    start_time_ns=int(now_ns),
                    start_wall_time=wall.isoformat(),
                    message_counts={t.name: 0 for t in topics},
                )
                bag = McapBagWriter(bag_dir, topics, self.config.bag, self._definitions)
                bag.open()
                write_episode_metadata(bag_dir, episode)
                writer = AsyncBagWriter(bag, self.config.queue, self._free_bytes)
                for topic, data, log_time_ns in initial_messages or []:
                    bag.write(topic, data, log_time_ns)
                writer.start()
            except BaseException:
                self._machine.abort_start()
                if "bag" in locals() and not bag.closed:
                    bag.abort()
                    shutil.rmtree(bag_dir, ignore_errors=True)
                raise
            self._writer, self._episode, self._bag_dir = writer, episode, bag_dir
            LOG.info("recording %s: %r, %d topics -> %s", name, task, len(topics), bag_dir)
            return episode

    def record(self, topic: str, data: bytes, log_time_ns: int, publish_time_ns: int | None = None) -> bool:
        """Hand one serialised message to the writer; False when not recording or dropped."""
        writer = self._writer
        if writer is None or self._machine.state is not EpisodeState.RECORDING:
            return False
        return writer.submit(topic, data, log_time_ns, publish_time_ns)

    def stop(self, success: bool, now_ns: int) -> EpisodeSummary:
        outcome = EpisodeOutcome.SUCCESS if success else EpisodeOutcome.FAILURE
        return self._finish(outcome, now_ns, action="stop")

    def cancel(self, now_ns: int) -> EpisodeSummary:
        return self._finish(EpisodeOutcome.DISCARDED, now_ns, action="cancel")

    def poll(self, now_ns: int) -> EpisodeSummary | None:
        """Finish the episode if the writer stopped on its own (low disk, write error)."""
        writer = self._writer
        if writer is None or writer.failure is None or self.state is not EpisodeState.RECORDING:
            return None
        try:
            return self._finish(EpisodeOutcome.INTERRUPTED, now_ns, action="interrupt", reason=writer.failure)
        except RecorderStateError:  # a concurrent stop got there first
            return None

    def shutdown(self, now_ns: int) -> EpisodeSummary | None:
        """Node shutdown mid-episode: keep the data, mark it interrupted."""
        if self.state is not EpisodeState.RECORDING:
            return None
        return self._finish(EpisodeOutcome.INTERRUPTED, now_ns, action="shut down", reason="recorder shut down")

    def _finish(self, outcome: EpisodeOutcome, now_ns: int, action: str, reason: str = "") -> EpisodeSummary:
        with self._lock:
            name = self._machine.begin_stop(action)
            writer, episode, bag_dir = self._writer, self._episode, self._bag_dir
            assert writer is not None and episode is not None and bag_dir is not None
            try:
                if writer.failure and outcome is not EpisodeOutcome.DISCARDED:
                    # The operator's label arrived after the writer had already stopped.
                    outcome, reason = EpisodeOutcome.INTERRUPTED, writer.failure
                episode.outcome = outcome
                episode.stop_time_ns = int(now_ns)
                episode.interrupted = outcome is EpisodeOutcome.INTERRUPTED
                episode.interruption_reason = reason

                def final_custom_data(result: WriterResult) -> dict[str, str]:
                    nonlocal outcome, reason
                    empty = [t for t in self.config.required_topics if not result.written.get(t)]
                    if empty and outcome is EpisodeOutcome.SUCCESS:
                        # Labelled a success, but nothing to train on: keep the bag, never as a success.
                        outcome, reason = EpisodeOutcome.INTERRUPTED, f"no messages on {', '.join(empty)}"
                        episode.outcome, episode.interrupted, episode.interruption_reason = outcome, True, reason
                    episode.message_counts = dict(result.written)
                    episode.dropped_messages = result.dropped
                    return episode.custom_data()

                result = writer.stop(final_custom_data)
                if outcome is EpisodeOutcome.DISCARDED:
                    shutil.rmtree(bag_dir, ignore_errors=True)
                    path = None
                else:
                    write_episode_metadata(bag_dir, episode)
                    path = bag_dir
                summary = EpisodeSummary(
                    name=name,
                    path=path,
                    outcome=outcome,
                    message_counts=dict(result.written),
                    dropped_messages=result.dropped,
                    duration_s=episode.duration_s or 0.0,
                    interruption_reason=reason,
                    close_error=result.close_error,
                )
            finally:
                self._writer = self._episode = self._bag_dir = None
                self._machine.finish_stop()
            self.last_summary = summary
            (LOG.warning if outcome is EpisodeOutcome.INTERRUPTED else LOG.info)(summary.describe())
            return summary
