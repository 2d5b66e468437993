"""Read one episode bag with `rosbags` (the independent reader, so conversion also proves the bags
are readable without ROS) into time-stamped arrays, mapped by joint name."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.highlevel import AnyReader
from rosbags.serde import SerdeError
from rosbags.typesys import Stores, get_typestore

from ..recording.episode import EPISODE_FILENAME, EpisodeMetadata, read_episode_metadata
from .resampling import forward_fill, sort_by_time

LOG = logging.getLogger(__name__)

TIME_SOURCES = ("header", "log")


class EpisodeReadError(ValueError):
    """The bag lacks something the conversion needs (the message says what and where)."""


@dataclass(frozen=True)
class EpisodeTopics:
    """Absolute topic names in the bag (from the stack YAML)."""

    joint_states: str
    joint_command: str
    instruction: str
    cameras: dict[str, str]  # GR00T video key -> image topic


@dataclass
class JointStream:
    times_ns: np.ndarray  # (N,) int64, sorted
    positions: np.ndarray  # (N, J) in the requested joint order; NaN where never reported yet
    unreported_joints: list[str] = field(default_factory=list)


@dataclass
class EpisodeStreams:
    bag_dir: Path
    metadata: EpisodeMetadata | None
    states: JointStream
    commands: JointStream
    camera_times_ns: dict[str, np.ndarray]  # key -> (F,) int64 stamps of the image messages, in bag order
    instructions: list[str]
    lenient_decodes: int = 0  # messages with trailing bytes beyond their CDR size (see _deserialize)


def with_leading_slash(topic: str) -> str:
    return topic if topic.startswith("/") else "/" + topic


def _deserialize(reader: AnyReader, raw: bytes, msgtype: str, counter: list[int]) -> Any:
    """rosbags' strict CDR decode, falling back to ignoring trailing bytes.

    rmw_fastrtps' `rmw_serialize` (behind `rclpy.serialization.serialize_message`) reports the
    *estimated* size, leaving slack bytes after the message that rosbags rejects as a size
    mismatch; bags written from such bytes are otherwise fine, so decode them and count it.
    """
    try:
        return reader.deserialize(raw, msgtype)
    except Exception:  # noqa: BLE001 - AnyReaderError wraps SerdeError
        store = reader.typestore
        if len(raw) < 4 or bytes(raw[:2]) not in (b"\x00\x00", b"\x00\x01"):
            raise
        msgdef = store.get_msgdef(msgtype)
        func = msgdef.deserialize_cdr_le if raw[1] else msgdef.deserialize_cdr_be
        try:
            message, _position = func(raw[4:], 0, msgdef.cls, store)
        except Exception as exc:  # noqa: BLE001
            raise SerdeError(f"could not decode {msgtype}: {exc}") from exc
        counter[0] += 1
        return message


def _stamp_ns(msg: Any, log_time_ns: int, time_source: str) -> int:
    """Header stamp (acquisition/control-tick time) in ns; the bag's receive time when unset."""
    if time_source == "header" and hasattr(msg, "header"):
        stamp = msg.header.stamp
        if stamp.sec or stamp.nanosec:
            return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)
    return int(log_time_ns)


def _joint_stream(rows: list[tuple[int, Sequence[str], Sequence[float]]], joints: Sequence[str]) -> JointStream:
    index = {name: i for i, name in enumerate(joints)}
    times = np.array([r[0] for r in rows], dtype=np.int64)
    positions = np.full((len(rows), len(joints)), np.nan)
    for row, (_t, names, values) in enumerate(rows):
        # Rows whose position array does not match their names were dropped when reading.
        for name, value in zip(names, values, strict=True):
            column = index.get(name)
            if column is not None:
                positions[row, column] = value
    if len(rows):
        times, positions = sort_by_time(times, positions)
        positions = forward_fill(positions)
    unreported = [name for name, column in index.items() if not len(rows) or np.isnan(positions[:, column]).all()]
    return JointStream(times, positions, unreported)


def open_reader(bag_dir: Path) -> AnyReader:
    return AnyReader([Path(bag_dir)], default_typestore=get_typestore(Stores.ROS2_KILTED))


def read_episode_streams(
    bag_dir: Path, topics: EpisodeTopics, joints: Sequence[str], time_source: str = "header"
) -> EpisodeStreams:
    """Everything but the pixels (frames are decoded later, only those the dataset keeps)."""
    if time_source not in TIME_SOURCES:
        raise ValueError(f"time_source must be one of {TIME_SOURCES}, got {time_source!r}")
    bag_dir = Path(bag_dir)
    metadata = read_episode_metadata(bag_dir) if (bag_dir / EPISODE_FILENAME).is_file() else None
    state_rows: list[tuple[int, Sequence[str], Sequence[float]]] = []
    command_rows: list[tuple[int, Sequence[str], Sequence[float]]] = []
    camera_times: dict[str, list[int]] = {key: [] for key in topics.cameras}
    camera_by_topic = {with_leading_slash(t): key for key, t in topics.cameras.items()}
    instructions: list[str] = []
    lenient = [0]
    mismatched: dict[str, int] = {}
    wanted = {
        with_leading_slash(topics.joint_states),
        with_leading_slash(topics.joint_command),
        with_leading_slash(topics.instruction),
        *camera_by_topic,
    }
    with open_reader(bag_dir) as reader:
        connections = [c for c in reader.connections if c.topic in wanted]
        for connection, log_time_ns, raw in reader.messages(connections=connections):
            msg = _deserialize(reader, raw, connection.msgtype, lenient)
            t = _stamp_ns(msg, log_time_ns, time_source)
            topic = connection.topic
            if topic in camera_by_topic:
                camera_times[camera_by_topic[topic]].append(t)
            elif topic in (with_leading_slash(topics.joint_states), with_leading_slash(topics.joint_command)):
                if len(msg.position) != len(msg.name):
                    # e.g. an effort-only JointState: it says nothing about positions.
                    mismatched[topic] = mismatched.get(topic, 0) + 1
                    continue
                rows = state_rows if topic == with_leading_slash(topics.joint_states) else command_rows
                rows.append((t, list(msg.name), np.asarray(msg.position, dtype=np.float64)))
            else:
                instructions.append(str(msg.text))
    for topic, count in mismatched.items():
        LOG.warning("%s: %d messages on %s have len(position) != len(name); ignored", bag_dir, count, topic)
    if lenient[0]:
        LOG.warning("%s: %d messages had trailing bytes after their CDR data (decoded anyway)", bag_dir, lenient[0])
    return EpisodeStreams(
        bag_dir=bag_dir,
        metadata=metadata,
        states=_joint_stream(state_rows, joints),
        commands=_joint_stream(command_rows, joints),
        camera_times_ns={k: np.asarray(v, dtype=np.int64) for k, v in camera_times.items()},
        instructions=instructions,
        lenient_decodes=lenient[0],
    )


def iter_camera_frames(bag_dir: Path, image_topic: str) -> Iterator[Any]:
    """Image messages of one camera, in bag order (the order `camera_times_ns` was built in)."""
    topic = with_leading_slash(image_topic)
    lenient = [0]
    with open_reader(bag_dir) as reader:
        connections = [c for c in reader.connections if c.topic == topic]
        for connection, _log_time_ns, raw in reader.messages(connections=connections):
            yield _deserialize(reader, raw, connection.msgtype, lenient)
