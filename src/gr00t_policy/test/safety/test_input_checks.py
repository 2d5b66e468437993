"""Input plausibility (pure, no rclpy): stamps judged against the node's clock, joint states against
the robot's range, instructions that were not UTF-8, bounded reasons, and the supervisor's log
callback. Each case is one a hostile-input run found: a single bad message must neither be used nor
leave state behind that outlives it."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
from supervisor_testing import supervisor_settings

from gr00t_description import load_stack
from gr00t_policy.execution import Chunk, ChunkExecutor, ChunkRejected, ExecutorConfig
from gr00t_policy.instructions import InstructionRejected, normalize_instruction
from gr00t_policy.joint_states import JointStateBuffer, JointStateError
from gr00t_policy.safety import JointLimiter, JointLimits, LimiterConfig, SafetySupervisor
from gr00t_policy.safety.input_checks import (
    MAX_REASON_CHARS,
    TRUNCATION_MARKER,
    PositionBounds,
    StampWindow,
    truncate_text,
)

HOUR = 3600.0


# ---------------------------------------------------------------------------------- stamps
@pytest.mark.parametrize(
    ("stamp", "match"),
    [(100.0 + HOUR, "ahead"), (100.0 - HOUR, "behind"), (math.nan, "not a time"), (math.inf, "not a time")],
)
def test_implausible_stamps_are_named(stamp, match):
    problem = StampWindow(ahead_s=0.5, behind_s=1.0).problem(stamp, now=100.0)
    assert problem is not None and match in problem


@pytest.mark.parametrize("stamp", [100.0, 100.5, 99.0, 99.7])
def test_stamps_within_the_window_pass(stamp):
    assert StampWindow(ahead_s=0.5, behind_s=1.0).problem(stamp, now=100.0) is None


def test_a_window_needs_finite_non_negative_bounds():
    with pytest.raises(ValueError):
        StampWindow(-1.0, 1.0)
    with pytest.raises(ValueError):
        StampWindow(1.0, math.inf)


# ---------------------------------------------------------------------------------- joint states
@pytest.fixture(scope="module")
def robot():
    return load_stack().robot


def _buffer(robot, joints):
    return JointStateBuffer(
        joints,
        stamp_window=StampWindow(0.5, 0.75),
        position_bounds=PositionBounds.from_robot(robot, joints, 0.2),
    )


def test_a_future_stamped_joint_state_is_rejected_and_does_not_poison_the_buffer(robot):
    joints = list(robot.group_joints(["left_arm"]))
    home = robot.home_positions(joints)
    buffer = _buffer(robot, joints)
    buffer.update(joints, home, 10.0, now=10.0)
    with pytest.raises(JointStateError, match="ahead"):
        buffer.update(joints, home, 10.0 + HOUR, now=10.01)
    with pytest.raises(JointStateError, match="behind"):
        buffer.update(joints, home, 10.0 - HOUR, now=10.01)
    buffer.update(joints, home, 10.02, now=10.02)  # good data again: accepted at once
    positions, stamp = buffer.snapshot(now=10.02, timeout=0.1)
    assert stamp == pytest.approx(10.02)


def test_an_unstamped_joint_state_takes_the_receive_time(robot):
    joints = list(robot.group_joints(["left_arm"]))
    buffer = _buffer(robot, joints)
    buffer.update(joints, robot.home_positions(joints), 0.0, now=50.0)
    assert buffer.snapshot(50.0, 0.1)[1] == 50.0


def test_impossible_positions_are_rejected_naming_the_joint_and_its_range(robot):
    joints = list(robot.group_joints(["left_arm", "right_arm"]))
    buffer = _buffer(robot, joints)
    with pytest.raises(JointStateError, match=r"left_shoulder_pitch_joint measured 50\.000 rad.*plausible range"):
        buffer.update(joints, [50.0] * len(joints), 1.0, now=1.0)
    assert buffer.snapshot(1.0, 1.0) is None  # nothing of it was kept


def test_a_pose_outside_the_operating_window_but_inside_the_urdf_range_is_a_measurement(robot):
    # Moved by hand while disabled: the limiter walks such a pose back in; rejecting it would blind the node.
    joints = ["left_shoulder_pitch_joint"]
    spec = robot.joints[joints[0]]
    assert spec.upper < spec.urdf_upper
    buffer = _buffer(robot, joints)
    buffer.update(joints, [spec.urdf_upper + 0.1], 1.0, now=1.0)
    with pytest.raises(JointStateError, match="plausible range"):
        buffer.update(joints, [spec.urdf_upper + 0.3], 1.0, now=1.0)


# ---------------------------------------------------------------------------------- chunks
def _chunk(start: float, sequence: int) -> Chunk:
    return Chunk(start, 0.05, ("a", "b"), np.zeros((16, 2)), sequence)


def test_a_future_chunk_is_rejected_and_cannot_wedge_the_executor():
    executor = ChunkExecutor(ExecutorConfig(joint_names=("a", "b"), switch_mode="replace", max_start_ahead_s=0.5))
    executor.submit(_chunk(10.0, 0), now=10.1)
    with pytest.raises(ChunkRejected, match=r"\(future\)"):
        executor.submit(_chunk(10.0 + HOUR, 1), now=10.2)
    # Without the bound the future chunk became the active one, and every later chunk was refused
    # as out of order until a reset.
    executor.submit(_chunk(10.25, 2), now=10.3)
    assert executor.status(10.3).active_sequence == 2
    assert executor.rejections_by_reason == {"future": 1}


# ---------------------------------------------------------------------------------- instructions
def test_an_instruction_that_was_not_utf8_is_rejected():
    # What rclpy hands over for the bytes b"\xff\xfe" + b"llo": replacement characters.
    with pytest.raises(InstructionRejected, match="not valid UTF-8"):
        normalize_instruction("\ufffd\ufffdllo", 2048)
    with pytest.raises(InstructionRejected, match="surrogate"):
        normalize_instruction("pick \udcff up", 2048)
    assert normalize_instruction("pick up the red cube ü", 2048) == "pick up the red cube ü"


# ---------------------------------------------------------------------------------- reasons and logs
def _supervisor(log=None) -> SafetySupervisor:
    limits = JointLimits(("a",), np.array([-1.0]), np.array([1.0]), np.array([2.0]), np.array([20.0]))
    return SafetySupervisor(supervisor_settings(goal_timeout_s=0.0), JointLimiter(limits, LimiterConfig()), log=log)


def test_a_huge_reason_is_cut_with_a_marker():
    assert truncate_text("short") == "short"
    cut = truncate_text("x" * 100_000)
    assert len(cut) == MAX_REASON_CHARS and cut.endswith(TRUNCATION_MARKER)
    supervisor = _supervisor(log=lambda level, message: None)
    result = supervisor.disable("y" * 100_000)
    assert len(supervisor.reason) <= MAX_REASON_CHARS and len(result.message) <= MAX_REASON_CHARS
    supervisor.enable(0.0, "z" * 100_000)
    assert len(supervisor.reason) < MAX_REASON_CHARS + 100
    supervisor.estop("e" * 100_000)
    assert len(supervisor.reason) <= MAX_REASON_CHARS


def test_state_changes_go_to_the_log_callback_not_python_logging(caplog):
    lines: list[tuple[int, str]] = []
    supervisor = _supervisor(log=lambda level, message: lines.append((level, message)))
    with caplog.at_level(logging.DEBUG):
        supervisor.enable(0.0, "test")
        supervisor.on_joint_state(0.0)
        supervisor.tick(0.01, np.array([0.0]), None)
        supervisor.estop("button")
    assert (logging.ERROR, "RAMPING -> ESTOPPED: button") in lines
    assert any(message.startswith("DISABLED -> RAMPING") for _, message in lines)
    assert not [r for r in caplog.records if r.name.startswith("gr00t_policy")]


def test_an_instruction_id_is_bounded():
    from gr00t_policy.instructions import check_instruction_id, new_instruction_id

    check_instruction_id(new_instruction_id())
    check_instruction_id("")
    with pytest.raises(InstructionRejected, match="at most 64"):
        check_instruction_id("i" * 100_000)
