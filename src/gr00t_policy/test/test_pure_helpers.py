import math

import numpy as np
import pytest

from gr00t_policy.instructions import InstructionRejected, normalize_instruction
from gr00t_policy.joint_states import JointStateBuffer, JointStateError, group_positions, ungroup_chunk
from gr00t_policy.metrics import LatencyStats, RateMeter


def test_instruction_is_normalised_and_limited():
    assert normalize_instruction("  pick\tup\nthe  cube\x00 ", 100) == "pick up the cube"
    assert normalize_instruction("", 100) == ""
    with pytest.raises(InstructionRejected, match="10240 bytes"):
        normalize_instruction("x" * 10240, 2048)


def test_joint_state_buffer_merges_partial_messages_and_detects_staleness():
    buffer = JointStateBuffer(["a", "b"])
    buffer.update(["a", "other"], [0.1, 5.0], stamp=1.0, now=10.0)
    assert buffer.snapshot(now=10.0, timeout=0.1) is None  # "b" missing
    buffer.update(["b"], [0.2], stamp=1.01, now=10.01)
    positions, stamp = buffer.snapshot(now=10.05, timeout=0.1)
    assert positions == {"a": 0.1, "b": 0.2} and stamp == 1.01
    assert buffer.snapshot(now=10.2, timeout=0.1) is None  # "a" stale
    assert np.allclose(buffer.positions_of(["b"], now=10.05, timeout=0.1), [0.2])


@pytest.mark.parametrize(
    "names, positions, match",
    [
        (["a", "b"], [0.1], "2 names but 1 positions"),
        (["a", "a"], [0.1, 0.2], "duplicate"),
        (["a", "b"], [math.nan, 0.2], "non-finite"),
        (["a", "b"], [0.0, math.inf], "non-finite"),
        (["x", "y"], [0.0, 0.0], "none of the 2 joints"),
    ],
)
def test_joint_state_buffer_rejects_bad_messages_whole(names, positions, match):
    buffer = JointStateBuffer(["a", "b"])
    buffer.update(["a", "b"], [1.0, 2.0], stamp=1.0, now=1.0)
    with pytest.raises(JointStateError, match=match):
        buffer.update(names, positions, stamp=2.0, now=2.0)
    assert buffer.snapshot(now=2.0, timeout=5.0)[0] == {"a": 1.0, "b": 2.0}


def test_rate_meter_and_latency_stats():
    meter = RateMeter(window_s=2.0)
    for i in range(121):
        meter.tick(i / 120.0)
    assert meter.rate(1.0) == pytest.approx(120.0)
    stats = LatencyStats()
    for value in (0.001, 0.002, 0.003):
        stats.add(value)
    summary = stats.summary_ms()
    assert summary["p50"] == pytest.approx(2.0) and summary["max"] == pytest.approx(3.0)


def test_input_log_logs_each_source_at_most_once_per_period_with_the_count():
    from gr00t_description.ros.diagnostics import InputLog

    class Logger:
        def __init__(self):
            self.lines = []

        def error(self, message):
            self.lines.append(message)

    now = [0.0]
    logger = Logger()
    log = InputLog(logger, period_s=60.0, clock=lambda: now[0])
    for _ in range(50):
        log.error("joy", "bad sample")
    log.error("joint_states", "bad state")
    assert logger.lines == ["bad sample", "bad state"]
    assert log.count("joy") == 50 and log.count("joint_states") == 1 and log.count("other") == 0
    now[0] = 61.0  # a period later
    log.error("joy", "bad sample")
    assert logger.lines[-1] == "bad sample (49 more joy not logged)"


def test_group_positions_and_ungroup_chunk_follow_the_group_order() -> None:
    joints_of = {"left_arm": ["l1", "l2"], "right_arm": ["r1"]}
    groups = [("right_arm", 1), ("left_arm", 2)]
    state = group_positions(joints_of, {"l1": 0.1, "l2": 0.2, "r1": 0.3, "waist": 9.0}, groups)
    assert list(state) == ["right_arm", "left_arm"]
    np.testing.assert_array_equal(state["left_arm"], [0.1, 0.2])
    chunk = {"left_arm": np.array([[1.0, 2.0], [3.0, 4.0]]), "right_arm": np.array([[5.0], [6.0]])}
    np.testing.assert_array_equal(ungroup_chunk(chunk, groups), [[5.0, 1.0, 2.0], [6.0, 3.0, 4.0]])
    with pytest.raises(KeyError):
        group_positions(joints_of, {"l1": 0.1}, groups)
