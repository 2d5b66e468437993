"""ReplanScheduler and InferenceDelayEstimator."""

from __future__ import annotations

import numpy as np
import pytest

from gr00t_policy.execution import (
    Chunk,
    ChunkExecutor,
    ExecutorConfig,
    InferenceDelayEstimator,
    ReplanConfig,
    ReplanScheduler,
)

JOINTS = ("a",)


def executor_with_chunk(start: float = 0.0, horizon: int = 16) -> ChunkExecutor:
    ex = ChunkExecutor(ExecutorConfig(joint_names=JOINTS, switch_mode="replace"))
    ex.submit(Chunk(start, 0.05, JOINTS, np.zeros((horizon, 1))), now=start)
    return ex


def test_requests_immediately_without_a_chunk_and_never_while_in_flight():
    scheduler = ReplanScheduler(ReplanConfig(replan_every_steps=8))
    empty = ChunkExecutor(ExecutorConfig(joint_names=JOINTS)).status(0.0)
    assert scheduler.should_request(0.0, empty, inference_in_flight=False)
    assert not scheduler.should_request(0.0, empty, inference_in_flight=True)


def test_every_n_steps_counts_from_the_observation_stamp():
    scheduler = ReplanScheduler(ReplanConfig(replan_every_steps=8))
    ex = executor_with_chunk()
    assert not scheduler.should_request(0.34, ex.status(0.34), False)  # step 6.8
    assert scheduler.should_request(0.40, ex.status(0.40), False)  # step 8


def test_zero_means_as_fast_as_inference_allows():
    scheduler = ReplanScheduler(ReplanConfig(replan_every_steps=0))
    ex = executor_with_chunk()
    assert scheduler.should_request(0.001, ex.status(0.001), False)


def test_exhausted_executor_requests_regardless_of_the_schedule():
    scheduler = ReplanScheduler(ReplanConfig(replan_every_steps=50))
    ex = executor_with_chunk(horizon=4)
    assert scheduler.should_request(0.2, ex.status(0.2), False)


def test_min_interval_caps_the_request_rate():
    scheduler = ReplanScheduler(ReplanConfig(replan_every_steps=0, min_interval_s=0.1))
    ex = executor_with_chunk()
    scheduler.mark_requested(0.0)
    assert not scheduler.should_request(0.05, ex.status(0.05), False)
    assert scheduler.should_request(0.1, ex.status(0.1), False)
    assert scheduler.requests == 1


def test_schedule_longer_than_the_execution_horizon_is_refused():
    with pytest.raises(ValueError, match="exceeds execution_horizon_steps"):
        ReplanConfig(replan_every_steps=12, execution_horizon_steps=8)
    with pytest.raises(ValueError, match="replan_every_steps must be >= 0"):
        ReplanConfig(replan_every_steps=-1)


def test_delay_estimate_is_a_high_quantile_of_measured_latencies():
    estimator = InferenceDelayEstimator(initial_delay_s=0.2, window=10, quantile=1.0, margin_s=0.01)
    assert estimator.estimate_s() == pytest.approx(0.21)
    for latency in [0.5] + [0.1] * 10:  # a warm-up outlier ages out of the window
        estimator.add(latency)
    assert estimator.estimate_s() == pytest.approx(0.11)
    estimator.add(0.13)
    estimator.add(float("nan"))  # ignored
    assert estimator.estimate_s() == pytest.approx(0.14)
    assert estimator.estimate_steps(0.05) == 3
