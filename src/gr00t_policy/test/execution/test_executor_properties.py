"""Property tests of the executor, alone and feeding the limiter, for arbitrary chunk sequences."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gr00t_description.config import load_stack
from gr00t_policy.execution import Chunk, ChunkExecutor, ChunkRejected, ExecutorConfig
from gr00t_policy.safety import JointLimiter, LimiterConfig

ROBOT = load_stack().robot
JOINTS = ("left_shoulder_pitch_joint", "left_elbow_pitch_joint", "L_index_proximal_joint")
MAX_DT = 0.025

configs = st.builds(
    ExecutorConfig,
    joint_names=st.just(JOINTS),
    switch_mode=st.sampled_from(["replace", "blend"]),
    blend_duration_s=st.floats(0.01, 0.5),
    blend_weighting=st.sampled_from(["linear", "cosine", "exponential"]),
    execution_horizon_steps=st.integers(0, 20),
    max_blend_depth=st.integers(1, 4),
)
DEFECTS = ("nan", "inf", "zero_period", "negative_period", "missing_joint", "empty")


@st.composite
def chunk_events(draw):
    """(time gap before the event, chunk or None = a plain tick); about one chunk in eight is bad."""
    events = []
    for _ in range(draw(st.integers(1, 40))):
        gap = draw(st.floats(0.0, 0.1))
        if not draw(st.booleans()):
            events.append((gap, None))
            continue
        horizon = draw(st.integers(1, 16))
        values = draw(st.lists(st.floats(-5.0, 5.0), min_size=horizon * 3, max_size=horizon * 3))
        positions = np.array(values).reshape(horizon, 3)
        names = draw(st.sampled_from([JOINTS, JOINTS[::-1]]))
        period = draw(st.sampled_from([0.05, 0.0333, 0.1]))
        if draw(st.integers(0, 7)) == 0:
            defect = draw(st.sampled_from(DEFECTS))
            if defect in ("nan", "inf"):
                positions[draw(st.integers(0, horizon - 1)), 0] = np.nan if defect == "nan" else np.inf
            elif defect.endswith("period"):
                period = 0.0 if defect == "zero_period" else -0.05
            elif defect == "missing_joint":
                names, positions = names[:2], positions[:, :2]
            else:
                positions = positions[:0]
        chunk = Chunk(
            start_time=-draw(st.floats(0.0, 0.3)),  # minus the latency; made absolute on arrival
            step_period=period,
            joint_names=names,
            positions=positions,
            sequence=len(events),
        )
        events.append((gap, chunk))
    return events


def submit_at(ex: ChunkExecutor, chunk: Chunk, now: float) -> bool:
    arrived = Chunk(now + chunk.start_time, chunk.step_period, chunk.joint_names, chunk.positions, chunk.sequence)
    try:
        ex.submit(arrived, now)
    except ChunkRejected:
        return False
    return True


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs, chunk_events())
def test_executor_output_is_finite_and_continuous_on_blend_arrival(config, events):
    ex = ChunkExecutor(config)
    now = 0.0
    for gap, chunk in events:
        now += gap
        if chunk is not None:
            before = ex.planned_positions([now])
            accepted = submit_at(ex, chunk, now)
            if accepted and before is not None and config.switch_mode == "blend":
                # A blended switch never moves the command at the arrival instant.
                np.testing.assert_allclose(ex.sample(now), before[0], atol=1e-9)
        sample = ex.sample(now)
        assert sample is None or np.isfinite(sample).all()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs, chunk_events(), st.lists(st.floats(1e-3, 2 * MAX_DT), min_size=1, max_size=5))
def test_executor_through_limiter_never_exceeds_the_robot_limits(config, events, tick_pattern):
    ex = ChunkExecutor(config)
    limiter = JointLimiter.from_robot(ROBOT, JOINTS, LimiterConfig(max_dt_s=MAX_DT))
    limits = limiter.limits
    home = np.array(ROBOT.home_positions(JOINTS))
    now = 0.0
    limiter.reset(home, now)
    q_prev, v_prev = home.copy(), np.zeros(3)
    tick = 0
    for gap, chunk in events:
        end = now + gap
        if chunk is not None:
            submit_at(ex, chunk, now)
        while now < end:  # the 120 Hz loop between events, with jittery periods
            dt = tick_pattern[tick % len(tick_pattern)]
            tick += 1
            now += dt
            command = ex.sample(now)
            out = limiter.limit(home if command is None else command, now)
            h = min(dt, MAX_DT)
            velocity = (out - q_prev) / h
            assert np.isfinite(out).all()
            assert (out >= limits.lower - 1e-12).all() and (out <= limits.upper + 1e-12).all()
            assert (np.abs(velocity) <= limits.max_velocity + 1e-9).all()
            assert (np.abs(velocity - v_prev) <= limits.max_acceleration * h + 1e-6).all()
            q_prev, v_prev = out.copy(), velocity


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(-3, 3), min_size=6, max_size=30),
    st.floats(0.01, 0.2),
    st.floats(-100.0, 100.0),
    st.floats(0.0, 1.0),
)
def test_sampling_at_step_times_returns_the_steps_exactly(values, period, start, latency_fraction):
    positions = np.array(values[: len(values) // 3 * 3]).reshape(-1, 3)
    horizon = positions.shape[0]
    ex = ChunkExecutor(ExecutorConfig(joint_names=("a", "b", "c"), switch_mode="replace"))
    arrival = start + latency_fraction * (horizon - 1) * period
    ex.submit(Chunk(start, period, ("a", "b", "c"), positions), arrival)
    for i in range(horizon):
        t = start + i * period
        expected = positions[max(i, 0)]
        np.testing.assert_array_equal(ex.sample(t), expected)
