"""Hypothesis strategies for ROS 2 messages, service requests and action goals, biased to hostile input.

`message_strategy(cls, hints)` builds a strategy for any generated rosidl class from its field
description (`get_fields_and_field_types()`), so a new message type is fuzzed without code here. The
bias: every float field draws NaN, ±inf, 50 rad and huge values as well as plausible ones; strings
are empty, huge (up to MAX_STRING_CHARS), deeply nested JSON, U+FFFD (what invalid UTF-8 on the wire
decodes to), control characters or arbitrary text; sequences are empty, short, or long within
MAX_SEQUENCE_LENGTH; header stamps are zero, plausible, seconds to days ahead or behind the clock,
far future, far past or negative. Some types get domain strategies on top of the generic one:
`sensor_msgs/Image` (sizes, steps and data lengths that agree or disagree, wrong encodings) and
joint-state-like messages (known joint names with mismatched sizes, duplicates, wild positions).

`with_invalid_utf8(msg, choice)` returns the message's serialized CDR bytes with one string's
bytes replaced by invalid UTF-8: rclpy cannot build such a message from a Python `str`, so topics
get it as a raw publication. Service requests and goals cannot be sent raw from rclpy; they get
U+FFFD instead, which is exactly what a node sees after rclpy decodes invalid UTF-8 ("replace").
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st
from rclpy.serialization import serialize_message

MAX_STRING_CHARS = 1 << 20  # 1 MiB: a runaway publisher, still deliverable
MAX_SEQUENCE_LENGTH = 100_000  # elements of a primitive sequence (800 kB of doubles)
MAX_MESSAGE_SEQUENCE_LENGTH = 300  # elements of a sequence of messages (each built in Python)
MAX_IMAGE_SIDE = 1024  # consistent images up to 1024 x 1024 x 4 bytes
REPLACEMENT_CHARACTER = "\ufffd"
_INT_RANGES = {
    "int8": (-(1 << 7), (1 << 7) - 1),
    "uint8": (0, (1 << 8) - 1),
    "int16": (-(1 << 15), (1 << 15) - 1),
    "uint16": (0, (1 << 16) - 1),
    "int32": (-(1 << 31), (1 << 31) - 1),
    "uint32": (0, (1 << 32) - 1),
    "int64": (-(1 << 63), (1 << 63) - 1),
    "uint64": (0, (1 << 64) - 1),
    "byte": (0, 255),
}
_SEQUENCE = re.compile(r"^sequence<(?P<inner>[^,>]+)(?:,\s*(?P<bound>\d+))?>$")
_ARRAY = re.compile(r"^(?P<inner>.+)\[(?P<size>\d+)\]$")
_BOUNDED_STRING = re.compile(r"^w?string<=(?P<bound>\d+)$")
IMAGE_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8", "mono16", "16UC1", "32FC1", "yuv422", "bayer_rggb8")


@dataclass(frozen=True)
class Hints:
    """What the generic strategies cannot know: the node's clock and names it will recognise.

    now_s: the clock the node stamps with (seconds), read at draw time, so "plausible" and "an hour
        ahead" stay relative to the node's clock however long the run takes.
    names: words the node looks up (joint names, task names, object names): drawn for string fields
        and string sequences alongside hostile text, so messages get past the first name check.
    """

    now_s: Callable[[], float]
    names: Sequence[str] = field(default_factory=tuple)


def import_type(type_name: str) -> type:
    """'sensor_msgs/msg/Image' (or 'sensor_msgs/Image' for messages) -> the generated class."""
    parts = type_name.split("/")
    if len(parts) == 2:
        parts = [parts[0], "msg", parts[1]]
    package, kind, name = parts
    return getattr(importlib.import_module(f"{package}.{kind}"), name)


def hostile_floats(width: int = 64) -> st.SearchStrategy[float]:
    big = 3.0e38 if width == 32 else 1e308
    return st.one_of(
        st.floats(-4.0, 4.0, width=width),  # plausible joint positions, axes, metres
        st.sampled_from([math.nan, math.inf, -math.inf, 50.0, -50.0, big, -big, 0.0, 1e-300 if width == 64 else 1e-38]),
        st.floats(width=width),  # anything, NaN and inf included
    )


def hostile_text(hints: Hints, small: bool = False) -> st.SearchStrategy[str]:
    """Hostile strings; `small`: no huge ones (an element of a long sequence of messages)."""
    sane = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
    parts = [
        st.just(""),
        sane,
        sane.map(lambda t: t + REPLACEMENT_CHARACTER),  # invalid UTF-8, as rclpy decodes it
        sane.map(lambda t: f"{t}\x07\x1b[2J\r\n"),  # control characters, a terminal escape
        st.integers(1, 64 if small else 200_000).map(lambda n: "[" * n + "]" * n),  # deeply nested JSON
    ]
    if not small:
        parts.append(st.integers(1_000, MAX_STRING_CHARS).map(lambda n: "x" * n))  # huge
    if hints.names:
        parts.append(st.sampled_from(list(hints.names)))
    return st.one_of(*parts)


def stamps(hints: Hints) -> st.SearchStrategy[Any]:
    """builtin_interfaces/Time: zero, near the clock, ahead or behind by seconds to days, far
    future (2038), far past (1970 + 1 s), negative."""
    from builtin_interfaces.msg import Time

    def at(seconds: float) -> Time:
        seconds = min(max(seconds, 0.0), float((1 << 31) - 1))
        sec = int(seconds)
        return Time(sec=sec, nanosec=min(int((seconds - sec) * 1e9), 999_999_999))

    return st.one_of(
        st.just(Time()),
        st.floats(-0.5, 0.5).map(lambda d: at(hints.now_s() + d)),
        st.floats(2.0, 1e6).map(lambda d: at(hints.now_s() + d)),
        st.floats(2.0, 1e6).map(lambda d: at(hints.now_s() - d)),
        st.just(Time(sec=(1 << 31) - 1, nanosec=999_999_999)),
        st.just(Time(sec=1, nanosec=0)),
        st.integers(-(1 << 31), -1).map(lambda s: Time(sec=s, nanosec=0)),
    )


def _repeat(element: st.SearchStrategy[Any], low: int, high: int) -> st.SearchStrategy[list[Any]]:
    """A long list of one drawn value: long sequences without drawing every element."""
    return st.tuples(element, st.integers(low, high)).map(lambda pair: [pair[0]] * pair[1])


def type_strategy(type_str: str, hints: Hints, field_name: str = "", small: bool = False) -> st.SearchStrategy[Any]:
    """A strategy for one field type as rosidl spells it ('double', 'sequence<string>', 'uint8[3]', ...).

    `small`: sequences of at most 8 elements and no huge strings, for the elements of a sequence of
    messages (a long sequence of long sequences would be a message of gigabytes)."""
    if match := _SEQUENCE.match(type_str):
        inner, bound = match["inner"], int(match["bound"]) if match["bound"] else None
        return _sequence_strategy(inner, hints, field_name, bound, small)
    if match := _ARRAY.match(type_str):
        inner, size = match["inner"], int(match["size"])
        element = type_strategy(inner, hints, field_name, small=True)
        if inner in ("uint8", "octet", "byte"):
            return st.binary(min_size=size, max_size=size)
        return st.lists(element, min_size=size, max_size=size)
    if type_str in ("double", "float64"):
        return hostile_floats(64)
    if type_str in ("float", "float32"):
        return hostile_floats(32)
    if type_str == "boolean":
        return st.booleans()
    if type_str == "octet":
        return st.binary(min_size=1, max_size=1)
    if type_str == "char":
        return st.integers(0, 127).map(chr)
    if type_str in _INT_RANGES:
        low, high = _INT_RANGES[type_str]
        return st.one_of(st.sampled_from([low, high, 0, 1]), st.integers(low, high))
    if type_str in ("string", "wstring"):
        return hostile_text(hints, small)
    if match := _BOUNDED_STRING.match(type_str):
        bound = int(match["bound"])
        return hostile_text(hints, small).map(lambda t: t[:bound])
    return message_strategy(import_type(type_str), hints, small)


def _sequence_strategy(
    inner: str, hints: Hints, field_name: str, bound: int | None, small: bool
) -> st.SearchStrategy[Any]:
    primitive = "/" not in inner
    # Elements of a sequence are small: a long sequence of huge strings would be gigabytes.
    element = type_strategy(inner, hints, field_name, small=True)
    if inner in ("uint8", "octet", "byte"):
        high = min(bound if bound is not None else MAX_SEQUENCE_LENGTH, 8 if small else MAX_SEQUENCE_LENGTH)
        return st.one_of(st.binary(max_size=min(high, 64)), st.integers(0, high).map(bytes), st.just(b""))
    high = bound if bound is not None else (MAX_SEQUENCE_LENGTH if primitive else MAX_MESSAGE_SEQUENCE_LENGTH)
    if small:
        high = min(high, 8)
    choices = [st.just([]), st.lists(element, max_size=min(high, 8))]
    if high > 8:
        choices.append(_repeat(element, 9, high))
    if inner in ("string", "wstring") and hints.names:
        known = st.sampled_from(list(hints.names))
        choices.append(st.lists(known, max_size=len(hints.names) + 2))  # known names, duplicates possible
        choices.append(st.just(list(hints.names)))  # exactly the node's names: size checks come next
    return st.one_of(*choices)


_DOMAIN_STRATEGIES: dict[str, Callable[[Hints], st.SearchStrategy[Any]]] = {}


def message_strategy(cls: type, hints: Hints, small: bool = False) -> st.SearchStrategy[Any]:
    """Instances of the rosidl class `cls`: the generic field-wise strategy, plus a domain strategy
    for types that have one (the generic one rarely builds, e.g., an image whose sizes agree)."""
    type_name = f"{cls.__module__.split('.')[0]}/{cls.__name__}"
    if type_name == "builtin_interfaces/Time":
        return stamps(hints)
    fields = {
        name: type_strategy(type_str, hints, name, small) for name, type_str in cls.get_fields_and_field_types().items()
    }
    generic = st.fixed_dictionaries(fields).map(lambda values: _build(cls, values))
    domain = None if small else _DOMAIN_STRATEGIES.get(type_name)
    return st.one_of(generic, domain(hints)) if domain is not None else generic


def _build(cls: type, values: dict[str, Any]) -> Any:
    msg = cls()
    for name, value in values.items():
        setattr(msg, name, value)
    return msg


def _header(hints: Hints) -> st.SearchStrategy[Any]:
    from std_msgs.msg import Header

    return st.builds(
        Header, stamp=stamps(hints), frame_id=st.sampled_from(["", "head_camera_optical_frame", "x" * 300])
    )


def _images(hints: Hints) -> st.SearchStrategy[Any]:
    from sensor_msgs.msg import Image

    channels = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1, "mono16": 2, "16UC1": 2, "32FC1": 4}
    encodings = st.one_of(st.sampled_from(IMAGE_ENCODINGS), st.sampled_from(["", "RGB8", "rgb8 ", "jpeg"]))

    @st.composite
    def image(draw: Callable[[st.SearchStrategy[Any]], Any]) -> Image:
        encoding = draw(encodings)
        width = draw(st.one_of(st.integers(0, 16), st.sampled_from([224, 640]), st.integers(0, MAX_IMAGE_SIDE)))
        height = draw(st.one_of(st.integers(0, 16), st.sampled_from([224, 480]), st.integers(0, MAX_IMAGE_SIDE)))
        step = width * channels.get(encoding, 3)
        size = step * height
        kind = draw(st.sampled_from(["consistent", "short_data", "long_data", "wrong_step", "huge_sizes"]))
        if kind == "short_data":
            size = draw(st.integers(0, max(size - 1, 0)))
        elif kind == "long_data":
            size += draw(st.integers(1, 4096))
        elif kind == "wrong_step":
            step = draw(st.sampled_from([0, 1, max(step - 1, 0), step + 1, (1 << 32) - 1]))
        elif kind == "huge_sizes":  # claims gigapixels, carries a few bytes
            width, height = (
                draw(st.sampled_from([(1 << 32) - 1, 1 << 16])),
                draw(st.sampled_from([(1 << 32) - 1, 1 << 16])),
            )
            step, size = (width * 3) % (1 << 32), draw(st.integers(0, 64))
        msg = Image(
            height=height, width=width, encoding=encoding, step=step, is_bigendian=draw(st.sampled_from([0, 1]))
        )
        msg.header = draw(_header(hints))
        msg.data = bytes(size)
        return msg

    return image()


def _joint_states(hints: Hints) -> st.SearchStrategy[Any]:
    from sensor_msgs.msg import JointState

    names = list(hints.names)
    if not names:
        return st.nothing()

    @st.composite
    def joint_state(draw: Callable[[st.SearchStrategy[Any]], Any]) -> JointState:
        chosen = draw(st.one_of(st.just(names), st.lists(st.sampled_from(names), min_size=1, max_size=len(names) + 2)))
        value = hostile_floats(64)
        positions = draw(
            st.one_of(
                st.lists(value, min_size=len(chosen), max_size=len(chosen)),  # the right size, wild values
                st.lists(value, max_size=len(chosen) + 3),  # any size
                st.tuples(value, st.just(len(chosen))).map(lambda pair: [pair[0]] * pair[1]),  # all one value
            )
        )
        msg = JointState(name=chosen, position=positions)
        msg.velocity = draw(st.one_of(st.just([]), st.lists(value, max_size=len(chosen))))
        msg.header = draw(_header(hints))
        return msg

    return joint_state()


_DOMAIN_STRATEGIES.update(
    {
        "std_msgs/Header": _header,
        "sensor_msgs/Image": _images,
        "sensor_msgs/JointState": _joint_states,
    }
)


def string_paths(msg: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths (attribute names and list indices) of every string in `msg`, nested ones included."""
    paths: list[tuple[Any, ...]] = []
    for name, type_str in msg.get_fields_and_field_types().items():
        value = getattr(msg, name)
        if type_str in ("string", "wstring") or _BOUNDED_STRING.match(type_str):
            paths.append((*prefix, name))
        elif isinstance(value, list):
            for i, item in enumerate(value[:4]):
                if isinstance(item, str):
                    paths.append((*prefix, name, i))
                elif hasattr(item, "get_fields_and_field_types"):
                    paths.extend(string_paths(item, (*prefix, name, i)))
        elif hasattr(value, "get_fields_and_field_types"):
            paths.extend(string_paths(value, (*prefix, name)))
    return paths


def with_invalid_utf8(msg: Any, choice: int) -> bytes | None:
    """CDR bytes of `msg` with string number `choice` (modulo the count) replaced by invalid UTF-8
    of the same length (an ASCII marker is serialised, then its bytes are overwritten); None when
    the message has no string."""
    paths = string_paths(msg)
    if not paths:
        return None
    path = paths[choice % len(paths)]
    marker = f"\x01fuzz{choice:08d}" + "z" * 16
    _set_path(msg, path, marker)
    data = serialize_message(msg)
    invalid = (b"\xff\xfe\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x90\x28\xbc" * 3)[: len(marker)]
    return data.replace(marker.encode("ascii"), invalid, 1)


def _set_path(msg: Any, path: tuple[Any, ...], value: str) -> None:
    target = msg
    for step in path[:-1]:
        target = target[step] if isinstance(step, int) else getattr(target, step)
    last = path[-1]
    if isinstance(last, int):
        target[last] = value
    else:
        setattr(target, last, value)
