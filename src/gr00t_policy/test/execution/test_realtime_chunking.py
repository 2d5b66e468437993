"""RTC guidance: the paper's weight schedule and the prefix on the new chunk's time grid."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gr00t_policy.execution import (
    Chunk,
    ChunkExecutor,
    ChunkRejected,
    ExecutorConfig,
    rtc_guidance_for_chunk,
    rtc_guidance_weights,
)

JOINTS = ("a", "b")
PERIOD = 0.05


def chunk(start: float, positions: np.ndarray, period: float = PERIOD) -> Chunk:
    return Chunk(start, period, JOINTS, positions)


def test_weights_follow_black_et_al_eq5():
    horizon, d, e = 16, 3, 12
    weights = rtc_guidance_weights(horizon, d, e)
    expected = []
    for i in range(horizon):
        if i < d:
            expected.append(1.0)
        elif i < e:
            c = (e - i) / (e - d + 1)
            expected.append(c * (math.exp(c) - 1) / (math.e - 1))
        else:
            expected.append(0.0)
    np.testing.assert_allclose(weights, expected, rtol=1e-12)
    assert all(b <= a for a, b in zip(weights, weights[1:]))  # non-increasing


def test_linear_and_hard_schedules():
    np.testing.assert_allclose(rtc_guidance_weights(6, 1, 4, "linear"), [1, 0.75, 0.5, 0.25, 0, 0])
    np.testing.assert_array_equal(rtc_guidance_weights(6, 2, 5, "hard"), [1, 1, 0, 0, 0, 0])


def test_weights_clip_out_of_range_counts():
    np.testing.assert_array_equal(rtc_guidance_weights(4, 9, 2), [1, 1, 1, 1])
    np.testing.assert_array_equal(rtc_guidance_weights(4, -1, 0), [0, 0, 0, 0])
    with pytest.raises(ValueError, match="unknown RTC guidance schedule 'cubic'"):
        rtc_guidance_weights(4, 1, 2, "cubic")


def test_prefix_is_the_previous_chunk_shifted_onto_the_new_grid():
    previous = np.arange(32, dtype=float).reshape(16, 2)
    # The new inference starts from an observation 5 steps into the previous chunk.
    guidance = rtc_guidance_for_chunk(
        chunk(10.0, previous),
        JOINTS,
        new_start_time=10.0 + 5 * PERIOD,
        new_step_period=PERIOD,
        new_horizon=16,
        inference_delay_s=0.12,
    )
    np.testing.assert_allclose(guidance.prefix_positions[:11], previous[5:], atol=1e-12)
    np.testing.assert_array_equal(guidance.prefix_positions[11:], np.repeat(previous[-1:], 5, axis=0))
    assert guidance.frozen_steps == 3  # steps due at +0, +0.05, +0.10 s execute before arrival
    assert guidance.overlap_steps == 11  # paper: H - s = 16 - 5
    np.testing.assert_array_equal(guidance.guidance_weights[:3], 1.0)
    assert (guidance.guidance_weights[3:11] > 0).all() and (guidance.guidance_weights[3:11] < 1).all()
    np.testing.assert_array_equal(guidance.guidance_weights[11:], 0.0)
    assert guidance.joint_names == JOINTS and guidance.horizon == 16


def test_prefix_is_resampled_for_a_different_step_period():
    previous = np.stack([0.05 * np.arange(16), np.zeros(16)], axis=1)  # 1 rad/s on joint a
    guidance = rtc_guidance_for_chunk(
        chunk(0.0, previous),
        JOINTS,
        new_start_time=0.1,
        new_step_period=0.025,
        new_horizon=8,
        inference_delay_s=0.05,
    )
    np.testing.assert_allclose(guidance.prefix_positions[:, 0], 0.1 + 0.025 * np.arange(8), atol=1e-12)
    assert guidance.frozen_steps == 2


def test_delay_longer_than_the_previous_plan_freezes_the_held_pose():
    previous = np.ones((4, 2))
    guidance = rtc_guidance_for_chunk(
        chunk(0.0, previous),
        JOINTS,
        new_start_time=0.1,
        new_step_period=PERIOD,
        new_horizon=8,
        inference_delay_s=0.3,
    )
    assert guidance.frozen_steps == 6  # the executor holds step 3 meanwhile: freeze that
    assert guidance.overlap_steps == 6
    np.testing.assert_array_equal(guidance.guidance_weights, [1, 1, 1, 1, 1, 1, 0, 0])


def test_executor_guidance_uses_the_blended_plan():
    ex = ChunkExecutor(ExecutorConfig(joint_names=JOINTS, switch_mode="blend", blend_duration_s=0.2))
    ex.submit(chunk(0.0, np.zeros((16, 2))), now=0.0)
    ex.submit(chunk(0.2, np.ones((16, 2))), now=0.3)
    guidance = ex.rtc_guidance(0.35, PERIOD, 16, inference_delay_s=0.1)
    times = 0.35 + PERIOD * np.arange(16)
    np.testing.assert_allclose(guidance.prefix_positions, ex.planned_positions(times), atol=1e-12)
    assert 0.0 < guidance.prefix_positions[0, 0] < 1.0  # mid-blend


def test_guidance_for_a_malformed_previous_chunk_is_refused():
    with pytest.raises(ChunkRejected):
        rtc_guidance_for_chunk(chunk(0.0, np.full((4, 2), np.nan)), JOINTS, 0.0, PERIOD, 4, 0.1)
    with pytest.raises(ValueError, match="inference_delay_s"):
        rtc_guidance_for_chunk(chunk(0.0, np.zeros((4, 2))), JOINTS, 0.0, PERIOD, 4, -0.1)
