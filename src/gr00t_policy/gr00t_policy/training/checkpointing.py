"""Fine-tuning checkpoints on disk: finding them, writing them atomically, reading the trainer state back.

Layout of a run's output directory::

    <output_dir>/checkpoint-<step>/   config.json, model.safetensors, experiment_cfg/metadata.json,
                                      [tokenizer/], trainer_state.pt (optimizer, schedule, RNG), trainer_state.json
    <output_dir>/                     the final model in the same HF layout (Gr00tPolicy.from_pretrained)

Checkpoints are written to a temporary directory and renamed, so a crash while saving never leaves
a half-written ``checkpoint-<step>``; only directories with a trainer state count as checkpoints.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..model.checkpoint import save_checkpoint
from .config import RESUME_SENSITIVE_SETTINGS, SAVE_DTYPES, FinetuneConfig
from .distributed import DistributedContext

logger = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "checkpoint-"
TRAINER_STATE_FILE = "trainer_state.pt"
TRAINER_STATE_JSON = "trainer_state.json"
TOKENIZER_SUBDIR = "tokenizer"  # Gr00tPolicy.from_pretrained looks for <checkpoint>/tokenizer


def list_checkpoints(output_dir: Path) -> list[tuple[int, Path]]:
    """Complete ``checkpoint-<step>`` directories (with trainer state), oldest first."""
    found = []
    if output_dir.is_dir():
        for path in output_dir.iterdir():
            match = re.fullmatch(rf"{CHECKPOINT_PREFIX}(\d+)", path.name)
            if match and path.is_dir() and (path / TRAINER_STATE_FILE).is_file():
                found.append((int(match.group(1)), path))
    return sorted(found)


def latest_checkpoint(output_dir: Path) -> Path | None:
    checkpoints = list_checkpoints(output_dir)
    return checkpoints[-1][1] if checkpoints else None


def checkpoint_to_resume(output_dir: Path, resume: bool, dist: DistributedContext) -> Path | None:
    """The checkpoint a run continues from: the newest in ``output_dir`` when ``resume``, else None.

    Refuses to start afresh over existing checkpoints (they would be mixed with the new run's).
    Under DDP rank 0 picks the checkpoint and every rank gets that one.
    """
    if not resume:
        if list_checkpoints(output_dir):
            raise FileExistsError(
                f"{output_dir} already holds checkpoints ({latest_checkpoint(output_dir)}); "
                "pass resume=True (--resume) to continue, or choose another output directory"
            )
        return None
    checkpoint = dist.broadcast(latest_checkpoint(output_dir) if dist.is_main else None)
    if checkpoint is None:
        logger.warning("resume requested but %s has no checkpoint; starting fresh", output_dir)
    return checkpoint


def write_model(
    model: nn.Module, directory: Path, metadata: Mapping[str, Any], save_dtype: str, tokenizer_dir: Path | None
) -> None:
    """The model in the HF layout, with its tokenizer files so that it loads on its own."""
    save_checkpoint(model, directory, metadata=metadata, dtype=SAVE_DTYPES[save_dtype])
    if tokenizer_dir is not None:
        shutil.copytree(tokenizer_dir, directory / TOKENIZER_SUBDIR, dirs_exist_ok=True)


def write_checkpoint(
    final: Path,
    write_model_to: Callable[[Path], None],
    trainer_state: Mapping[str, Any],
    summary: Mapping[str, Any],
    save_total_limit: int | None,
) -> None:
    """Write ``final`` (a ``checkpoint-<step>`` directory) atomically, then prune the oldest beyond the limit.

    ``trainer_state`` goes to ``trainer_state.pt`` (what a resumed run needs), ``summary`` to the
    human-readable ``trainer_state.json``.
    """
    staging = final.parent / f".{final.name}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    write_model_to(staging)
    torch.save(dict(trainer_state), staging / TRAINER_STATE_FILE)
    (staging / TRAINER_STATE_JSON).write_text(json.dumps(summary, indent=2) + "\n")
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    if save_total_limit is not None:
        for _, old in list_checkpoints(final.parent)[:-save_total_limit]:
            shutil.rmtree(old, ignore_errors=True)


def load_trainer_state(checkpoint: Path) -> dict[str, Any]:
    """The trainer state saved with ``checkpoint`` (optimizer, schedule, RNG states, config)."""
    return torch.load(checkpoint / TRAINER_STATE_FILE, map_location="cpu", weights_only=False)


def saved_settings(state: Mapping[str, Any]) -> dict[str, Any]:
    """The config a checkpoint was trained with; a setting newer than the checkpoint had its default there."""
    return {**{f.name: f.default for f in dataclasses.fields(FinetuneConfig)}, **state.get("config", {})}


def resume_changes(state: Mapping[str, Any], config: FinetuneConfig, world_size: int) -> dict[str, tuple[Any, Any]]:
    """Settings (and the world size) that differ from the checkpoint's: ``{name: (saved, now)}``.

    A resumed run with any of these changed still works but does not match an uninterrupted one.
    """
    saved = saved_settings(state)
    changed = {k: (saved[k], getattr(config, k)) for k in RESUME_SENSITIVE_SETTINGS if saved[k] != getattr(config, k)}
    saved_world = int(state.get("world_size", 1))
    if saved_world != world_size:
        changed["world_size"] = (saved_world, world_size)
    return changed
