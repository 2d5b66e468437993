"""System 1: cached sampler == naive sampler, determinism, shapes, flow-matching loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gr00t_policy.model.configuration_gr00t_n1 import get_preset
from gr00t_policy.model.modeling_action_head import (
    CategorySpecificLinear,
    FlowMatchingActionHead,
    action_sinusoid,
    euler_buckets,
)
from gr00t_policy.model.modeling_dit import timestep_sinusoid

ATOL, RTOL = 1e-5, 1e-4


@pytest.fixture(scope="module")
def demo_head() -> FlowMatchingActionHead:
    torch.manual_seed(0)
    return FlowMatchingActionHead(get_preset("demo").action_head).eval()


def _inputs(head, batch, tokens=30, seed=1):
    g = torch.Generator().manual_seed(seed)
    cfg = head.config
    goal = torch.randn(batch, tokens, cfg.input_embedding_dim, generator=g)
    state = torch.randn(batch, 1, cfg.max_state_dim, generator=g)
    noise = torch.randn(batch, cfg.action_horizon, cfg.action_dim, generator=g)
    return goal, state, noise


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("steps", [1, 4, 16])
@pytest.mark.parametrize("fuse_qkv", [True, False])
def test_cached_sampler_equals_naive_sampler(demo_head, batch, steps, fuse_qkv):
    goal, state, noise = _inputs(demo_head, batch)
    ids = torch.full((batch,), 31)
    naive = demo_head.sample_naive(goal, state, ids, num_steps=steps, noise=noise).actions
    plan = demo_head.build_plan(steps, 31, fuse_qkv=fuse_qkv)
    cached = demo_head.sample_cached(demo_head.prepare_goal_kv(goal), state, plan, noise=noise).actions
    torch.testing.assert_close(cached, naive, atol=ATOL, rtol=RTOL)


def test_cached_sampler_equals_naive_on_the_parity_model(parity_model):
    head = parity_model.action_head
    goal, state, noise = _inputs(head, 2, tokens=99)
    naive = head.sample_naive(goal, state, torch.tensor([24, 24]), num_steps=4, noise=noise).actions
    cached = head.sample_cached(head.prepare_goal_kv(goal), state, head.build_plan(4, 24), noise=noise).actions
    torch.testing.assert_close(cached, naive, atol=ATOL, rtol=RTOL)


def test_goal_cache_is_reusable_across_chunks(demo_head):
    goal, state, noise = _inputs(demo_head, 1)
    kv, plan = demo_head.prepare_goal_kv(goal), demo_head.build_plan(4, 24)
    first = demo_head.sample_cached(kv, state, plan, noise=noise).actions
    demo_head.sample_cached(kv, state + 1, plan, noise=noise * 2)  # another chunk in between
    again = demo_head.sample_cached(kv, state, plan, noise=noise).actions
    assert torch.equal(first, again)


def test_one_goal_can_serve_a_batch_of_states(demo_head):
    goal, state, noise = _inputs(demo_head, 3)
    kv = demo_head.prepare_goal_kv(goal[:1])
    shared = demo_head.sample_cached(kv, state, demo_head.build_plan(4, 24), noise=noise).actions
    naive = demo_head.sample_naive(goal[:1].expand(3, -1, -1), state, torch.full((3,), 24), num_steps=4, noise=noise)
    torch.testing.assert_close(shared, naive.actions, atol=ATOL, rtol=RTOL)


def test_sampler_is_deterministic_for_a_seeded_generator(demo_head):
    goal, state, _ = _inputs(demo_head, 2)
    ids = torch.tensor([24, 24])
    plan, kv = demo_head.build_plan(4, 24), demo_head.prepare_goal_kv(goal)
    a = demo_head.sample_naive(goal, state, ids, num_steps=4, generator=torch.Generator().manual_seed(7)).actions
    b = demo_head.sample_naive(goal, state, ids, num_steps=4, generator=torch.Generator().manual_seed(7)).actions
    c = demo_head.sample_cached(kv, state, plan, generator=torch.Generator().manual_seed(7)).actions
    d = demo_head.sample_naive(goal, state, ids, num_steps=4, generator=torch.Generator().manual_seed(8)).actions
    assert torch.equal(a, b)
    torch.testing.assert_close(c, a, atol=ATOL, rtol=RTOL)
    assert not torch.allclose(a, d)


def test_explicit_noise_is_used_as_the_initial_sample(demo_head):
    goal, state, noise = _inputs(demo_head, 1)
    out = demo_head.sample_naive(goal, state, torch.tensor([24]), num_steps=4, noise=noise, record_steps=True)
    first_step = out.steps[0]
    torch.testing.assert_close(first_step.x_after, noise + 0.25 * first_step.velocity)
    with pytest.raises(ValueError, match="initial noise must have shape"):
        demo_head.sample_naive(goal, state, torch.tensor([24]), noise=noise[:, :8])


def test_output_shapes_for_batches(demo_head):
    for batch in (1, 2, 5):
        goal, state, noise = _inputs(demo_head, batch)
        out = demo_head.sample_naive(goal, state, torch.full((batch,), 24), num_steps=2, noise=noise)
        assert out.actions.shape == (batch, 16, 32)
        assert out.state_features.shape == (batch, 1, demo_head.config.input_embedding_dim)


def test_euler_buckets_follow_the_reference_schedule():
    assert euler_buckets(4) == [0, 250, 500, 750]
    assert euler_buckets(16) == [0, 62, 125, 187, 250, 312, 375, 437, 500, 562, 625, 687, 750, 812, 875, 937]


def test_sinusoid_orders_differ_between_action_encoder_and_dit():
    b = torch.tensor([[3]])
    enc = action_sinusoid(b, 8)[0, 0]  # sin first
    assert torch.allclose(enc[:4], torch.sin(3 * torch.exp(-torch.arange(4.0) * np.log(10000.0) / 4)))
    dit = timestep_sinusoid(torch.tensor([3]), 256)[0]  # cos first, /127
    assert torch.allclose(dit[:128], torch.cos(3 * torch.exp(-np.log(10000) * torch.arange(128.0) / 127)))


def test_category_specific_linear_uses_input_major_weights():
    layer = CategorySpecificLinear(3, 4, 2)
    torch.nn.init.normal_(layer.b)
    x = torch.randn(2, 5, 4)
    ids = torch.tensor([2, 0])
    y = layer(x, ids)
    torch.testing.assert_close(y[0], x[0] @ layer.W[2] + layer.b[2])
    torch.testing.assert_close(y[1], x[1] @ layer.W[0] + layer.b[0])


def test_flow_matching_loss_is_masked_mean_of_squared_velocity_error(demo_head):
    goal, state, noise = _inputs(demo_head, 2)
    action = torch.randn(2, 16, 32)
    mask = torch.zeros(2, 16, 32, dtype=torch.bool)
    mask[0, :, :26] = True
    mask[1, :, :7] = True
    tau = torch.tensor([0.25, 0.875])  # exact in float32, so the buckets are exact
    out = demo_head.flow_matching_loss(goal, state, action, mask, torch.tensor([24, 31]), noise=noise, tau=tau)
    expected = ((out["pred_velocity"] - (action - noise)) ** 2)[mask].mean()
    torch.testing.assert_close(out["loss"], expected)
    assert out["t_bucket"].tolist() == [250, 875]
    torch.testing.assert_close(out["noisy_trajectory"][1], 0.125 * noise[1] + 0.875 * action[1])


def test_flow_matching_loss_backpropagates_into_the_selected_embodiment_only(demo_head):
    head = FlowMatchingActionHead(get_preset("demo").action_head).train()
    goal, state, noise = _inputs(head, 1)
    out = head.flow_matching_loss(
        goal,
        state,
        torch.randn(1, 16, 32),
        torch.ones(1, 16, 32, dtype=torch.bool),
        torch.tensor([31]),
        generator=torch.Generator().manual_seed(0),
    )
    out["loss"].backward()
    grad = head.action_encoder.W3.W.grad
    assert grad[31].abs().sum() > 0 and grad[:31].abs().sum() == 0


def test_beta_time_sampling_favours_the_noisy_end(demo_head):
    tau = demo_head.sample_tau(20000, torch.Generator().manual_seed(0))
    assert tau.min() >= -0.001 and tau.max() <= 1.0
    # u ~ Beta(1.5, 1): E[u] = 0.6, so E[tau] = (0.999 - 0.6) / 0.999 ~ 0.4.
    assert abs(tau.mean().item() - 0.3994) < 0.01
