"""System 2: the Eagle-2 VLM backbone of GR00T N1, cut at ``select_layer``.

Module tree and parameter names equal the original (``gr00t/model/backbone/eagle_backbone.py``)::

    backbone.model.vision_model.vision_model   SiglipVisionModel (attention-pool head removed)
    backbone.model.mlp1                   Sequential(LayerNorm, Linear, GELU, Linear)
    backbone.model.language_model.model   LlamaModel with only the first select_layer layers
    backbone.linear                       Linear(llm_hidden -> action head input_embedding_dim)

Forward (architecture doc §2.4): SigLIP -> pixel shuffle -> mlp1 -> scatter into the token
embeddings at ``<IMG_CONTEXT>`` positions -> Llama layers (causal + key padding) -> final RMSNorm
-> ``backbone.linear``. The output ("goal tokens") is (B, T, output_dim) with the tokenizer mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import LlamaConfig, LlamaModel, SiglipVisionConfig, SiglipVisionModel

from .configuration_gr00t_n1 import BackboneConfig


def pixel_shuffle(patch_tokens: torch.Tensor, grid: int, ratio: float = 0.5) -> torch.Tensor:
    """InternVL "v2" pixel shuffle of (N, grid*grid, C) patch tokens -> (N, (grid*ratio)^2, C/ratio^2).

    The exact reshape order matters (doc §2.2): output token ``8*i + j`` holds the patches
    (2i, 2j), (2i, 2j+1), (2i+1, 2j), (2i+1, 2j+1) in that channel order.
    """
    n, num_patches, channels = patch_tokens.shape
    if num_patches != grid * grid:
        raise ValueError(f"expected {grid * grid} patch tokens, got {num_patches}")
    x = patch_tokens.reshape(n, grid, grid, channels)  # [n, row, col, c]
    n, w, h, c = x.shape
    # Fold pairs of adjacent columns into channels.
    x = x.view(n, w, int(h * ratio), int(c / ratio))
    x = x.permute(0, 2, 1, 3).contiguous()
    # Fold pairs of adjacent rows into channels.
    x = x.view(n, int(h * ratio), int(w * ratio), int(c / (ratio * ratio)))
    x = x.permute(0, 2, 1, 3).contiguous()
    return x.reshape(n, -1, x.shape[-1])


class LanguageModelWrapper(nn.Module):
    """Holds the truncated ``LlamaModel`` under ``.model`` so keys read ``language_model.model.*``.

    In the original this is a ``LlamaForCausalLM`` whose ``lm_head`` was replaced by Identity; the
    head has no weights, so only the inner model is kept.
    """

    def __init__(self, llama: LlamaModel) -> None:
        super().__init__()
        self.model = llama


class VisionTowerWrapper(nn.Module):
    """Holds the ``SiglipVisionModel`` under ``.vision_model`` so keys read ``vision_model.vision_model.*``.

    In transformers 4.45 (the original) ``SiglipVisionModel`` nested a ``SiglipVisionTransformer``
    under ``vision_model``; transformers 5 flattened that class, so the nesting is restored here to
    keep the reference key names.
    """

    def __init__(self, siglip: SiglipVisionModel) -> None:
        super().__init__()
        self.vision_model = siglip

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> last_hidden_state (N, patches, hidden), post_layernorm applied."""
        return self.vision_model(pixel_values=pixel_values).last_hidden_state


class EagleVLM(nn.Module):
    """``backbone.model``: vision tower, connector and truncated LLM."""

    def __init__(self, config: BackboneConfig) -> None:
        super().__init__()
        v, lm = config.vision, config.llm
        vision_cfg = SiglipVisionConfig(
            hidden_size=v.hidden_size,
            intermediate_size=v.intermediate_size,
            num_hidden_layers=v.num_layers,
            num_attention_heads=v.num_heads,
            num_channels=v.num_channels,
            image_size=v.image_size,
            patch_size=v.patch_size,
            hidden_act=v.hidden_act,
            layer_norm_eps=v.layer_norm_eps,
            attention_dropout=0.0,
            vision_use_head=False,  # GR00T replaces the attention-pool head by Identity
            attn_implementation=config.attn_implementation,
        )
        llm_cfg = LlamaConfig(
            hidden_size=lm.hidden_size,
            intermediate_size=lm.intermediate_size,
            num_hidden_layers=config.select_layer,  # layers past select_layer have no weights
            num_attention_heads=lm.num_heads,
            num_key_value_heads=lm.num_kv_heads,
            hidden_act=lm.hidden_act,
            rms_norm_eps=lm.rms_norm_eps,
            rope_theta=lm.rope_theta,
            max_position_embeddings=lm.max_position_embeddings,
            vocab_size=lm.vocab_size,
            attention_bias=False,
            mlp_bias=False,
            tie_word_embeddings=True,
            bos_token_id=lm.bos_token_id,
            eos_token_id=lm.eos_token_id,
            pad_token_id=lm.pad_token_id,
            attn_implementation=config.attn_implementation,
        )
        self.vision_model = VisionTowerWrapper(SiglipVisionModel(vision_cfg))
        shuffled = config.shuffled_vision_dim
        self.mlp1 = nn.Sequential(
            nn.LayerNorm(shuffled, eps=config.mlp1_layernorm_eps),
            nn.Linear(shuffled, lm.hidden_size),
            nn.GELU(),  # exact erf form, as in InternVL
            nn.Linear(lm.hidden_size, lm.hidden_size),
        )
        self.language_model = LanguageModelWrapper(LlamaModel(llm_cfg))


