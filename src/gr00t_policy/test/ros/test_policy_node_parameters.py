"""`ros2 param describe` of the policy nodes: every parameter says what it means, every number its
range, every enumerated string its choices; values come from the stack YAML only."""

from __future__ import annotations

import dataclasses

import pytest
from rcl_interfaces.msg import ParameterType
from rclpy.parameter import Parameter

from gr00t_description import ConfigError, load_stack
from gr00t_policy.ros.system1_node import System1Node
from gr00t_policy.ros.system2_node import System2Node
from gr00t_policy.runtime.config import System1Config, System2Config

NUMERIC = (ParameterType.PARAMETER_INTEGER, ParameterType.PARAMETER_DOUBLE)
# Declared by rclpy or the launch plumbing, not by the node's config dataclass.
NOT_OURS = {"use_sim_time", "stack_config", "start_type_description_service"}


def _check_descriptions(node, config_type) -> dict[str, str]:
    """Checks every declared parameter; returns name -> additional constraints (the choices)."""
    names = [name for name in node.list_parameters([], 0).names if name not in NOT_OURS]
    assert set(names) == {f.name for f in dataclasses.fields(config_type)}
    for descriptor in node.describe_parameters(names):
        assert descriptor.description.strip(), descriptor.name
        assert descriptor.read_only, descriptor.name  # read once at start-up
        if descriptor.type in NUMERIC:
            assert descriptor.integer_range or descriptor.floating_point_range, descriptor.name
    constraints = {d.name: d.additional_constraints for d in node.describe_parameters(names)}
    assert "bfloat16" in constraints["dtype"]
    return constraints


def test_every_system1_parameter_is_described(ros, demo_policy):
    node = ros.add(System1Node(policy=demo_policy, context=ros.context))
    constraints = _check_descriptions(node, System1Config)
    assert all(name in constraints["backend"] for name in ("torch", "onnxruntime", "tensorrt"))
    assert "fused" in constraints["mode"] and "rtc" in constraints["chunk_switch"]


def test_every_system2_parameter_is_described(ros, demo_policy):
    node = ros.add(System2Node(policy=demo_policy, context=ros.context))
    constraints = _check_descriptions(node, System2Config)
    assert "bfloat16" in constraints["token_dtype"]


@pytest.mark.parametrize("stack", ["gr1t2_sim.yaml", "gr1t2_robot.yaml"])
def test_both_stacks_hold_exactly_the_policy_nodes_parameters(stack):
    from gr00t_description.config import config_dir

    nodes = load_stack(str(config_dir() / stack)).nodes
    assert set(nodes["system1"]) == {f.name for f in dataclasses.fields(System1Config)}
    assert set(nodes["system2"]) == {f.name for f in dataclasses.fields(System2Config)}


def test_a_value_outside_its_range_is_refused_naming_the_parameter(ros, demo_policy):
    with pytest.raises(ConfigError, match="disable_after_s"):
        System1Node(
            policy=demo_policy, context=ros.context, parameter_overrides=[Parameter("disable_after_s", value=-1.0)]
        )
