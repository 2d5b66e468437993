"""The fine-tuning building blocks on their own, without a model or a dataset: checkpoint files,
resume checks, the train log, the schedule, the normalisation choice and the trainable parts."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

from gr00t_policy.training.checkpointing import (
    TRAINER_STATE_FILE,
    TRAINER_STATE_JSON,
    checkpoint_to_resume,
    list_checkpoints,
    load_trainer_state,
    resume_changes,
    saved_settings,
    write_checkpoint,
)
from gr00t_policy.training.config import RESUME_SENSITIVE_SETTINGS, FinetuneConfig
from gr00t_policy.training.distributed import DistributedContext
from gr00t_policy.training.normalization import checkpoint_metadata
from gr00t_policy.training.optimizer import build_optimizer, cosine_schedule_with_warmup
from gr00t_policy.training.plots import plot_losses
from gr00t_policy.training.train_log import append_train_log, read_train_log, truncate_train_log

SINGLE = DistributedContext()  # a world of one: collectives are no-ops


def _config(tmp_path: Path, **changes) -> FinetuneConfig:
    return FinetuneConfig(dataset_dir=tmp_path, output_dir=tmp_path / "out", preset="demo", **changes)


def _write(output: Path, step: int, limit: int | None = None, state: dict | None = None) -> Path:
    final = output / f"checkpoint-{step}"
    write_checkpoint(
        final,
        lambda directory: (directory.mkdir(parents=True), (directory / "model.safetensors").write_text("weights")),
        state if state is not None else {"step": step},
        {"step": step, "loss": 0.5},
        limit,
    )
    return final


def test_checkpoints_are_written_whole_and_the_oldest_pruned_beyond_the_limit(tmp_path):
    output = tmp_path / "out"
    output.mkdir()
    (output / "checkpoint-9").mkdir()  # no trainer state: a crash's leftover, not a checkpoint
    for step in (1, 2, 3):
        _write(output, step, limit=2)
    assert [step for step, _ in list_checkpoints(output)] == [2, 3]
    final = output / "checkpoint-3"
    assert {p.name for p in final.iterdir()} == {"model.safetensors", TRAINER_STATE_FILE, TRAINER_STATE_JSON}
    assert load_trainer_state(final) == {"step": 3}
    assert json.loads((final / TRAINER_STATE_JSON).read_text()) == {"step": 3, "loss": 0.5}
    assert not list(output.glob(".*.tmp"))  # the staging directory was renamed


def test_a_fresh_run_refuses_an_output_directory_with_checkpoints_and_a_resume_takes_the_newest(tmp_path, caplog):
    output = tmp_path / "out"
    with caplog.at_level(logging.WARNING):
        assert checkpoint_to_resume(output, True, SINGLE) is None  # nothing to resume: starts fresh, says so
    assert "has no checkpoint" in caplog.text
    assert checkpoint_to_resume(output, False, SINGLE) is None
    for step in (2, 10):  # numeric order, not the names' order
        _write(output, step)
    with pytest.raises(FileExistsError, match="--resume"):
        checkpoint_to_resume(output, False, SINGLE)
    assert checkpoint_to_resume(output, True, SINGLE) == output / "checkpoint-10"


def test_resume_reports_changed_settings_and_world_size_and_defaults_settings_newer_than_the_checkpoint(tmp_path):
    config = _config(tmp_path)
    saved = config.to_json_dict()
    del saved["goal_readout_weight"]  # a checkpoint from before the setting existed: it had the default
    state = {"config": saved, "world_size": 1}
    assert saved_settings(state)["goal_readout_weight"] == config.goal_readout_weight
    assert resume_changes(state, config, world_size=1) == {}
    changed = dataclasses.replace(config, learning_rate=config.learning_rate * 2, num_workers=config.num_workers + 1)
    assert resume_changes(state, changed, world_size=2) == {
        "learning_rate": (config.learning_rate, changed.learning_rate),
        "world_size": (1, 2),
    }  # num_workers does not change the optimisation
    assert "num_workers" not in RESUME_SENSITIVE_SETTINGS


def test_train_log_is_appended_read_back_and_truncated_for_a_resumed_run(tmp_path):
    assert read_train_log(tmp_path) == []
    truncate_train_log(tmp_path, 0)  # no log yet: nothing to do
    for step in (1, 2, 3):
        append_train_log(tmp_path, {"step": step, "loss": 1.0 / step})
    truncate_train_log(tmp_path, 2)
    assert read_train_log(tmp_path) == [{"step": 1, "loss": 1.0}, {"step": 2, "loss": 0.5}]


def test_no_plot_without_records(tmp_path):
    plot_losses([], tmp_path / "loss_curve.png")
    assert not (tmp_path / "loss_curve.png").exists()


def test_schedule_warms_up_linearly_then_follows_half_a_cosine_to_zero():
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule = cosine_schedule_with_warmup(optimizer, warmup_steps=4, total_steps=12)
    factors = []
    for _ in range(13):
        factors.append(schedule.get_last_lr()[0])
        optimizer.step()
        schedule.step()
    assert factors[:5] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert factors[8] == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    assert factors[12] == pytest.approx(0.0)


def test_optimizer_skips_frozen_parameters_and_decays_no_biases_or_norms(tmp_path):
    model = nn.Sequential(OrderedDict(proj=nn.Linear(3, 3), norm=nn.LayerNorm(3), head=nn.Linear(3, 2)))
    model.head.requires_grad_(False)
    extra = nn.Linear(3, 1)
    config = _config(tmp_path)
    decay, no_decay = build_optimizer(model, config, extra=extra).param_groups
    assert decay["weight_decay"] == config.weight_decay and no_decay["weight_decay"] == 0.0
    assert {id(p) for p in decay["params"]} == {id(model.proj.weight), id(extra.weight)}
    assert {id(p) for p in no_decay["params"]} == {
        id(model.proj.bias),
        id(model.norm.weight),
        id(model.norm.bias),
        id(extra.bias),
    }


def test_dataset_statistics_replace_the_base_entry_and_base_statistics_need_the_base_to_have_them():
    from gr00t_policy.model.embodiments import get_data_config

    data_config = get_data_config("gr1_arms_only", "new_embodiment")
    base = {"gr1": {"statistics": "the base's gr1"}, "new_embodiment": {"statistics": "old"}}
    entry = {"new_embodiment": {"statistics": "the dataset's"}}
    merged = checkpoint_metadata(base, entry, data_config, "dataset")
    assert merged == {"gr1": {"statistics": "the base's gr1"}, "new_embodiment": {"statistics": "the dataset's"}}
    with pytest.raises(ValueError, match="no statistics for embodiment 'new_embodiment'"):
        checkpoint_metadata({"gr1": {}}, entry, data_config, "base")