@dataclass
class BackboneOutput:
    """Goal tokens and, for parity debugging, the intermediate tensors."""

    features: torch.Tensor  # (B, T, output_dim)
    attention_mask: torch.Tensor  # (B, T), 1 = token, 0 = left pad
    vit_last_hidden_state: torch.Tensor | None = None
    vit_pixel_shuffled: torch.Tensor | None = None
    image_embeds: torch.Tensor | None = None
    llm_inputs_embeds: torch.Tensor | None = None
    llm_last_hidden_state: torch.Tensor | None = None


class EagleBackbone(nn.Module):
    """System 2 of GR00T N1: images + prompt ids -> goal tokens (B, T, output_dim)."""

    def __init__(self, config: BackboneConfig) -> None:
        super().__init__()
        self.config = config
        self.model = EagleVLM(config)
        # Output width is a parameter (original: hard-coded 1536) = action head input_embedding_dim.
        self.linear = nn.Linear(config.projector_dim, config.output_dim)

    def encode_images(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(N_img, 3, H, W) -> (SigLIP last_hidden_state, pixel-shuffled, mlp1 tokens (N_img, 64, llm))."""
        dtype = self.linear.weight.dtype
        vit = self.model.vision_model(pixel_values.to(dtype))
        shuffled = pixel_shuffle(vit, self.config.vision.patch_grid, self.config.downsample_ratio)
        return vit, shuffled, self.model.mlp1(shuffled)

    def forward(
        self,
        pixel_values: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        *,
        return_intermediates: bool = False,
    ) -> BackboneOutput:
        """Run System 2.

        Args:
            pixel_values: (N_img, 3, 224, 224) SigLIP-normalised images of all samples, sample 0's
                views first, in view order.
            input_ids: (B, T) prompt ids (left padded) with ``num_image_tokens`` image-context ids
                per view.
            attention_mask: (B, T), 1 on tokens, 0 on left padding.
        """
        vit, shuffled, image_embeds = self.encode_images(pixel_values)
        embed_tokens = self.model.language_model.model.embed_tokens
        inputs_embeds = embed_tokens(input_ids)
        image_positions = input_ids == self.config.image_context_token_id
        num_slots = int(image_positions.sum())
        num_image_tokens = image_embeds.shape[0] * image_embeds.shape[1]
        if num_slots != num_image_tokens:
            raise ValueError(
                f"prompt has {num_slots} image-context tokens (id {self.config.image_context_token_id}) "
                f"but {image_embeds.shape[0]} image(s) give {num_image_tokens} image tokens; "
                "build the prompt with one image block per view"
            )
        # Row-major over the whole batch, images in pixel_values order (original `get_embeddings`).
        inputs_embeds = inputs_embeds.masked_scatter(
            image_positions.unsqueeze(-1), image_embeds.to(inputs_embeds.dtype)
        )
        # No position ids: positions are 0..T-1 for every row, pad positions included (reference).
        llm_out = self.model.language_model.model(
            inputs_embeds=inputs_embeds, attention_mask=attention_mask, use_cache=False
        )
        hidden = llm_out.last_hidden_state  # after the final RMSNorm (HF hidden_states[-1])
        features = self.linear(hidden)
        if not return_intermediates:
            return BackboneOutput(features=features, attention_mask=attention_mask)
        return BackboneOutput(
            features=features,
            attention_mask=attention_mask,
            vit_last_hidden_state=vit,
            vit_pixel_shuffled=shuffled,
            image_embeds=image_embeds,
            llm_inputs_embeds=inputs_embeds,
            llm_last_hidden_state=hidden,
        )
