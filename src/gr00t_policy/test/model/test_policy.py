"""The high-level API the ROS nodes use: Gr00tPolicy, GoalTokens, GoalCache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gr00t_policy.model.embodiments import get_data_config, make_metadata
from gr00t_policy.policy import GoalTokens, Gr00tPolicy


def _state(policy):
    return {g: np.linspace(-0.3, 0.3, d) for g, d in policy.data_config.state_groups}


def _frame(h=480, w=640, value=0):
    rng = np.random.default_rng(value)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def goal(demo_policy):
    return demo_policy.prepare_goal(demo_policy.encode_goal([_frame()], "pick up the red cube"))


def test_demo_policy_describes_its_layout(demo_policy):
    cfg = demo_policy.data_config
    assert cfg.embodiment_tag == "gr1" and cfg.embodiment_id == 24
    assert [g for g, _ in cfg.action_groups] == ["left_arm", "right_arm", "left_hand", "right_hand"]
    assert cfg.video_keys == ("ego_view",)
    assert demo_policy.action_horizon == 16
    assert demo_policy.model_id == "demo-seed0"
    assert demo_policy.denoising_steps == 4


def test_encode_goal_returns_contiguous_single_goal(demo_policy):
    tokens = demo_policy.encode_goal([_frame()], "pick up the red cube")
    assert tokens.tokens.shape[0] == 1 and tokens.tokens.shape[2] == demo_policy.goal_dim
    assert tokens.tokens.is_contiguous()
    assert tokens.mask.dtype == torch.bool and tokens.mask.all()


def test_predict_chunk_returns_horizon_by_dim_float64_per_group(demo_policy, goal):
    chunk = demo_policy.predict_chunk(_state(demo_policy), goal, generator=torch.Generator().manual_seed(0))
    assert list(chunk) == [g for g, _ in demo_policy.data_config.action_groups]
    for group, dim in demo_policy.data_config.action_groups:
        assert chunk[group].shape == (16, dim) and chunk[group].dtype == np.float64
        assert np.all(np.isfinite(chunk[group]))


def test_cached_and_naive_chunks_agree(demo_policy, goal):
    noise = torch.randn(1, 16, 32, generator=torch.Generator().manual_seed(3))
    cached = demo_policy.predict_chunk(_state(demo_policy), goal, noise=noise)
    naive = demo_policy.predict_chunk_naive(_state(demo_policy), goal, noise=noise)
    for group in cached:
        np.testing.assert_allclose(cached[group], naive[group], atol=1e-5, rtol=1e-4)


def test_chunks_are_reproducible_from_a_seed(demo_policy, goal):
    a = demo_policy.predict_chunk(_state(demo_policy), goal, generator=torch.Generator().manual_seed(5))
    b = demo_policy.predict_chunk(_state(demo_policy), goal, generator=torch.Generator().manual_seed(5))
    c = demo_policy.predict_chunk(_state(demo_policy), goal, generator=torch.Generator().manual_seed(6))
    assert all(np.array_equal(a[g], b[g]) for g in a)
    assert not all(np.array_equal(a[g], c[g]) for g in a)


def test_model_dtype_names_the_loadable_precisions():
    from gr00t_policy.policy import model_dtype

    assert model_dtype("bfloat16") is torch.bfloat16 and model_dtype("float32") is torch.float32
    with pytest.raises(ValueError, match="float16"):
        model_dtype("fp8")


def test_check_device_refuses_what_this_machine_cannot_run():
    from gr00t_policy.policy import check_device

    assert check_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="not a torch device"):
        check_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            check_device("cuda")


def test_goal_tokens_round_trip_through_bytes(demo_policy, goal):
    tokens = goal.goal
    for dtype, tol in ((torch.float32, 0.0), (torch.float16, 1e-2), (torch.bfloat16, 3e-2)):
        payload = tokens.to_bytes(dtype)
        assert len(payload) == tokens.num_tokens * tokens.dim * torch.tensor([], dtype=dtype).element_size()
        back = GoalTokens.from_bytes(payload, tokens.num_tokens, tokens.dim, dtype)
        torch.testing.assert_close(back.tokens, tokens.tokens.float(), atol=tol, rtol=tol)
    exact = GoalTokens.from_bytes(tokens.to_bytes(torch.float32), tokens.num_tokens, tokens.dim, torch.float32)
    chunk_a = demo_policy.predict_chunk(_state(demo_policy), goal, generator=torch.Generator().manual_seed(1))
    chunk_b = demo_policy.predict_chunk(
        _state(demo_policy), demo_policy.prepare_goal(exact), generator=torch.Generator().manual_seed(1)
    )
    assert all(np.array_equal(chunk_a[g], chunk_b[g]) for g in chunk_a)
    with pytest.raises(ValueError, match="expected"):
        GoalTokens.from_bytes(payload[:-2], tokens.num_tokens, tokens.dim, torch.bfloat16)


def test_wrong_inputs_are_rejected_with_explanations(demo_policy, goal):
    with pytest.raises(ValueError, match="expects 1 view"):
        demo_policy.encode_goal([_frame(), _frame()], "x")
    other = Gr00tPolicy.from_preset("demo", seed=1)
    with pytest.raises(ValueError, match="goal cache was made by model 'demo-seed0'"):
        other.predict_chunk(_state(other), goal)
    with pytest.raises(KeyError, match="left_arm"):
        demo_policy.predict_chunk({}, goal)


def test_save_and_from_pretrained_round_trip(tmp_path, demo_policy, goal):
    cfg = get_data_config("gr1_arms_only")
    limits = {g: {"min": [-1.5] * d, "max": [2.5] * d} for g, d in cfg.action_groups}
    metadata = make_metadata("gr1", cfg, limits, limits, video_resolution={"ego_view": (640, 480)})
    source = Gr00tPolicy.from_preset("demo", seed=0, metadata=metadata)
    source.save_pretrained(tmp_path / "demo", dtype=torch.bfloat16)
    loaded = Gr00tPolicy.from_pretrained(tmp_path / "demo")
    assert loaded.data_config.name == "gr1_arms_only" and loaded.data_config.embodiment_tag == "gr1"
    assert loaded.model_id.startswith("demo-") and len(loaded.model_id) == len("demo-") + 8
    goal_loaded = loaded.prepare_goal(loaded.encode_goal([_frame()], "pick up the red cube"))
    chunk = loaded.predict_chunk(_state(loaded), goal_loaded, generator=torch.Generator().manual_seed(0))
    assert chunk["left_arm"].shape == (16, 7)
    with pytest.raises(ValueError, match="640x480"):
        loaded.encode_goal([_frame(240, 320)], "x")


def test_from_pretrained_real_checkpoint_requires_the_eagle_tokenizer(tmp_path):
    from gr00t_policy.model.processing_gr00t_n1 import TokenizerLoadError

    policy = Gr00tPolicy.from_preset("demo")
    policy.save_pretrained(tmp_path / "ckpt")
    import json

    config_path = tmp_path / "ckpt" / "config.json"
    config = json.loads(config_path.read_text())
    config["backbone_cfg"]["tokenizer"] = "eagle2"
    config_path.write_text(json.dumps(config))
    with pytest.raises(TokenizerLoadError, match="tokenizer_dir"):
        Gr00tPolicy.from_pretrained(tmp_path / "ckpt")


def test_real_layout_checkpoint_with_the_eagle2_tokenizer(tmp_path, parity_model, eagle2_tokenizer_dir):
    # The tiny parity model has the real token geometry and vocabulary: a checkpoint of it in the
    # HF layout exercises the Eagle-2 path of from_pretrained end to end.
    from gr00t_policy.model.checkpoint import save_checkpoint
    from gr00t_policy.policy import identity_metadata

    save_checkpoint(parity_model, tmp_path / "tiny", metadata=identity_metadata("new_embodiment", "gr1_arms_waist"))
    policy = Gr00tPolicy.from_pretrained(tmp_path / "tiny", tokenizer_dir=eagle2_tokenizer_dir)
    assert policy.data_config.name == "gr1_arms_waist" and policy.data_config.embodiment_id == 31
    goal = policy.encode_goal([_frame(256, 256)], "pick the pear from the counter and place it in the plate")
    assert goal.tokens.shape == (1, 99, 48)
    chunk = policy.predict_chunk(_state(policy), policy.prepare_goal(goal), generator=torch.Generator().manual_seed(0))
    assert chunk["waist"].shape == (16, 3)
