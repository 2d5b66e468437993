"""Hostile input on every interface of every node (gr00t_bringup.fuzz), a few examples each: the node
process stays up, System 1's and the leader teleop's joint commands stay finite and inside the joint
limits, every discovered subscription, service and action server is driven, and the node recovers on
good input. The longer run is `benchmarks/fuzz_nodes.py --examples N` (docs/benchmarks/fuzz_nodes.json)."""

from __future__ import annotations

import itertools
import os

import pytest

pytest.importorskip("rclpy")
pytest.importorskip("hypothesis")

from gr00t_bringup.fuzz.harness import fuzz_node  # noqa: E402
from gr00t_bringup.fuzz.profiles import PROFILES, names_for  # noqa: E402

pytestmark = pytest.mark.slow

EXAMPLES = 8  # per interface: the whole module takes ~1-2 minutes on a loaded 2-core machine
_DOMAINS = itertools.count(start=120 + os.getpid() % 60)


@pytest.mark.parametrize("node", list(PROFILES))
def test_node_survives_hostile_input_and_recovers(node: str) -> None:
    report = fuzz_node(names_for(PROFILES[node]), EXAMPLES, run_seed=0, domain_id=next(_DOMAINS))
    details = f"{report.to_dict()}"
    assert report.discovered, details
    assert not report.uncovered, f"interfaces not driven: {report.uncovered}\n{report.output_tail}"
    assert report.alive, f"{node} died during {report.died_during} (exit {report.exit_code})\n{report.output_tail}"
    for output in report.outputs:
        assert output.violations == 0, f"{output.topic}: {output.examples}"
    assert report.recovered, f"{node}: {report.recovery}\n{report.output_tail}"
    if report.outputs:
        assert any(o.messages > 0 for o in report.outputs), "no joint_command seen: the limits check saw nothing"


def test_discovery_finds_a_subscription_added_to_a_node() -> None:
    """Interfaces come from the running node, not from a list: an extra subscription is found."""
    import rclpy
    from std_msgs.msg import String

    from gr00t_bringup.fuzz.harness import Session, discover

    session = Session(next(_DOMAINS))
    other = rclpy.create_node("node_with_a_new_input", context=session.context)
    session.executor.add_node(other)
    try:
        other.create_subscription(String, "brand_new_input", lambda _m: None, 10)
        other.create_service(__import__("std_srvs.srv", fromlist=["Trigger"]).Trigger, "~/new_service", lambda _q, r: r)
        interfaces = discover(session, "node_with_a_new_input", lambda: True, 20.0)
    finally:
        session.executor.remove_node(other)
        other.destroy_node()
        session.close()
    assert interfaces.subscriptions["/brand_new_input"] == "std_msgs/msg/String"
    assert "/node_with_a_new_input/new_service" in interfaces.services
    assert all("set_parameters" not in name for name in interfaces.services)


_FRAGILE_NODE = """
import json, math, sys
import rclpy
from sensor_msgs.msg import JointState
from std_msgs.msg import String

rclpy.init(args=sys.argv)
node = rclpy.create_node("fragile")
out = node.create_publisher(JointState, "/joint_command", 10)

def on_text(msg):
    json.loads(msg.data)  # the sim's old ~/reset_episode: nested JSON raises RecursionError

def on_joints(msg):
    out.publish(JointState(name=list(msg.name)[:1], position=list(msg.position)[:1]))  # passes NaN on

node.create_subscription(String, "/text_in", on_text, 10)
node.create_subscription(JointState, "/joints_in", on_joints, 10)
rclpy.spin(node)
"""


def _fragile_profile(tmp_path, **changes):
    import sys
    from dataclasses import replace

    from gr00t_bringup.fuzz.harness import NodeProfile

    script = tmp_path / "fragile_node.py"
    script.write_text(_FRAGILE_NODE)
    profile = NodeProfile(
        node="fragile",
        package="",
        executable="",
        parameters=lambda _scratch: {},
        command=(sys.executable, str(script)),
        names=("left_elbow_pitch_joint",),
    )
    return replace(profile, **changes)


def test_the_harness_reports_a_node_that_dies_on_hostile_input(tmp_path) -> None:
    """The checks can fail: a node that parses JSON from a string dies, and the report says where."""
    report = fuzz_node(_fragile_profile(tmp_path), 60, run_seed=0, domain_id=next(_DOMAINS))
    assert not report.alive and report.died_during in ("topic /text_in", "topic /joints_in"), report.to_dict()
    assert not report.ok


def test_the_harness_reports_joint_commands_outside_the_limits(tmp_path) -> None:
    """A node that forwards whatever it gets to joint_command fails the limits check."""
    profile = _fragile_profile(tmp_path, monitored_outputs=("/joint_command",))
    from dataclasses import replace

    report = fuzz_node(replace(profile, node="fragile"), 40, run_seed=1, domain_id=next(_DOMAINS))
    assert sum(o.violations for o in report.outputs) > 0, report.to_dict()
    assert not report.ok
