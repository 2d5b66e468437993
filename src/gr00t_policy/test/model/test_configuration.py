"""Configs: presets, both file layouts, real-size parameter counts on the meta device."""

from __future__ import annotations

import json

import pytest
import torch

from gr00t_policy.model.checkpoint import build_meta_model, compare_shapes, model_shapes
from gr00t_policy.model.configuration_gr00t_n1 import (
    ConfigError,
    DiTConfig,
    Gr00tN1Config,
    get_preset,
    preset_names,
)

REAL_TOTAL_PARAMETERS = 2_190_016_752  # architecture doc §0 / §10
REAL_DIT_PARAMETERS = 537_803_776


def test_real_size_model_on_meta_has_the_published_parameter_counts():
    model = build_meta_model(get_preset("gr00t_n1_2b"))
    assert all(p.is_meta for p in model.parameters())
    assert sum(p.numel() for p in model.parameters()) == REAL_TOTAL_PARAMETERS
    assert sum(p.numel() for p in model.action_head.model.parameters()) == REAL_DIT_PARAMETERS


def test_real_size_state_dict_matches_the_reference_listing_exactly(state_dict_listing):
    reference = json.loads(state_dict_listing.read_text())
    report = compare_shapes(reference, model_shapes(build_meta_model(get_preset("gr00t_n1_2b"))))
    assert report.ok, report.format()
    assert report.expected == 802


def test_tiny_parity_config_builds_the_144_reference_tensors(parity_dir):
    config = Gr00tN1Config.from_json_file(parity_dir / "tiny_config.json")
    assert config.backbone.output_dim == config.action_head.input_embedding_dim == 48
    assert config.backbone.select_layer == 2
    assert config.action_head.num_inference_timesteps == 4
    reference = json.loads((parity_dir / "tiny_state_dict_shapes.json").read_text())
    report = compare_shapes(reference, model_shapes(build_meta_model(config)))
    assert report.ok, report.format()


@pytest.mark.parametrize("preset", preset_names())
def test_hf_config_round_trip_preserves_every_field(preset):
    config = get_preset(preset)
    assert Gr00tN1Config.from_hf_dict(json.loads(json.dumps(config.to_hf_dict()))) == config
    config.backbone.instruction_first = not config.backbone.instruction_first
    assert Gr00tN1Config.from_hf_dict(json.loads(json.dumps(config.to_hf_dict()))) == config


def test_original_config_json_without_our_extensions_loads_as_the_real_model():
    # The released config.json has no vision/llm sections: they default to the Eagle-2 shape.
    original = get_preset("gr00t_n1_2b").to_hf_dict()
    for key in (
        "vision_cfg",
        "llm_cfg",
        "projector_output_dim",
        "tokenizer",
        "downsample_ratio",
        "image_context_token_id",
        "image_crop_scale",
        "attn_implementation",
        "instruction_first",
    ):
        original["backbone_cfg"].pop(key)
    for key in ("max_num_embodiments", "max_seq_len"):
        original["action_head_cfg"].pop(key)
    config = Gr00tN1Config.from_hf_dict(original)
    assert config.backbone.output_dim == 1536
    assert config.action_head.num_inference_timesteps == 16
    assert config.action_head.max_num_embodiments == 32
    assert config.backbone.vision.num_layers == 27
    assert not config.backbone.instruction_first  # the GR00T N1 prompt: images, then the instruction


def test_demo_preset_is_small():
    model = build_meta_model(get_preset("demo"))
    assert sum(p.numel() for p in model.parameters()) < 5_000_000


def test_unknown_preset_suggests_the_closest_name():
    with pytest.raises(ConfigError, match="Did you mean 'demo'"):
        get_preset("dmeo")


def test_inconsistent_widths_are_rejected_with_both_values():
    config = get_preset("demo")
    with pytest.raises(ConfigError, match="128.*64|64.*128"):
        Gr00tN1Config(
            backbone=config.backbone.__class__(**{**config.backbone.__dict__, "output_dim": 64}),
            action_head=config.action_head,
        )
    with pytest.raises(ConfigError, match="ada_norm"):
        DiTConfig(norm_type="layer_norm")


def test_config_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "config.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match=str(bad)):
        Gr00tN1Config.from_json_file(bad)
    with pytest.raises(ConfigError, match="file not found"):
        Gr00tN1Config.from_json_file(tmp_path / "missing.json")


def test_meta_build_allocates_no_memory_for_real_size():
    model = build_meta_model(get_preset("gr00t_n1_2b"))
    assert model.backbone.linear.weight.device == torch.device("meta")
