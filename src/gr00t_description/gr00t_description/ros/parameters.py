"""A node's parameters from one config dataclass.

Each field of a node's config dataclass is one ROS parameter: its name, its type (bool, int, float,
str, list[str] / list[int] / list[float], or dict), a description and a range or a set of choices
(``parameter(...)`` metadata). The dataclass holds no defaults: the stack YAML's ``nodes.<section>``
holds the deployment's values, and launch-time overrides (``-p``, a params file) replace them.
``declare_config`` declares each field with a ``ParameterDescriptor`` (so ``ros2 param describe``
says what it means and what it accepts), validates the final value, and fills the dataclass.

A missing key, a key the node does not know (a typo would otherwise be ignored), a value of the
wrong type, out of range or not among the choices is a ``ConfigError`` naming the parameter, which
``run_node`` turns into a one-line message and exit code 2.

Parameters are read once at start-up and declared read-only, so ``ros2 param set`` refuses instead
of pretending to change a running node; a field with ``dynamic=True`` metadata stays writable (the
node then handles the change).
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any, TypeVar

import yaml

from gr00t_description.config import ConfigError, StackConfig, load_stack

ConfigT = TypeVar("ConfigT")


def parameter(
    description: str,
    low: float | None = None,
    high: float | None = None,
    *,
    choices: tuple[str, ...] = (),
    dynamic: bool = False,
) -> dict[str, Any]:
    """Metadata of a config dataclass field: what it means; for numbers (and each element of a
    list of numbers) the closed range [low, high]; for strings the accepted values, if limited."""
    if (low is None) != (high is None):
        raise ValueError("give both ends of a range, or neither")
    return {
        "description": description,
        "range": None if low is None else (low, high),
        "choices": tuple(choices),
        "dynamic": dynamic,
    }


def declare_stack(node: Any) -> StackConfig:
    """Declare ``stack_config`` and load the stack YAML it names ('' = the default stack)."""
    from rcl_interfaces.msg import ParameterDescriptor

    descriptor = ParameterDescriptor(
        description="stack YAML (robot, topics, rates, every node's parameters); '' = the default simulated GR-1",
        read_only=True,
    )
    path = node.declare_parameter("stack_config", "", descriptor).value
    stack = load_stack(path or None)
    node.get_logger().info(f"stack config: {stack.path} (robot {stack.robot.name})")
    return stack


def config_fields(config_type: type) -> list[tuple[dataclasses.Field, Any]]:
    """(field, resolved type) of each field of a config dataclass, checked for ``parameter`` metadata."""
    hints = typing.get_type_hints(config_type)
    fields = []
    for field in dataclasses.fields(config_type):
        if "description" not in field.metadata:
            raise TypeError(f"{config_type.__name__}.{field.name}: no parameter(...) metadata")
        if field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING:
            raise TypeError(f"{config_type.__name__}.{field.name}: a default; the stack YAML holds the values")
        fields.append((field, hints[field.name]))
    return fields


def declare_config(node: Any, stack: StackConfig, section: str, config_type: type[ConfigT]) -> ConfigT:
    """Declare every field of ``config_type`` as a parameter of ``node`` with the value from
    ``nodes.<section>`` of ``stack`` (see the module docstring) and return the filled dataclass."""
    from rclpy.exceptions import InvalidParameterValueException

    values = stack.nodes.get(section, {})
    fields = config_fields(config_type)
    unknown = sorted(set(values) - {field.name for field, _ in fields})
    if unknown:
        raise ConfigError(
            f"{stack.path}: nodes.{section} has unknown keys {unknown} "
            f"(known: {sorted(field.name for field, _ in fields)})"
        )
    filled: dict[str, Any] = {}
    for field, kind in fields:
        where = f"{stack.path}: nodes.{section}.{field.name}"
        if field.name not in values:
            raise ConfigError(f"{where} is missing ({field.metadata['description']})")
        value = _check(where, kind, field.metadata, values[field.name])
        try:
            declared = node.declare_parameter(field.name, _to_ros(kind, value), _descriptor(kind, field.metadata)).value
        except InvalidParameterValueException as exc:
            raise ConfigError(f"parameter {field.name} ({field.metadata['description']}): {exc}") from exc
        filled[field.name] = _check(f"parameter {field.name}", kind, field.metadata, _from_ros(kind, declared))
    return config_type(**filled)


def _element_type(kind: Any) -> Any:
    args = typing.get_args(kind)
    return args[0] if args else str


def _check(where: str, kind: Any, metadata: dict[str, Any], value: Any) -> Any:
    """``value`` as ``kind``, or a ConfigError saying why it is not acceptable."""
    origin = typing.get_origin(kind) or kind
    try:
        if origin is list:
            if not isinstance(value, (list, tuple)):
                raise ValueError(f"a list, not {value!r}")
            checked = [_scalar(_element_type(kind), item) for item in value]
        elif origin is dict:
            if not isinstance(value, dict):
                raise ValueError(f"a mapping, not {value!r}")
            checked = dict(value)
        else:
            checked = _scalar(kind, value)
    except ValueError as exc:
        raise ConfigError(f"{where}: expected {exc}") from None
    numbers = checked if isinstance(checked, list) else [checked]
    if metadata["range"] is not None:
        low, high = metadata["range"]
        bad = [x for x in numbers if isinstance(x, (int, float)) and not low <= x <= high]
        if bad:
            raise ConfigError(f"{where} = {value!r}: outside [{low}, {high}] ({metadata['description']})")
    if metadata["choices"] and checked not in metadata["choices"]:
        raise ConfigError(f"{where} = {value!r}: one of {list(metadata['choices'])} ({metadata['description']})")
    return checked


def _scalar(kind: Any, value: Any) -> Any:
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"true or false, not {value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            raise ValueError(f"an integer, not {value!r}")
        return int(value)
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"a finite number, not {value!r}")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise ValueError(f"a string, not {value!r}")
        return value
    raise TypeError(f"unsupported parameter type {kind!r}")


def _to_ros(kind: Any, value: Any) -> Any:
    """Mappings are not ROS parameter values: a dict field is declared as its YAML flow text."""
    if (typing.get_origin(kind) or kind) is dict:
        return yaml.safe_dump(value, default_flow_style=True, sort_keys=True).strip()
    return value


def _from_ros(kind: Any, value: Any) -> Any:
    if (typing.get_origin(kind) or kind) is dict:
        try:
            parsed = yaml.safe_load(value) if value else {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"not a YAML mapping: {value!r} ({exc})") from None
        return {} if parsed is None else parsed
    return list(value) if isinstance(value, (list, tuple)) else value


def _descriptor(kind: Any, metadata: dict[str, Any]) -> Any:
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType

    origin = typing.get_origin(kind) or kind
    scalar = _element_type(kind) if origin is list else kind
    types = {
        bool: ParameterType.PARAMETER_BOOL,
        int: ParameterType.PARAMETER_INTEGER,
        float: ParameterType.PARAMETER_DOUBLE,
        str: ParameterType.PARAMETER_STRING,
    }
    arrays = {
        int: ParameterType.PARAMETER_INTEGER_ARRAY,
        float: ParameterType.PARAMETER_DOUBLE_ARRAY,
        str: ParameterType.PARAMETER_STRING_ARRAY,
        bool: ParameterType.PARAMETER_BOOL_ARRAY,
    }
    if origin is list:
        ros_type = arrays[scalar]
    elif origin is dict:
        ros_type = ParameterType.PARAMETER_STRING
    else:
        ros_type = types[kind]
    description = metadata["description"]
    if origin is dict:
        description += " (a YAML mapping, as flow text)"
    constraints = f"one of {list(metadata['choices'])}" if metadata["choices"] else ""
    if origin is list:
        constraints = f"a list of {scalar.__name__}"
    ranges: dict[str, Any] = {}
    if metadata["range"] is not None and scalar in (int, float):
        low, high = metadata["range"]
        if scalar is int:
            ranges["integer_range"] = [IntegerRange(from_value=int(low), to_value=int(high), step=1)]
        else:
            ranges["floating_point_range"] = [FloatingPointRange(from_value=float(low), to_value=float(high))]
        if origin is list:  # rclpy checks ranges of scalars only: say it, the node checks each element
            constraints += f", each in [{low}, {high}]"
    # rclpy types an empty list as a byte array, whatever the descriptor says, and would then refuse
    # a list of strings from a params file: lists are declared dynamically typed, and checked here.
    return ParameterDescriptor(
        description=description,
        type=ros_type,
        additional_constraints=constraints,
        read_only=not metadata["dynamic"],
        dynamic_typing=origin is list,
        **ranges,
    )


__all__ = [
    "ConfigError",
    "config_fields",
    "declare_config",
    "declare_stack",
    "load_stack",
    "parameter",
]
