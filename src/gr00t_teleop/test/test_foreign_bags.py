"""gr00t-convert on bags recorded by other tools (`ros2 bag record`): MCAP and sqlite3, their own topic
and joint names, compressed images, commands as trajectories or bare arrays, no commands at all
(action = next state), messages out of order, a camera that drops out, several episodes per bag
(time gaps, marker messages), and the errors a wrong mapping or a damaged bag give."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from foreign_bag_support import (
    SECOND,
    Message,
    as_humble_metadata,
    compressed_image,
    flat_frame,
    float_array,
    joint_state,
    joint_trajectory,
    marker,
    raw_image,
    text,
    write_bag,
)

from gr00t_description import load_stack
from gr00t_policy.model.embodiments import get_data_config
from gr00t_teleop.conversion import ConversionConfig, ConversionError, convert
from gr00t_teleop.conversion.bag_mapping import BagMappingError, load_mapping
from gr00t_teleop.conversion.cli import main as convert_main

FPS = 20.0
STATE_HZ, COMMAND_HZ, CAMERA_HZ = 100, 50, 30
T0 = 1_750_000_000 * SECOND


def robot_joints() -> list[str]:
    """The gr1_arms_only layout's joints, by the robot config's names (what the dataset stores)."""
    stack = load_stack()
    data_config = get_data_config("gr1_arms_only")
    return list(stack.robot.group_joints([g for g, _ in data_config.state_groups]))


def bag_name(joint: str) -> str:
    """Their driver's name for our joint (a mapping renames it back)."""
    return "gr1/" + joint.removesuffix("_joint")


def state_value(joint: int, t_s: float) -> float:
    return 0.01 * joint + 0.1 * t_s


def state_time(joint: int, value: np.ndarray) -> np.ndarray:
    """Invert state_value: when a stored value was measured."""
    return (value - 0.01 * joint) / 0.1


