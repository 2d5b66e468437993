"""BridgeCore and FourierJointMap without ROS or zenoh: mapping by name, units, full vectors,
slew limiting, dry run, watchdogs. Time is passed in."""

from __future__ import annotations

import numpy as np
import pytest

from gr00t_gr1_bridge.bridge_core import BridgeConfig, BridgeCore, BridgeState
from gr00t_gr1_bridge.joint_map import FourierJointMap
from gr00t_gr1_bridge.robot_interface import MotorState
from gr00t_policy.safety import JointLimiter, LimiterConfig

DT = 1.0 / 120.0


def _make(stack, dry_run=False, **config):
    robot = stack.robot
    joint_map = FourierJointMap.create(stack.nodes["gr1_bridge"]["motor_order"], robot.joint_names)
    limiter = JointLimiter.from_robot(robot, joint_map.controlled, LimiterConfig(max_dt_s=3 * DT))
    core = BridgeCore(joint_map, limiter, BridgeConfig(dry_run=dry_run, **config), ignored_joints=robot.joint_names)
    return core, joint_map


def _home_state(stack, joint_map, now, sequence=1):
    positions = np.zeros(32)
    for name in joint_map.controlled:
        positions[joint_map.motor_index(name)] = np.rad2deg(stack.robot.joints[name].home)
    positions[:12] = [5.0] * 12  # legs somewhere recognisable
    return MotorState(positions, np.zeros(32), now, sequence)


def test_motor_table_matches_fourier_groups_and_head_order(robot_stack):
    order = robot_stack.nodes["gr1_bridge"]["motor_order"]
    joint_map = FourierJointMap.create(order, robot_stack.robot.joint_names)
    # fourier-grx-client ControlGroup: WAIST (12, 3), HEAD (15, 3), LEFT_ARM (18, 7), RIGHT_ARM (25, 7)
    assert order[12:15] == ["waist_yaw_joint", "waist_pitch_joint", "waist_roll_joint"]
    assert order[15:18] == ["head_pitch_joint", "head_roll_joint", "head_yaw_joint"]
    assert all(n.startswith("left_") and "hip" not in n and "knee" not in n and "ankle" not in n for n in order[18:25])
    assert all(n.startswith("right_") and "hip" not in n and "knee" not in n and "ankle" not in n for n in order[25:32])
    assert all(any(k in n for k in ("hip", "knee", "ankle")) for n in order[:12])
    # Controlled = waist + head + arms; hands are in the robot config but not on this client.
    assert set(joint_map.controlled) == set(order[12:])
    assert joint_map.motor_index("head_roll_joint") == 16


def test_bad_motor_tables_are_rejected_with_the_yaml_key(robot_stack):
    order = robot_stack.nodes["gr1_bridge"]["motor_order"]
    with pytest.raises(ValueError, match="motor_order"):
        FourierJointMap.create(order[:31], robot_stack.robot.joint_names)
    with pytest.raises(ValueError, match="twice"):
        FourierJointMap.create(order[:31] + order[:1], robot_stack.robot.joint_names)


def test_enable_needs_a_fresh_joint_state(robot_stack):
    core, joint_map = _make(robot_stack)
    ok, message = core.enable(10.0)
    assert not ok and "no joint state" in message
    core.on_state(_home_state(robot_stack, joint_map, now=9.0))
    ok, _ = core.enable(10.0)
    assert not ok  # 1 s old > state_timeout_s
    core.on_state(_home_state(robot_stack, joint_map, now=10.0))
    assert core.enable(10.0)[0] and core.state == BridgeState.ENABLED


def test_commands_map_by_name_in_degrees_full_vector_and_slew_limited(robot_stack):
    core, joint_map = _make(robot_stack)
    t = 100.0
    state = _home_state(robot_stack, joint_map, t)
    core.on_state(state)
    assert core.enable(t)[0]
    # Nothing commanded yet: enabling alone sends exactly the measured pose.
    first = core.tick(t + DT)
    np.testing.assert_allclose(first, state.positions_deg, atol=1e-9)
    # Shuffled names, a hand joint (ignored here) and a far target for the head roll.
    names = ["L_pinky_proximal_joint", "head_roll_joint", "left_elbow_pitch_joint"]
    targets = [-0.5, 0.3, -1.0]
    vmax = robot_stack.robot.joints["head_roll_joint"].max_velocity
    previous = first
    for i in range(2, 400):
        now = t + i * DT
        core.on_state(_home_state(robot_stack, joint_map, now, sequence=i))
        assert core.on_command(names, targets, now) is None
        command = core.tick(now)
        assert command.shape == (32,)
        np.testing.assert_array_equal(command[:12], 5.0)  # legs: the pose measured at enable
        step = np.deg2rad(np.abs(command - previous))
        assert step[joint_map.motor_index("head_roll_joint")] <= vmax * DT + 1e-9
        previous = command
    assert np.deg2rad(previous[joint_map.motor_index("head_roll_joint")]) == pytest.approx(0.3)
    assert np.deg2rad(previous[joint_map.motor_index("left_elbow_pitch_joint")]) == pytest.approx(-1.0)
    assert previous[joint_map.motor_index("head_pitch_joint")] == pytest.approx(0.0)  # not commanded: held


