"""Joint-space (leader) teleop: the pure name mapping and the node through the safety layer."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest

from gr00t_teleop.teleop.leader_mapping import LeaderMapping, LeaderMappingError


def test_identity_and_configured_mappings():
    mapping = LeaderMapping.identity(["a", "b"])
    assert np.allclose(mapping.map(["b", "a", "extra"], [2.0, 1.0, 9.0]), [1.0, 2.0])
    scaled = LeaderMapping.from_config(["a", "b"], {"b": {"source": "exo_b", "scale": -1.0, "offset": 0.5}})
    assert scaled.follower_joints == ("b",)
    assert np.allclose(scaled.map(["exo_b"], [0.25]), [0.25])


@pytest.mark.parametrize(
    "names, positions, match",
    [
        (["a"], [1.0], "lacks joints"),
        (["a", "b"], [1.0], "2 names but 1 positions"),
        (["a", "a"], [1.0, 2.0], "repeats"),
        (["a", "b"], [1.0, math.inf], "non-finite"),
    ],
)
def test_bad_leader_samples_are_rejected(names, positions, match):
    with pytest.raises(LeaderMappingError, match=match):
        LeaderMapping.identity(["a", "b"]).map(names, positions)


def test_mapping_to_unknown_follower_joints_is_rejected():
    with pytest.raises(LeaderMappingError, match="does not have"):
        LeaderMapping.from_config(["a"], {"z": "a"})


def test_node_streams_the_leader_through_the_safety_layer():
    rclpy = pytest.importorskip("rclpy")
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import JointState

    from gr00t_teleop.leader_teleop_node import LeaderTeleopNode

    context = rclpy.Context()
    rclpy.init(context=context)
    node = LeaderTeleopNode(
        context=context,
        parameter_overrides=[
            Parameter("enable_on_start", value=True),
            Parameter("startup_ramp_s", value=0.2),
            Parameter("ramp_max_velocity_rad_s", value=0.0),
            Parameter("leader_timeout_s", value=0.5),
        ],
    )
    probe = rclpy.create_node("leader_probe", context=context)
    executor = MultiThreadedExecutor(num_threads=2, context=context)
    executor.add_node(node)
    executor.add_node(probe)
    robot = node.stack.robot
    names = list(robot.joint_names)
    measured = np.array(robot.home_positions(), dtype=float)
    index = {n: i for i, n in enumerate(names)}
    commands: list[JointState] = []

    def on_command(msg: JointState) -> None:  # a perfect position controller
        commands.append(msg)
        for name, value in zip(msg.name, msg.position):
            measured[index[name]] = value

    probe.create_subscription(JointState, node.stack.topics["joint_command"], on_command, 50)
    from diagnostic_msgs.msg import DiagnosticArray

    diagnostics: list = []
    probe.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, 10)
    states = probe.create_publisher(JointState, node.stack.topics["joint_states"], 10)
    leader = probe.create_publisher(JointState, "leader/joint_states", 10)
    target = {n: robot.joints[n].home for n in node.joints}
    target["left_elbow_pitch_joint"] = -1.2  # 0.37 rad from home
    target["left_shoulder_pitch_joint"] = 5.0  # far outside the limits: must be clamped
    send_leader = {"on": True}
    stop = threading.Event()

    def publish():
        while not stop.is_set():
            states.publish(JointState(name=names, position=measured.tolist()))
            if send_leader["on"]:
                leader.publish(JointState(name=list(target), position=list(target.values())))
            time.sleep(0.01)

    threads = [
        threading.Thread(target=publish, daemon=True),
        threading.Thread(
            target=lambda: [executor.spin_once(timeout_sec=0.05) for _ in iter(stop.is_set, True)], daemon=True
        ),
    ]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and abs(measured[index["left_elbow_pitch_joint"]] + 1.2) > 0.01:
            time.sleep(0.05)
        assert abs(measured[index["left_elbow_pitch_joint"]] + 1.2) < 0.01, node.supervisor.reason
        upper = robot.joints["left_shoulder_pitch_joint"].upper
        assert all(dict(zip(c.name, c.position))["left_shoulder_pitch_joint"] <= upper + 1e-9 for c in commands)
        send_leader["on"] = False  # leader gone: hold
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and node.supervisor.state != 3:
            time.sleep(0.05)
        assert node.supervisor.state == 3  # HOLDING
        # /diagnostics comes at 1 Hz, and discovery on a loaded machine can take longer than the
        # moves above: wait for it instead of expecting one to have arrived already.
        deadline = time.monotonic() + 5
        mine = []
        while time.monotonic() < deadline and not mine:
            mine = [s for a in list(diagnostics) for s in a.status if s.hardware_id == "gr00t_leader_teleop"]
            time.sleep(0.05)
        assert mine, "no /diagnostics from the leader teleop"
        states = ("disabled", "ramping", "running", "holding", "estopped")
        assert all(status.message.split(":")[0] in states for status in mine), [s.message for s in mine]
        assert {"leader_age_s", "commands_sent", "holds"} <= {kv.key for kv in mine[-1].values}
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=2)
        executor.shutdown()
        node.destroy_node()
        probe.destroy_node()
        rclpy.shutdown(context=context)


def test_node_rejects_implausible_joint_states_and_stamps():
    """The callbacks alone: joint states at 50 rad or stamped an hour ahead, and a leader sample
    stamped an hour ahead, are rejected and counted; a plausible one is taken."""
    rclpy = pytest.importorskip("rclpy")
    from rclpy.duration import Duration
    from sensor_msgs.msg import JointState

    from gr00t_teleop.leader_teleop_node import LeaderTeleopNode

    context = rclpy.Context()
    rclpy.init(context=context)
    node = LeaderTeleopNode(context=context)
    try:
        joints = list(node.joints)
        home = node.stack.robot.home_positions(joints)
        now = node.get_clock().now()

        def sample(positions, stamp):
            msg = JointState(name=joints, position=list(positions))
            msg.header.stamp = stamp.to_msg()
            return msg

        node._on_joint_state(sample([50.0] * len(joints), now))
        node._on_joint_state(sample(home, now + Duration(seconds=3600)))
        assert node.joint_buffer.positions_of(joints, 0.0, float("inf")) is None  # nothing was kept
        assert node._input_log.snapshot()["rejected_joint_states"] == 2
        node._on_leader(sample(home, now + Duration(seconds=3600)))
        assert node._input_log.count("leader_joint_states") == 1 and node._leader_command is None
        node._on_joint_state(sample(home, node.get_clock().now()))
        node._on_leader(sample(home, node.get_clock().now()))
        assert node.joint_buffer.positions_of(joints, 0.0, float("inf")) is not None
        assert node._leader_command is not None
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)
