"""ONNX export of the System 1 head: graph validity, dynamic axes, parity with torch, the cache."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from export_test_support import PARITY_ATOL

from gr00t_policy.backends.onnxruntime_backend import PYTHON_LOOP, UNROLLED, OnnxSystem1Runner
from gr00t_policy.export.cache import ensure_exported
from gr00t_policy.export.onnx_export import (
    ALL_GRAPHS,
    BATCH_AXIS,
    TOKENS_AXIS,
    ExportManifest,
    check_graphs,
    example_inputs,
    frozen_plan,
)


def test_every_graph_passes_the_onnx_checker(demo_export):
    check_graphs(demo_export)
    assert set(ExportManifest.read(demo_export).graphs) == set(ALL_GRAPHS)


def test_batch_and_goal_token_axes_are_dynamic(demo_export):
    manifest = ExportManifest.read(demo_export)
    model = onnx.load(str(manifest.path(demo_export, "sample_chunk")))
    dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
    assert dims["noise"] == [BATCH_AXIS, manifest.action_horizon, manifest.action_dim]
    assert dims["goal_key_0"] == [BATCH_AXIS, manifest.cross_heads, TOKENS_AXIS, manifest.cross_head_dim]


@pytest.fixture(scope="module")
def runner(demo_export) -> OnnxSystem1Runner:
    return OnnxSystem1Runner(demo_export, intra_op_threads=1)


@pytest.mark.parametrize("loop", [UNROLLED, PYTHON_LOOP])
@pytest.mark.parametrize("batch_size", [1, 2])
@pytest.mark.parametrize("num_tokens", [7, 99])
def test_onnxruntime_chunk_matches_torch_from_the_same_noise(demo_policy, runner, loop, batch_size, num_tokens):
    head = demo_policy.model.action_head
    ex = example_inputs(head, batch_size, num_tokens, seed=batch_size * 1000 + num_tokens)
    plan = frozen_plan(head, demo_policy.denoising_steps, demo_policy.data_config.embodiment_id)
    with torch.no_grad():
        want = head.sample_cached(head.prepare_goal_kv(ex["goal_tokens"]), ex["state"], plan, noise=ex["noise"])
    goal = runner.goal_kv(ex["goal_tokens"].numpy())
    got = runner.sample(ex["noise"].numpy(), ex["state"].numpy(), goal, loop=loop)
    np.testing.assert_allclose(got, want.actions.numpy(), rtol=0, atol=PARITY_ATOL)


def test_goal_kv_and_state_encoder_match_torch(demo_policy, runner):
    head = demo_policy.model.action_head
    ex = example_inputs(head, 2, 11)
    with torch.no_grad():
        kv = head.prepare_goal_kv(ex["goal_tokens"]).kv
        features = head.state_encoder.forward_category(ex["state"], demo_policy.data_config.embodiment_id)
    goal = runner.goal_kv(ex["goal_tokens"].numpy())
    for got, want in zip(goal.values, [t for pair in kv for t in pair], strict=True):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=0, atol=PARITY_ATOL)
    np.testing.assert_allclose(runner.state_features(ex["state"].numpy()), features.numpy(), rtol=0, atol=1e-6)


def test_batch_mismatch_between_goal_and_state_is_refused(runner, demo_policy):
    ex = example_inputs(demo_policy.model.action_head, 2, 5)
    goal = runner.goal_kv(ex["goal_tokens"][:1].numpy())
    with pytest.raises(ValueError, match="batch mismatch"):
        runner.sample(ex["noise"].numpy(), ex["state"].numpy(), goal)


def test_cache_reuses_a_valid_export_and_replaces_a_stale_one(demo_policy, demo_export, onnx_cache):
    manifest_file = demo_export / "manifest.json"
    before = manifest_file.stat().st_mtime_ns
    directory, _ = ensure_exported(demo_policy, onnx_cache)
    assert directory == demo_export and manifest_file.stat().st_mtime_ns == before

    manifest = ExportManifest.read(demo_export)
    manifest.weights_digest = "weights of another training run"
    manifest.write(demo_export)
    _, fresh = ensure_exported(demo_policy, onnx_cache)
    assert fresh.weights_digest != "weights of another training run"
    assert fresh.validation["max_abs_diff"]["sample_chunk"] <= PARITY_ATOL
