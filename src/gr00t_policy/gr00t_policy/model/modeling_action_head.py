"""System 1 of GR00T N1: the flow-matching action head (``flow_matching_action_head.py``).

Token sequence per denoising step (doc §3.3)::

    [StateEnc[e](state), ActEnc[e](x_tau, bucket) + PosEmb[0:16]] -> DiT -> ActDec[e] -> last 16 = velocity

Flow-matching conventions (doc §4): tau = 0 is noise, tau = 1 is data; ``x_tau = (1-tau) eps + tau a``;
target velocity ``a - eps``; the integer bucket ``floor(tau * 1000)`` conditions both the action
encoder and the DiT. Inference integrates K Euler steps from tau = 0.

The naive sampler (:meth:`FlowMatchingActionHead.sample_naive`) mirrors the original ``get_action``.
The fast one (:meth:`FlowMatchingActionHead.sample_cached`) takes a :class:`GoalKV` (the goal's
cross-attention K/V, computed once per goal) and a :class:`DenoisingPlan` (everything that depends
only on the step index and the embodiment, computed once), and produces the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .configuration_gr00t_n1 import ActionHeadConfig
from .modeling_dit import DiT, StepModulation


class CategorySpecificLinear(nn.Module):
    """One linear layer per embodiment: ``y = x @ W[e] + b[e]``.

    ``W`` is stored **input-major** [C, in, out] (not nn.Linear's [out, in]) as in the checkpoint.
    """

    def __init__(self, num_categories: int, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.W = nn.Parameter(0.02 * torch.randn(num_categories, in_dim, out_dim))
        self.b = nn.Parameter(torch.zeros(num_categories, out_dim))

    def forward(self, x: torch.Tensor, cat_ids: torch.Tensor) -> torch.Tensor:
        """x (B, T, in), cat_ids (B,) -> (B, T, out); embodiments may differ within the batch."""
        return torch.bmm(x, self.W[cat_ids]) + self.b[cat_ids].unsqueeze(1)

    def for_category(self, category: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Views (no copy) of one embodiment's (W (in, out), b (out,))."""
        return self.W[category], self.b[category]


class CategorySpecificMLP(nn.Module):
    """``layer2(relu(layer1(x)))`` with per-embodiment layers."""

    def __init__(self, num_categories: int, in_dim: int, hidden_dim: int, out_dim: int) -> None:
        super().__init__()
        self.layer1 = CategorySpecificLinear(num_categories, in_dim, hidden_dim)
        self.layer2 = CategorySpecificLinear(num_categories, hidden_dim, out_dim)

    def forward(self, x: torch.Tensor, cat_ids: torch.Tensor) -> torch.Tensor:
        return self.layer2(F.relu(self.layer1(x, cat_ids)), cat_ids)

    def forward_category(self, x: torch.Tensor, category: int) -> torch.Tensor:
        """Same with one embodiment for the whole batch: plain matmuls on weight views."""
        w1, b1 = self.layer1.for_category(category)
        w2, b2 = self.layer2.for_category(category)
        return torch.addmm(b2, F.relu(torch.addmm(b1, x.flatten(0, -2), w1)), w2).view(*x.shape[:-1], -1)


def action_sinusoid(buckets: torch.Tensor, dim: int) -> torch.Tensor:
    """Action-encoder time encoding, SIN first: ``[sin(b f), cos(b f)]``, ``f_i = exp(-i ln(1e4)/(dim/2))``.

    buckets: (B, T) integers -> (B, T, dim) float32. Computed exactly as the original
    ``SinusoidalPositionalEncoding`` (float32, same operation order).
    """
    half = dim // 2
    exponent = -torch.arange(half, dtype=torch.float32, device=buckets.device) * (
        torch.log(torch.tensor(10000.0)) / half
    )
    freqs = buckets.float().unsqueeze(-1) * exponent.exp()
    return torch.cat([torch.sin(freqs), torch.cos(freqs)], dim=-1)


class MultiEmbodimentActionEncoder(nn.Module):
    """``W3(swish(W2(cat[W1(x), sinusoid(bucket)])))`` per embodiment (doc §3.2)."""

    def __init__(self, action_dim: int, hidden_size: int, num_embodiments: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.W1 = CategorySpecificLinear(num_embodiments, action_dim, hidden_size)
        self.W2 = CategorySpecificLinear(num_embodiments, 2 * hidden_size, hidden_size)
        self.W3 = CategorySpecificLinear(num_embodiments, hidden_size, hidden_size)

    def forward(self, actions: torch.Tensor, buckets: torch.Tensor, cat_ids: torch.Tensor) -> torch.Tensor:
        """actions (B, H, action_dim), buckets (B,) ints, cat_ids (B,) -> (B, H, hidden)."""
        b, h, _ = actions.shape
        a_emb = self.W1(actions, cat_ids)
        tau_emb = action_sinusoid(buckets.unsqueeze(1).expand(b, h), self.hidden_size).to(a_emb.dtype)
        x = F.silu(self.W2(torch.cat([a_emb, tau_emb], dim=-1), cat_ids))
        return self.W3(x, cat_ids)


@dataclass
class EulerStepRecord:
    """Intermediates of one Euler step (for parity checks; only kept when asked for)."""

    bucket: int
    temb: torch.Tensor | None
    action_encoder_out: torch.Tensor
    dit_input: torch.Tensor
    dit_output: torch.Tensor
    velocity: torch.Tensor
    x_after: torch.Tensor


@dataclass
class SamplerOutput:
    actions: torch.Tensor  # (B, horizon, action_dim), normalised, padded dims included
    state_features: torch.Tensor  # (B, 1, input_embedding_dim)
    steps: list[EulerStepRecord] = field(default_factory=list)


@dataclass
class GoalKV:
    """Cross-attention K/V of one set of goal tokens, one (K, V) pair per cross-attention block.

    Each tensor is (B, heads, T, head_dim). Valid for the weights it was computed with.
    """

    kv: list[tuple[torch.Tensor, torch.Tensor]]
    batch_size: int


@dataclass
class DenoisingPlan:
    """Constants of a fixed K-step Euler schedule for one embodiment, computed once per policy.

    Weights are frozen at inference, so everything below depends only on the step index and the
    embodiment; the per-step work left is what depends on x and the state.

    * ``modulations``: per step, the DiT timestep embedding and every AdaLN (scale, shift).
    * Action encoder ``W3(swish(W2(cat[W1 x + b1, p_k])))``: W2 splits into an action half and a
      time half; the time half ``p_k @ W2_time`` is one constant row per step, and the action half
      composes with W1 into one (action_dim, D) matrix, so ``encoder_in_weight`` = W1 W2_act and
      ``encoder_in_bias[k]`` = b1 W2_act + p_k W2_time + b2. The position embedding folds into
      ``encoder_out_bias`` = b3 + PosEmb[0:H].
    * Decoder: ``proj_out_2`` (no activation after it) composes with the decoder's first layer:
      ``decoder_in_weight`` = proj_out_2.W^T Wd1, ``decoder_in_bias`` = proj_out_2.b Wd1 + bd1;
      the Euler step size dt is folded into the last layer, so ``x += dt v`` is one matmul.
    * ``fused_qkv``: concatenated Q/K/V weights of the self-attention blocks, only for small DiTs
      (see :data:`FUSED_QKV_MAX_BYTES`).

    The compositions change rounding only (~1e-7 relative); tests check against the naive sampler.
    """

    num_steps: int
    embodiment_id: int
    buckets: list[int]
    dt: float
    modulations: list[StepModulation]
    encoder_in_weight: torch.Tensor  # (action_dim, D)
    encoder_in_bias: list[torch.Tensor]  # per step (1, D)
    encoder_out_weight: torch.Tensor  # (D, D), a view of W3[e]
    encoder_out_bias: torch.Tensor  # (H, D)
    decoder_in_weight: torch.Tensor  # (D, hidden)
    decoder_in_bias: torch.Tensor  # (hidden,)
    decoder_out_weight: torch.Tensor  # (hidden, action_dim), scaled by dt (Euler step folded in)
    decoder_out_bias: torch.Tensor  # (action_dim,), scaled by dt
    fused_qkv: dict[int, tuple[torch.Tensor, torch.Tensor]]
    dtype: torch.dtype
    device: torch.device


# Small DiTs are bound by per-call overhead on CPU, where one QKV matmul instead of three pays;
# large ones are bound by weight bandwidth, where it gains nothing and would copy those weights
# (226 MB for the real size in fp32). Fuse only below this many bytes of copied weights.
FUSED_QKV_MAX_BYTES = 32 * 2**20


def inpaint_euler_update(
    x: torch.Tensor,
    x_next: torch.Tensor,
    tau: float,
    dt: float,
    prefix: torch.Tensor,
    weights: torch.Tensor,
) -> torch.Tensor:
    """Soft-inpainting real-time-chunking guidance on one Euler step (Black et al. 2025, simplified).

    With ``x_next = x + dt v`` the unguided step, the model's estimate of the final action is
    ``x1_hat = x + (1 - tau) v``; the guided velocity ``v + W (Y - x1_hat) / (1 - tau)`` moves that
    estimate a fraction W of the way to the prefix Y. With W = 1 it is exactly the straight path to
    Y, so after the last step the output equals Y; with W = 0 the step is returned unchanged (bit
    for bit: the correction is an exact zero). The gain 1/(1 - tau) is at most K because the
    sampler stops at tau = 1 - 1/K, so no further clipping is needed for stability. This drops the
    paper's Jacobian term (its guided VJP): unweighted steps react to the prefix only through the
    DiT's attention on the guided x, at no extra cost (no backward pass).

    Args:
        x / x_next: (B, H, A) or (B*H, A) state before and after the unguided step.
        prefix: Y, same shape, normalised action space; weights: broadcastable to it, in [0, 1].
    """
    velocity_to_estimate = (1.0 - tau) / dt
    x1_hat = x + (x_next - x) * velocity_to_estimate
    return x_next + weights * (prefix - x1_hat) * (dt / (1.0 - tau))


def euler_buckets(num_steps: int, num_buckets: int = 1000) -> list[int]:
    """Buckets visited by the K-step sampler: ``int(k / K * 1000)`` (0, 250, 500, 750 for K = 4)."""
    return [int((k / num_steps) * num_buckets) for k in range(num_steps)]


class FlowMatchingActionHead(nn.Module):
    """``action_head``: state/action encoders, DiT, decoder, position embedding (doc §3)."""

    def __init__(self, config: ActionHeadConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.model = DiT(c.dit)
        self.state_encoder = CategorySpecificMLP(
            c.max_num_embodiments, c.max_state_dim, c.hidden_size, c.input_embedding_dim
        )
        self.action_encoder = MultiEmbodimentActionEncoder(c.action_dim, c.input_embedding_dim, c.max_num_embodiments)
        self.action_decoder = CategorySpecificMLP(c.max_num_embodiments, c.hidden_size, c.hidden_size, c.action_dim)
        if not c.add_pos_embed:
            raise NotImplementedError("GR00T N1 always adds the action position embedding")
        self.position_embedding = nn.Embedding(c.max_seq_len, c.input_embedding_dim)
        nn.init.normal_(self.position_embedding.weight, mean=0.0, std=0.02)

    @property
    def dtype(self) -> torch.dtype:
        return self.position_embedding.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.position_embedding.weight.device

    # ------------------------------------------------------------------------ shared pieces
    def encode_state(self, state: torch.Tensor, embodiment_id: torch.Tensor) -> torch.Tensor:
        """state (B, 1, max_state_dim) -> (B, 1, input_embedding_dim)."""
        return self.state_encoder(state.to(self.dtype), embodiment_id)

    def velocity(
        self,
        x: torch.Tensor,
        buckets: torch.Tensor,
        state_features: torch.Tensor,
        goal_tokens: torch.Tensor,
        embodiment_id: torch.Tensor,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Naive one-step velocity. x (B, H, A), buckets (B,) ints -> ((B, H, A), intermediates)."""
        horizon = x.shape[1]
        action_features = self.action_encoder(x, buckets, embodiment_id)
        pos = self.position_embedding.weight[:horizon].unsqueeze(0)
        sa_embs = torch.cat([state_features, action_features + pos], dim=1)
        dit_out = self.model(sa_embs, goal_tokens.to(self.dtype), buckets)
        decoded = self.action_decoder(dit_out, embodiment_id)
        return decoded[:, -horizon:], {
            "action_encoder_out": action_features,
            "dit_input": sa_embs,
            "dit_output": dit_out,
            "decoded": decoded,
        }

    # ------------------------------------------------------------------------ training loss
    def sample_tau(self, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """tau = (s - u) / s with u ~ Beta(alpha, beta): the noisy end (small tau) is favoured."""
        alpha, beta = self.config.noise_beta_alpha, self.config.noise_beta_beta
        uniform = torch.rand(batch_size, generator=generator, device=self.device)
        # Inverse-CDF draws accept a generator (torch's Beta sampler does not); exact when one
        # Beta parameter is 1, which is the GR00T N1 setting (1.5, 1.0).
        if beta == 1.0:
            u = uniform.pow(1.0 / alpha)
        elif alpha == 1.0:
            u = 1.0 - uniform.pow(1.0 / beta)
        else:
            if generator is not None:
                raise ValueError("a generator is only supported when one Beta parameter is 1")
            u = torch.distributions.Beta(alpha, beta).sample((batch_size,)).to(self.device)
        return (self.config.noise_s - u) / self.config.noise_s

    def flow_matching_loss(
        self,
        goal_tokens: torch.Tensor,
        state: torch.Tensor,
        action: torch.Tensor,
        action_mask: torch.Tensor,
        embodiment_id: torch.Tensor,
        *,
        noise: torch.Tensor | None = None,
        tau: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        """Masked flow-matching MSE (doc §4.2): ``sum((v - (a - eps))^2 m) / sum(m)``.

        Args:
            goal_tokens: (B, T, D) backbone features.
            state: (B, 1, max_state_dim); action (B, H, action_dim) normalised and zero-padded;
            action_mask: (B, H, action_dim) true on real dims; embodiment_id (B,).
            noise / tau: fixed draws for reproducibility (default: sampled with ``generator``).
        """
        b = action.shape[0]
        action = action.to(self.dtype)
        if noise is None:
            noise = torch.randn(action.shape, generator=generator, device=action.device, dtype=action.dtype)
        if tau is None:
            tau = self.sample_tau(b, generator)
        noise = noise.to(self.dtype)
        tau = tau.to(self.dtype)
        t = tau[:, None, None]
        noisy = (1 - t) * noise + t * action
        target = action - noise
        buckets = (tau * self.config.num_timestep_buckets).long()  # truncation, as the original
        state_features = self.encode_state(state, embodiment_id)
        pred, inter = self.velocity(noisy, buckets, state_features, goal_tokens, embodiment_id)
        mask = action_mask.to(pred.dtype)
        loss = ((pred - target) ** 2 * mask).sum() / mask.sum()
        return {
            "loss": loss,
            "t_bucket": buckets,
            "noisy_trajectory": noisy,
            "target_velocity": target,
            "pred_velocity": pred,
            "action_decoder_output_full": inter["decoded"],
        }

    # ------------------------------------------------------------------------ samplers
    def _initial_noise(
        self, batch_size: int, noise: torch.Tensor | None, generator: torch.Generator | None
    ) -> torch.Tensor:
        shape = (batch_size, self.config.action_horizon, self.config.action_dim)
        if noise is None:
            # Drawn on the generator's device (CPU for a plain torch.Generator()), then moved: a seed
            # gives the same noise whatever device the model runs on, and a CPU generator works
            # with a CUDA model (torch.randn refuses a generator of another device).
            where = generator.device if generator is not None else self.device
            noise = torch.randn(shape, generator=generator, device=where, dtype=torch.float32)
            return noise.to(device=self.device, dtype=self.dtype)
        if tuple(noise.shape) != shape:
            raise ValueError(f"initial noise must have shape {shape}, got {tuple(noise.shape)}")
        return noise.to(device=self.device, dtype=self.dtype)

    def resolve_num_steps(self, num_steps: int | None) -> int:
        steps = self.config.num_inference_timesteps if num_steps is None else int(num_steps)
        if steps < 1:
            raise ValueError(f"number of denoising steps must be >= 1, got {steps}")
        return steps

    def _guidance_inputs(
        self, batch_size: int, prefix: torch.Tensor | None, prefix_weights: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Check and broadcast RTC guidance inputs to (B, H, A) in the model dtype, or None.

        ``prefix``: (H, A) or (B, H, A) target in the normalised action space; ``prefix_weights``:
        per step (H,), per step and dim (H, A), or (B, H, A), in [0, 1] (values outside are
        clipped: a weight above 1 would overshoot the target).
        """
        if prefix is None and prefix_weights is None:
            return None
        if prefix is None or prefix_weights is None:
            raise ValueError("RTC guidance needs both prefix and prefix_weights")
        shape = (batch_size, self.config.action_horizon, self.config.action_dim)
        weights = prefix_weights.to(device=self.device, dtype=self.dtype)
        if weights.dim() == 1:
            weights = weights[:, None]
        try:
            target = torch.broadcast_to(prefix.to(device=self.device, dtype=self.dtype), shape)
            weights = torch.broadcast_to(weights, shape)
        except RuntimeError:
            raise ValueError(
                f"RTC prefix {tuple(prefix.shape)} / weights {tuple(prefix_weights.shape)} do not fit the "
                f"chunk {shape} (prefix (H, A) or (B, H, A); weights (H,), (H, A) or (B, H, A))"
            ) from None
        if not (torch.isfinite(target).all() and torch.isfinite(weights).all()):
            raise ValueError("RTC prefix and weights must be finite")
        return target, weights.clamp(0.0, 1.0)

    @torch.no_grad()
    def sample_naive(
        self,
        goal_tokens: torch.Tensor,
        state: torch.Tensor,
        embodiment_id: torch.Tensor,
        *,
        num_steps: int | None = None,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        record_steps: bool = False,
        prefix: torch.Tensor | None = None,
        prefix_weights: torch.Tensor | None = None,
    ) -> SamplerOutput:
        """K-step Euler integration exactly as the original ``get_action`` (doc §4.3).

        goal_tokens (B, T, D), state (B, 1, max_state_dim), embodiment_id (B,) -> actions (B, H, A).
        ``prefix`` / ``prefix_weights``: optional real-time-chunking guidance (see
        :func:`inpaint_euler_update` and :meth:`_guidance_inputs`); without them nothing changes.
        """
        steps = self.resolve_num_steps(num_steps)
        b = state.shape[0]
        x = self._initial_noise(b, noise, generator)
        guidance = self._guidance_inputs(b, prefix, prefix_weights)
        state_features = self.encode_state(state, embodiment_id)
        dt = 1.0 / steps
        records: list[EulerStepRecord] = []
        for k, bucket in enumerate(euler_buckets(steps, self.config.num_timestep_buckets)):
            buckets = torch.full((b,), bucket, dtype=torch.long, device=x.device)
            v, inter = self.velocity(x, buckets, state_features, goal_tokens, embodiment_id)
            x_next = x + dt * v
            x = x_next if guidance is None else inpaint_euler_update(x, x_next, k / steps, dt, *guidance)
            if record_steps:
                records.append(
                    EulerStepRecord(
                        bucket=bucket,
                        temb=self.model.timestep_encoder(buckets),
                        action_encoder_out=inter["action_encoder_out"],
                        dit_input=inter["dit_input"],
                        dit_output=inter["dit_output"],
                        velocity=v,
                        x_after=x,
                    )
                )
        return SamplerOutput(actions=x, state_features=state_features, steps=records)

    @torch.no_grad()
    def prepare_goal_kv(self, goal_tokens: torch.Tensor) -> GoalKV:
        """Goal tokens (B, T, D) -> cross-attention K/V for every cross block (once per goal)."""
        return GoalKV(kv=self.model.precompute_goal_kv(goal_tokens.to(self.dtype)), batch_size=goal_tokens.shape[0])

    @torch.no_grad()
    def build_plan(self, num_steps: int | None, embodiment_id: int, *, fuse_qkv: bool | None = None) -> DenoisingPlan:
        """Precompute the step-only constants of the K-step schedule for one embodiment."""
        steps = self.resolve_num_steps(num_steps)
        e = int(embodiment_id)
        if not 0 <= e < self.config.max_num_embodiments:
            raise ValueError(f"embodiment_id {e} outside [0, {self.config.max_num_embodiments})")
        buckets = euler_buckets(steps, self.config.num_timestep_buckets)
        d = self.config.input_embedding_dim
        enc = self.action_encoder
        w1, b1 = enc.W1.for_category(e)
        w2, b2 = enc.W2.for_category(e)
        w3, b3 = enc.W3.for_category(e)
        w2_action, w2_time = w2[:d], w2[d:]
        encoder_in_bias = []
        for bucket in buckets:
            p = action_sinusoid(torch.tensor([[bucket]], device=self.device), d)[0].to(self.dtype)
            encoder_in_bias.append(b1[None] @ w2_action + p @ w2_time + b2)
        wd1, bd1 = self.action_decoder.layer1.for_category(e)
        wd2, bd2 = self.action_decoder.layer2.for_category(e)
        proj = self.model.proj_out_2
        dit = self.model
        if fuse_qkv is None:
            self_blocks = sum(not b.cross_attention for b in dit.transformer_blocks)
            fuse_qkv = self_blocks * 3 * d * d * proj.weight.element_size() <= FUSED_QKV_MAX_BYTES
        horizon = self.config.action_horizon
        return DenoisingPlan(
            num_steps=steps,
            embodiment_id=e,
            buckets=buckets,
            dt=1.0 / steps,
            modulations=[dit.precompute_modulation(b, self.device, self.dtype) for b in buckets],
            encoder_in_weight=w1 @ w2_action,
            encoder_in_bias=encoder_in_bias,
            encoder_out_weight=w3,
            encoder_out_bias=b3 + self.position_embedding.weight[:horizon],
            decoder_in_weight=proj.weight.t() @ wd1,
            decoder_in_bias=proj.bias @ wd1 + bd1,
            decoder_out_weight=wd2 * (1.0 / steps),
            decoder_out_bias=bd2 * (1.0 / steps),
            fused_qkv=dit.fused_self_attention_qkv() if fuse_qkv else {},
            dtype=self.dtype,
            device=self.device,
        )

    @torch.no_grad()
    def sample_cached(
        self,
        goal_kv: GoalKV,
        state: torch.Tensor,
        plan: DenoisingPlan,
        *,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        prefix: torch.Tensor | None = None,
        prefix_weights: torch.Tensor | None = None,
    ) -> SamplerOutput:
        """Fast Euler sampler: same result as :meth:`sample_naive` for one embodiment.

        Reuses the goal K/V (computed once per goal) and the plan (once per schedule); per step it
        runs the action encoder (two matmuls), the DiT with cached K/V and modulation, and the
        decoder on the action tokens only. ``prefix`` / ``prefix_weights`` add real-time-chunking
        guidance exactly as in :meth:`sample_naive` (a few element-wise ops per step).
        """
        if plan.dtype != self.dtype or plan.device != self.device:
            raise ValueError("denoising plan was built for another dtype/device; rebuild it")
        b = state.shape[0]
        kv = goal_kv.kv
        if goal_kv.batch_size != b:
            if goal_kv.batch_size != 1:
                raise ValueError(f"goal K/V batch {goal_kv.batch_size} does not match state batch {b}")
            kv = [(k.expand(b, -1, -1, -1), v.expand(b, -1, -1, -1)) for k, v in kv]  # one goal, many states
        x = self._initial_noise(b, noise, generator)
        guidance = self._guidance_inputs(b, prefix, prefix_weights)
        state_features = self.state_encoder.forward_category(state.to(self.dtype), plan.embodiment_id)
        horizon, action_dim = x.shape[1], x.shape[2]
        # 2-D (B*H, features) views so every linear layer is one addmm with its bias fused.
        x2d = x.reshape(b * horizon, action_dim)
        encoder_out_bias = plan.encoder_out_bias.repeat(b, 1)
        if guidance is not None:
            guidance = (guidance[0].reshape(b * horizon, action_dim), guidance[1].reshape(b * horizon, action_dim))
        for k, (encoder_in_bias, modulation) in enumerate(zip(plan.encoder_in_bias, plan.modulations, strict=True)):
            hidden = F.silu(torch.addmm(encoder_in_bias, x2d, plan.encoder_in_weight))
            action_tokens = torch.addmm(encoder_out_bias, hidden, plan.encoder_out_weight)
            features = self.model.forward_cached(
                torch.cat([state_features, action_tokens.view(b, horizon, -1)], dim=1),
                kv,
                modulation,
                fused_qkv=plan.fused_qkv,
                keep_last=horizon,
                project=False,
            )
            decoded = F.relu(
                torch.addmm(plan.decoder_in_bias, features.reshape(b * horizon, -1), plan.decoder_in_weight)
            )
            # x + dt * v, with dt folded into the decoder's last layer.
            x_next = torch.addmm(x2d, decoded, plan.decoder_out_weight).add_(plan.decoder_out_bias)
            if guidance is not None:
                x_next = inpaint_euler_update(x2d, x_next, k / plan.num_steps, plan.dt, *guidance)
            x2d = x_next
        x = x2d.view(b, horizon, action_dim)
        return SamplerOutput(actions=x, state_features=state_features)
