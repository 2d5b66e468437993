"""Batching training samples into the inputs of :meth:`Gr00tN1Model.forward` (the loss forward)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..model.processing_gr00t_n1 import PromptTokenizer, build_prompt, to_pixel_values


class Gr00tTrainingCollator:
    """List of :class:`~gr00t_policy.training.dataset.Gr00tWindowDataset` items -> model inputs.

    Prompts are built and left-padded exactly as at inference (``build_prompt`` +
    :class:`PromptTokenizer`), tiles are SigLIP-normalised with the processor's bf16 round trip,
    so the model is trained on the same inputs the policy will give it.

    Output keys: ``pixel_values`` (B*V, 3, S, S), ``input_ids`` / ``attention_mask`` (B, T),
    ``state`` (B, 1, max_state_dim), ``action`` / ``action_mask`` (B, H, max_action_dim),
    ``embodiment_id`` (B,).
    """

    def __init__(
        self,
        tokenizer: PromptTokenizer,
        embodiment_id: int,
        *,
        num_image_tokens: int,
        image_size: int,
        instruction_first: bool = False,
    ) -> None:
        self.tokenizer = tokenizer
        self.embodiment_id = int(embodiment_id)
        self.num_image_tokens = int(num_image_tokens)
        self.image_size = int(image_size)
        self.instruction_first = bool(instruction_first)

    def __call__(self, samples: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        tiles = [tile for s in samples for tile in s["images"]]
        prompts = [
            build_prompt(
                s["instruction"], len(s["images"]), self.num_image_tokens, instruction_first=self.instruction_first
            )
            for s in samples
        ]
        tokens = self.tokenizer(prompts)
        return {
            "pixel_values": to_pixel_values(tiles, self.image_size),
            "input_ids": tokens.input_ids,
            "attention_mask": tokens.attention_mask,
            "state": torch.from_numpy(np.stack([s["state"] for s in samples])).unsqueeze(1),
            "action": torch.from_numpy(np.stack([s["action"] for s in samples])),
            "action_mask": torch.from_numpy(np.stack([s["action_mask"] for s in samples])),
            "embodiment_id": torch.full((len(samples),), self.embodiment_id, dtype=torch.long),
        }
