"""The recorder's typed status message from the episode recorder's snapshot (no rclpy node)."""

from __future__ import annotations

from pathlib import Path

from builtin_interfaces.msg import Time

from gr00t_interfaces.msg import RecorderStatus
from gr00t_teleop.recorder_status import status_message
from gr00t_teleop.recording import EpisodeOutcome, EpisodeSummary


def test_an_episode_in_progress_with_drops_and_a_writer_failure():
    status = {
        "state": "recording",
        "output_dir": "/data/episodes",
        "episode": "episode_000003_x",
        "task": "pick the pear",
        "path": "/data/episodes/episode_000003_x",
        "elapsed_s": 12.345,
        "messages": {"/joint_states": 120, "/head_camera/image_raw": 30},
        "dropped": {"/head_camera/image_raw": 2, "/late": 1},  # a topic may have drops only
        "queued_messages": 4,
        "queued_bytes": 4096,
        "bytes_written": 1 << 30,
        "writer_failure": "only 10 MiB free",
    }
    msg = status_message(status, None, 5 << 30, Time(sec=7, nanosec=8))
    assert msg.state == RecorderStatus.STATE_RECORDING and msg.header.stamp == Time(sec=7, nanosec=8)
    assert (msg.output_dir, msg.episode, msg.task) == ("/data/episodes", "episode_000003_x", "pick the pear")
    assert msg.path == "/data/episodes/episode_000003_x" and (msg.elapsed.sec, msg.elapsed.nanosec) == (12, 345_000_000)
    assert msg.topics == ["/joint_states", "/head_camera/image_raw", "/late"]
    assert list(msg.message_counts) == [120, 30, 0] and list(msg.dropped_counts) == [0, 2, 1]
    assert (msg.queued_messages, msg.queued_bytes, msg.bytes_written) == (4, 4096, 1 << 30)
    assert msg.writer_failure == "only 10 MiB free" and msg.free_disk_bytes == 5 << 30
    assert msg.last_outcome == RecorderStatus.OUTCOME_NONE and msg.last_episode == msg.last_summary == ""


def test_idle_after_an_episode_names_its_outcome_and_summary():
    for outcome, expected, path in [
        (EpisodeOutcome.SUCCESS, RecorderStatus.OUTCOME_SUCCESS, Path("/d/e1")),
        (EpisodeOutcome.FAILURE, RecorderStatus.OUTCOME_FAILURE, Path("/d/e1")),
        (EpisodeOutcome.INTERRUPTED, RecorderStatus.OUTCOME_INTERRUPTED, Path("/d/e1")),
        (EpisodeOutcome.DISCARDED, RecorderStatus.OUTCOME_DISCARDED, None),
    ]:
        last = EpisodeSummary("e1", path, outcome, {"/a": 10}, {}, 1.0)
        msg = status_message({"state": "idle", "output_dir": "/d", "last_episode": last.describe()}, last, None, Time())
        assert msg.state == RecorderStatus.STATE_IDLE and msg.episode == "" and msg.topics == []
        assert msg.writer_failure == "" and msg.free_disk_bytes == -1  # free space unknown
        assert msg.last_outcome == expected and msg.last_episode == "e1"
        assert msg.last_episode_path == (str(path) if path else "") and msg.last_summary == last.describe()


def test_stopping_is_its_own_state():
    status = {"state": "stopping", "output_dir": "/d", "episode": "e", "task": "t", "path": "/d/e", "elapsed_s": 1.0}
    assert status_message(status, None, 0, Time()).state == RecorderStatus.STATE_STOPPING
