"""Write bags the way `ros2 bag record` does on someone else's robot, with `rosbags`' own writer (not
our recorder): their topic names, their joint names, compressed or raw images, sqlite3 (Humble's
default storage) or MCAP, messages written out of order. Used by the conversion tests and the
foreign-bag end-to-end test."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

STORE = get_typestore(Stores.ROS2_HUMBLE)
T = STORE.types
SECOND = 1_000_000_000


def stamp(t_ns: int) -> Any:
    sec, nanosec = divmod(int(t_ns), SECOND)
    return T["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec)


def header(t_ns: int, frame_id: str = "") -> Any:
    return T["std_msgs/msg/Header"](stamp=stamp(t_ns), frame_id=frame_id)


def joint_state(names: list[str], positions: Iterable[float], t_ns: int) -> Any:
    empty = np.zeros(0, np.float64)
    return T["sensor_msgs/msg/JointState"](
        header=header(t_ns),
        name=list(names),
        position=np.asarray(list(positions), np.float64),
        velocity=empty,
        effort=empty,
    )


def joint_trajectory(names: list[str], positions: Iterable[float], t_ns: int) -> Any:
    zero = T["builtin_interfaces/msg/Duration"](sec=0, nanosec=0)
    empty = np.zeros(0, np.float64)
    point = T["trajectory_msgs/msg/JointTrajectoryPoint"](
        positions=np.asarray(list(positions), np.float64),
        velocities=empty,
        accelerations=empty,
        effort=empty,
        time_from_start=zero,
    )
    return T["trajectory_msgs/msg/JointTrajectory"](header=header(t_ns), joint_names=list(names), points=[point])


def float_array(values: Iterable[float]) -> Any:
    layout = T["std_msgs/msg/MultiArrayLayout"](dim=[], data_offset=0)
    return T["std_msgs/msg/Float64MultiArray"](layout=layout, data=np.asarray(list(values), np.float64))


def text(value: str) -> Any:
    return T["std_msgs/msg/String"](data=value)


def marker() -> Any:
    return T["std_msgs/msg/Empty"]()


def raw_image(rgb: np.ndarray, t_ns: int, encoding: str = "rgb8") -> Any:
    pixels = rgb[..., ::-1] if encoding == "bgr8" else rgb
    height, width = rgb.shape[:2]
    return T["sensor_msgs/msg/Image"](
        header=header(t_ns),
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=0,
        step=width * 3,
        data=np.ascontiguousarray(pixels, np.uint8).reshape(-1),
    )


def jpeg_bytes(rgb: np.ndarray) -> bytes:
    """One JPEG (what image_transport's `compressed` plugin publishes), encoded with PyAV."""
    height, width = rgb.shape[:2]
    codec = av.CodecContext.create("mjpeg", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuvj420p"
    codec.time_base = Fraction(1, 30)
    codec.options = {"qscale": "2"}
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb, np.uint8), format="rgb24").reformat(format="yuvj420p")
    packets = list(codec.encode(frame)) + list(codec.encode(None))
    return b"".join(bytes(p) for p in packets)


def compressed_image(rgb: np.ndarray, t_ns: int) -> Any:
    data = np.frombuffer(jpeg_bytes(rgb), np.uint8)
    # image_transport's format string for a colour JPEG (Humble and later).
    return T["sensor_msgs/msg/CompressedImage"](header=header(t_ns), format="rgb8; jpeg compressed bgr8", data=data)


@dataclass
class Message:
    topic: str
    msgtype: str
    log_time_ns: int
    message: Any


def write_bag(path: Path, messages: list[Message], storage: str = "mcap", version: int = 9) -> Path:
    """Write `messages` in the order given (out of log-time order where the caller shuffled them),
    as rosbag2 does: one connection per topic, CDR, metadata.yaml."""
    plugin = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}[storage]
    with Writer(path, version=version, storage_plugin=plugin) as writer:
        connections = {}
        for item in messages:
            if item.topic not in connections:
                connections[item.topic] = writer.add_connection(item.topic, item.msgtype, typestore=STORE)
            writer.write(
                connections[item.topic], int(item.log_time_ns), bytes(STORE.serialize_cdr(item.message, item.msgtype))
            )
    return path


def as_humble_metadata(bag: Path) -> None:
    """Rewrite a bag's metadata.yaml the way Humble's rosbag2 writes it (version 5): no custom_data,
    ros_distro or type hashes, the offered QoS profiles as a YAML string (rosbags writes 8 or 9)."""
    import yaml

    path = Path(bag) / "metadata.yaml"
    metadata = yaml.safe_load(path.read_text())
    info = metadata["rosbag2_bagfile_information"]
    info["version"] = 5
    for key in ("custom_data", "ros_distro"):
        info.pop(key, None)
    for topic in info["topics_with_message_count"]:
        topic["topic_metadata"].pop("type_description_hash", None)
        topic["topic_metadata"]["offered_qos_profiles"] = ""
    path.write_text(yaml.safe_dump(metadata))


def flat_frame(value: int, height: int = 32, width: int = 48) -> np.ndarray:
    """A uniform image whose grey level tells which frame it was (survives JPEG within a few levels)."""
    return np.full((height, width, 3), value % 256, np.uint8)
