"""Numerical parity with the original GR00T N1 on the tiny-model reference data.

Every stage of every case must be within atol 1e-5 / rtol 1e-4 (parity README). The data are in
test/data/reference (made with Isaac-GR00T b51a5e8; provenance in its README.md).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from gr00t_policy.model.parity import (
    MissingStageInput,
    run_inference_case,
    run_parity,
    run_tokenizer_cases,
    run_train_loss_case,
)
from gr00t_policy.model.processing_gr00t_n1 import PromptTokenizer, build_prompt, load_eagle2_tokenizer

INFERENCE_CASES = ["case_1view", "case_2view", "case_batch2_padded"]
INFERENCE_STAGES = [
    "pixel_values_from_uint8",
    "input_ids",
    "vit_last_hidden_state",
    "vit_pixel_shuffled",
    "image_embeds",
    "llm_inputs_embeds",
    "llm_last_hidden_state",
    "backbone_features",
    "backbone_attention_mask",
    "state_features",
    "euler_timestep_bucket",
    "dit_temb",
    "action_encoder_out",
    "dit_input_sa_embs",
    "dit_output",
    "euler_velocity",
    "euler_x_after",
    "action_pred",
    "action_pred_cached",
    "action_pred_end_to_end",
]


@pytest.fixture(scope="module")
def eagle2_tokenizer(eagle2_tokenizer_dir):
    return PromptTokenizer(load_eagle2_tokenizer(eagle2_tokenizer_dir))


def _load(parity_dir, name):
    with np.load(parity_dir / f"{name}.npz") as npz:
        return {k: npz[k] for k in npz.files}


@pytest.fixture(scope="module")
def inference_results(parity_dir, parity_model, eagle2_tokenizer):
    return {
        name: run_inference_case(parity_model, _load(parity_dir, name), name, eagle2_tokenizer)
        for name in INFERENCE_CASES
    }


@pytest.mark.parametrize("case", INFERENCE_CASES)
@pytest.mark.parametrize("stage", INFERENCE_STAGES)
def test_inference_stage_matches_reference(inference_results, case, stage):
    result = inference_results[case].stage(stage)
    assert result.ok, f"{case}/{stage}: max abs error {result.max_abs_error:.3e} {result.note}"


def test_left_padded_batch_reproduces_uniform_attention_at_pad_positions(inference_results):
    # HF eager attention fills fully masked rows uniformly; the reference did too (README "Padding").
    assert inference_results["case_batch2_padded"].stage("backbone_features_all_positions").ok


def test_every_euler_step_is_checked(parity_dir):
    data = _load(parity_dir, "case_1view")
    assert data["euler_velocity"].shape[0] == 4
    assert data["euler_timestep_bucket"].tolist() == [0, 250, 500, 750]


def test_training_loss_matches_reference(parity_dir, parity_model):
    result = run_train_loss_case(parity_model, _load(parity_dir, "case_train_loss"), "case_train_loss")
    assert result.ok, [(s.name, s.max_abs_error) for s in result.stages if not s.ok]
    assert [s.name for s in result.stages] == [
        "t_bucket",
        "noisy_trajectory",
        "target_velocity",
        "backbone_features",
        "action_decoder_output_full",
        "pred_velocity",
        "loss",
    ]


def test_tokenizer_reproduces_all_reference_cases(parity_dir, eagle2_tokenizer):
    result = run_tokenizer_cases(eagle2_tokenizer, parity_dir / "tokenizer_cases.json")
    assert len(result.stages) == 6
    assert result.ok, [s.name for s in result.stages if not s.ok]


def test_pear_prompt_gives_the_exact_99_ids(parity_dir, eagle2_tokenizer):
    expected = (
        [1, 9690, 198, 2683, 359, 253, 5356, 216, 49161, 30, 2, 198, 1, 4093, 198, 49152]
        + [49154] * 64
        + [
            49153,
            198,
            18188,
            260,
            17306,
            429,
            260,
            4360,
            284,
            1379,
            357,
            281,
            260,
            6496,
            2,
            198,
            1,
            49161,
            198,
        ]
    )
    ids = eagle2_tokenizer.encode(build_prompt("pick the pear from the counter and place it in the plate", 1))
    assert len(ids) == 99
    assert ids == expected


def test_added_token_assistant_is_split_out_of_instructions(eagle2_tokenizer):
    # The slow GPT2Tokenizer splits added tokens before BPE, even inside words (doc §2.5 quirk).
    assert eagle2_tokenizer.encode(" assistant") == [216, 49161]
    assert 49161 in eagle2_tokenizer.encode("call the assistants")


def test_batch_is_left_padded_with_pad_id_2(parity_dir, eagle2_tokenizer):
    spec = json.loads((parity_dir / "tokenizer_cases.json").read_text())
    by_name = {c["name"]: c for c in spec["cases"]}
    prompts = [build_prompt(by_name[n]["instruction"], 1) for n in ("drawer_1view", "apple_1view")]
    tokens = eagle2_tokenizer(prompts)
    assert tokens.input_ids.shape == (2, 99)
    assert tokens.input_ids[0, :9].tolist() == [2] * 9
    assert tokens.attention_mask[0].sum() == 90 and tokens.attention_mask[1].sum() == 99


def test_run_parity_refuses_to_drop_the_tokenizer_stage_silently(tmp_path, parity_dir):
    fixtures = tmp_path / "parity"  # the fixtures without an eagle2_tokenizer directory beside them
    fixtures.mkdir()
    for path in parity_dir.iterdir():
        (fixtures / path.name).symlink_to(path)
    with pytest.raises(MissingStageInput) as exc:
        run_parity(fixtures)
    assert exc.value.stage == "tokenizer" and exc.value.path == tmp_path / "eagle2_tokenizer"


def test_run_parity_only_skips_known_stages(parity_dir):
    with pytest.raises(ValueError, match="backbone"):
        run_parity(parity_dir, skip_stages=["backbone"])
