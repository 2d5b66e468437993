"""The cross-attention DiT of the GR00T N1 action head (``gr00t/model/action_head/cross_attention_dit.py``).

Parameter names equal the original (diffusers-based) ones::

    timestep_encoder.timestep_embedder.linear_{1,2}
    transformer_blocks.{i}.norm1.linear              AdaLayerNorm: (scale, shift), scale FIRST
    transformer_blocks.{i}.attn1.to_{q,k,v}, to_out.0
    transformer_blocks.{i}.ff.net.0.proj, ff.net.2   GELU(tanh) feed-forward
    proj_out_1                                       output modulation: (shift, scale), shift FIRST
    proj_out_2

Even blocks cross-attend to the goal tokens, odd blocks self-attend among the 17 state/action
tokens; there are no masks anywhere (doc §3.4).

Two ways to run it:

* :meth:`DiT.forward` -- the naive path, as the original: everything from the inputs.
* :meth:`DiT.forward_cached` -- the fast path used by the sampler. The goal tokens change at
  ~10 Hz while System 1 runs far more often, so their K/V projections are computed once per goal
  (:meth:`DiT.precompute_goal_kv`); and with a fixed Euler schedule the timestep embedding and every
  AdaLN modulation depend only on the step index, so they are computed once per schedule
  (:meth:`DiT.precompute_modulation`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .configuration_gr00t_n1 import DiTConfig


def timestep_sinusoid(buckets: torch.Tensor, dim: int = 256) -> torch.Tensor:
    """diffusers ``Timesteps(dim, flip_sin_to_cos=True, downscale_freq_shift=1)``: COS first.

    ``g_j = exp(-ln(10000) * j / (dim/2 - 1))``; result ``[cos(b g), sin(b g)]`` in float32.
    The input is the integer bucket, not tau.
    """
    half = dim // 2
    exponent = -math.log(10000) * torch.arange(half, dtype=torch.float32, device=buckets.device)
    exponent = exponent / (half - 1)
    freqs = buckets[:, None].float() * torch.exp(exponent)[None, :]
    emb = torch.cat([torch.sin(freqs), torch.cos(freqs)], dim=-1)
    return torch.cat([emb[:, half:], emb[:, :half]], dim=-1)


class TimestepEmbedding(nn.Module):
    """diffusers ``TimestepEmbedding``: linear_1 -> SiLU -> linear_2."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.linear_1 = nn.Linear(in_dim, out_dim)
        self.act = nn.SiLU()
        self.linear_2 = nn.Linear(out_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.act(self.linear_1(x)))


class TimestepEncoder(nn.Module):
    """Integer bucket (B,) -> temb (B, inner_dim)."""

    def __init__(self, sinusoid_dim: int, embedding_dim: int) -> None:
        super().__init__()
        self.sinusoid_dim = sinusoid_dim
        self.timestep_embedder = TimestepEmbedding(sinusoid_dim, embedding_dim)

    def forward(self, buckets: torch.Tensor) -> torch.Tensor:
        proj = timestep_sinusoid(buckets, self.sinusoid_dim)
        return self.timestep_embedder(proj.to(self.timestep_embedder.linear_1.weight.dtype))


