"""The whole GR00T N1 model: ``backbone`` (System 2) + ``action_head`` (System 1).

State-dict keys equal the reference checkpoint's (``backbone.*``, ``action_head.*``; no ``model.``
prefix), so ``Gr00tN1Model(get_preset("gr00t_n1_2b")).state_dict()`` lists exactly the 802 names
and shapes of ``src/gr00t_policy/test/data/reference/gr00t_n1_2b_state_dict.json``.
"""

from __future__ import annotations

import torch
from torch import nn

from .configuration_gr00t_n1 import Gr00tN1Config
from .modeling_action_head import FlowMatchingActionHead, SamplerOutput
from .modeling_backbone import BackboneOutput, EagleBackbone

# Keys present in the released checkpoint but not used by N1 (a detection head, doc §10).
IGNORED_CHECKPOINT_KEY_PREFIXES = ("action_head.decode_layer.",)


class Gr00tN1Model(nn.Module):
    def __init__(self, config: Gr00tN1Config) -> None:
        super().__init__()
        self.config = config
        self.backbone = EagleBackbone(config.backbone)
        self.action_head = FlowMatchingActionHead(config.action_head)

    @property
    def dtype(self) -> torch.dtype:
        return self.action_head.dtype

    @property
    def device(self) -> torch.device:
        return self.action_head.device

    def encode_goal(
        self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> BackboneOutput:
        """System 2: images + prompt -> goal tokens (B, T, D) and mask (B, T)."""
        return self.backbone(pixel_values, input_ids, attention_mask)

    @torch.no_grad()
    def get_action(
        self,
        pixel_values: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        state: torch.Tensor,
        embodiment_id: torch.Tensor,
        *,
        num_steps: int | None = None,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> SamplerOutput:
        """Original ``GR00T_N1.get_action``: backbone once, then the naive K-step Euler sampler."""
        goal = self.backbone(pixel_values, input_ids, attention_mask)
        return self.action_head.sample_naive(
            goal.features, state, embodiment_id, num_steps=num_steps, noise=noise, generator=generator
        )

    def forward(
        self,
        pixel_values: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        state: torch.Tensor,
        action: torch.Tensor,
        action_mask: torch.Tensor,
        embodiment_id: torch.Tensor,
        *,
        noise: torch.Tensor | None = None,
        tau: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        """Training forward (original ``GR00T_N1.forward``): returns the flow-matching loss and its parts."""
        goal = self.backbone(pixel_values, input_ids, attention_mask)
        out = self.action_head.flow_matching_loss(
            goal.features,
            state,
            action,
            action_mask,
            embodiment_id,
            noise=noise,
            tau=tau,
            generator=generator,
        )
        out["backbone_features"] = goal.features
        return out
