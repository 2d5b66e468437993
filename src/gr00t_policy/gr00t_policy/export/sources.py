"""Policies to export or benchmark: a checkpoint, or a preset with random weights.

System 1 work on the real size does not need the 1.3 B-parameter backbone, so
:func:`system1_policy` builds the real action head next to the small ``demo`` backbone widened to
the head's goal width: the head (and so every exported graph and System 1 timing) is exactly the
preset's, and the model fits in ~3.5 GB of fp32 instead of ~9 GB.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from ..model.configuration_gr00t_n1 import Gr00tN1Config, get_preset
from ..model.embodiments import get_data_config
from ..model.modeling_gr00t_n1 import Gr00tN1Model
from ..model.processing_gr00t_n1 import PromptTokenizer

DEFAULT_EMBODIMENT = "gr1"
DEFAULT_DATA_CONFIG = "gr1_arms_only"


def system1_config(preset: str) -> Gr00tN1Config:
    """``preset``'s action head with the demo backbone projecting to that head's goal width."""
    config = get_preset(preset)
    if preset == "demo":
        return config
    demo_backbone = get_preset("demo").backbone
    backbone = dataclasses.replace(demo_backbone, output_dim=config.action_head.input_embedding_dim)
    return config.copy(backbone=backbone)


def system1_policy(
    preset: str,
    *,
    seed: int = 0,
    embodiment: str = DEFAULT_EMBODIMENT,
    data_config: str = DEFAULT_DATA_CONFIG,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    denoising_steps: int | None = None,
) -> Any:
    """A seeded random-weights policy with ``preset``'s action head (see module doc)."""
    from ..policy import Gr00tPolicy, identity_metadata

    if preset == "demo":
        return Gr00tPolicy.from_preset(
            preset, seed=seed, embodiment=embodiment, data_config=data_config, device=device, dtype=dtype,
            denoising_steps=denoising_steps,
        )  # fmt: skip
    config = system1_config(preset)
    cfg = get_data_config(data_config, embodiment)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Gr00tN1Model(config)
    return Gr00tPolicy(
        model.to(device=device, dtype=dtype),
        tokenizer=PromptTokenizer.for_backbone(config.backbone, None),
        data_config=cfg,
        metadata=identity_metadata(embodiment, cfg),
        model_id=f"{preset}-system1-seed{seed}",
        denoising_steps=denoising_steps,
    )


def load_policy(
    preset: str | None,
    checkpoint: str | Path | None,
    *,
    system1_only: bool = True,
    seed: int = 0,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    denoising_steps: int | None = None,
    tokenizer_dir: str | Path | None = None,
) -> Any:
    """A checkpoint if given, else ``preset`` with random weights (head-only unless ``system1_only`` is False).

    ``tokenizer_dir``: the Eagle-2 tokenizer files, needed for a full ``gr00t_n1_2b`` preset.
    """
    from ..policy import Gr00tPolicy

    if checkpoint is not None:
        return Gr00tPolicy.from_pretrained(checkpoint, device=device, dtype=dtype, denoising_steps=denoising_steps)
    if preset is None:
        raise ValueError("give a preset or a checkpoint")
    if system1_only:
        return system1_policy(preset, seed=seed, device=device, dtype=dtype, denoising_steps=denoising_steps)
    return Gr00tPolicy.from_preset(
        preset, seed=seed, device=device, dtype=dtype, denoising_steps=denoising_steps, tokenizer_dir=tokenizer_dir
    )