class AdaLayerNorm(nn.Module):
    """``LN(x; no affine) * (1 + scale) + shift`` with ``(scale, shift) = linear(SiLU(temb))``."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.silu = nn.SiLU()
        self.linear = nn.Linear(dim, dim * 2)
        self.norm = nn.LayerNorm(dim, eps=eps, elementwise_affine=False)

    def modulation(self, temb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, D) -> (scale, shift), each (B, 1, D). Scale is the FIRST half in GR00T N1."""
        scale, shift = self.linear(self.silu(temb)).chunk(2, dim=1)
        return scale[:, None], shift[:, None]

    def modulate(self, x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        return self.norm(x) * (1 + scale) + shift

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        scale, shift = self.modulation(temb)
        return self.modulate(x, scale, shift)


class Attention(nn.Module):
    """diffusers ``Attention`` as configured by GR00T: q/k/v/out with bias, no mask, no norms."""

    def __init__(self, dim: int, heads: int, head_dim: int, dropout: float) -> None:
        super().__init__()
        inner = heads * head_dim
        self.heads = heads
        self.head_dim = head_dim
        self.to_q = nn.Linear(dim, inner)
        self.to_k = nn.Linear(dim, inner)
        self.to_v = nn.Linear(dim, inner)
        self.to_out = nn.ModuleList([nn.Linear(inner, dim), nn.Dropout(dropout)])

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.heads, self.head_dim).transpose(1, 2)

    def key_value(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Project the K/V source (B, T, dim) -> two (B, heads, T, head_dim) tensors."""
        return self._split_heads(self.to_k(context)), self._split_heads(self.to_v(context))

    def attend(self, x: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        query = self._split_heads(self.to_q(x))
        out = F.scaled_dot_product_attention(query, key, value)  # scale 1/sqrt(head_dim), no mask
        out = out.transpose(1, 2).reshape(b, t, self.heads * self.head_dim)
        return self.to_out[1](self.to_out[0](out))

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        key, value = self.key_value(x if context is None else context)
        return self.attend(x, key, value)


class GELUProjection(nn.Module):
    """diffusers ``GELU(dim_in, dim_out, approximate="tanh")``: ``gelu_tanh(proj(x))``."""

    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.proj(x), approximate="tanh")


class FeedForward(nn.Module):
    """``net = [GELU-proj, Dropout, Linear, Dropout(final)]`` (indices match the keys ff.net.0/2)."""

    def __init__(self, dim: int, inner_dim: int, dropout: float, final_dropout: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            GELUProjection(dim, inner_dim),
            nn.Dropout(dropout),
            nn.Linear(inner_dim, dim),
        ]
        if final_dropout:
            layers.append(nn.Dropout(dropout))
        self.net = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.net:
            x = layer(x)
        return x


class BasicTransformerBlock(nn.Module):
    """``x = x + attn1(AdaLN(x, temb), kv); x = x + ff(LN(x))`` (no gates, no norm2)."""

    def __init__(self, config: DiTConfig, cross_attention: bool) -> None:
        super().__init__()
        dim = config.inner_dim
        self.cross_attention = cross_attention
        self.norm1 = AdaLayerNorm(dim, eps=config.norm_eps)
        self.attn1 = Attention(dim, config.num_attention_heads, config.attention_head_dim, config.dropout)
        self.norm3 = nn.LayerNorm(dim, eps=config.norm_eps, elementwise_affine=False)
        self.ff = FeedForward(dim, config.ff_inner_dim, config.dropout, config.final_dropout)
        # GR00T's block applies one more dropout on the attention output when final_dropout is set.
        self.final_dropout = nn.Dropout(config.dropout) if config.final_dropout else nn.Identity()

    def _finish(self, x: torch.Tensor, attn_output: torch.Tensor) -> torch.Tensor:
        x = x + self.final_dropout(attn_output)
        return x + self.ff(self.norm3(x))

    def forward(self, x: torch.Tensor, temb: torch.Tensor, goal_tokens: torch.Tensor) -> torch.Tensor:
        normed = self.norm1(x, temb)
        context = goal_tokens if self.cross_attention else None
        return self._finish(x, self.attn1(normed, context))

    def forward_cached(
        self,
        x: torch.Tensor,
        scale_plus_one: torch.Tensor,
        shift: torch.Tensor,
        goal_kv: tuple[torch.Tensor, torch.Tensor] | None,
        fused_qkv: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Inference-only equivalent of :meth:`forward` (no dropout), written with functional ops.

        System 1 runs tiny matrices (17 tokens), where module-call and dropout overhead are a large
        share of the time, so this path calls the kernels directly on the same parameters.
        ``fused_qkv`` = (W (dim, 3 inner), b (3 inner,)) replaces the three self-attention
        projections by one matmul (see :meth:`DiT.fused_self_attention_qkv`).
        """
        attn = self.attn1
        b, t, dim = x.shape
        heads, head_dim = attn.heads, attn.head_dim
        # LN(x) * (1 + scale) + shift is a layer norm with affine weight (1 + scale) and bias shift.
        normed = F.layer_norm(x, (dim,), scale_plus_one, shift, eps=self.norm1.norm.eps)
        if self.cross_attention:
            query = F.linear(normed, attn.to_q.weight, attn.to_q.bias)
            key, value = goal_kv  # type: ignore[misc]
            query = query.view(b, t, heads, head_dim).transpose(1, 2)
        elif fused_qkv is not None:
            qkv = torch.addmm(fused_qkv[1], normed.reshape(b * t, dim), fused_qkv[0])
            query, key, value = qkv.view(b, t, 3, heads, head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        else:
            query, key, value = (
                F.linear(normed, lin.weight, lin.bias).view(b, t, heads, head_dim).transpose(1, 2)
                for lin in (attn.to_q, attn.to_k, attn.to_v)
            )
        out = F.scaled_dot_product_attention(query, key, value).transpose(1, 2).reshape(b, t, heads * head_dim)
        out_proj = attn.to_out[0]
        x = x + F.linear(out, out_proj.weight, out_proj.bias)
        ff_in, ff_out = self.ff.net[0].proj, self.ff.net[2]
        hidden = F.linear(F.layer_norm(x, (dim,), eps=self.norm3.eps), ff_in.weight, ff_in.bias)
        return x + F.linear(F.gelu(hidden, approximate="tanh"), ff_out.weight, ff_out.bias)


@dataclass
class StepModulation:
    """Everything in the DiT that depends only on the Euler step's timestep bucket.

    The modulations are stored as layer-norm affine parameters (shared by the whole batch, since
    every sample of a chunk is at the same step):
        temb: (1, inner_dim) timestep embedding.
        block_scale_shift: per block, the AdaLN (1 + scale, shift), each (inner_dim,).
        out_shift_scale: the output layer's (shift, 1 + scale), each (inner_dim,).
    """

    temb: torch.Tensor
    block_scale_shift: list[tuple[torch.Tensor, torch.Tensor]]
    out_shift_scale: tuple[torch.Tensor, torch.Tensor]


class DiT(nn.Module):
    """``action_head.model``: 16 AdaLN blocks (real size), interleaved cross/self attention."""

    def __init__(self, config: DiTConfig) -> None:
        super().__init__()
        self.config = config
        dim = config.inner_dim
        self.timestep_encoder = TimestepEncoder(config.timestep_embedding_dim, dim)
        self.transformer_blocks = nn.ModuleList(
            [BasicTransformerBlock(config, cross_attention=(i % 2 == 0)) for i in range(config.num_layers)]
        )
        self.norm_out = nn.LayerNorm(dim, eps=config.output_norm_eps, elementwise_affine=False)
        self.proj_out_1 = nn.Linear(dim, 2 * dim)
        self.proj_out_2 = nn.Linear(dim, config.output_dim)

    @property
    def cross_attention_blocks(self) -> list[int]:
        return [i for i, b in enumerate(self.transformer_blocks) if b.cross_attention]

    def _output(self, x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        return self.proj_out_2(self.norm_out(x) * (1 + scale) + shift)

    def _output_modulation(self, temb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # Shift is the FIRST half here, the opposite of the blocks' AdaLayerNorm.
        shift, scale = self.proj_out_1(F.silu(temb)).chunk(2, dim=1)
        return shift[:, None], scale[:, None]

    def forward(self, hidden_states: torch.Tensor, goal_tokens: torch.Tensor, buckets: torch.Tensor) -> torch.Tensor:
        """Naive path. (B, S, D) tokens, (B, T, D) goal tokens, (B,) int buckets -> (B, S, output_dim)."""
        temb = self.timestep_encoder(buckets)
        x = hidden_states
        for block in self.transformer_blocks:
            x = block(x, temb, goal_tokens)
        shift, scale = self._output_modulation(temb)
        return self._output(x, shift, scale)

    # ------------------------------------------------------------------------ fast path
    def precompute_goal_kv(self, goal_tokens: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """K/V of the goal tokens for every cross-attention block, in block order."""
        return [self.transformer_blocks[i].attn1.key_value(goal_tokens) for i in self.cross_attention_blocks]

    def precompute_modulation(self, bucket: int, device: torch.device, dtype: torch.dtype) -> StepModulation:
        """Timestep embedding and every AdaLN modulation for one integer bucket."""
        temb = self.timestep_encoder(torch.tensor([bucket], device=device, dtype=torch.long)).to(dtype)
        blocks = []
        for block in self.transformer_blocks:
            scale, shift = block.norm1.modulation(temb)
            # Flattened to (inner_dim,) so they can serve as layer-norm affine parameters.
            blocks.append(((1 + scale).flatten(), shift.flatten()))
        out_shift, out_scale = self._output_modulation(temb)
        return StepModulation(
            temb=temb,
            block_scale_shift=blocks,
            out_shift_scale=(out_shift.flatten(), (1 + out_scale).flatten()),
        )

    def fused_self_attention_qkv(self) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
        """Per self-attention block, ``(cat[Wq, Wk, Wv]^T (dim, 3 inner), cat[bq, bk, bv])``.

        A copy of those weights (3 x inner^2 per self-attention block): worth it when the DiT is
        small and call-bound, not when it is large and memory-bound (see DenoisingPlan).
        """
        fused = {}
        for i, block in enumerate(self.transformer_blocks):
            if not block.cross_attention:
                a = block.attn1
                weight = torch.cat([a.to_q.weight, a.to_k.weight, a.to_v.weight], dim=0).t().contiguous()
                fused[i] = (weight, torch.cat([a.to_q.bias, a.to_k.bias, a.to_v.bias]))
        return fused

    def forward_cached(
        self,
        hidden_states: torch.Tensor,
        goal_kv: list[tuple[torch.Tensor, torch.Tensor]],
        modulation: StepModulation,
        *,
        fused_qkv: dict[int, tuple[torch.Tensor, torch.Tensor]] | None = None,
        keep_last: int | None = None,
        project: bool = True,
    ) -> torch.Tensor:
        """Same as :meth:`forward` with precomputed goal K/V and step modulation.

        Args:
            keep_last: only the last ``keep_last`` tokens go through the output layer (the decoder
                reads only the action tokens at inference).
            project: apply ``proj_out_2``; False returns the modulated features before it, so a
                caller can fold ``proj_out_2`` into the next linear layer.
        """
        x = hidden_states
        kv_iter = iter(goal_kv)
        fused_qkv = fused_qkv or {}
        for i, (block, (scale_plus_one, shift)) in enumerate(
            zip(self.transformer_blocks, modulation.block_scale_shift, strict=True)
        ):
            kv = next(kv_iter) if block.cross_attention else None
            x = block.forward_cached(x, scale_plus_one, shift, kv, fused_qkv.get(i))
        if keep_last is not None:
            x = x[:, -keep_last:]
        shift, scale_plus_one = modulation.out_shift_scale
        features = F.layer_norm(x, (x.shape[-1],), scale_plus_one, shift, eps=self.norm_out.eps)
        return self.proj_out_2(features) if project else features
