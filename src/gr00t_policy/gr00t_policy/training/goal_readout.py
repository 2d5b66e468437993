"""Experimental auxiliary loss for fine-tuning: can System 2's goal tokens say where the chunk moves?

The flow-matching loss alone barely asks System 2 to say where to move (the action head reads the
goal tokens with state and noise at hand); a linear readout of the mean goal token can only succeed
if System 2 combines the instruction with the image. Not part of the reference recipe.
"""

from __future__ import annotations

import torch
from torch import nn


class GoalReadout(nn.Module):
    """Training-only auxiliary head: the chunk's motion, linearly, from the mean goal token.

    Experimental, off by default (``FinetuneConfig.goal_readout_weight`` = 0, the reference recipe has
    no such loss); ``gr00t-finetune --goal-readout-weight`` turns it on. Its weights are saved with the
    trainer state (so a run resumes with them), never with the model.

    Deliberately weak (mean pooling, one linear layer): whatever it predicts must already be in the
    goal tokens, so its loss teaches System 2, not itself.
    """

    def __init__(self, token_dim: int, action_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(token_dim, action_dim)

    def loss(
        self, goal_tokens: torch.Tensor, token_mask: torch.Tensor, action: torch.Tensor, action_mask: torch.Tensor
    ) -> torch.Tensor:
        """MSE between the readout and ``action[:, -1] - action[:, 0]`` on the real action dims.

        Args:
            goal_tokens: (B, T, D) backbone features; token_mask: (B, T), true on prompt tokens.
            action / action_mask: (B, H, A) normalised chunk and its mask, as the flow-matching loss gets.
        """
        weights = token_mask.to(goal_tokens.dtype).unsqueeze(-1)
        pooled = (goal_tokens * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        motion = (action[:, -1] - action[:, 0]).to(pooled.dtype)
        mask = action_mask[:, 0].to(pooled.dtype)
        return (((self.linear(pooled) - motion) ** 2) * mask).sum() / mask.sum().clamp(min=1.0)
