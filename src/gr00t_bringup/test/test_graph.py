"""The graph description shared by the launch files and gr00t-launch."""

import pytest

from gr00t_bringup.graph import GraphOptions, build_graph
from gr00t_description import load_stack


def test_sim_profile_has_sim_and_both_systems_with_stack_parameters():
    stack = load_stack()
    specs = build_graph(stack, "sim")
    assert [(s.package, s.executable, s.name) for s in specs] == [
        ("gr00t_sim", "sim_node", "gr00t_sim"),
        ("gr00t_policy", "system2_node", "gr00t_system2"),
        ("gr00t_policy", "system1_node", "gr00t_system1"),
    ]
    for spec in specs:
        assert spec.parameters["stack_config"] == str(stack.path)
        assert spec.parameters["use_sim_time"] is False
    system1 = specs[2].parameters
    assert system1["backend"] == stack.nodes["system1"]["backend"]
    assert system1["dry_run"] is False


def test_robot_profile_has_no_sim_and_defaults_to_dry_run():
    specs = build_graph(load_stack(), "robot")
    assert [s.executable for s in specs] == ["system2_node", "system1_node"]
    assert specs[1].parameters["dry_run"] is True
    armed = build_graph(load_stack(), "robot", GraphOptions(dry_run=False))
    assert armed[1].parameters["dry_run"] is False


def test_options_override_the_yaml():
    options = GraphOptions(model_path="/models/x", backend="onnxruntime", mode="fused",
                           instruction="wave", use_sim_time=True, realtime_factor=0.0)
    specs = {s.name: s.parameters for s in build_graph(load_stack(), "sim", options)}
    assert specs["gr00t_system1"]["model_path"] == specs["gr00t_system2"]["model_path"] == "/models/x"
    assert specs["gr00t_system1"]["backend"] == "onnxruntime"
    assert specs["gr00t_system1"]["mode"] == "fused"
    assert specs["gr00t_system2"]["instruction"] == "wave"
    assert specs["gr00t_sim"]["realtime_factor"] == 0.0 and specs["gr00t_sim"]["publish_clock"] is True
    assert all(p["use_sim_time"] for p in specs.values())


def test_unknown_profile_is_rejected():
    with pytest.raises(ValueError, match="unknown profile"):
        build_graph(load_stack(), "moon")


def test_teleop_sim_profile_has_sim_leader_teleop_recorder_and_optionally_the_scripted_teleop():
    stack = load_stack()
    specs = build_graph(stack, "teleop_sim")
    assert [(s.package, s.executable) for s in specs] == [
        ("gr00t_sim", "sim_node"), ("gr00t_teleop", "leader_teleop_node"), ("gr00t_teleop", "recorder_node"),
    ]
    for spec in specs:
        # Every value must be a ROS parameter (no nested maps: the leader mapping is read from the YAML).
        assert all(not isinstance(v, dict) for v in spec.parameters.values()), spec
    scripted = build_graph(stack, "teleop_sim", GraphOptions(scripted_teleop=True, dry_run=True))
    assert scripted[-1].executable == "scripted_teleop_node" and scripted[-1].package == "gr00t_sim"
    assert scripted[1].parameters["dry_run"] is True
