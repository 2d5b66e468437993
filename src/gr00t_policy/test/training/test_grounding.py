"""Grounding pretraining of System 2 (gr00t-pretrain-grounding) on synthetic scene files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from gr00t_policy.cli.pretrain_grounding import main as pretrain_main
from gr00t_policy.policy import Gr00tPolicy
from gr00t_policy.training.grounding import (
    HEAD_FILE,
    LOG_FILE,
    RECORD_FILE,
    GroundingConfig,
    GroundingHead,
    SceneAnswers,
    grounding_loss,
)

NUM_OBJECTS = 3


def write_scenes(path: Path, rows: int, seed: int) -> Path:
    """Scenes whose named side is bright or dark images (learnable in a few steps from any weights)."""
    rng = np.random.default_rng(seed)
    left = rng.random(rows) < 0.5
    object_xy = rng.uniform([0.3, -0.2], [0.42, 0.2], size=(rows, NUM_OBJECTS, 2)).astype(np.float32)
    target_xy = object_xy[:, 0].copy()
    target_xy[:, 1] = np.where(left, 1, -1) * np.abs(target_xy[:, 1])
    np.savez_compressed(
        path,
        format_version=np.int64(1),
        images=np.where(left[:, None, None, None], 230, 20).astype(np.uint8) * np.ones((1, 32, 32, 3), np.uint8),
        instructions=np.array(["touch the red cube"] * rows),
        tasks=np.array(["reach"] * rows),
        seeds=np.arange(rows),
        target_xy=target_xy,
        target_left=left,
        object_names=np.array([f"object_{k}" for k in range(NUM_OBJECTS)]),
        object_xy=object_xy,
        object_on_table=np.ones((rows, NUM_OBJECTS), bool),
    )
    return path


@pytest.fixture(scope="module")
def base_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("base")
    Gr00tPolicy.from_preset("demo", seed=0).save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def pretrained(base_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("grounding")
    out = work / "model"
    code = pretrain_main(
        [
            "--scenes",
            str(write_scenes(work / "train.npz", 64, seed=0)),
            "--validation",
            str(write_scenes(work / "validation.npz", 32, seed=1)),
            "--base-model",
            str(base_model),
            "--output-dir",
            str(out),
            "--max-steps",
            "60",
            "--batch-size",
            "16",
            "--eval-every",
            "30",
            "--device",
            "cpu",
        ]
    )
    assert code == 0
    return out


def test_head_answers_one_row_per_question_and_ignores_padding():
    torch.manual_seed(0)
    head = GroundingHead(token_dim=16, num_objects=NUM_OBJECTS)
    tokens = torch.randn(2, 5, 16)
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]], dtype=torch.bool)
    answers = head(tokens, mask)
    assert answers.shape == (2, 1 + NUM_OBJECTS, 3)
    changed = tokens.clone()
    changed[0, :2] = 100.0  # padding positions
    torch.testing.assert_close(head(changed, mask)[0], answers[0])


def test_loss_is_lowest_for_the_right_answers():
    batch = {
        "target_left": torch.tensor([1.0, 0.0]),
        "target_xy": torch.tensor([[0.5, 1.0], [-0.5, -1.0]]),
        "object_xy": torch.zeros(2, 2, 2),
        "object_on_table": torch.tensor([[True, False], [True, True]]),
    }
    right = torch.zeros(2, 3, 3)
    right[:, 0, 0] = torch.tensor([9.0, -9.0])
    right[:, 0, 1:] = batch["target_xy"]
    right[:, 1:, 0] = torch.where(batch["object_on_table"], 9.0, -9.0)
    wrong_side = right.clone()
    wrong_side[:, 0, 0] *= -1
    off_table_position = right.clone()
    off_table_position[0, 2, 1:] = 5.0  # object 1 of row 0 is not on the table: its position does not count
    terms = grounding_loss(right, batch)
    assert terms["loss"] < 1e-3
    assert grounding_loss(wrong_side, batch)["target_side"] > 5
    torch.testing.assert_close(grounding_loss(off_table_position, batch)["loss"], terms["loss"])


def test_scene_answers_normalise_validation_with_the_training_statistics(tmp_path):
    train = SceneAnswers(write_scenes(tmp_path / "a.npz", 40, seed=0))
    validation = SceneAnswers(write_scenes(tmp_path / "b.npz", 10, seed=1), train.xy_mean, train.xy_std)
    assert validation.xy_mean is train.xy_mean
    assert abs(float(train.object_xy.mean())) < 0.2 and len(validation) == 10 and train.num_objects == NUM_OBJECTS


def test_pretraining_learns_the_side_from_held_out_scenes(pretrained):
    log = [json.loads(line) for line in (pretrained / LOG_FILE).read_text().splitlines()]
    assert [entry["step"] for entry in log] == [30, 60]
    # The side is the image's brightness: a working loop learns it; chance is ~50%.
    assert log[-1]["side_accuracy"] >= 0.9
    assert log[-1]["side_accuracy/reach"] == log[-1]["side_accuracy"]  # per task too (all rows are reach here)
    record = json.loads((pretrained / RECORD_FILE).read_text())
    assert record["result"]["side_accuracy"] == log[-1]["side_accuracy"]


def test_output_loads_with_the_backbone_trained_and_the_action_head_untouched(pretrained, base_model):
    before, after = Gr00tPolicy.from_pretrained(base_model).model, Gr00tPolicy.from_pretrained(pretrained).model
    for (name, old), new in zip(before.action_head.state_dict().items(), after.action_head.state_dict().values()):
        torch.testing.assert_close(new, old, msg=name)
    changed = [
        name
        for (name, old), new in zip(before.backbone.state_dict().items(), after.backbone.state_dict().values())
        if not torch.equal(old, new)
    ]
    assert any(".language_model." in name for name in changed) and any(".vision_model." in name for name in changed)
    assert torch.load(pretrained / HEAD_FILE)["num_objects"] == NUM_OBJECTS


def test_frozen_parts_stay_frozen(base_model, tmp_path):
    from gr00t_policy.training.grounding import GroundingPretrainer

    trainer = GroundingPretrainer(
        GroundingConfig(
            scenes=write_scenes(tmp_path / "t.npz", 8, seed=0),
            validation=write_scenes(tmp_path / "v.npz", 4, seed=1),
            base_model=base_model,
            output_dir=tmp_path / "out",
            tune_visual=False,
            tune_llm=False,
            device="cpu",
        )
    )
    trained = {id(p) for p in trainer.params}
    assert not any(id(p) in trained for p in trainer.model.backbone.model.vision_model.parameters())
    assert not any(id(p) in trained for p in trainer.model.backbone.model.language_model.parameters())
    assert all(id(p) in trained for p in trainer.model.backbone.linear.parameters())


def test_a_file_that_is_not_a_scenes_file_is_rejected_with_exit_2(base_model, tmp_path, caplog):
    bad = tmp_path / "bad.npz"
    np.savez(bad, images=np.zeros((2, 8, 8, 3), np.uint8))
    code = pretrain_main(
        [
            "--scenes",
            str(bad),
            "--validation",
            str(bad),
            "--base-model",
            str(base_model),
            "--output-dir",
            str(tmp_path / "out"),
            "--device",
            "cpu",
        ]
    )
    assert code == 2
    assert "missing arrays" in caplog.text
