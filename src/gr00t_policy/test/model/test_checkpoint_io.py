"""Checkpoint directories: save/load round trips (fp32, bf16, sharded) and clear errors."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from gr00t_policy.model.checkpoint import (
    SAFETENSORS_INDEX_NAME,
    CheckpointError,
    CheckpointMismatchError,
    load_checkpoint,
    save_checkpoint,
)
from gr00t_policy.model.configuration_gr00t_n1 import get_preset
from gr00t_policy.model.modeling_gr00t_n1 import Gr00tN1Model

METADATA = {"gr1": {"statistics": {}, "modalities": {}, "embodiment_tag": "gr1"}}


@pytest.fixture(scope="module")
def demo_model() -> Gr00tN1Model:
    torch.manual_seed(0)
    model = Gr00tN1Model(get_preset("demo")).eval()
    with torch.no_grad():  # non-trivial biases so a dropped bias would show
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    return model


@pytest.fixture()
def saved(tmp_path, demo_model):
    save_checkpoint(demo_model, tmp_path / "ckpt", metadata=METADATA)
    return tmp_path / "ckpt"


def _assert_same_weights(a: torch.nn.Module, b: torch.nn.Module, dtype=None):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        expected = sa[k] if dtype is None else sa[k].to(dtype).to(sb[k].dtype)
        assert torch.equal(expected, sb[k]), k


def test_fp32_round_trip_is_exact_and_gives_the_same_outputs(saved, demo_model):
    loaded = load_checkpoint(saved)
    assert loaded.report.ok and loaded.metadata == METADATA and loaded.config == demo_model.config
    _assert_same_weights(demo_model, loaded.model)
    goal = torch.randn(1, 20, 128)
    state, noise = torch.randn(1, 1, 64), torch.randn(1, 16, 32)
    a = demo_model.action_head.sample_naive(goal, state, torch.tensor([24]), num_steps=4, noise=noise).actions
    b = loaded.model.action_head.sample_naive(goal, state, torch.tensor([24]), num_steps=4, noise=noise).actions
    # Same weights; MKL may round differently for differently aligned buffers, hence allclose.
    torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)
    # Non-persistent buffers were rebuilt, not left on meta.
    assert not any(buf.is_meta for buf in loaded.model.buffers())


def test_bf16_checkpoint_loads_into_fp32_and_into_bf16(tmp_path, demo_model):
    save_checkpoint(demo_model, tmp_path / "bf16", dtype=torch.bfloat16)
    stored = load_file(str(tmp_path / "bf16" / "model.safetensors"))
    assert all(t.dtype == torch.bfloat16 for t in stored.values())
    as_fp32 = load_checkpoint(tmp_path / "bf16", dtype=torch.float32)
    _assert_same_weights(demo_model, as_fp32.model, dtype=torch.bfloat16)
    as_bf16 = load_checkpoint(tmp_path / "bf16", dtype=torch.bfloat16)
    assert all(p.dtype == torch.bfloat16 for p in as_bf16.model.parameters())


def test_sharded_round_trip(tmp_path, demo_model):
    files = save_checkpoint(demo_model, tmp_path / "sharded", max_shard_size="4MB", dtype=torch.bfloat16)
    assert len(files) > 1
    index = json.loads((tmp_path / "sharded" / SAFETENSORS_INDEX_NAME).read_text())
    assert set(index["weight_map"]) == set(demo_model.state_dict())
    loaded = load_checkpoint(tmp_path / "sharded")
    assert len(loaded.files) == len(files)
    _assert_same_weights(demo_model, loaded.model, dtype=torch.bfloat16)


def test_decode_layer_of_the_released_checkpoint_is_ignored(saved):
    path = saved / "model.safetensors"
    tensors = load_file(str(path))
    tensors["action_head.decode_layer.weight"] = torch.zeros(2, 128)
    tensors["action_head.decode_layer.bias"] = torch.zeros(2)
    save_file(tensors, str(path))
    report = load_checkpoint(saved).report
    assert report.ok and report.ignored == [
        "action_head.decode_layer.bias",
        "action_head.decode_layer.weight",
    ]


def test_missing_unexpected_and_mismatched_tensors_are_all_reported(saved):
    path = saved / "model.safetensors"
    tensors = load_file(str(path))
    del tensors["backbone.linear.bias"]
    tensors["action_head.extra.weight"] = torch.zeros(3)
    tensors["action_head.position_embedding.weight"] = torch.zeros(512, 128)
    save_file(tensors, str(path))
    with pytest.raises(CheckpointMismatchError) as info:
        load_checkpoint(saved)
    report = info.value.report
    assert report.missing == ["backbone.linear.bias"]
    assert report.unexpected == ["action_head.extra.weight"]
    assert report.mismatched == [("action_head.position_embedding.weight", (512, 128), (1024, 128))]
    message = str(info.value)
    assert str(saved) in message and "backbone.linear.bias" in message and "[512, 128] vs [1024, 128]" in message


def test_missing_directory_and_files_name_the_path(tmp_path, saved):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nowhere")
    (saved / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="no model.safetensors"):
        load_checkpoint(saved)
    (saved / "config.json").unlink()
    with pytest.raises(CheckpointError, match=r"config.json: model config is missing"):
        load_checkpoint(saved)


def test_corrupt_files_are_reported_with_the_file_name(saved):
    (saved / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a header}")
    with pytest.raises(CheckpointError, match=r"model.safetensors: not a readable safetensors file"):
        load_checkpoint(saved)
    (saved / "config.json").write_text("{ broken")
    with pytest.raises(CheckpointError, match=r"config.json: model config is not valid JSON"):
        load_checkpoint(saved)


def test_truncated_weights_are_reported(saved):
    path = saved / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_checkpoint(saved)


def test_missing_shard_is_reported(tmp_path, demo_model):
    files = save_checkpoint(demo_model, tmp_path / "sharded", max_shard_size="4MB")
    files[-1].unlink()
    with pytest.raises(CheckpointError, match=f"{files[-1].name}: shard listed in"):
        load_checkpoint(tmp_path / "sharded")


def test_invalid_config_values_are_reported_with_the_file(saved):
    config = json.loads((saved / "config.json").read_text())
    config["action_head_cfg"]["input_embedding_dim"] = 100
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="config.json: invalid GR00T N1 config"):
        load_checkpoint(saved)
