"""Read a bag recorded by any rosbag2 tool (MCAP or sqlite3) through a `BagMapping`, and cut it into
episodes. `rosbags` reads both storages and every rosbag2 metadata version (Humble's 5 to Kilted's 9)
without a ROS install, which is why it, not rosbag2_py, is used here.

Joint messages accepted on the state and action topics: sensor_msgs/JointState (positions by name),
trajectory_msgs/JointTrajectory (the first point: the target a controller is sent first) and
std_msgs/Float64MultiArray (ros2_control's forward command controllers; no names, so the mapping
lists them in order).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .bag_mapping import BagMapping
from .episode_reader import EpisodeReadError, JointStream, _deserialize, _joint_stream, _stamp_ns, open_reader

LOG = logging.getLogger(__name__)

JOINT_MESSAGE_TYPES = (
    "sensor_msgs/msg/JointState",
    "trajectory_msgs/msg/JointTrajectory",
    "std_msgs/msg/Float64MultiArray",
)
IMAGE_MESSAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
TEXT_FIELDS = {"std_msgs/msg/String": "data", "gr00t_interfaces/msg/Instruction": "text"}


@dataclass
class MappedStreams:
    """Everything but the pixels of one bag, with times in ns (header stamps or log times)."""

    bag_dir: Path
    states: JointStream
    commands: JointStream | None  # None: the mapping takes the action from the next state
    camera_times_ns: dict[str, np.ndarray]  # key -> stamps in bag order (frames are decoded later)
    task_times_ns: np.ndarray  # sorted
    task_texts: list[str]
    marker_times_ns: np.ndarray  # sorted
    state_names_seen: list[str] = field(default_factory=list)  # after renaming, in order of appearance
    dropped: dict[str, int] = field(default_factory=dict)  # topic -> messages unusable for positions


def check_bag_topics(bag_dir: Path, mapping: BagMapping) -> dict[str, str]:
    """{topic: message type} of the mapped topics; raises `EpisodeReadError` naming any topic the bag
    lacks (with the topics it has) or whose type the conversion cannot read."""
    with open_reader(bag_dir) as reader:
        present = {c.topic: c.msgtype for c in reader.connections}
    missing = [t for t in mapping.topics() if t not in present]
    if missing:
        listing = ", ".join(f"{t} ({present[t]})" for t in sorted(present))
        raise EpisodeReadError(
            f"{bag_dir}: mapping {mapping.source} names topics {missing} that the bag lacks; it has: {listing}"
        )
    problems = []
    joint_topics = [("state", mapping.state)] + ([("action", mapping.action)] if mapping.action else [])
    for role, joint_topic in joint_topics:
        msgtype = present[joint_topic.topic]
        if msgtype not in JOINT_MESSAGE_TYPES:
            problems.append(f"{role} topic {joint_topic.topic} is {msgtype}; expected one of {JOINT_MESSAGE_TYPES}")
        elif msgtype == "std_msgs/msg/Float64MultiArray" and not joint_topic.joints:
            problems.append(
                f"{role} topic {joint_topic.topic} is a Float64MultiArray "
                f"(no joint names): list them under {role}.joints"
            )
    for key, topic in mapping.cameras.items():
        if present[topic] not in IMAGE_MESSAGE_TYPES:
            problems.append(f"camera {key} topic {topic} is {present[topic]}; expected one of {IMAGE_MESSAGE_TYPES}")
    if mapping.task_topic and present[mapping.task_topic] not in TEXT_FIELDS:
        problems.append(
            f"task topic {mapping.task_topic} is {present[mapping.task_topic]}; expected one of {sorted(TEXT_FIELDS)}"
        )
    if problems:
        raise EpisodeReadError(f"{bag_dir}: " + "; ".join(problems))
    return {t: present[t] for t in mapping.topics()}


def joint_positions(
    msg: Any, msgtype: str, joints_in_order: Sequence[str], log_time_ns: int, time_source: str
) -> tuple[int, list[str], np.ndarray] | None:
    """(time, names, positions) of one joint message; None when it carries no positions (an
    effort-only JointState, an empty trajectory, an array of the wrong length)."""
    if msgtype == "sensor_msgs/msg/JointState":
        names, values = list(msg.name), np.asarray(msg.position, dtype=np.float64)
        time = _stamp_ns(msg, log_time_ns, time_source)
    elif msgtype == "trajectory_msgs/msg/JointTrajectory":
        if not len(msg.points):
            return None
        point = msg.points[0]
        names, values = list(msg.joint_names), np.asarray(point.positions, dtype=np.float64)
        offset = int(point.time_from_start.sec) * 1_000_000_000 + int(point.time_from_start.nanosec)
        time = _stamp_ns(msg, log_time_ns, time_source) + offset
    else:  # Float64MultiArray
        names, values = list(joints_in_order), np.asarray(msg.data, dtype=np.float64)
        time = int(log_time_ns)  # no header: receive time is all there is
    if len(values) != len(names) or not len(names):
        return None
    return time, names, values


def read_mapped_streams(bag_dir: Path, mapping: BagMapping, joints: Sequence[str]) -> MappedStreams:
    """Read the mapped topics of one bag; joint names are renamed by the mapping, then matched by name
    to `joints` (the dataset's layout)."""
    bag_dir = Path(bag_dir)
    types = check_bag_topics(bag_dir, mapping)
    state_topic = mapping.state.topic
    action_topic = mapping.action.topic if mapping.action else None
    camera_by_topic: dict[str, list[str]] = {}
    for key, topic in mapping.cameras.items():
        camera_by_topic.setdefault(topic, []).append(key)
    rows: dict[str, list[tuple[int, list[str], np.ndarray]]] = {state_topic: []}
    if action_topic:
        rows.setdefault(action_topic, [])
    order = {state_topic: mapping.state.joints}
    if mapping.action:
        order[action_topic] = mapping.action.joints
    camera_times: dict[str, list[int]] = {key: [] for key in mapping.cameras}
    tasks: list[tuple[int, str]] = []
    markers: list[int] = []
    dropped: dict[str, int] = {}
    lenient = [0]
    with open_reader(bag_dir) as reader:
        connections = [c for c in reader.connections if c.topic in types]
        for connection, log_time_ns, raw in reader.messages(connections=connections):
            topic = connection.topic
            try:
                msg = _deserialize(reader, raw, connection.msgtype, lenient)
            except Exception as exc:  # noqa: BLE001 - rosbags raises several error types
                raise EpisodeReadError(
                    f"{bag_dir}: a message on {topic} ({connection.msgtype}) cannot be decoded: {exc}"
                ) from exc
            if topic in rows:
                sample = joint_positions(msg, connection.msgtype, order[topic], log_time_ns, mapping.time_source)
                if sample is None:
                    dropped[topic] = dropped.get(topic, 0) + 1
                else:
                    time, names, values = sample
                    rows[topic].append((time, [mapping.robot_joint_name(n) for n in names], values))
            if topic in camera_by_topic:
                for key in camera_by_topic[topic]:
                    camera_times[key].append(_stamp_ns(msg, log_time_ns, mapping.time_source))
            if topic == mapping.task_topic:
                tasks.append(
                    (
                        _stamp_ns(msg, log_time_ns, mapping.time_source),
                        str(getattr(msg, TEXT_FIELDS[connection.msgtype])),
                    )
                )
            if topic == mapping.split.marker_topic:
                markers.append(_stamp_ns(msg, log_time_ns, mapping.time_source))
    for topic, count in dropped.items():
        LOG.warning(
            "%s: %d messages on %s carry no usable positions (names/values lengths differ); ignored",
            bag_dir,
            count,
            topic,
        )
    tasks.sort(key=lambda item: item[0])
    return MappedStreams(
        bag_dir=bag_dir,
        states=_joint_stream(rows[state_topic], joints),
        commands=_joint_stream(rows[action_topic], joints) if action_topic else None,
        camera_times_ns={k: np.asarray(v, dtype=np.int64) for k, v in camera_times.items()},
        task_times_ns=np.asarray([t for t, _ in tasks], dtype=np.int64),
        task_texts=[text for _, text in tasks],
        marker_times_ns=np.sort(np.asarray(markers, dtype=np.int64)),
        state_names_seen=list(dict.fromkeys(n for _t, names, _v in rows[state_topic] for n in names)),
        dropped=dropped,
    )


def episode_windows(
    state_times_ns: np.ndarray, marker_times_ns: np.ndarray, mapping: BagMapping
) -> tuple[list[tuple[int, int]], list[str]]:
    """Cut one bag into episodes: [(start_ns, end_ns)] (end inclusive) and the pieces skipped as too
    short, described. The state stream's extent bounds every episode."""
    if not len(state_times_ns):
        return [], []
    times = np.sort(state_times_ns)
    first, last = int(times[0]), int(times[-1])
    split = mapping.split
    skipped: list[str] = []
    if split.mode == "gap":
        breaks = np.flatnonzero(np.diff(times) > split.gap_s * 1e9)
        starts = [first, *(int(times[i + 1]) for i in breaks)]
        ends = [*(int(times[i]) for i in breaks), last]
        pieces = list(zip(starts, ends, strict=True))
    elif split.mode == "marker":
        # Every marker starts an episode that ends at the last state sample before the next marker;
        # what precedes the first marker belongs to no episode (reported, not converted).
        starts = sorted({max(int(m), first) for m in marker_times_ns if m <= last})
        if not starts:
            return [], [
                f"no messages on the marker topic {split.marker_topic} within the joint states' "
                f"{first * 1e-9:.3f}-{last * 1e-9:.3f} s"
            ]
        ends = [int(times[np.searchsorted(times, cut, side="left") - 1]) for cut in starts[1:]] + [last]
        pieces = list(zip(starts, ends, strict=True))
        if starts[0] > first:
            skipped.append(f"{(starts[0] - first) * 1e-9:.2f} s before the first marker (not an episode)")
    else:
        pieces = [(first, last)]
    windows = []
    for start, end in pieces:
        if (end - start) * 1e-9 < split.min_length_s:
            skipped.append(
                f"{(end - start) * 1e-9:.2f} s piece at {start * 1e-9:.3f} s shorter than "
                f"episodes.min_length_s {split.min_length_s} s"
            )
        else:
            windows.append((start, end))
    return windows, skipped


def plan_bag_episodes(bag_dir: Path, mapping: BagMapping) -> tuple[list[tuple[int, int]] | None, list[str]]:
    """Episode windows of a bag; (None, []) = the whole bag is one episode (no pass over it needed)."""
    check_bag_topics(bag_dir, mapping)
    if mapping.split.mode == "bag":
        return None, []
    wanted = {mapping.state.topic, mapping.split.marker_topic} - {None}
    state_times: list[int] = []
    markers: list[int] = []
    lenient = [0]
    with open_reader(bag_dir) as reader:
        connections = [c for c in reader.connections if c.topic in wanted]
        for connection, log_time_ns, raw in reader.messages(connections=connections):
            msg = _deserialize(reader, raw, connection.msgtype, lenient)
            if connection.topic == mapping.state.topic:
                sample = joint_positions(
                    msg, connection.msgtype, mapping.state.joints, log_time_ns, mapping.time_source
                )
                if sample is not None:
                    state_times.append(sample[0])
            if connection.topic == mapping.split.marker_topic:
                markers.append(_stamp_ns(msg, log_time_ns, mapping.time_source))
    if not state_times:
        raise EpisodeReadError(f"{bag_dir}: no joint positions on the state topic {mapping.state.topic}")
    return episode_windows(np.asarray(state_times, np.int64), np.sort(np.asarray(markers, np.int64)), mapping)
