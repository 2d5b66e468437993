"""Bags written by `McapBagWriter` are what `ros2 bag` writes and what the independent `rosbags`
reader accepts: right topics, types, QoS, counts, and decodable messages."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_typestore
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

from gr00t_teleop.recording.bag_metadata import dump_offered_qos, parse_offered_qos
from gr00t_teleop.recording.bag_writer import BagWriterConfig, McapBagWriter

NAMES = ["left_shoulder_pitch_joint", "left_elbow_pitch_joint"]
T0 = 1_700_000_000_000_000_000


def write_small_bag(bag_dir, compression="zstd", joint_count=30, image_count=3):
    writer = McapBagWriter(bag_dir, make_topics(), BagWriterConfig(chunk_size_bytes=4096, compression=compression))
    writer.open()
    writer.write(INSTRUCTION, instruction_bytes("pick the pear", T0), T0)
    for i in range(joint_count):
        t = T0 + i * 10_000_000
        writer.write(JOINT_STATES, joint_state_bytes(NAMES, [0.1 * i, -0.2], t), t)
        writer.write(JOINT_COMMAND, joint_state_bytes(NAMES, [0.1 * i + 0.05, -0.2], t), t)
    for i in range(image_count):
        t = T0 + i * 33_000_000
        writer.write(CAMERA, image_bytes(np.full((8, 6, 3), i, np.uint8), t), t)
    document = writer.close({"gr00t.episode.task": "pick the pear"})
    return writer, document


@pytest.mark.parametrize("compression", ["zstd", "none"])
def test_rosbags_reads_every_message_of_a_written_bag(tmp_path, compression):
    bag_dir = tmp_path / "episode_000000_x"
    _, _ = write_small_bag(bag_dir, compression)
    assert sorted(p.name for p in bag_dir.iterdir()) == ["episode_000000_x_0.mcap", "metadata.yaml"]

    with AnyReader([bag_dir], default_typestore=get_typestore(Stores.ROS2_KILTED)) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
        assert counts == {JOINT_STATES: 30, JOINT_COMMAND: 30, CAMERA: 3, INSTRUCTION: 1}
        decoded: dict[str, list] = {}
        for connection, timestamp, raw in reader.messages():
            decoded.setdefault(connection.topic, []).append((timestamp, reader.deserialize(raw, connection.msgtype)))
    assert sum(len(v) for v in decoded.values()) == 64
    # Custom interfaces decode from the schema text alone (no gr00t_interfaces in rosbags' store).
    assert decoded[INSTRUCTION][0][1].text == "pick the pear"
    first_state = decoded[JOINT_STATES][3][1]
    assert list(first_state.name) == NAMES and first_state.position[0] == pytest.approx(0.3)
    image = decoded[CAMERA][2][1]
    assert (image.height, image.width, image.encoding) == (8, 6, "rgb8") and set(image.data.tolist()) == {2}
    timestamps = [t for t, _ in decoded[JOINT_STATES]]
    assert timestamps == sorted(timestamps) and timestamps[0] == T0


def test_metadata_yaml_is_version_8_with_qos_identical_to_the_channels(tmp_path):
    bag_dir = tmp_path / "bag"
    writer, _ = write_small_bag(bag_dir)
    info = yaml.safe_load((bag_dir / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert info["version"] == 8 and info["storage_identifier"] == "mcap"
    assert info["relative_file_paths"] == ["bag_0.mcap"] and info["files"][0]["path"] == "bag_0.mcap"
    assert info["message_count"] == 64 and info["files"][0]["message_count"] == 64
    assert info["starting_time"]["nanoseconds_since_epoch"] == T0
    assert info["duration"]["nanoseconds"] == 290_000_000  # last joint message at T0 + 29 * 10 ms
    assert info["custom_data"] == {"gr00t.episode.task": "pick the pear"}
    by_topic = {t["topic_metadata"]["name"]: t for t in info["topics_with_message_count"]}
    assert by_topic[CAMERA]["message_count"] == 3
    meta = by_topic[INSTRUCTION]["topic_metadata"]
    assert meta["serialization_format"] == "cdr" and meta["type"] == "gr00t_interfaces/msg/Instruction"
    assert meta["type_description_hash"].startswith("RIHS01_")
    # Integer enums in a YAML string (v8): Humble's and Jazzy's parsers both accept this form.
    assert isinstance(meta["offered_qos_profiles"], str)
    assert parse_offered_qos(meta["offered_qos_profiles"])[0].durability == 1  # transient local

    from mcap.reader import make_reader

    with open(bag_dir / "bag_0.mcap", "rb") as stream:
        reader = make_reader(stream)
        summary = reader.get_summary()
        assert reader.get_header().profile == "ros2"
        assert summary.statistics.message_count == 64
        for channel in summary.channels.values():
            assert channel.message_encoding == "cdr"
            assert (
                channel.metadata["offered_qos_profiles"]
                == by_topic[channel.topic]["topic_metadata"]["offered_qos_profiles"]
            )
        schemas = {s.name: s for s in summary.schemas.values()}
        assert all(s.encoding == "ros2msg" for s in schemas.values())
        assert "MSG: builtin_interfaces/Time" in schemas["sensor_msgs/msg/JointState"].data.decode()
        records = {m.name: m.metadata for m in reader.iter_metadata()}
        assert yaml.safe_load(records["rosbag2"]["serialized_metadata"]) == yaml.safe_load(
            (bag_dir / "metadata.yaml").read_text()
        )


def test_qos_string_matches_the_documented_v8_form():
    from teleop_test_support import LATCHED_QOS

    assert dump_offered_qos([LATCHED_QOS]) == (
        "- avoid_ros_namespace_conventions: false\n  deadline: {nsec: 0, sec: 0}\n  depth: 1\n"
        "  durability: 1\n  history: 1\n  lifespan: {nsec: 0, sec: 0}\n  liveliness: 1\n"
        "  liveliness_lease_duration: {nsec: 0, sec: 0}\n  reliability: 1"
    )


def test_writing_an_undeclared_topic_names_the_known_ones(tmp_path):
    writer = McapBagWriter(tmp_path / "bag", make_topics())
    writer.open()
    with pytest.raises(KeyError, match="/joint_states"):
        writer.write("/tf", b"", T0)
    writer.close()


def test_an_existing_bag_is_never_overwritten(tmp_path):
    write_small_bag(tmp_path / "bag")
    with pytest.raises(FileExistsError):
        McapBagWriter(tmp_path / "bag", make_topics()).open()
