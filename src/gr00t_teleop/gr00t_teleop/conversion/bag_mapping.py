"""Mapping file for bags recorded by `ros2 bag record` (or any rosbag2 tool), not by our recorder.

Such a bag has no episode metadata and its own topic names, so `gr00t-convert --mapping FILE` is
told which topics are the state, the action and the cameras, where the task text comes from and how
to cut the recording into episodes. Reference with examples: docs/bag_mapping.md.

    state: {topic: /arm/joint_states}                       # sensor_msgs/JointState
    action: {topic: /arm/position_controller/commands,      # JointState, JointTrajectory or
             joints: [shoulder_pitch, shoulder_roll]}        # Float64MultiArray (+ joints: order)
    # action: {from: next_state}                            # no commands recorded
    cameras: {ego_view: {topic: /head_cam/image_raw/compressed}}
    task: {text: "pick up the pear"}                        # or {topic: /task} (std_msgs/String)
    episodes: {split: gap, gap_s: 1.0, min_length_s: 1.0}   # bag | gap | marker (+ topic:)
    joint_names: {l_shoulder_pitch: left_shoulder_pitch_joint}   # bag name -> robot config name
    time_source: header                                     # header stamps, or log (receive) time
    max_camera_gap_s: 0.5

Pure Python (PyYAML), no ROS: every mistake is reported with the key it is under, and unknown keys
are refused so that a typo cannot silently fall back to a default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SPLIT_MODES = ("bag", "gap", "marker")
ACTION_FROM = ("command", "next_state")
TIME_SOURCES = ("header", "log")


class BagMappingError(ValueError):
    """The mapping file is malformed (the message names the file and the key)."""


@dataclass(frozen=True)
class JointTopic:
    """A topic carrying joint positions; `joints` orders the values of a Float64MultiArray (which
    carries no names)."""

    topic: str
    joints: tuple[str, ...] = ()


@dataclass(frozen=True)
class EpisodeSplit:
    mode: str = "bag"  # one episode per bag, or cut at gaps in the state stream, or at marker messages
    gap_s: float = 1.0  # 'gap': a state stream silent for longer than this ends an episode
    marker_topic: str | None = None  # 'marker': every message on this topic starts a new episode
    min_length_s: float = 0.5  # shorter pieces are skipped and reported, never merged


@dataclass(frozen=True)
class BagMapping:
    state: JointTopic
    action: JointTopic | None  # None = the action is the next frame's state
    cameras: dict[str, str]  # GR00T video key -> image topic (sensor_msgs/Image or CompressedImage)
    task_text: str | None = None
    task_topic: str | None = None  # std_msgs/String (data) or gr00t_interfaces/Instruction (text)
    split: EpisodeSplit = field(default_factory=EpisodeSplit)
    joint_names: dict[str, str] = field(default_factory=dict)  # bag joint name -> robot config name
    time_source: str = "header"
    max_camera_gap_s: float = 0.5  # a camera silent longer than this inside an episode is reported
    source: str = "<mapping>"

    def topics(self) -> list[str]:
        """Every topic the mapping reads (each must exist in every bag)."""
        topics = [self.state.topic, *self.cameras.values()]
        if self.action is not None:
            topics.append(self.action.topic)
        if self.task_topic:
            topics.append(self.task_topic)
        if self.split.marker_topic:
            topics.append(self.split.marker_topic)
        return [with_leading_slash(t) for t in topics]

    def robot_joint_name(self, bag_name: str) -> str:
        return self.joint_names.get(bag_name, bag_name)


def with_leading_slash(topic: str) -> str:
    return topic if topic.startswith("/") else "/" + topic


def _section(data: Mapping[str, Any], key: str, where: str, allowed: set[str], required: bool) -> dict[str, Any] | None:
    value = data.get(key)
    if value is None:
        if required:
            raise BagMappingError(f"{where}: '{key}' is required")
        return None
    if not isinstance(value, Mapping):
        raise BagMappingError(f"{where}: '{key}' must be a mapping, got {type(value).__name__} {value!r}")
    unknown = set(value) - allowed
    if unknown:
        raise BagMappingError(f"{where}: unknown keys {sorted(unknown)} under '{key}'; allowed: {sorted(allowed)}")
    return dict(value)


def _topic(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip() or " " in value.strip():
        raise BagMappingError(f"{where}: a topic name is required, got {value!r}")
    return with_leading_slash(value.strip())


def _positive(value: Any, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BagMappingError(f"{where}: expected a number of seconds, got {value!r}") from None
    if not number > 0:
        raise BagMappingError(f"{where}: must be > 0, got {value!r}")
    return number


def _joints(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(n, str) and n for n in value):
        raise BagMappingError(f"{where}: expected a list of joint names, got {value!r}")
    if len(set(value)) != len(value):
        raise BagMappingError(f"{where}: joint names repeat: {value!r}")
    return tuple(value)


def parse_mapping(data: Any, source: str = "<mapping>") -> BagMapping:
    """A `BagMapping` from the parsed YAML; raises `BagMappingError` naming what is wrong."""
    if not isinstance(data, Mapping):
        raise BagMappingError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    top_keys = {"state", "action", "cameras", "task", "episodes", "joint_names", "time_source", "max_camera_gap_s"}
    unknown = set(data) - top_keys
    if unknown:
        raise BagMappingError(f"{source}: unknown keys {sorted(unknown)}; allowed: {sorted(top_keys)}")

    state_section = _section(data, "state", source, {"topic", "joints"}, required=True)
    state = JointTopic(
        _topic(state_section.get("topic"), f"{source}: state.topic"),
        _joints(state_section.get("joints"), f"{source}: state.joints"),
    )

    action_section = _section(data, "action", source, {"topic", "joints", "from"}, required=True)
    action_from = action_section.get("from", "command" if "topic" in action_section else None)
    if action_from not in ACTION_FROM:
        raise BagMappingError(
            f"{source}: action needs 'topic' (recorded commands) or 'from: next_state' (no commands recorded), "
            f"got {action_section!r}"
        )
    if action_from == "next_state":
        if "topic" in action_section or "joints" in action_section:
            raise BagMappingError(f"{source}: action 'from: next_state' takes no topic or joints")
        action = None
    else:
        action = JointTopic(
            _topic(action_section.get("topic"), f"{source}: action.topic"),
            _joints(action_section.get("joints"), f"{source}: action.joints"),
        )

    cameras_value = data.get("cameras")
    if not isinstance(cameras_value, Mapping) or not cameras_value:
        raise BagMappingError(f"{source}: 'cameras' must map each video key (e.g. ego_view) to {{topic: ...}}")
    cameras: dict[str, str] = {}
    for key in cameras_value:
        entry = _section(cameras_value, key, f"{source}: cameras", {"topic"}, required=True)
        cameras[str(key)] = _topic(entry.get("topic"), f"{source}: cameras.{key}.topic")

    task_section = _section(data, "task", source, {"text", "topic"}, required=True)
    task_text, task_topic = task_section.get("text"), task_section.get("topic")
    if (task_text is None) == (task_topic is None):
        raise BagMappingError(f"{source}: task needs exactly one of 'text' (fixed) or 'topic' (read from the bag)")
    if task_text is not None and (not isinstance(task_text, str) or not task_text.strip()):
        raise BagMappingError(f"{source}: task.text must be a non-empty string, got {task_text!r}")
    if task_topic is not None:
        task_topic = _topic(task_topic, f"{source}: task.topic")

    split_section = (
        _section(data, "episodes", source, {"split", "gap_s", "topic", "min_length_s"}, required=False) or {}
    )
    mode = split_section.get("split", "bag")
    if mode not in SPLIT_MODES:
        raise BagMappingError(f"{source}: episodes.split must be one of {SPLIT_MODES}, got {mode!r}")
    if mode == "marker" and "topic" not in split_section:
        raise BagMappingError(f"{source}: episodes.split 'marker' needs episodes.topic (the marker topic)")
    if mode != "marker" and "topic" in split_section:
        raise BagMappingError(f"{source}: episodes.topic is only read with split: marker")
    if mode != "gap" and "gap_s" in split_section:
        raise BagMappingError(f"{source}: episodes.gap_s is only read with split: gap")
    split = EpisodeSplit(
        mode=mode,
        gap_s=_positive(split_section.get("gap_s", 1.0), f"{source}: episodes.gap_s"),
        marker_topic=_topic(split_section["topic"], f"{source}: episodes.topic") if mode == "marker" else None,
        min_length_s=_positive(split_section.get("min_length_s", 0.5), f"{source}: episodes.min_length_s"),
    )

    joint_names = data.get("joint_names") or {}
    if not isinstance(joint_names, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in joint_names.items()
    ):
        raise BagMappingError(
            f"{source}: joint_names must map bag joint names to robot config names, got {joint_names!r}"
        )
    targets = list(joint_names.values())
    if len(set(targets)) != len(targets):
        raise BagMappingError(f"{source}: joint_names maps two bag joints onto the same robot joint: {joint_names!r}")

    time_source = data.get("time_source", "header")
    if time_source not in TIME_SOURCES:
        raise BagMappingError(f"{source}: time_source must be one of {TIME_SOURCES}, got {time_source!r}")
    return BagMapping(
        state=state,
        action=action,
        cameras=cameras,
        task_text=task_text.strip() if task_text else None,
        task_topic=task_topic,
        split=split,
        joint_names=dict(joint_names),
        time_source=time_source,
        max_camera_gap_s=_positive(data.get("max_camera_gap_s", 0.5), f"{source}: max_camera_gap_s"),
        source=source,
    )


def load_mapping(path: str | Path) -> BagMapping:
    """Read and check a mapping file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BagMappingError(f"cannot read mapping file {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise BagMappingError(f"mapping file {path} is not valid YAML: {exc}") from exc
    return parse_mapping(data, str(path))
