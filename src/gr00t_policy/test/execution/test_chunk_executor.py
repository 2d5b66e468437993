"""ChunkExecutor: timestamps, interpolation, skipping, holding, switching, rejection."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gr00t_policy.execution import (
    BLEND_WEIGHTINGS,
    Chunk,
    ChunkExecutor,
    ChunkRejected,
    ExecutorConfig,
    blend_weight_function,
)

JOINTS = ("a", "b", "c")
PERIOD = 0.05


def make_chunk(start: float, positions, sequence: int = 0, names=JOINTS, period: float = PERIOD) -> Chunk:
    return Chunk(start, period, tuple(names), np.asarray(positions, dtype=float), sequence)


def ramp_positions(horizon: int = 16, offset: float = 0.0) -> np.ndarray:
    """Distinct, easily checked values: row i = offset + i * [1, 10, 100] / 100."""
    return offset + np.arange(horizon)[:, None] * np.array([1.0, 10.0, 100.0]) / 100.0


def executor(**overrides) -> ChunkExecutor:
    config = dict(joint_names=JOINTS, switch_mode="replace")
    config.update(overrides)
    return ChunkExecutor(ExecutorConfig(**config))


def test_sample_before_any_chunk_is_none():
    ex = executor()
    assert ex.sample(1.0) is None
    assert not ex.status(1.0).has_chunk
    assert ex.rtc_guidance(1.0, PERIOD, 16, 0.1) is None


def test_sample_is_exact_at_step_times_and_linear_between():
    ex = executor()
    positions = np.random.default_rng(0).normal(size=(16, 3))
    start = 1234.567  # a realistic epoch-like offset where rounding would otherwise bite
    ex.submit(make_chunk(start, positions), now=start)
    for i in range(16):
        np.testing.assert_array_equal(ex.sample(start + i * PERIOD), positions[i])
    for i, fraction in [(0, 0.5), (3, 0.25), (14, 0.9)]:
        expected = positions[i] + fraction * (positions[i + 1] - positions[i])
        np.testing.assert_allclose(ex.sample(start + (i + fraction) * PERIOD), expected, atol=1e-9)


def test_steps_elapsed_during_inference_are_skipped():
    ex = executor()
    positions = ramp_positions()
    acceptance = ex.submit(make_chunk(10.0, positions), now=10.12)  # 120 ms inference latency
    assert acceptance.skipped_steps == 3  # steps 0, 1, 2 were due at 10.00, 10.05, 10.10
    assert acceptance.latency_s == pytest.approx(0.12)
    # The first command is step 2.4 of the chunk, not step 0 ("returns a few steps back", #272).
    np.testing.assert_allclose(ex.sample(10.12), positions[2] + 0.4 * (positions[3] - positions[2]))
    assert ex.status(10.12).active_step == pytest.approx(2.4)


def test_holds_last_step_past_the_end_and_reports_exhaustion():
    ex = executor()
    positions = ramp_positions(4)
    ex.submit(make_chunk(0.0, positions), now=0.0)
    assert not ex.status(0.1).exhausted
    np.testing.assert_array_equal(ex.sample(0.5), positions[3])
    status = ex.status(0.5)
    assert status.exhausted
    assert status.time_past_end_s == pytest.approx(0.35)
    assert status.time_since_chunk_s == pytest.approx(0.5)


def test_holds_first_step_before_the_chunk_start():
    ex = executor()
    positions = ramp_positions()
    ex.submit(make_chunk(5.0, positions), now=4.9)  # clock skew: observation stamped in the future
    np.testing.assert_array_equal(ex.sample(4.9), positions[0])


def test_execution_horizon_limits_the_executed_steps():
    ex = executor(execution_horizon_steps=8)
    positions = ramp_positions(16)
    ex.submit(make_chunk(0.0, positions), now=0.0)
    np.testing.assert_array_equal(ex.sample(0.7), positions[7])  # step 14 is never executed
    assert ex.status(0.36).exhausted
    with pytest.raises(ChunkRejected) as info:  # only steps 0..7 count for staleness
        ex.submit(make_chunk(1.0, positions), now=1.0 + 8 * PERIOD)
    assert info.value.reason == "stale"


def test_columns_are_mapped_by_joint_name():
    ex = executor()
    positions = ramp_positions()
    shuffled = positions[:, [2, 0, 1]]
    ex.submit(make_chunk(0.0, shuffled, names=("c", "a", "b")), now=0.0)
    np.testing.assert_array_equal(ex.sample(0.1), positions[2])


def test_submit_does_not_modify_or_freeze_the_callers_array():
    ex = executor()
    positions = ramp_positions()
    ex.submit(make_chunk(0.0, positions), now=0.0)
    positions[:] = 99.0  # the caller may reuse its buffer
    assert positions.flags.writeable
    assert ex.sample(0.0)[0] == 0.0


@pytest.mark.parametrize(
    ("chunk", "reason"),
    [
        (make_chunk(0.0, ramp_positions(), names=("a", "b", "x")), "joint_names"),
        (make_chunk(0.0, ramp_positions()[:, :2], names=("a", "b")), "joint_names"),
        (make_chunk(0.0, ramp_positions(), names=("a", "a", "b")), "joint_names"),
        (make_chunk(0.0, ramp_positions()[:, :2]), "shape"),
        (make_chunk(0.0, np.zeros(3)), "shape"),
        (make_chunk(0.0, np.zeros((0, 3))), "empty"),
        (make_chunk(0.0, np.where(np.eye(16, 3) > 0, np.nan, 0.0)), "non_finite"),
        (make_chunk(0.0, np.full((16, 3), np.inf)), "non_finite"),
        (make_chunk(0.0, ramp_positions(), period=0.0), "timing"),
        (make_chunk(0.0, ramp_positions(), period=-0.05), "timing"),
        (make_chunk(math.nan, ramp_positions()), "timing"),
        (make_chunk(-1.0, ramp_positions()), "stale"),  # its last step was due at -0.25
    ],
)
def test_bad_chunks_are_rejected_with_a_reason_and_change_nothing(chunk, reason):
    ex = executor()
    good = ramp_positions()
    ex.submit(make_chunk(-0.1, good, sequence=1), now=0.0)
    before = ex.sample(0.2).copy()
    with pytest.raises(ChunkRejected) as info:
        ex.submit(chunk, now=0.0)
    assert info.value.reason == reason
    assert reason in str(info.value)
    np.testing.assert_array_equal(ex.sample(0.2), before)
    assert ex.chunks_rejected == 1
    assert ex.rejections_by_reason == {reason: 1}


def test_wrong_joint_names_message_lists_missing_and_unknown():
    ex = executor()
    with pytest.raises(ChunkRejected, match=r"missing \['c'\], unknown \['x'\]"):
        ex.submit(make_chunk(0.0, ramp_positions(), names=("a", "b", "x")), now=0.0)


def test_older_chunk_never_overrides_a_newer_one():
    ex = executor()
    ex.submit(make_chunk(1.0, ramp_positions(), sequence=2), now=1.1)
    with pytest.raises(ChunkRejected) as info:
        ex.submit(make_chunk(0.9, ramp_positions(offset=5.0), sequence=1), now=1.12)
    assert info.value.reason == "out_of_order"
    assert ex.status(1.12).active_sequence == 2


def test_replace_switches_at_once():
    ex = executor(switch_mode="replace")
    ex.submit(make_chunk(0.0, ramp_positions()), now=0.0)
    new = ramp_positions(offset=1.0)
    acceptance = ex.submit(make_chunk(0.2, new, sequence=1), now=0.3)
    assert not acceptance.blended
    np.testing.assert_array_equal(ex.sample(0.3), new[2])


def test_blend_starts_at_the_old_plan_and_ends_on_the_new_chunk():
    ex = executor(switch_mode="blend", blend_duration_s=0.2, blend_weighting="linear")
    old, new = ramp_positions(), ramp_positions(offset=1.0)
    ex.submit(make_chunk(0.0, old), now=0.0)
    acceptance = ex.submit(make_chunk(0.2, new, sequence=1), now=0.3)
    assert acceptance.blended
    np.testing.assert_allclose(ex.sample(0.3), old[6], atol=1e-12)  # no jump on arrival
    np.testing.assert_allclose(ex.sample(0.4), 0.5 * old[8] + 0.5 * new[4], atol=1e-12)
    assert ex.status(0.4).blending
    np.testing.assert_array_equal(ex.sample(0.5), new[6])
    assert not ex.status(0.5).blending


def test_cosine_blend_keeps_velocity_continuous_at_both_ends():
    ex = executor(switch_mode="blend", blend_duration_s=0.2, blend_weighting="cosine")
    old = ramp_positions()
    new = ramp_positions(offset=0.3)  # same velocity, 0.3 rad apart
    ex.submit(make_chunk(0.0, old), now=0.0)
    ex.submit(make_chunk(0.2, new, sequence=1), now=0.3)
    eps = 1e-6
    for t in (0.3, 0.5):  # blend start and end
        before = (ex.planned_positions([t])[0] - ex.planned_positions([t - eps])[0]) / eps
        after = (ex.planned_positions([t + eps])[0] - ex.planned_positions([t])[0]) / eps
        np.testing.assert_allclose(after, before, atol=1e-3)


def test_a_chunk_arriving_during_a_blend_blends_against_the_blend():
    ex = executor(switch_mode="blend", blend_duration_s=0.2)
    ex.submit(make_chunk(0.0, ramp_positions()), now=0.0)
    ex.submit(make_chunk(0.2, ramp_positions(offset=1.0), sequence=1), now=0.3)
    before = ex.planned_positions([0.35])[0]
    ex.submit(make_chunk(0.3, ramp_positions(offset=-1.0), sequence=2), now=0.35)
    np.testing.assert_allclose(ex.sample(0.35), before, atol=1e-12)
    np.testing.assert_array_equal(ex.sample(0.6), ramp_positions(offset=-1.0)[6])


def test_blend_depth_is_capped_without_a_jump():
    ex = executor(switch_mode="blend", blend_duration_s=1.0, max_blend_depth=2)
    for k in range(6):
        now = 0.01 * k
        before = ex.planned_positions([now])
        ex.submit(make_chunk(now, ramp_positions(offset=k), sequence=k), now=now)
        if before is not None:
            np.testing.assert_allclose(ex.sample(now), before[0], atol=1e-12)
    assert ex.materialised_blends == 2  # at the 4th and 6th chunk: depth 2 is reached twice
    np.testing.assert_array_equal(ex.sample(2.0), ramp_positions(offset=5)[-1])


def test_reset_forgets_the_plan():
    ex = executor()
    ex.submit(make_chunk(0.0, ramp_positions()), now=0.0)
    ex.reset()
    assert ex.sample(0.1) is None
    ex.submit(make_chunk(-5.0, ramp_positions()), now=-5.0)  # no out-of-order check after a reset


def test_sample_writes_into_a_preallocated_buffer():
    ex = executor()
    ex.submit(make_chunk(0.0, ramp_positions()), now=0.0)
    out = np.empty(3)
    assert ex.sample(0.1, out) is out


@pytest.mark.parametrize("weighting", BLEND_WEIGHTINGS)
def test_blend_weights_rise_monotonically_from_0_to_1(weighting):
    weight = blend_weight_function(weighting)
    values = [weight(s) for s in np.linspace(0.0, 1.0, 101)]
    assert values[0] == pytest.approx(0.0, abs=1e-15)
    assert values[-1] == pytest.approx(1.0)
    assert all(b >= a for a, b in zip(values, values[1:]))


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"joint_names": ()}, "must not be empty"),
        ({"joint_names": ("a", "a")}, "duplicates"),
        ({"switch_mode": "ensemble"}, "switch_mode must be one of"),
        ({"blend_weighting": "quadratic"}, "blend_weighting must be one of"),
        ({"switch_mode": "blend", "blend_duration_s": 0.0}, "needs blend_duration_s > 0"),
        ({"execution_horizon_steps": -1}, "execution_horizon_steps"),
    ],
)
def test_invalid_config_is_refused_with_the_value(overrides, match):
    config = dict(joint_names=JOINTS)
    config.update(overrides)
    with pytest.raises(ValueError, match=match):
        ExecutorConfig(**config)
