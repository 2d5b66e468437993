"""gr00t-convert on a synthetic episode set recorded by our own recorder: the dataset has the GR00T
LeRobot v2 layout, streams are resampled causally by timestamp, groups match the data config,
failed episodes are skipped unless asked, and validation catches a broken dataset."""

from __future__ import annotations

import json
import shutil

import av
import numpy as np
import pyarrow.parquet as pq
import pytest
from teleop_test_support import (
    CAMERA,
    INSTRUCTION,
    JOINT_COMMAND,
    JOINT_STATES,
    image_bytes,
    instruction_bytes,
    joint_state_bytes,
    make_topics,
)

from gr00t_description import load_stack
from gr00t_policy.model.embodiments import get_data_config
from gr00t_teleop.conversion import ConversionConfig, DatasetValidationError, convert, validate_dataset
from gr00t_teleop.conversion.cli import main as convert_main
from gr00t_teleop.conversion.resampling import forward_fill, make_timeline, sample_and_hold
from gr00t_teleop.recording import EpisodeRecorder, RecorderConfig, WriterQueueConfig

SECOND = 1_000_000_000
FPS = 20.0
STATE_HZ, COMMAND_HZ, CAMERA_HZ = 100, 120, 30


def state_value(joint: int, t_s: float) -> float:
    return 0.01 * joint + 0.1 * t_s


