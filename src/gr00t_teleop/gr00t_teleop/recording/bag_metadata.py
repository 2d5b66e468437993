"""rosbag2 `metadata.yaml` and the QoS strings it and the MCAP channels carry (no rclpy).

Why version 8 with integer QoS enums: Humble writes version 5 and parses `offered_qos_profiles` as a
YAML *string* of integer enums; Jazzy writes version 9 (a YAML *list* of string enums) but still
reads ≤ v8 the integer way; `rosbags` reads and writes only 8 and 9. Version 8 with integer-enum
strings is the one form that Humble, Jazzy and rosbags all accept
(rosbag2's `metadata.yaml` format, as Humble, Jazzy and `rosbags` read it). The same QoS string must be in the MCAP
channel metadata: `rosbags` yields zero messages, silently, when the two disagree.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

METADATA_FILENAME = "metadata.yaml"
METADATA_VERSION = 8
STORAGE_IDENTIFIER = "mcap"
SERIALIZATION_FORMAT = "cdr"
ROS_DISTRO_FALLBACK = "kilted"

# rmw enum values (rmw/types.h; identical in rosbags.interfaces).
HISTORY_KEEP_LAST, HISTORY_KEEP_ALL = 1, 2
RELIABILITY_RELIABLE, RELIABILITY_BEST_EFFORT = 1, 2
DURABILITY_TRANSIENT_LOCAL, DURABILITY_VOLATILE = 1, 2
LIVELINESS_AUTOMATIC = 1


@dataclass(frozen=True)
class QosProfile:
    """One offered QoS profile with rmw integer enums. Durations are (sec, nsec); (0, 0) = default,
    which is what rosbags writes and what every rosbag2 version reads back as "not set"."""

    history: int = HISTORY_KEEP_LAST
    depth: int = 10
    reliability: int = RELIABILITY_RELIABLE
    durability: int = DURABILITY_VOLATILE
    liveliness: int = LIVELINESS_AUTOMATIC
    deadline: tuple[int, int] = (0, 0)
    lifespan: tuple[int, int] = (0, 0)
    liveliness_lease_duration: tuple[int, int] = (0, 0)
    avoid_ros_namespace_conventions: bool = False

    def as_dict(self) -> dict[str, Any]:
        def duration(value: tuple[int, int]) -> dict[str, int]:
            return {"nsec": int(value[1]), "sec": int(value[0])}

        return {
            "avoid_ros_namespace_conventions": bool(self.avoid_ros_namespace_conventions),
            "deadline": duration(self.deadline),
            "depth": int(self.depth),
            "durability": int(self.durability),
            "history": int(self.history),
            "lifespan": duration(self.lifespan),
            "liveliness": int(self.liveliness),
            "liveliness_lease_duration": duration(self.liveliness_lease_duration),
            "reliability": int(self.reliability),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QosProfile:
        def duration(value: Any) -> tuple[int, int]:
            value = value or {}
            return int(value.get("sec", 0)), int(value.get("nsec", 0))

        return cls(
            history=int(data.get("history", HISTORY_KEEP_LAST)),
            depth=int(data.get("depth", 10)),
            reliability=int(data.get("reliability", RELIABILITY_RELIABLE)),
            durability=int(data.get("durability", DURABILITY_VOLATILE)),
            liveliness=int(data.get("liveliness", LIVELINESS_AUTOMATIC)),
            deadline=duration(data.get("deadline")),
            lifespan=duration(data.get("lifespan")),
            liveliness_lease_duration=duration(data.get("liveliness_lease_duration")),
            avoid_ros_namespace_conventions=bool(data.get("avoid_ros_namespace_conventions", False)),
        )


def dump_offered_qos(profiles: list[QosProfile]) -> str:
    """The v8 `offered_qos_profiles` string: a YAML list in block style, flow-style durations."""
    lines: list[str] = []
    for profile in profiles:
        entries = profile.as_dict()
        first = True
        for key in sorted(entries):
            value = entries[key]
            if isinstance(value, dict):
                text = f"{{nsec: {value['nsec']}, sec: {value['sec']}}}"
            elif isinstance(value, bool):
                text = "true" if value else "false"
            else:
                text = str(value)
            lines.append(("- " if first else "  ") + f"{key}: {text}")
            first = False
    return "\n".join(lines)


def parse_offered_qos(text: str) -> list[QosProfile]:
    if not text:
        return []
    data = yaml.safe_load(text)
    return [QosProfile.from_dict(entry) for entry in data or []]


@dataclass(frozen=True)
class TopicInfo:
    """A recorded topic: what the MCAP channel and the metadata.yaml entry both describe."""

    name: str  # absolute topic name, as `ros2 bag record` stores it
    type: str  # 'sensor_msgs/msg/JointState'
    offered_qos_profiles: tuple[QosProfile, ...]
    type_description_hash: str = ""

    def __post_init__(self) -> None:
        if not self.name.startswith("/"):
            raise ValueError(f"topic names in a bag are absolute, got {self.name!r}")
        if not self.offered_qos_profiles:
            # An empty profile makes the player fall back to RELIABLE/VOLATILE and drops latching;
            # a rosbag2 maintainer calls it "not a valid value" (ros2/rosbag2#1237).
            raise ValueError(f"topic {self.name!r}: give at least one offered QoS profile")

    @property
    def qos_string(self) -> str:
        return dump_offered_qos(list(self.offered_qos_profiles))


@dataclass
class BagStatistics:
    """Message counts and time range of one bag file, as its writer or a scan saw them."""

    message_counts: dict[str, int] = field(default_factory=dict)  # topic -> count
    start_time_ns: int | None = None
    end_time_ns: int | None = None

    @property
    def message_count(self) -> int:
        return sum(self.message_counts.values())

    def add(self, topic: str, log_time_ns: int) -> None:
        self.message_counts[topic] = self.message_counts.get(topic, 0) + 1
        if self.start_time_ns is None or log_time_ns < self.start_time_ns:
            self.start_time_ns = log_time_ns
        if self.end_time_ns is None or log_time_ns > self.end_time_ns:
            self.end_time_ns = log_time_ns


def build_metadata(
    file_name: str,
    topics: list[TopicInfo],
    statistics: BagStatistics,
    custom_data: Mapping[str, str] | None = None,
    ros_distro: str | None = None,
) -> dict[str, Any]:
    """The `rosbag2_bagfile_information` document of a single-file bag."""
    start = statistics.start_time_ns or 0
    duration = (statistics.end_time_ns - start) if statistics.end_time_ns is not None else 0
    bad = {k: v for k, v in (custom_data or {}).items() if not isinstance(v, str)}
    if bad:
        raise ValueError(f"custom_data values must be strings (rosbag2 map<string,string>), got {bad}")
    return {
        "rosbag2_bagfile_information": {
            "version": METADATA_VERSION,
            "storage_identifier": STORAGE_IDENTIFIER,
            "duration": {"nanoseconds": int(duration)},
            "starting_time": {"nanoseconds_since_epoch": int(start)},
            "message_count": statistics.message_count,
            "topics_with_message_count": [
                {
                    "topic_metadata": {
                        "name": topic.name,
                        "type": topic.type,
                        "serialization_format": SERIALIZATION_FORMAT,
                        "offered_qos_profiles": topic.qos_string,
                        "type_description_hash": topic.type_description_hash,
                    },
                    "message_count": statistics.message_counts.get(topic.name, 0),
                }
                for topic in topics
            ],
            # Chunk compression inside MCAP is a storage detail; bag-level compression is off.
            "compression_format": "",
            "compression_mode": "",
            "relative_file_paths": [file_name],
            "files": [
                {
                    "path": file_name,
                    "starting_time": {"nanoseconds_since_epoch": int(start)},
                    "duration": {"nanoseconds": int(duration)},
                    "message_count": statistics.message_count,
                }
            ],
            "custom_data": dict(custom_data) if custom_data else None,
            "ros_distro": ros_distro or os.environ.get("ROS_DISTRO") or ROS_DISTRO_FALLBACK,
        }
    }


def dump_metadata(document: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(document), sort_keys=False, default_flow_style=False, allow_unicode=True)


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temporary file + fsync + rename, so a crash never leaves a half-written file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_metadata(bag_dir: Path, document: Mapping[str, Any]) -> Path:
    path = Path(bag_dir) / METADATA_FILENAME
    atomic_write_text(path, dump_metadata(document))
    return path


def read_metadata(bag_dir: Path) -> dict[str, Any]:
    path = Path(bag_dir) / METADATA_FILENAME
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "rosbag2_bagfile_information" not in data:
        raise ValueError(f"{path}: not a rosbag2 metadata file (no 'rosbag2_bagfile_information')")
    return data["rosbag2_bagfile_information"]
