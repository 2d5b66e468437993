"""Property tests: whatever the commands and tick times, the limiter's output respects every limit."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gr00t_policy.safety import JointLimiter, JointLimits, LimiterConfig

MAX_DT = 0.025
# Float slack: positions are O(1) rad, velocities are differences divided by h >= 1e-4 s.
POSITION_TOL = 1e-12
VELOCITY_TOL = 1e-9
ACCELERATION_TOL = 1e-6

wild_values = st.one_of(
    st.floats(-10.0, 10.0),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([np.nan, np.inf, -np.inf, 1e300, -1e300, 0.0]),
)
tick_gaps = st.one_of(st.floats(1e-4, 3 * MAX_DT), st.sampled_from([0.0, -0.01, 1.0 / 120]))


@st.composite
def scenarios(draw):
    n = draw(st.integers(1, 3))
    lower = np.array(draw(st.lists(st.floats(-3.0, 0.0), min_size=n, max_size=n)))
    upper = lower + np.array(draw(st.lists(st.floats(0.0, 3.0), min_size=n, max_size=n)))
    vmax = np.array(draw(st.lists(st.floats(0.05, 10.0), min_size=n, max_size=n)))
    amax = np.array(draw(st.lists(st.floats(0.5, 200.0), min_size=n, max_size=n)))
    fractions = np.array(draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n)))
    start = lower + fractions * (upper - lower)
    ticks = draw(st.lists(st.tuples(tick_gaps, st.lists(wild_values, min_size=n, max_size=n)), min_size=1, max_size=60))
    limits = JointLimits(tuple(f"j{i}" for i in range(n)), lower, upper, vmax, amax)
    return limits, start, ticks


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_output_never_exceeds_position_velocity_or_acceleration_limits(scenario):
    limits, start, ticks = scenario
    limiter = JointLimiter(limits, LimiterConfig(max_dt_s=MAX_DT))
    t = 0.0
    limiter.reset(start, t)
    q_prev, v_prev, t_prev = start.copy(), np.zeros_like(start), t
    for gap, values in ticks:
        t += gap
        out = limiter.limit(np.array(values), t)
        assert np.isfinite(out).all()
        assert (out >= limits.lower - POSITION_TOL).all() and (out <= limits.upper + POSITION_TOL).all()
        if not t > t_prev:  # duplicate / backward tick: the previous command, nothing else
            np.testing.assert_array_equal(out, q_prev)
            continue
        h = min(t - t_prev, MAX_DT)
        velocity = (out - q_prev) / h
        assert (np.abs(velocity) <= limits.max_velocity * (1 + 1e-12) + VELOCITY_TOL).all()
        assert (np.abs(velocity - v_prev) <= limits.max_acceleration * h * (1 + 1e-9) + ACCELERATION_TOL).all()
        q_prev, v_prev, t_prev = out.copy(), velocity, t