def record_episode(recorder, stack, task: str, start_ns: int, duration_s: float, success: bool, camera_offset: int):
    joints = list(stack.robot.joint_names)
    commanded = stack.robot.group_joints(["left_arm", "right_arm", "left_hand", "right_hand"])
    recorder.start(task, make_topics(), now_ns=start_ns)
    recorder.record(INSTRUCTION, instruction_bytes("an older instruction", start_ns), start_ns)
    events = []
    for k in range(int(duration_s * STATE_HZ) + 1):
        events.append((start_ns + k * SECOND // STATE_HZ, "state"))
    for k in range(int(duration_s * COMMAND_HZ) + 1):
        events.append((start_ns + k * SECOND // COMMAND_HZ + 1_000_000, "command"))  # 1 ms after the tick
    for k in range(int(duration_s * CAMERA_HZ) + 1):
        events.append((start_ns + k * SECOND // CAMERA_HZ, ("camera", k)))
    for t, kind in sorted(events, key=lambda e: e[0]):
        rel = (t - start_ns) / SECOND
        if kind == "state":
            data = joint_state_bytes(joints, [state_value(j, rel) for j in range(len(joints))], t)
            recorder.record(JOINT_STATES, data, t)
        elif kind == "command":
            # Commands name joints by name in another order, with a +1 rad offset to tell them apart.
            order = list(reversed(commanded))
            values = [state_value(joints.index(n), rel) + 1.0 for n in order]
            recorder.record(JOINT_COMMAND, joint_state_bytes(order, values, t), t)
        else:
            frame = (camera_offset + kind[1]) * 8 % 256
            recorder.record(CAMERA, image_bytes(np.full((32, 48, 3), frame, np.uint8), t), t)
    return recorder.stop(success=success, now_ns=start_ns + int(duration_s * SECOND))


@pytest.fixture(scope="module")
def episodes_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("episodes")
    stack = load_stack()
    recorder = EpisodeRecorder(
        RecorderConfig(
            output_dir=root,
            robot="gr1t2",
            embodiment_tag="gr1",
            data_config="gr1_arms_only",
            queue=WriterQueueConfig(max_queue_messages=100_000),
        ),
        free_bytes=lambda _p: 1 << 40,
    )
    t0 = 1_700_000_000 * SECOND
    record_episode(recorder, stack, "pick the pear", t0, 1.0, True, 0)
    record_episode(recorder, stack, "place the pear in the plate", t0 + 10 * SECOND, 1.2, True, 100)
    record_episode(recorder, stack, "pick the pear", t0 + 20 * SECOND, 0.6, False, 200)
    return root


def test_causal_resampling_holds_the_latest_sample():
    ms = 1_000_000
    ticks = make_timeline(1000 * ms, 1200 * ms, 20.0)
    assert ticks.tolist() == [1000 * ms, 1050 * ms, 1100 * ms, 1150 * ms, 1200 * ms]
    times = np.array([990, 1040, 1060, 1200]) * ms  # a sample exactly at a tick counts for it
    assert sample_and_hold(times, np.arange(4), ticks).tolist() == [0, 1, 2, 2, 3]
    filled = forward_fill(np.array([[np.nan, 1.0], [2.0, np.nan], [np.nan, 3.0]]))
    assert np.array_equal(np.isnan(filled), [[True, False], [False, False], [False, False]])
    assert filled[2].tolist() == [2.0, 3.0]


def test_conversion_writes_a_valid_gr00t_dataset(episodes_dir, tmp_path):
    out = tmp_path / "dataset"
    report = convert(ConversionConfig(inputs=(episodes_dir,), output_dir=out, fps=FPS, progress=False))
    assert len(report.episodes) == 2 and len(report.skipped) == 1
    assert "failure" in report.skipped[0][1] and "--include-failed" in report.skipped[0][1]

    data_config = get_data_config("gr1_arms_only")
    modality = json.loads((out / "meta/modality.json").read_text())
    start = 0
    for group, dim in data_config.state_groups:
        assert modality["state"][group] == {"start": start, "end": start + dim}
        assert modality["action"][group] == modality["state"][group]
        start += dim
    assert modality["video"] == {"ego_view": {"original_key": "observation.images.ego_view"}}
    assert "human.action.task_description" in modality["annotation"]

    info = json.loads((out / "meta/info.json").read_text())
    episodes = [json.loads(line) for line in (out / "meta/episodes.jsonl").read_text().splitlines()]
    tasks = [json.loads(line) for line in (out / "meta/tasks.jsonl").read_text().splitlines()]
    assert [t["task"] for t in tasks] == ["pick the pear", "place the pear in the plate", "valid"]
    # The episode's task wins over instructions recorded in the bag.
    assert [e["tasks"][0] for e in episodes] == ["pick the pear", "place the pear in the plate"]
    assert [e["length"] for e in episodes] == [20, 24]  # ticks over the overlap of all streams
    assert info["total_frames"] == 44 and info["features"]["observation.images.ego_view"]["shape"] == [32, 48, 3]
    assert info["features"]["observation.state"]["shape"] == [26]

    stack = load_stack()
    joints = stack.robot.joint_names
    stored = stack.robot.group_joints([g for g, _ in data_config.state_groups])
    assert info["features"]["action"]["names"] == stored
    table = pq.read_table(out / "data/chunk-000/episode_000001.parquet")
    assert set(table.column_names) >= {
        "observation.state",
        "action",
        "timestamp",
        "annotation.human.action.task_description",
        "task_index",
        "annotation.human.validity",
        "episode_index",
        "index",
        "next.reward",
        "next.done",
    }
    state = np.array(table.column("observation.state").to_pylist())
    action = np.array(table.column("action").to_pylist())
    assert table.column("index").to_pylist() == list(range(20, 44))
    assert table.column("annotation.human.validity").to_pylist() == [2] * 24
    # t_0 = the latest first sample over the streams (the first command, 1 ms in); every stream's
    # value at a tick is its latest sample at or before it.
    ticks = 0.001 + np.arange(24) / FPS
    state_times = np.floor(ticks * STATE_HZ + 1e-9) / STATE_HZ
    expected_state = np.array([[state_value(joints.index(n), t) for n in stored] for t in state_times])
    assert np.allclose(state, expected_state, atol=1e-9)
    command_times = np.floor((ticks - 0.001) * COMMAND_HZ + 1e-9) / COMMAND_HZ + 0.001
    expected_action = np.array([[state_value(joints.index(n), t) + 1.0 for n in stored] for t in command_times])
    assert np.allclose(action, expected_action, atol=1e-9)

    stats = json.loads((out / "meta/stats.json").read_text())
    all_states = np.concatenate(
        [
            np.array(
                pq.read_table(out / f"data/chunk-000/episode_00000{i}.parquet").column("observation.state").to_pylist()
            )
            for i in range(2)
        ]
    )
    assert np.allclose(stats["observation.state"]["mean"], all_states.mean(axis=0), atol=1e-5)
    assert set(stats["action"]) == {"mean", "std", "min", "max", "q01", "q99", "count"}
    assert stats["action"]["count"] == [44]

    with av.open(str(out / "videos/chunk-000/observation.images.ego_view/episode_000001.mp4")) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 24 and frames[0].shape == (32, 48, 3)
    camera_index = np.floor(ticks * CAMERA_HZ + 1e-6).astype(int)
    expected_pixels = (100 + camera_index) * 8 % 256
    assert np.abs(np.array([f.mean() for f in frames]) - expected_pixels).max() < 3


def test_failed_episodes_are_included_on_request_in_parallel_from_the_cli(episodes_dir, tmp_path):
    out = tmp_path / "dataset"
    code = convert_main(
        [str(episodes_dir), "-o", str(out), "--include-failed", "--workers", "2", "--quiet", "--image-size", "16x16"]
    )
    assert code == 0
    info = json.loads((out / "meta/info.json").read_text())
    assert info["total_episodes"] == 3 and info["features"]["observation.images.ego_view"]["shape"] == [16, 16, 3]
    assert convert_main([str(episodes_dir), "-o", str(out), "--quiet", "--workers", "1"]) == 1  # not empty


def test_validation_lists_what_is_wrong(episodes_dir, tmp_path):
    out = tmp_path / "dataset"
    convert(ConversionConfig(inputs=(episodes_dir,), output_dir=out, fps=FPS, progress=False, validate=False))
    modality = json.loads((out / "meta/modality.json").read_text())
    modality["state"]["left_hand"]["end"] = 19
    (out / "meta/modality.json").write_text(json.dumps(modality))
    shutil.copy(out / "data/chunk-000/episode_000000.parquet", out / "data/chunk-000/episode_000001.parquet")
    data_config = get_data_config("gr1_arms_only")
    with pytest.raises(DatasetValidationError) as error:
        validate_dataset(out, {"state": data_config.state_groups}, data_config.video_keys, check_videos=False)
    text = str(error.value)
    assert "modality.state.left_hand has 5 dims, data config says 6" in text
    assert "episode 1: 20 rows, episodes.jsonl says 24" in text
