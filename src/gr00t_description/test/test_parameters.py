"""declare_config: a node's parameters from one config dataclass, values from the stack YAML only."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, replace

import pytest

from gr00t_description import ConfigError, load_stack
from gr00t_description.ros.parameters import config_fields, declare_config, parameter

rclpy = pytest.importorskip("rclpy")  # the ROS wheels are part of the suite's environment
from rcl_interfaces.msg import ParameterType  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402


@dataclass(frozen=True)
class ExampleConfig:
    rate_hz: float = field(metadata=parameter("publish rate (Hz)", 1.0, 1000.0))
    retries: int = field(metadata=parameter("attempts before giving up", 0, 10))
    backend: str = field(metadata=parameter("inference backend", choices=("torch", "onnxruntime")))
    label: str = field(metadata=parameter("free text written into the metadata"))
    enabled: bool = field(metadata=parameter("start enabled"))
    groups: list[str] = field(metadata=parameter("joint groups driven"))
    gains: list[float] = field(metadata=parameter("per-axis gain", 0.0, 2.0))
    mapping: dict = field(metadata=parameter("follower joint -> leader joint"))


VALUES = {
    "rate_hz": 120,
    "retries": 3,
    "backend": "torch",
    "label": "",
    "enabled": True,
    "groups": [],
    "gains": [1.0, 0.5],
    "mapping": {"a": "b"},
}


@pytest.fixture(scope="module", autouse=True)
def ros_context():
    rclpy.init()
    yield
    rclpy.shutdown()


def _stack(values: dict):
    return replace(load_stack(None), nodes={"example": values})


def _declare(values: dict, overrides: list[Parameter] | None = None):
    node = Node("parameters_test", parameter_overrides=overrides or [])
    try:
        return node, declare_config(node, _stack(values), "example", ExampleConfig)
    except BaseException:
        node.destroy_node()
        raise


def test_every_type_is_declared_with_its_description_range_and_read_only():
    node, config = _declare(VALUES)
    try:
        assert config == ExampleConfig(
            rate_hz=120.0,
            retries=3,
            backend="torch",
            label="",
            enabled=True,
            groups=[],
            gains=[1.0, 0.5],
            mapping={"a": "b"},
        )
        assert isinstance(config.rate_hz, float)
        names = [f.name for f in dataclasses.fields(ExampleConfig)]
        descriptors = dict(zip(names, node.describe_parameters(names), strict=True))
        assert all(d.description and d.read_only for d in descriptors.values())
        rate = descriptors["rate_hz"].floating_point_range[0]
        assert (rate.from_value, rate.to_value) == (1.0, 1000.0)
        assert descriptors["retries"].integer_range[0].to_value == 10
        assert "torch" in descriptors["backend"].additional_constraints
        assert descriptors["groups"].additional_constraints == "a list of str"
        assert descriptors["gains"].additional_constraints == "a list of float, each in [0.0, 2.0]"
        assert descriptors["mapping"].type == ParameterType.PARAMETER_STRING
        assert not node.set_parameters([Parameter("rate_hz", value=10.0)])[0].successful  # read-only
    finally:
        node.destroy_node()


def test_a_launch_override_replaces_the_yaml_value_and_is_checked_too():
    overrides = [
        Parameter("retries", value=5),
        Parameter("mapping", value="{x: y}"),
        Parameter("groups", value=["left_arm"]),
    ]  # a string list replaces the YAML's empty list
    node, config = _declare(VALUES, overrides)
    node.destroy_node()
    assert config.retries == 5 and config.mapping == {"x": "y"} and config.groups == ["left_arm"]
    with pytest.raises(ConfigError, match="retries"):
        _declare(VALUES, [Parameter("retries", value=50)])
    with pytest.raises(ConfigError, match="backend"):
        _declare(VALUES, [Parameter("backend", value="tensorflow")])


@pytest.mark.parametrize(
    "change, message",
    [
        ({"rate_hz": None}, "rate_hz is missing"),
        ({"typo_hz": 1.0}, "unknown keys \\['typo_hz'\\]"),
        ({"rate_hz": 0.5}, "outside \\[1.0, 1000.0\\]"),
        ({"rate_hz": float("nan")}, "finite number"),
        ({"retries": 2.5}, "an integer"),
        ({"enabled": "yes"}, "true or false"),
        ({"backend": "tensorflow"}, "one of \\['torch', 'onnxruntime'\\]"),
        ({"gains": [1.0, 3.0]}, "outside \\[0.0, 2.0\\]"),
        ({"groups": "left_arm"}, "a list"),
        ({"mapping": ["a"]}, "a mapping"),
    ],
)
def test_a_bad_value_is_a_config_error_naming_the_parameter(change, message):
    values = {k: v for k, v in {**VALUES, **change}.items() if v is not None}
    with pytest.raises(ConfigError, match=message):
        _declare(values)


def test_a_config_dataclass_holds_no_defaults_and_describes_every_field():
    @dataclass(frozen=True)
    class WithDefault:
        rate_hz: float = field(default=10.0, metadata=parameter("rate", 1.0, 100.0))

    @dataclass(frozen=True)
    class Undescribed:
        rate_hz: float

    with pytest.raises(TypeError, match="a default"):
        config_fields(WithDefault)
    with pytest.raises(TypeError, match="no parameter"):
        config_fields(Undescribed)
    with pytest.raises(ValueError):
        parameter("one end only", 0.0)