def test_out_of_window_targets_are_clamped_to_the_robot_config(robot_stack):
    core, joint_map = _make(robot_stack)
    core.on_state(_home_state(robot_stack, joint_map, 0.0))
    core.enable(0.0)
    for i in range(1, 600):
        core.on_state(_home_state(robot_stack, joint_map, i * DT, i))
        core.on_command(["waist_yaw_joint"], [3.0], i * DT)
        command = core.tick(i * DT)
    upper = robot_stack.robot.joints["waist_yaw_joint"].upper
    assert np.deg2rad(command[joint_map.motor_index("waist_yaw_joint")]) == pytest.approx(upper)


def test_bad_commands_are_rejected_and_change_nothing(robot_stack):
    core, joint_map = _make(robot_stack)
    assert "not in the robot config" in core.on_command(["moon_joint"], [0.0], 0.0)
    assert "non-finite" in core.on_command(["head_roll_joint"], [float("nan")], 0.0)
    assert "names but" in core.on_command(["head_roll_joint"], [0.0, 1.0], 0.0)
    assert core.commands_rejected == 3


def test_dry_run_computes_but_never_returns_a_command(robot_stack):
    core, joint_map = _make(robot_stack, dry_run=True)
    core.on_state(_home_state(robot_stack, joint_map, 0.0))
    ok, message = core.enable(0.0)
    assert ok and "dry run" in message
    core.on_command(["head_roll_joint"], [0.2], DT)
    core.on_state(_home_state(robot_stack, joint_map, DT, 2))
    assert core.tick(DT) is None
    assert core.last_command_deg is not None and core.commands_sent == 0


def test_stale_joint_states_fault_and_stop_sending(robot_stack):
    core, joint_map = _make(robot_stack)
    core.on_state(_home_state(robot_stack, joint_map, 0.0))
    core.enable(0.0)
    assert core.tick(0.05) is not None
    assert core.tick(0.2) is None and core.state == BridgeState.FAULT
    assert core.tick(0.21) is None  # latched
    core.on_state(_home_state(robot_stack, joint_map, 0.3, 2))
    assert core.tick(0.3) is None  # still latched until re-enabled
    assert core.enable(0.3)[0] and core.tick(0.3 + DT) is not None


def test_stale_commands_hold_the_last_output(robot_stack):
    core, joint_map = _make(robot_stack)
    core.on_state(_home_state(robot_stack, joint_map, 0.0))
    core.enable(0.0)
    core.on_command(["head_yaw_joint"], [0.5], DT)
    core.on_state(_home_state(robot_stack, joint_map, DT, 2))
    core.tick(DT)
    now, last = DT, 0.0
    for i in range(2, 200):  # commands stopped: the joint brakes to a stop short of 0.5 rad and holds
        now = i * DT
        core.on_state(_home_state(robot_stack, joint_map, now, i + 1))
        last = core.tick(now)[joint_map.motor_index("head_yaw_joint")]
    assert core.stale_command_ticks > 0
    # The command went stale 0.1 s after it arrived: the joint stops within its braking distance of
    # where it was then (~0.05 rad at 5 rad/s^2), far short of the old 0.5 rad target, and stays
    # there. (Fed its own moving output as the hold target, the limiter ran on to 0.8 rad.)
    assert 0.0 < np.deg2rad(last) < 0.1
    before = core.tick(now + DT)[joint_map.motor_index("head_yaw_joint")]
    assert before == pytest.approx(last)


def test_enable_is_refused_from_an_implausible_joint_state(robot_stack):
    from gr00t_policy.safety.input_checks import PositionBounds

    robot = robot_stack.robot
    joint_map = FourierJointMap.create(robot_stack.nodes["gr1_bridge"]["motor_order"], robot.joint_names)
    limiter = JointLimiter.from_robot(robot, joint_map.controlled, LimiterConfig(max_dt_s=3 * DT))
    bounds = PositionBounds.from_robot(robot, joint_map.controlled, 0.1)
    core = BridgeCore(joint_map, limiter, BridgeConfig(dry_run=False), robot.joint_names, position_bounds=bounds)
    broken = _home_state(robot_stack, joint_map, now=9.9)
    broken.positions_deg[joint_map.motor_index("left_elbow_pitch_joint")] = np.rad2deg(50.0)  # an encoder fault
    core.on_state(broken)
    ok, message = core.enable(10.0)
    # Enabled, the limiter would have started the stream at 50 rad: a command far outside the limits.
    assert not ok and "left_elbow_pitch_joint measured 50.000 rad" in message
    assert core.state == BridgeState.DISABLED and core.tick(10.01) is None
    core.on_state(_home_state(robot_stack, joint_map, now=10.0, sequence=2))
    assert core.enable(10.02)[0]
