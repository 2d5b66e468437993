"""Episode state machine and recorder: transitions, clear refusals, metadata, dropped-message
accounting under back-pressure, and the low-disk stop."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import yaml
from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_typestore
from teleop_test_support import CAMERA, JOINT_STATES, image_bytes, joint_state_bytes, make_topics

from gr00t_teleop.recording import (
    BagWriterConfig,
    EpisodeOutcome,
    EpisodeRecorder,
    EpisodeState,
    EpisodeStateMachine,
    RecorderConfig,
    RecorderStateError,
    WriterQueueConfig,
    read_episode_metadata,
    read_metadata,
)
from gr00t_teleop.recording.bag_writer import McapBagWriter

GIB = 1 << 30
T0 = 1_000_000_000_000


def make_recorder(tmp_path, free=lambda _p: 100 * GIB, required_topics=(), **queue) -> EpisodeRecorder:
    queue_config = WriterQueueConfig(flush_period_s=0.05, disk_check_period_s=0.02, min_free_bytes=GIB, **queue)
    config = RecorderConfig(
        output_dir=tmp_path / "episodes",
        robot="gr1t2",
        embodiment_tag="gr1",
        data_config="gr1_arms_only",
        operator="alice",
        calibration="gr1t2-2025-01",
        bag=BagWriterConfig(chunk_size_bytes=8192),
        queue=queue_config,
        required_topics=required_topics,
    )
    return EpisodeRecorder(config, free_bytes=free)


def record_joints(recorder, count, start_ns=T0):
    accepted = 0
    for i in range(count):
        t = start_ns + i * 5_000_000
        accepted += recorder.record(JOINT_STATES, joint_state_bytes(["a", "b"], [i, -i], t), t)
    return accepted


def test_state_machine_walks_idle_recording_stopping_idle_and_refuses_the_rest():
    machine = EpisodeStateMachine()
    with pytest.raises(RecorderStateError, match="no episode is being recorded"):
        machine.begin_stop("stop")
    machine.begin_start("episode_000000")
    assert machine.state is EpisodeState.RECORDING
    with pytest.raises(RecorderStateError, match="already recording episode 'episode_000000'"):
        machine.begin_start("episode_000001")
    machine.begin_stop("stop")
    assert machine.state is EpisodeState.STOPPING
    with pytest.raises(RecorderStateError, match="still finishing"):
        machine.begin_start("episode_000001")
    with pytest.raises(RecorderStateError, match="already stopping"):
        machine.begin_stop("cancel")
    machine.finish_stop()
    assert machine.state is EpisodeState.IDLE and machine.episode_name is None


def test_successful_episode_writes_bag_metadata_and_episode_yaml(tmp_path):
    recorder = make_recorder(tmp_path)
    episode = recorder.start("pick the pear", make_topics(), now_ns=T0)
    assert episode.name.startswith("episode_000000_") and recorder.state is EpisodeState.RECORDING
    assert read_episode_metadata(tmp_path / "episodes" / episode.name).outcome is EpisodeOutcome.RECORDING
    assert record_joints(recorder, 50) == 50
    recorder.record(CAMERA, image_bytes(np.zeros((4, 4, 3), np.uint8), T0), T0)
    summary = recorder.stop(success=True, now_ns=T0 + 2_000_000_000)

    assert recorder.state is EpisodeState.IDLE
    assert summary.outcome is EpisodeOutcome.SUCCESS and summary.message_counts[JOINT_STATES] == 50
    meta = read_episode_metadata(summary.path)
    assert (meta.outcome, meta.success, meta.task, meta.operator) == (
        EpisodeOutcome.SUCCESS,
        True,
        "pick the pear",
        "alice",
    )
    assert meta.duration_s == pytest.approx(2.0) and meta.dropped_messages == {}
    info = read_metadata(summary.path)
    assert info["custom_data"]["gr00t.episode.outcome"] == "success"
    assert info["custom_data"]["gr00t.episode.calibration"] == "gr1t2-2025-01"
    with AnyReader([summary.path], default_typestore=get_typestore(Stores.ROS2_KILTED)) as reader:
        assert {c.topic: c.msgcount for c in reader.connections}[JOINT_STATES] == 50

    second = recorder.start("place it in the plate", make_topics(), now_ns=T0 + 3_000_000_000)
    assert second.index == 1  # numbering continues
    failed = recorder.stop(success=False, now_ns=T0 + 4_000_000_000)
    assert read_episode_metadata(failed.path).success is False


def test_a_success_without_messages_on_a_required_topic_is_kept_as_interrupted(tmp_path):
    recorder = make_recorder(tmp_path, required_topics=(JOINT_STATES,))
    recorder.start("pick the pear", make_topics(), now_ns=T0)
    recorder.record(CAMERA, image_bytes(np.zeros((4, 4, 3), np.uint8), T0), T0)  # camera only: no joint states
    summary = recorder.stop(success=True, now_ns=T0 + 1_000_000_000)
    assert summary.outcome is EpisodeOutcome.INTERRUPTED and JOINT_STATES in summary.interruption_reason
    meta = read_episode_metadata(summary.path)
    assert (meta.outcome, meta.success, meta.interrupted) == (EpisodeOutcome.INTERRUPTED, False, True)
    assert read_metadata(summary.path)["custom_data"]["gr00t.episode.outcome"] == "interrupted"

    recorder.start("pick the pear", make_topics(), now_ns=T0 + 2_000_000_000)
    record_joints(recorder, 5, start_ns=T0 + 2_000_000_000)
    assert recorder.stop(success=True, now_ns=T0 + 3_000_000_000).outcome is EpisodeOutcome.SUCCESS
    recorder.start("pick the pear", make_topics(), now_ns=T0 + 4_000_000_000)
    assert recorder.stop(success=False, now_ns=T0 + 5_000_000_000).outcome is EpisodeOutcome.FAILURE  # label kept


def test_bad_requests_are_refused_with_the_reason(tmp_path):
    recorder = make_recorder(tmp_path)
    with pytest.raises(RecorderStateError, match="no episode is being recorded"):
        recorder.stop(success=True, now_ns=T0)
    with pytest.raises(ValueError, match="task instruction is empty"):
        recorder.start("   ", make_topics(), now_ns=T0)
    recorder.start("pick", make_topics(), now_ns=T0)
    with pytest.raises(RecorderStateError, match="already recording"):
        recorder.start("pick again", make_topics(), now_ns=T0)
    recorder.cancel(now_ns=T0 + 1)
    assert recorder.record(JOINT_STATES, b"\x00\x01\x00\x00", T0) is False  # idle: ignored


def test_cancel_discards_the_episode_directory(tmp_path):
    recorder = make_recorder(tmp_path)
    episode = recorder.start("pick", make_topics(), now_ns=T0)
    record_joints(recorder, 10)
    summary = recorder.cancel(now_ns=T0 + 10)
    assert summary.outcome is EpisodeOutcome.DISCARDED and summary.path is None
    assert not (tmp_path / "episodes" / episode.name).exists()


def test_full_queue_drops_incoming_messages_and_counts_them(tmp_path, monkeypatch):
    gate = threading.Event()
    original_write = McapBagWriter.write

    def blocked_write(self, *args, **kwargs):
        gate.wait(timeout=10)
        return original_write(self, *args, **kwargs)

    monkeypatch.setattr(McapBagWriter, "write", blocked_write)
    recorder = make_recorder(tmp_path, max_queue_messages=5)
    recorder.start("pick", make_topics(), now_ns=T0)
    accepted = record_joints(recorder, 40)
    assert 5 <= accepted <= 6  # the queue, plus possibly one taken by the blocked writer thread
    gate.set()
    summary = recorder.stop(success=True, now_ns=T0 + 1)

    assert summary.message_counts[JOINT_STATES] == accepted
    assert summary.dropped_messages == {JOINT_STATES: 40 - accepted}
    meta = read_episode_metadata(summary.path)
    assert meta.dropped_messages == {JOINT_STATES: 40 - accepted}
    assert read_metadata(summary.path)["custom_data"]["gr00t.episode.dropped_messages"] == str(40 - accepted)


def test_start_is_refused_when_the_disk_is_nearly_full(tmp_path):
    recorder = make_recorder(tmp_path, free=lambda _p: GIB)  # below min_free_bytes_to_start (2 GiB)
    with pytest.raises(RecorderStateError, match="not enough disk space to start"):
        recorder.start("pick", make_topics(), now_ns=T0)
    assert recorder.state is EpisodeState.IDLE


def test_low_disk_while_recording_stops_cleanly_and_marks_the_episode_interrupted(tmp_path):
    free = {"bytes": 100 * GIB}
    recorder = make_recorder(tmp_path, free=lambda _p: free["bytes"])
    episode = recorder.start("pick", make_topics(), now_ns=T0)
    assert record_joints(recorder, 20) == 20
    time.sleep(0.2)  # let the writer drain
    free["bytes"] = GIB // 2
    deadline = time.monotonic() + 5
    summary = None
    while summary is None and time.monotonic() < deadline:
        summary = recorder.poll(now_ns=T0 + 1_000_000_000)
        time.sleep(0.02)
    assert summary is not None and summary.outcome is EpisodeOutcome.INTERRUPTED
    assert "disk space low" in summary.interruption_reason
    assert recorder.state is EpisodeState.IDLE
    meta = read_episode_metadata(tmp_path / "episodes" / episode.name)
    assert meta.interrupted and meta.success is False and "disk space low" in meta.interruption_reason
    with AnyReader([summary.path], default_typestore=get_typestore(Stores.ROS2_KILTED)) as reader:
        assert {c.topic: c.msgcount for c in reader.connections}[JOINT_STATES] == 20
    info = yaml.safe_load((summary.path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert info["custom_data"]["gr00t.episode.interrupted"] == "true"
