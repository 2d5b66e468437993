"""ROS 2 message definitions for MCAP schemas, in the form rosbag2 writes them (`ros2msg`).

A schema's data is the type's `.msg` text followed, for every (transitive) dependency, by a line of
80 `=` characters, `MSG: pkg/Type` and that type's text — the layout of rosbag2's
`LocalMessageDefinitionSource` and of `rosbags`' `generate_msgdef`, which readers (rosbags,
Foxglove, `ros2 bag play`) parse back into types. Without the dependencies a reader that has no
type support installed (rosbags, the converter) cannot decode the messages.

The `.msg` files come from each package's `share/<pkg>/msg/` (ament index), so custom interfaces
(`gr00t_interfaces`) work as soon as they are built and sourced. No rclpy import here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

SEPARATOR = "=" * 80

# Built-in field types of the ROS 2 .msg language (rosidl_adapter), which have no definition file.
PRIMITIVE_TYPES = frozenset(
    {
        "bool",
        "byte",
        "char",
        "float32",
        "float64",
        "int8",
        "uint8",
        "int16",
        "uint16",
        "int32",
        "uint32",
        "int64",
        "uint64",
        "string",
        "wstring",
    }
)
_FIELD_TYPE = re.compile(r"^\s*([A-Za-z0-9_/]+)(?:<=\d+)?(?:\[[^\]]*\])?\s+[A-Za-z_]")


class MessageDefinitionError(LookupError):
    """A message type's definition file cannot be found or parsed."""


@dataclass(frozen=True)
class MessageDefinition:
    """What an MCAP schema record and a metadata.yaml topic entry need for one type."""

    type_name: str  # 'sensor_msgs/msg/JointState'
    schema_text: str  # ros2msg text with all dependencies appended
    type_hash: str  # 'RIHS01_…' (REP-2011), '' when the package ships no type description


def split_type_name(type_name: str) -> tuple[str, str]:
    """'sensor_msgs/msg/JointState' or 'sensor_msgs/JointState' -> ('sensor_msgs', 'JointState')."""
    parts = type_name.split("/")
    if len(parts) == 3 and parts[1] == "msg":
        return parts[0], parts[2]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise MessageDefinitionError(f"not a message type name: {type_name!r} (expected 'pkg/msg/Type')")


def ament_share_directory(package: str) -> Path:
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
    except ImportError as exc:  # pragma: no cover - every supported environment has it
        raise MessageDefinitionError("ament_index_python is not installed; source the ROS environment") from exc
    try:
        return Path(get_package_share_directory(package))
    except PackageNotFoundError:
        raise MessageDefinitionError(
            f"message package {package!r} is not on AMENT_PREFIX_PATH; build it and source install/setup.bash"
        ) from None


def _dependencies(package: str, msg_text: str) -> list[str]:
    """Non-primitive field types of one .msg text as 'pkg/Type', in order of first use."""
    found: list[str] = []
    for raw_line in msg_text.splitlines():
        line = raw_line.split("#", 1)[0]
        match = _FIELD_TYPE.match(line)
        if not match:
            continue
        field_type = match.group(1)
        if field_type in PRIMITIVE_TYPES:
            continue
        # A constant ('uint8 STATE_RUNNING = 2') has a primitive type, so it was skipped above.
        if "/" in field_type:
            dep_package, dep_type = split_type_name(field_type)
        elif field_type == "Header":  # ROS 1 shorthand still accepted by rosidl
            dep_package, dep_type = "std_msgs", "Header"
        else:
            dep_package, dep_type = package, field_type
        name = f"{dep_package}/{dep_type}"
        if name not in found:
            found.append(name)
    return found


class MessageDefinitionSource:
    """Builds `MessageDefinition`s from `.msg` files; `share_directory` is injectable for tests."""

    def __init__(self, share_directory: Callable[[str], Path] = ament_share_directory) -> None:
        self._share_directory = share_directory
        self._cache: dict[str, MessageDefinition] = {}

    def _msg_text(self, package: str, type_name: str) -> str:
        path = self._share_directory(package) / "msg" / f"{type_name}.msg"
        if not path.is_file():
            raise MessageDefinitionError(f"no definition file for {package}/msg/{type_name} at {path}")
        return path.read_text(encoding="utf-8")

    def _type_hash(self, package: str, type_name: str) -> str:
        path = self._share_directory(package) / "msg" / f"{type_name}.json"
        if not path.is_file():
            return ""
        full_name = f"{package}/msg/{type_name}"
        try:
            for entry in json.loads(path.read_text(encoding="utf-8")).get("type_hashes", []):
                if entry.get("type_name") == full_name:
                    return str(entry.get("hash_string", ""))
        except (ValueError, AttributeError):
            return ""
        return ""

    def get(self, type_name: str) -> MessageDefinition:
        package, name = split_type_name(type_name)
        full_name = f"{package}/msg/{name}"
        if full_name in self._cache:
            return self._cache[full_name]
        top_text = self._msg_text(package, name)
        parts = [top_text.rstrip("\n")]
        # Depth-first over dependencies, each definition once (rosbag2 does the same).
        seen: set[str] = set()
        stack = list(reversed(_dependencies(package, top_text)))
        while stack:
            dep = stack.pop()
            if dep in seen:
                continue
            seen.add(dep)
            dep_package, dep_name = split_type_name(dep)
            dep_text = self._msg_text(dep_package, dep_name)
            parts.append(f"{SEPARATOR}\nMSG: {dep}\n{dep_text.rstrip(chr(10))}")
            stack.extend(reversed([d for d in _dependencies(dep_package, dep_text) if d not in seen]))
        definition = MessageDefinition(
            type_name=full_name,
            schema_text="\n".join(parts) + "\n",
            type_hash=self._type_hash(package, name),
        )
        self._cache[full_name] = definition
        return definition


@lru_cache(maxsize=1)
def default_source() -> MessageDefinitionSource:
    return MessageDefinitionSource()
