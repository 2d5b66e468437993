"""Backends behind create_backend: same chunk as torch from the same noise; clear errors where unavailable."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from export_test_support import PARITY_ATOL

from gr00t_policy.backends import BACKENDS, BackendUnavailable, create_backend


def _state(policy, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {g: rng.uniform(-0.5, 0.5, d) for g, d in policy.data_config.state_groups}


@pytest.fixture(scope="module")
def goal_tokens(demo_policy):
    g = torch.Generator().manual_seed(3)
    return torch.randn(1, 40, demo_policy.goal_dim, generator=g), torch.ones(1, 40, dtype=torch.bool)


@pytest.mark.parametrize("seed", [0, 1])
def test_onnxruntime_backend_gives_the_torch_chunk_from_the_same_seed(demo_policy, demo_export, onnx_cache,
                                                                      goal_tokens, seed):  # fmt: skip
    reference = create_backend("torch", demo_policy)
    compiled = create_backend("onnxruntime", demo_policy, cache_dir=onnx_cache, intra_op_threads=1)
    assert compiled.export_dir == demo_export  # found in the cache, not exported again
    state = _state(demo_policy, seed)
    want = reference.predict_chunk(state, reference.prepare_goal(*goal_tokens),
                                   generator=torch.Generator().manual_seed(seed))  # fmt: skip
    got = compiled.predict_chunk(state, compiled.prepare_goal(*goal_tokens),
                                 generator=torch.Generator().manual_seed(seed))  # fmt: skip
    assert got.keys() == want.keys()
    for group in want:
        assert got[group].shape == want[group].shape == (demo_policy.action_horizon, got[group].shape[1])
        np.testing.assert_allclose(got[group], want[group], rtol=0, atol=PARITY_ATOL)


def test_onnxruntime_backend_takes_explicit_noise_and_both_loops_agree(demo_policy, onnx_cache, goal_tokens):
    noise = torch.randn(1, demo_policy.action_horizon, demo_policy.config.action_head.action_dim)
    state = _state(demo_policy, 7)
    want = create_backend("torch", demo_policy)
    want_chunk = want.predict_chunk(state, want.prepare_goal(*goal_tokens), noise=noise)
    for loop in ("unrolled", "python"):
        backend = create_backend("onnxruntime", demo_policy, cache_dir=onnx_cache, loop=loop)
        got = backend.predict_chunk(state, backend.prepare_goal(*goal_tokens), noise=noise)
        for group in want_chunk:
            np.testing.assert_allclose(got[group], want_chunk[group], rtol=0, atol=PARITY_ATOL)


def test_onnxruntime_options_are_validated(demo_policy, onnx_cache):
    with pytest.raises(ValueError, match="graph_optimization_level"):
        create_backend("onnxruntime", demo_policy, cache_dir=onnx_cache, graph_optimization_level="max")
    with pytest.raises(BackendUnavailable, match="NoSuchExecutionProvider"):
        create_backend("onnxruntime", demo_policy, cache_dir=onnx_cache,
                       execution_providers=["NoSuchExecutionProvider"])  # fmt: skip


def test_tensorrt_backend_is_unavailable_without_tensorrt_or_gpu(demo_policy, onnx_cache):
    from gr00t_policy.backends import tensorrt_backend

    if tensorrt_backend.trt is not None and torch.cuda.is_available():
        pytest.skip("TensorRT and a GPU are present; the GPU benchmark covers this backend")
    with pytest.raises(BackendUnavailable, match="TensorRT"):
        create_backend("tensorrt", demo_policy, cache_dir=onnx_cache)


def test_cuda_graph_needs_a_cuda_policy(demo_policy):
    with pytest.raises(BackendUnavailable, match="CUDA"):
        create_backend("torch", demo_policy, cuda_graph=True)


def test_unknown_backend_lists_the_choices(demo_policy):
    with pytest.raises(BackendUnavailable, match="one of") as info:
        create_backend("tflite", demo_policy)
    assert all(name in str(info.value) for name in BACKENDS)
