"""The recorder's `~/status` message (gr00t_interfaces/RecorderStatus) from the episode recorder's status
snapshot and its last episode's summary."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gr00t_interfaces.msg import RecorderStatus
from gr00t_teleop.recording import EpisodeOutcome, EpisodeState, EpisodeSummary

if TYPE_CHECKING:
    from builtin_interfaces.msg import Time  # the stamp, as Node.get_clock().now().to_msg() gives it

STATES = {
    EpisodeState.IDLE: RecorderStatus.STATE_IDLE,
    EpisodeState.RECORDING: RecorderStatus.STATE_RECORDING,
    EpisodeState.STOPPING: RecorderStatus.STATE_STOPPING,
}
# `recording` is an outcome only in the episode.yaml of an episode not finished yet, never of an ended one.
OUTCOMES = {
    EpisodeOutcome.SUCCESS: RecorderStatus.OUTCOME_SUCCESS,
    EpisodeOutcome.FAILURE: RecorderStatus.OUTCOME_FAILURE,
    EpisodeOutcome.INTERRUPTED: RecorderStatus.OUTCOME_INTERRUPTED,
    EpisodeOutcome.DISCARDED: RecorderStatus.OUTCOME_DISCARDED,
}
UINT64_MAX = (1 << 64) - 1


def _count(value: Any) -> int:
    return min(max(int(value), 0), UINT64_MAX)


def status_message(
    status: dict[str, Any], last: EpisodeSummary | None, free_disk_bytes: int | None, stamp: Time
) -> RecorderStatus:
    """`status` is `EpisodeRecorder.status(now_ns)`; `free_disk_bytes` None when it could not be read."""
    msg = RecorderStatus(state=STATES[EpisodeState(status["state"])], output_dir=status["output_dir"])
    msg.header.stamp = stamp
    msg.free_disk_bytes = -1 if free_disk_bytes is None else int(free_disk_bytes)
    if "episode" in status:
        msg.episode, msg.task, msg.path = status["episode"], status["task"], status["path"]
        elapsed_ns = max(0, round(status.get("elapsed_s", 0.0) * 1e9))
        msg.elapsed.sec, msg.elapsed.nanosec = divmod(elapsed_ns, 1_000_000_000)
    messages: dict[str, int] = status.get("messages", {})
    dropped: dict[str, int] = status.get("dropped", {})
    # Every topic of the episode is in `messages` (0 until its first message); drops may name others.
    topics = [*messages, *sorted(set(dropped) - set(messages))]
    msg.topics = topics
    msg.message_counts = [_count(messages.get(t, 0)) for t in topics]
    msg.dropped_counts = [_count(dropped.get(t, 0)) for t in topics]
    msg.queued_messages = _count(status.get("queued_messages", 0))
    msg.queued_bytes = _count(status.get("queued_bytes", 0))
    msg.bytes_written = _count(status.get("bytes_written", 0))
    msg.writer_failure = status.get("writer_failure") or ""
    if last is not None:
        msg.last_outcome = OUTCOMES[last.outcome]
        msg.last_episode = last.name
        msg.last_episode_path = str(last.path) if last.path is not None else ""
        msg.last_summary = last.describe()
    return msg
