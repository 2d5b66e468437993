"""joy_teleop_node in-process: Joy + joint_states in, leader JointState out (what leader_teleop_node reads)."""

from __future__ import annotations

import math
import threading
import time

import mujoco
import numpy as np
import pytest


def test_node_turns_joy_into_leader_joint_states_and_stops_on_bad_or_stale_joy():
    rclpy = pytest.importorskip("rclpy")
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import JointState, Joy

    from gr00t_teleop.joy_teleop_node import JoyTeleopNode
    from gr00t_teleop.teleop.leader_mapping import LeaderMapping

    context = rclpy.Context()
    rclpy.init(context=context)
    node = JoyTeleopNode(
        context=context,
        parameter_overrides=[Parameter("joy_timeout_s", value=0.3), Parameter("rate_hz", value=30.0)],
    )
    probe = rclpy.create_node("joy_probe", context=context)
    executor = MultiThreadedExecutor(num_threads=2, context=context)
    executor.add_node(node)
    executor.add_node(probe)
    robot = node.stack.robot
    names = list(robot.joint_names)
    home = np.array(robot.home_positions(), dtype=float)
    leader: list[tuple[float, JointState]] = []
    probe.create_subscription(
        JointState,
        node.stack.nodes["leader_teleop"]["leader_topic"],
        lambda msg: leader.append((time.monotonic(), msg)),
        50,
    )
    from diagnostic_msgs.msg import DiagnosticArray

    diagnostics: list = []
    probe.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, 10)
    states = probe.create_publisher(JointState, node.stack.topics["joint_states"], 10)
    joy_pub = probe.create_publisher(Joy, "joy", 10)
    forward = [0.0] * 8
    forward[1] = 1.0  # left stick up: +x
    joy = {"axes": forward}
    stop = threading.Event()

    def publish():
        while not stop.is_set():
            states.publish(JointState(name=names, position=home.tolist()))  # the robot stays at home
            if joy["axes"] is not None:
                joy_pub.publish(Joy(axes=joy["axes"], buttons=[0] * 11))
            time.sleep(0.02)

    def spin():
        while not stop.is_set():
            executor.spin_once(timeout_sec=0.05)

    threads = [threading.Thread(target=publish, daemon=True), threading.Thread(target=spin, daemon=True)]
    for thread in threads:
        thread.start()

    # Forward kinematics of the received targets on the sim's own model, independent of the node.
    arm = node.teleop.arms["right"]
    data = mujoco.MjData(arm.model)

    def right_palm(msg: JointState) -> np.ndarray:
        for name, value in zip(msg.name, msg.position):
            data.qpos[arm.model.joint(name).qposadr[0]] = value
        mujoco.mj_kinematics(arm.model, data)
        return data.xpos[arm.model.body("R_hand_base_link").id].copy()

    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(leader) < 30:  # 1 s of +x at 30 Hz
            time.sleep(0.05)
        assert len(leader) >= 30, "no leader joint states from the node"
        first, last = leader[0][1], leader[-1][1]
        assert list(last.name) == list(robot.group_joints(["left_arm", "right_arm", "left_hand", "right_hand"]))
        # ... which is everything leader_teleop_node, configured from the same YAML, needs.
        section = node.stack.nodes["leader_teleop"]
        mapping = LeaderMapping.from_config(robot.group_joints(section["groups"]), section.get("mapping", {}))
        assert len(mapping.map(last.name, last.position)) == len(mapping.follower_joints)
        assert all(math.isfinite(v) for v in last.position)
        moved = right_palm(last) - right_palm(first)
        # Mostly along +x: the IK's cross-axis drift grows with the distance travelled, which grows
        # when a loaded machine delivers more Joy messages before the check, so it is bounded relative.
        assert moved[0] > 0.05 and np.abs(moved[1:]).max() < 0.2 * moved[0], moved

        # Bad Joy (NaN, then too few axes) is ignored: the palm stops once the last good one is stale.
        nan_axes = list(forward)
        nan_axes[1] = math.nan
        joy["axes"] = nan_axes
        time.sleep(0.2)
        joy["axes"] = [1.0, 1.0]
        time.sleep(0.5)
        count = len(leader)
        time.sleep(1.0)  # 30 expected at 30 Hz; the shared spin thread delivers them in bursts on a busy machine
        held = [msg for _, msg in leader[count:]]
        assert len(held) >= 5
        assert all(list(msg.position) == list(held[0].position) for msg in held)
        # /diagnostics: started, no fresh Joy any more (the bad samples were not taken).
        deadline = time.monotonic() + 3
        mine: list = []
        while time.monotonic() < deadline and not (mine and mine[-1].message.startswith("idle")):
            mine = [s for a in list(diagnostics) for s in a.status if s.hardware_id == "gr00t_joy_teleop"]
            time.sleep(0.05)
        assert mine and mine[-1].message.startswith("idle"), mine[-1:]
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=2)
        executor.shutdown()
        node.destroy_node()
        probe.destroy_node()
        rclpy.shutdown(context=context)
