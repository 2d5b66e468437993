"""The robot profile starts the bridge from gr1t2_robot.yaml, disarmed unless dry_run is false."""

from gr00t_bringup.graph import GraphOptions, build_graph
from gr00t_description import load_stack


def test_robot_stack_adds_the_bridge_in_dry_run_with_real_robot_timeouts():
    stack = load_stack("gr1t2_robot")
    specs = {s.name: s for s in build_graph(stack, "robot")}
    assert list(specs) == ["gr00t_gr1_bridge", "gr00t_system2", "gr00t_system1"]
    bridge = specs["gr00t_gr1_bridge"]
    assert (bridge.package, bridge.executable) == ("gr00t_gr1_bridge", "gr1_bridge_node")
    assert bridge.parameters["dry_run"] is True and specs["gr00t_system1"].parameters["dry_run"] is True
    assert bridge.parameters["stack_config"] == str(stack.path)
    assert specs["gr00t_system1"].parameters["joint_state_timeout_s"] == 0.1


def test_one_dry_run_switch_arms_both_and_the_bridge_can_be_left_out():
    stack = load_stack("gr1t2_robot")
    armed = {s.name: s.parameters for s in build_graph(stack, "robot", GraphOptions(dry_run=False))}
    assert armed["gr00t_gr1_bridge"]["dry_run"] is False and armed["gr00t_system1"]["dry_run"] is False
    without = build_graph(stack, "robot", GraphOptions(gr1_bridge=False))
    assert [s.executable for s in without] == ["system2_node", "system1_node"]
    # The sim stack has no bridge section: the robot profile stays System 2 + System 1 there.
    assert [s.executable for s in build_graph(load_stack(), "robot")] == ["system2_node", "system1_node"]
