"""The recorder's topics: which ones a list of stack topic keys names, how their types and QoS are
written into the bag, and the raw subscription callback that hands each message to the writer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rclpy.duration import Duration
from rclpy.qos import QoSProfile
from sensor_msgs.msg import CameraInfo, Image

from gr00t_description import StackConfig
from gr00t_teleop.recorder_config import LATCHED, RECORDABLE_TOPICS, SENSOR
from gr00t_teleop.recording import EpisodeRecorder, QosProfile


def type_name_of(msg_class: type) -> str:
    """'sensor_msgs/msg/JointState' from the generated class (its module is `sensor_msgs.msg._joint_state`)."""
    package = msg_class.__module__.split(".")[0]
    return f"{package}/msg/{msg_class.__name__}"


def _duration_pair(duration: Duration) -> tuple[int, int]:
    """rmw durations as (sec, nsec); "infinite"/unset become (0, 0), the value every rosbag2 reads as default."""
    nanoseconds = duration.nanoseconds
    if nanoseconds <= 0 or nanoseconds >= (1 << 62):
        return 0, 0
    return divmod(nanoseconds, 1_000_000_000)


def qos_profile_of(profile: QoSProfile) -> QosProfile:
    return QosProfile(
        history=int(profile.history),
        depth=int(profile.depth),
        reliability=int(profile.reliability),
        durability=int(profile.durability),
        liveliness=int(profile.liveliness),
        deadline=_duration_pair(profile.deadline),
        lifespan=_duration_pair(profile.lifespan),
        liveliness_lease_duration=_duration_pair(profile.liveliness_lease_duration),
        avoid_ros_namespace_conventions=bool(profile.avoid_ros_namespace_conventions),
    )


def resolve_topic_keys(stack: StackConfig, keys: list[str]) -> list[tuple[str, type, str]]:
    """(topic name as the stack spells it, message class, QoS class) of every topic the keys name."""
    topics = stack.topics
    resolved: list[tuple[str, type, str]] = []
    for key in keys:
        if key == "cameras":
            for camera in stack.camera_topics().values():
                resolved.append((camera["image"], Image, SENSOR))
                if camera.get("camera_info"):
                    resolved.append((camera["camera_info"], CameraInfo, SENSOR))
        elif key in RECORDABLE_TOPICS:
            if key not in topics:
                raise ValueError(f"topic_keys names {key!r}, which is not under topics: in {stack.path}")
            msg_class, qos_class = RECORDABLE_TOPICS[key]
            resolved.append((topics[key], msg_class, qos_class))
        else:
            choices = sorted([*RECORDABLE_TOPICS, "cameras"])
            raise ValueError(f"topic_keys: unknown key {key!r}; recordable keys: {choices} (set in nodes.recorder)")
    return resolved


@dataclass
class RecordedTopic:
    name: str  # resolved, absolute
    type_name: str
    qos_class: str
    subscription_qos: QoSProfile
    latest: tuple[bytes, int] | None = None  # last message of a latched topic: (data, receive time)


class TopicTap:
    """The raw subscription callback of one topic (a class, so rclpy sees the two-argument form).

    `recorder` is a function: the node creates its EpisodeRecorder after the subscriptions (their
    resolved names are its required topics)."""

    def __init__(
        self, topic: RecordedTopic, now_ns: Callable[[], int], recorder: Callable[[], EpisodeRecorder]
    ) -> None:
        self._topic = topic
        self._now_ns = now_ns
        self._recorder = recorder

    def __call__(self, data: bytes, info: dict[str, Any]) -> None:
        now_ns = self._now_ns()
        if self._topic.qos_class == LATCHED:
            self._topic.latest = (data, now_ns)
        self._recorder().record(self._topic.name, data, now_ns, info.get("source_timestamp") or None)
