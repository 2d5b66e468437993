"""The reference optimiser and learning-rate schedule (Isaac-GR00T ``gr00t_finetune.py`` via HF Trainer):
AdamW without weight decay on biases and norms, linear warm-up then a cosine down to 0."""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import FinetuneConfig


def build_optimizer(model: nn.Module, config: FinetuneConfig, extra: nn.Module | None = None) -> torch.optim.AdamW:
    """AdamW over trainable parameters; no weight decay on biases and norms (HF Trainer's grouping).

    ``extra``: a training-only module (the goal readout) optimised alongside the model.
    """
    decay, no_decay = [], []
    named = list(model.named_parameters()) + (list(extra.named_parameters(prefix="extra")) if extra else [])
    for name, param in named:
        if not param.requires_grad:
            continue
        leaf = name.rsplit(".", 1)[-1]
        if leaf in ("bias", "b") or "norm" in name.lower():
            no_decay.append(param)
        else:
            decay.append(param)
    return torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=config.learning_rate,
        betas=config.adam_betas,
        eps=config.adam_eps,
    )


def cosine_schedule_with_warmup(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up from 0, then half a cosine down to 0 (transformers' ``get_cosine_schedule_with_warmup``)."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return step / max(1, warmup_steps)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
