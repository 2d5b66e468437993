"""Shared test helpers: serialised ROS messages and topic descriptions for recorder and converter
tests. A uniquely named module rather than conftest.py, so `from … import` cannot pick up another
package's conftest when the whole repository is collected.

Test messages are serialised with `rosbags`' CDR serialiser, not `rclpy.serialization.serialize_message`:
with rmw_fastrtps the latter returns the *estimated* size (8 slack bytes after a JointState), which
`rosbags` rejects as a size mismatch. Raw subscriptions — what the recorder node uses — deliver
the exact DDS payload (checked in test_recorder_node).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from gr00t_teleop.recording.bag_metadata import (
    DURABILITY_TRANSIENT_LOCAL,
    RELIABILITY_BEST_EFFORT,
    QosProfile,
    TopicInfo,
)
from gr00t_teleop.recording.message_definitions import default_source

JOINT_STATES = "/joint_states"
JOINT_COMMAND = "/joint_command"
CAMERA = "/head_camera/image_raw"
INSTRUCTION = "/gr00t/instruction"

SENSOR_QOS = QosProfile(depth=5, reliability=RELIABILITY_BEST_EFFORT)
COMMAND_QOS = QosProfile(depth=1)
LATCHED_QOS = QosProfile(depth=1, durability=DURABILITY_TRANSIENT_LOCAL)


def make_topics() -> list[TopicInfo]:
    return [
        TopicInfo(JOINT_STATES, "sensor_msgs/msg/JointState", (SENSOR_QOS,)),
        TopicInfo(JOINT_COMMAND, "sensor_msgs/msg/JointState", (COMMAND_QOS,)),
        TopicInfo(CAMERA, "sensor_msgs/msg/Image", (SENSOR_QOS,)),
        TopicInfo(INSTRUCTION, "gr00t_interfaces/msg/Instruction", (LATCHED_QOS,)),
    ]


@lru_cache(maxsize=1)
def typestore():
    store = get_typestore(Stores.ROS2_KILTED)
    store.register(
        get_types_from_msg(
            default_source().get("gr00t_interfaces/msg/Instruction").schema_text, "gr00t_interfaces/msg/Instruction"
        )
    )
    return store


def header(t_ns: int):
    store = typestore()
    sec, nanosec = divmod(int(t_ns), 1_000_000_000)
    return store.types["std_msgs/msg/Header"](
        stamp=store.types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec), frame_id=""
    )


def serialize(msg, type_name: str) -> bytes:
    return bytes(typestore().serialize_cdr(msg, type_name))


def joint_state_bytes(names: list[str], positions, t_ns: int) -> bytes:
    js = typestore().types["sensor_msgs/msg/JointState"]
    empty = np.zeros(0, np.float64)
    msg = js(
        header=header(t_ns), name=list(names), position=np.asarray(positions, np.float64), velocity=empty, effort=empty
    )
    return serialize(msg, "sensor_msgs/msg/JointState")


def image_bytes(pixels: np.ndarray, t_ns: int, encoding: str = "rgb8") -> bytes:
    height, width = pixels.shape[:2]
    msg = typestore().types["sensor_msgs/msg/Image"](
        header=header(t_ns),
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=0,
        step=width * pixels.shape[2],
        data=np.ascontiguousarray(pixels, np.uint8).reshape(-1),
    )
    return serialize(msg, "sensor_msgs/msg/Image")


def instruction_bytes(text: str, t_ns: int) -> bytes:
    msg = typestore().types["gr00t_interfaces/msg/Instruction"](header=header(t_ns), id="test", text=text)
    return serialize(msg, "gr00t_interfaces/msg/Instruction")
