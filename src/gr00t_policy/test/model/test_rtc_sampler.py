"""Real-time-chunking (inpainting) guidance in the flow-matching sampler, through Gr00tPolicy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gr00t_policy.execution.realtime_chunking import rtc_guidance_weights
from gr00t_policy.model.embodiments import get_data_config, make_metadata
from gr00t_policy.policy import Gr00tPolicy

HORIZON = 16
CONFIG = get_data_config("gr1_arms_only")


@pytest.fixture(scope="module")
def policy() -> Gr00tPolicy:
    # Joint ranges of +-2 rad (not the identity) so that the prefix's normalisation is exercised.
    def ranges(groups):
        return {g: {"min": [-2.0] * d, "max": [2.0] * d} for g, d in groups}

    metadata = make_metadata("gr1", CONFIG, ranges(CONFIG.state_groups), ranges(CONFIG.action_groups))
    return Gr00tPolicy.from_preset("demo", seed=0, metadata=metadata)


@pytest.fixture(scope="module")
def goal(policy):
    return policy.prepare_goal(policy.encode_goal([np.zeros((224, 224, 3), np.uint8)], "wave"))


STATE = {g: np.full(d, 0.1) for g, d in CONFIG.state_groups}


def _chunk(policy, goal, seed, naive=False, **kwargs):
    predict = policy.predict_chunk_naive if naive else policy.predict_chunk
    return predict(STATE, goal, generator=torch.Generator().manual_seed(seed), **kwargs)


def _prefix_from(chunk, shift):
    """The previous chunk re-sampled onto the new grid: ``shift`` steps later, holding its last step."""
    rows = np.minimum(np.arange(HORIZON) + shift, HORIZON - 1)
    return {g: v[rows] for g, v in chunk.items()}


@pytest.mark.parametrize("naive", [False, True])
def test_zero_weights_give_exactly_the_unguided_chunk(policy, goal, naive):
    previous = _chunk(policy, goal, seed=1)
    plain = _chunk(policy, goal, seed=2, naive=naive)
    guided = _chunk(policy, goal, seed=2, naive=naive, prefix=previous, prefix_weights=np.zeros(HORIZON))
    for group in plain:
        assert np.array_equal(plain[group], guided[group]), group


@pytest.mark.parametrize("frozen", [1, 4, 8])
def test_full_weight_steps_come_out_equal_to_the_prefix(policy, goal, frozen):
    rng = np.random.default_rng(frozen)
    prefix = {g: rng.uniform(-1.5, 1.5, (HORIZON, d)) for g, d in CONFIG.action_groups}
    weights = np.zeros(HORIZON)
    weights[:frozen] = 1.0
    out = _chunk(policy, goal, seed=3, prefix=prefix, prefix_weights=weights)
    for group in out:
        np.testing.assert_allclose(out[group][:frozen], prefix[group][:frozen], atol=1e-5)
        assert not np.allclose(out[group][frozen:], prefix[group][frozen:], atol=1e-2)


def test_cached_and_naive_samplers_agree_with_guidance(policy, goal):
    prefix = _prefix_from(_chunk(policy, goal, seed=1), shift=4)
    weights = rtc_guidance_weights(HORIZON, 3, 12)
    cached = _chunk(policy, goal, seed=5, prefix=prefix, prefix_weights=weights)
    naive = _chunk(policy, goal, seed=5, naive=True, prefix=prefix, prefix_weights=weights)
    for group in cached:
        np.testing.assert_allclose(cached[group], naive[group], atol=1e-5)


def test_guided_chunks_stay_finite_for_far_away_prefixes(policy, goal):
    prefix = {g: np.full((HORIZON, d), 50.0) for g, d in CONFIG.action_groups}  # 25x the joint range
    for schedule in ("exponential", "linear", "hard"):
        out = _chunk(policy, goal, seed=6, prefix=prefix, prefix_weights=rtc_guidance_weights(HORIZON, 4, 14, schedule))
        assert all(np.all(np.isfinite(v)) for v in out.values())
        np.testing.assert_allclose(out["left_arm"][:4], 50.0, atol=1e-3)


def test_guidance_makes_the_switch_between_chunks_continuous(policy, goal):
    """After executing d steps of the previous plan the robot switches to the new chunk.

    Synthetic case with random demo weights: the previous chunk and the new one come from
    different noise, so without guidance they disagree everywhere (random-weight chunks are
    rough, so the prefix's own step-to-step changes are large too and the raw jump
    |new[d] - prefix[d-1]| is dominated by them). Continuity is therefore measured as the distance
    to the plan the robot is following at the first new step, |new[d] - prefix[d]|, and over the
    overlap d..E-1.
    """
    frozen, overlap = 3, 12
    weights = rtc_guidance_weights(HORIZON, frozen, overlap)
    switch = {"unguided": [], "guided": []}
    overlap_error = {"unguided": [], "guided": []}
    for seed in range(5):
        prefix = _prefix_from(_chunk(policy, goal, seed=100 + seed), shift=4)
        chunks = {
            "unguided": _chunk(policy, goal, seed=200 + seed),
            "guided": _chunk(policy, goal, seed=200 + seed, prefix=prefix, prefix_weights=weights),
        }
        for name, chunk in chunks.items():
            for group in prefix:
                switch[name].append(np.abs(chunk[group][frozen] - prefix[group][frozen]).max())
                overlap_error[name].append(np.abs(chunk[group][frozen:overlap] - prefix[group][frozen:overlap]).mean())
    # Weight at the switch step is 0.76 (exponential schedule, d = 3, E = 12): measured 4-5x smaller.
    assert np.mean(switch["guided"]) < 0.5 * np.mean(switch["unguided"]), switch
    assert np.mean(overlap_error["guided"]) < 0.7 * np.mean(overlap_error["unguided"]), overlap_error


def test_bad_guidance_inputs_are_rejected(policy, goal):
    prefix = {g: np.zeros((HORIZON, d)) for g, d in CONFIG.action_groups}
    with pytest.raises(ValueError, match="both prefix and prefix_weights"):
        _chunk(policy, goal, seed=0, prefix=prefix)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        _chunk(policy, goal, seed=0, prefix=prefix, prefix_weights=np.full(HORIZON, 1.5))
    with pytest.raises(ValueError, match="16 finite values"):
        _chunk(policy, goal, seed=0, prefix=prefix, prefix_weights=np.ones(8))
    del prefix["right_hand"]
    with pytest.raises(KeyError, match="right_hand"):
        _chunk(policy, goal, seed=0, prefix=prefix, prefix_weights=np.ones(HORIZON))
