"""JointLimiter: exact pass-through when feasible, clamping, braking, NaN handling, time edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from gr00t_description.config import load_stack
from gr00t_policy.safety import JointLimiter, JointLimits, LimiterConfig

RATE_HZ = 120.0
DT = 1.0 / RATE_HZ


def one_joint(lower=-1.0, upper=1.0, vmax=2.0, amax=20.0, max_dt_s=0.025) -> JointLimiter:
    limits = JointLimits(("j",), np.array([lower]), np.array([upper]), np.array([vmax]), np.array([amax]))
    return JointLimiter(limits, LimiterConfig(max_dt_s=max_dt_s))


def run(limiter: JointLimiter, targets, start_time: float = 0.0, dt: float = DT) -> np.ndarray:
    out = []
    t = start_time
    for target in targets:
        t += dt
        out.append(limiter.limit(np.atleast_1d(np.asarray(target, dtype=float)), t).copy())
    return np.array(out)


def test_a_feasible_trajectory_passes_through_bit_exactly():
    limiter = one_joint()
    times = DT * np.arange(1, 241)
    targets = 0.5 * np.sin(2.0 * times)  # 1 rad/s, 2 rad/s² peak: well inside the limits
    limiter.reset(np.array([0.0]), 0.0, velocities=np.array([1.0]))
    np.testing.assert_array_equal(run(limiter, targets)[:, 0], targets)
    assert limiter.limited_ticks == 0


def test_a_step_is_followed_within_limits_without_overshoot():
    limiter = one_joint(vmax=2.0, amax=20.0)
    limiter.reset(np.array([0.0]), 0.0)
    out = run(limiter, [0.6] * 120)[:, 0]
    velocity = np.diff(np.concatenate([[0.0], out])) / DT
    acceleration = np.diff(np.concatenate([[0.0], velocity])) / DT
    assert np.abs(velocity).max() <= 2.0 + 1e-9
    assert np.abs(acceleration).max() <= 20.0 + 1e-6
    assert out.max() <= 0.6 and out[-1] == 0.6  # arrives exactly, never beyond
    assert limiter.counts["velocity"][0] > 0 and limiter.counts["acceleration"][0] > 0


def test_targets_beyond_the_position_limit_stop_at_the_limit_within_acceleration():
    limiter = one_joint(upper=0.3, vmax=2.0, amax=20.0)
    limiter.reset(np.array([0.0]), 0.0)
    out = run(limiter, [50.0] * 120)[:, 0]
    assert out.max() <= 0.3 and out[-1] == pytest.approx(0.3)
    velocity = np.diff(np.concatenate([[0.0], out])) / DT
    assert np.abs(np.diff(velocity)).max() / DT <= 20.0 + 1e-6  # braked in time, no hard stop
    summary = limiter.clamp_summary()
    assert summary["position"] == {"j": 120}
    assert summary["braking"]["j"] > 0


def test_nan_input_holds_the_previous_command_and_is_flagged():
    limiter = one_joint()
    limiter.reset(np.array([0.2]), 0.0)
    out = limiter.limit(np.array([np.nan]), DT)
    assert out[0] == 0.2
    assert limiter.last_non_finite and limiter.non_finite_inputs == 1
    assert limiter.last_any_clamped


def test_nan_while_moving_brakes_within_the_acceleration_limit():
    limiter = one_joint(vmax=2.0, amax=20.0)
    limiter.reset(np.array([0.0]), 0.0, velocities=np.array([1.5]))
    out = run(limiter, [np.inf] * 30)[:, 0]
    velocity = np.diff(np.concatenate([[0.0], out])) / DT
    velocity[0] = (out[0] - 0.0) / DT
    assert np.abs(np.diff(np.concatenate([[1.5], velocity]))).max() / DT <= 20.0 + 1e-6
    assert velocity[-1] == pytest.approx(0.0, abs=1e-9)  # stopped, then holds


def test_repeated_or_backward_time_repeats_the_previous_command():
    limiter = one_joint()
    limiter.reset(np.array([0.1]), 1.0)
    first = limiter.limit(np.array([0.5]), 1.0 + DT).copy()
    np.testing.assert_array_equal(limiter.limit(np.array([0.9]), 1.0 + DT), first)
    np.testing.assert_array_equal(limiter.limit(np.array([0.9]), 0.5), first)
    assert limiter.non_monotonic_ticks == 2


def test_a_late_tick_does_not_allow_a_bigger_step():
    limiter = one_joint(vmax=2.0, amax=1000.0, max_dt_s=0.02)
    limiter.reset(np.array([0.0]), 0.0)
    out = limiter.limit(np.array([1.0]), 0.5)  # timer stalled for 0.5 s
    assert out[0] <= 2.0 * 0.02 + 1e-12


def test_a_start_outside_the_window_walks_back_in_without_a_jump():
    limiter = one_joint(lower=0.0, upper=1.0, vmax=1.0, amax=10.0)
    limiter.reset(np.array([-0.2]), 0.0)  # measured pose below the operating window
    out = run(limiter, [-0.5] * 240)[:, 0]
    assert out.min() >= -0.2  # never further out
    assert np.abs(np.diff(out)).max() <= 1.0 * DT + 1e-12
    assert out[-1] == 0.0


def test_limits_come_from_the_robot_config_by_name():
    robot = load_stack().robot
    names = ["right_elbow_pitch_joint", "L_index_proximal_joint"]
    limiter = JointLimiter.from_robot(robot, names)
    spec = robot.joints["right_elbow_pitch_joint"]
    assert limiter.limits.lower[0] == spec.lower and limiter.limits.upper[0] == spec.upper
    # Hand joints have velocity 0 in the URDF; the operating limit is used, so they can move.
    assert limiter.limits.max_velocity[1] == robot.joints["L_index_proximal_joint"].max_velocity > 0
    with pytest.raises(ValueError, match="not in robot config"):
        JointLimiter.from_robot(robot, ["tail_joint"])


def test_misuse_is_refused():
    limiter = one_joint()
    with pytest.raises(RuntimeError, match="before reset"):
        limiter.limit(np.array([0.0]), 0.0)
    with pytest.raises(ValueError, match="finite positions"):
        limiter.reset(np.array([np.nan]), 0.0)
    limiter.reset(np.array([0.0]), 0.0)
    with pytest.raises(ValueError, match="shape"):
        limiter.limit(np.zeros(2), DT)
    with pytest.raises(ValueError, match="lower > upper"):
        JointLimits(("j",), np.array([1.0]), np.array([0.0]), np.array([1.0]), np.array([1.0])).validate()
    with pytest.raises(ValueError, match="must be > 0"):
        JointLimits(("j",), np.array([0.0]), np.array([1.0]), np.array([0.0]), np.array([1.0])).validate()
    with pytest.raises(ValueError, match="velocity_scale"):
        LimiterConfig(velocity_scale=1.5)