def shuffled(messages: list[Message], rng: np.random.Generator) -> list[Message]:
    """Bag order ≠ time order: swap neighbours at random (a busy recorder's interleaving)."""
    messages = sorted(messages, key=lambda m: m.log_time_ns)
    for i in rng.choice(len(messages) - 1, size=len(messages) // 5, replace=False):
        messages[i], messages[i + 1] = messages[i + 1], messages[i]
    return messages


def session(
    start_s: float,
    duration_s: float,
    camera_gap: tuple[float, float] | None = None,
    command_kind: str = "trajectory",
    compressed: bool = True,
    with_state_names: bool = True,
) -> list[Message]:
    """One stretch of recording: joint states 100 Hz, commands 50 Hz (+1 rad), camera 30 Hz whose
    grey level is its frame number (camera stamps lag 30 ms behind acquisition in log time)."""
    joints = robot_joints()
    names = [bag_name(j) for j in joints]
    out: list[Message] = []

    def times(rate: int):
        """(t in s since T0, stamp in ns) at `rate`, on integer nanoseconds."""
        start_ns = round(start_s * SECOND)
        for k in range(round(duration_s * rate) + 1):
            t_ns = start_ns + k * SECOND // rate
            yield t_ns / SECOND, T0 + t_ns

    for t, t_ns in times(STATE_HZ):
        values = [state_value(j, t) for j in range(len(joints))]
        if with_state_names:
            out.append(
                Message(
                    "/gr1/joint_states",
                    "sensor_msgs/msg/JointState",
                    t_ns + 2_000_000,
                    joint_state(names, values, t_ns),
                )
            )
        else:
            out.append(Message("/gr1/joint_positions", "std_msgs/msg/Float64MultiArray", t_ns, float_array(values)))
    for t, t_ns in times(COMMAND_HZ):
        values = [state_value(j, t) + 1.0 for j in range(len(joints))]
        if command_kind == "trajectory":
            # Reversed joint order: commands are matched by name, not position.
            out.append(
                Message(
                    "/gr1/arm_controller/joint_trajectory",
                    "trajectory_msgs/msg/JointTrajectory",
                    t_ns + 1_000_000,
                    joint_trajectory(names[::-1], values[::-1], t_ns),
                )
            )
        elif command_kind == "array":
            out.append(
                Message(
                    "/gr1/forward_position_controller/commands",
                    "std_msgs/msg/Float64MultiArray",
                    t_ns,
                    float_array(values),
                )
            )
    for t, t_ns in times(CAMERA_HZ):
        if camera_gap and camera_gap[0] <= t < camera_gap[1]:
            continue
        frame = flat_frame(round(t * CAMERA_HZ) * 3)
        image = compressed_image(frame, t_ns) if compressed else raw_image(frame, t_ns, "bgr8")
        topic, msgtype = (
            ("/cams/head/image_raw/compressed", "sensor_msgs/msg/CompressedImage")
            if compressed
            else ("/cams/head/image_raw", "sensor_msgs/msg/Image")
        )
        out.append(Message(topic, msgtype, t_ns + 30_000_000, image))
    return out


def write_mapping(path, **overrides) -> str:
    joints = robot_joints()
    mapping = {
        "state": {"topic": "/gr1/joint_states"},
        "action": {"topic": "/gr1/arm_controller/joint_trajectory"},
        "cameras": {"ego_view": {"topic": "/cams/head/image_raw/compressed"}},
        "task": {"topic": "/task"},
        "episodes": {"split": "gap", "gap_s": 1.0},
        "joint_names": {bag_name(j): j for j in joints},
        "max_camera_gap_s": 0.2,
    }
    mapping.update(overrides)
    path.write_text(yaml.safe_dump(mapping))
    return str(path)


@pytest.fixture(scope="module")
def foreign_bags(tmp_path_factory):
    """Two bags of one robot: an MCAP bag (Jazzy/Kilted's default storage) holding two episodes 3 s
    apart, the task topic changing between them, the camera out for 0.5 s in the first; and a sqlite3
    bag (Humble's default) with Humble's metadata (version 5), one episode."""
    root = tmp_path_factory.mktemp("foreign")
    rng = np.random.default_rng(0)
    first = session(0.0, 2.0, camera_gap=(0.8, 1.3)) + session(5.0, 1.5)
    first += [
        Message("/task", "std_msgs/msg/String", T0, text("pick the pear")),
        Message("/task", "std_msgs/msg/String", T0 + 4 * SECOND, text("place the pear in the plate")),
    ]
    # An unrelated topic the mapping does not name.
    first += [Message("/rosout_like", "std_msgs/msg/String", T0 + SECOND, text("noise"))]
    write_bag(root / "bags" / "session_a", shuffled(first, rng), storage="mcap", version=9)
    second = session(20.0, 1.2) + [Message("/task", "std_msgs/msg/String", T0 + 19 * SECOND, text("pick the pear"))]
    write_bag(root / "bags" / "session_b", shuffled(second, rng), storage="sqlite3", version=8)
    as_humble_metadata(root / "bags" / "session_b")
    return root


def test_mcap_and_sqlite3_bags_convert_through_a_mapping(foreign_bags, tmp_path):
    assert list((foreign_bags / "bags/session_a").glob("*.mcap")) and list(
        (foreign_bags / "bags/session_b").glob("*.db3")
    )
    out = tmp_path / "dataset"
    report = convert(
        ConversionConfig(
            inputs=(foreign_bags / "bags",),
            output_dir=out,
            fps=FPS,
            progress=False,
            mapping=write_mapping(tmp_path / "mapping.yaml"),
        )
    )
    assert [(bag.name, length) for _i, bag, length in report.episodes] == [
        ("session_a", 41),
        ("session_a", 31),
        ("session_b", 25),
    ], report.describe()
    # The camera dropped out for 0.5 s in the first episode: reported, frames held.
    assert any(
        "camera ego_view" in w and "session_a" in w and "no new frame for up to 0.48 s" in w for w in report.warnings
    ), report.warnings

    episodes = [json.loads(line) for line in (out / "meta/episodes.jsonl").read_text().splitlines()]
    assert [e["tasks"][0] for e in episodes] == ["pick the pear", "place the pear in the plate", "pick the pear"]
    info = json.loads((out / "meta/info.json").read_text())
    joints = robot_joints()
    assert info["features"]["observation.state"]["names"] == joints
    assert info["total_frames"] == 97

    for index, start_s in ((0, 0.0), (1, 5.0), (2, 20.0)):
        table = pq.read_table(out / f"data/chunk-000/episode_{index:06d}.parquet")
        state = np.array(table.column("observation.state").to_pylist())
        action = np.array(table.column("action").to_pylist())
        # Every joint of a frame was measured at one instant (matched by name after renaming) ...
        times = np.stack([state_time(j, state[:, j]) for j in range(len(joints))], axis=1)
        assert np.allclose(times, times[:, :1], atol=1e-9)
        times = times[:, 0] - start_s
        # ... the latest state at or before each tick (state lags the tick by less than its period),
        # the ticks 1 / fps apart from the first moment every stream has data (the first command is
        # stamped with the state, the camera's first frame too: all start at the session start).
        ticks = np.arange(len(times)) / FPS
        assert np.all((ticks - times >= -1e-9) & (ticks - times < 1 / STATE_HZ + 1e-9)), ticks - times
        # The command in effect (50 Hz, +1 rad; JointTrajectory in reversed joint order).
        command_times = np.floor(ticks * COMMAND_HZ + 1e-9) / COMMAND_HZ + start_s
        expected = np.array([[state_value(j, t) + 1.0 for j in range(len(joints))] for t in command_times])
        assert np.allclose(action, expected, atol=1e-9)
        assert table.column("timestamp").to_pylist() == pytest.approx(list(ticks))

    # Video: the newest frame stamped at or before each tick, despite compression and the drop-out.
    with av.open(str(out / "videos/chunk-000/observation.images.ego_view/episode_000000.mp4")) as container:
        grey = np.array([f.to_ndarray(format="rgb24").mean() for f in container.decode(video=0)])
    ticks = np.arange(41) / FPS
    frame_numbers = np.floor(ticks * CAMERA_HZ + 1e-6)
    in_gap = (frame_numbers / CAMERA_HZ >= 0.8) & (frame_numbers / CAMERA_HZ < 1.3)
    frame_numbers[in_gap] = np.ceil(0.8 * CAMERA_HZ) - 1  # the last frame before the drop-out
    assert np.abs(grey - frame_numbers * 3).max() < 4, np.round(grey - frame_numbers * 3, 1)


def test_no_commands_recorded_takes_the_next_state_and_markers_split_episodes(tmp_path):
    """A robot that logged only its positions (as a bare Float64MultiArray), raw bgr8 images, a fixed
    task text, and an episode marker topic."""
    joints = robot_joints()
    messages = session(0.0, 4.0, command_kind="none", compressed=False, with_state_names=False)
    messages += [Message("/episode_start", "std_msgs/msg/Empty", T0 + round(t * SECOND), marker()) for t in (0.5, 2.5)]
    write_bag(
        tmp_path / "bags/positions_only", shuffled(messages, np.random.default_rng(1)), storage="sqlite3", version=8
    )
    mapping = write_mapping(
        tmp_path / "mapping.yaml",
        state={"topic": "/gr1/joint_positions", "joints": joints},
        action={"from": "next_state"},
        cameras={"ego_view": {"topic": "/cams/head/image_raw"}},
        task={"text": "wave"},
        episodes={"split": "marker", "topic": "/episode_start", "min_length_s": 0.5},
        joint_names={},
    )
    out = tmp_path / "dataset"
    report = convert(
        ConversionConfig(inputs=(tmp_path / "bags",), output_dir=out, fps=FPS, progress=False, mapping=mapping)
    )
    # 0-0.5 s precedes the first marker: reported, not converted; then 0.5-2.5 s and 2.5-4 s.
    assert any("before the first marker" in why for _bag, why in report.skipped), report.skipped
    assert [length for _i, _bag, length in report.episodes] == [39, 30]
    table = pq.read_table(out / "data/chunk-000/episode_000000.parquet")
    state = np.array(table.column("observation.state").to_pylist())
    action = np.array(table.column("action").to_pylist())
    assert np.array_equal(action[:-1], state[1:])  # the action is where the robot was one frame later
    assert state_time(0, state[0, 0]) == pytest.approx(0.5, abs=1e-6)
    assert json.loads((out / "meta/episodes.jsonl").read_text().splitlines()[0])["tasks"][0] == "wave"


def test_mapping_mistakes_and_damaged_bags_give_clear_errors(foreign_bags, tmp_path, capsys):
    bags = foreign_bags / "bags"
    with pytest.raises(BagMappingError, match="unknown keys \\['camera'\\]"):
        load_mapping(write_mapping(tmp_path / "typo.yaml", camera={"ego_view": {"topic": "/x"}}))
    with pytest.raises(BagMappingError, match="exactly one of 'text'"):
        load_mapping(write_mapping(tmp_path / "task.yaml", task={}))
    with pytest.raises(BagMappingError, match="needs episodes.topic"):
        load_mapping(write_mapping(tmp_path / "marker.yaml", episodes={"split": "marker"}))

    missing_topic = write_mapping(tmp_path / "missing.yaml", cameras={"ego_view": {"topic": "/cams/wrist/image_raw"}})
    with pytest.raises(ConversionError) as error:
        convert(ConversionConfig(inputs=(bags,), output_dir=tmp_path / "a", progress=False, mapping=missing_topic))
    assert "/cams/wrist/image_raw" in str(error.value) and "/cams/head/image_raw/compressed" in str(error.value)

    no_rename = write_mapping(tmp_path / "names.yaml", joint_names={})
    with pytest.raises(ConversionError, match="never appear on the state topic.*gr1/left_shoulder_pitch.*joint_names"):
        convert(
            ConversionConfig(inputs=(bags / "session_b",), output_dir=tmp_path / "b", progress=False, mapping=no_rename)
        )

    wrong_type = write_mapping(tmp_path / "type.yaml", action={"topic": "/task"})
    with pytest.raises(ConversionError, match="action topic /task is std_msgs/msg/String"):
        convert(ConversionConfig(inputs=(bags,), output_dir=tmp_path / "c", progress=False, mapping=wrong_type))

    # A bag cut short (a crash while writing the MCAP file): a clear error, not a traceback.
    damaged = tmp_path / "damaged" / "session_a"
    damaged.mkdir(parents=True)
    for source in (bags / "session_a").iterdir():
        data = source.read_bytes()
        (damaged / source.name).write_bytes(data[: len(data) // 2] if source.suffix == ".mcap" else data)
    code = convert_main(
        [
            str(damaged),
            "-o",
            str(tmp_path / "d"),
            "--quiet",
            "--workers",
            "1",
            "--mapping",
            write_mapping(tmp_path / "ok.yaml"),
        ]
    )
    assert code == 1
    assert "session_a" in capsys.readouterr().err


def convert_two_task_session(root: Path, fps: float) -> dict[str, Path]:
    """One MCAP bag of two episodes whose task text comes from a topic, converted to both layouts
    (format name -> dataset directory): the shared input of the LeRobot layout and loader tests."""
    messages = session(0.0, 2.0) + session(5.0, 1.5)
    messages += [
        Message("/task", "std_msgs/msg/String", T0, text("pick the pear")),
        Message("/task", "std_msgs/msg/String", T0 + 4 * 10**9, text("place the pear")),
    ]
    write_bag(root / "bags" / "session", sorted(messages, key=lambda m: m.log_time_ns), storage="mcap")
    mapping = write_mapping(root / "mapping.yaml")
    out = {}
    for fmt in ("gr00t-v2", "lerobot-v3"):
        out[fmt] = root / fmt
        convert(
            ConversionConfig(
                inputs=(root / "bags",), output_dir=out[fmt], fps=fps, progress=False, mapping=mapping, format=fmt
            )
        )
    return out
