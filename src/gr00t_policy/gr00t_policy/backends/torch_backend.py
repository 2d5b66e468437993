"""System 1 on PyTorch: eager on any device, optionally replayed as a CUDA graph on a GPU.

Precision is the policy's: load it with ``dtype=torch.bfloat16, device="cuda"`` for the bf16 path
(the reference's inference setting). CUDA-graph capture removes the per-kernel launch cost, which
dominates a 4-step chunk of ~400 small kernels at batch 1. It needs fixed shapes, so one graph is
captured per goal-token count (a handful in practice: the prompt length varies with the
instruction) and the goal K/V are copied into that graph's static buffers once per goal.

The CUDA-graph path cannot run on the CPU-only CI machine. On a GPU (an H200, 2026-12-04) its
chunks were bit-identical to the eager path's (``benchmarks/check_backend_parity.py``) and the
real-size bf16 chunk took 4.06 ms p50 vs 12.7 ms eager (docs/benchmarks/system1_gpu.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from . import BackendUnavailable


class _CudaGraphSampler:
    """``sample_cached`` captured once for one goal-token count (batch 1)."""

    WARMUP_RUNS = 3  # allocator and cuBLAS workspaces must exist before capture

    def __init__(self, head: Any, plan: Any, kv_like: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        from ..model.modeling_action_head import GoalKV

        c = head.config
        self.noise = torch.zeros(1, c.action_horizon, c.action_dim, device=head.device, dtype=head.dtype)
        self.state = torch.zeros(1, 1, c.max_state_dim, device=head.device, dtype=head.dtype)
        self.kv = [(torch.zeros_like(k), torch.zeros_like(v)) for k, v in kv_like]
        # The goal whose K/V are in the buffers; held (not its id) so that it cannot be freed and
        # its id reused by the next goal.
        self.goal: Any = None
        goal = GoalKV(kv=self.kv, batch_size=1)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), torch.inference_mode():
            for _ in range(self.WARMUP_RUNS):
                head.sample_cached(goal, self.state, plan, noise=self.noise)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph), torch.inference_mode():
            self.actions = head.sample_cached(goal, self.state, plan, noise=self.noise).actions

    def run(self, goal: Any, state: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Replay for a GoalCache ``goal``; returns the static output buffer (copy before the next run)."""
        if self.goal is not goal:
            for (k_dst, v_dst), (k, v) in zip(self.kv, goal.kv.kv, strict=True):
                k_dst.copy_(k)
                v_dst.copy_(v)
            self.goal = goal
        self.state.copy_(state)
        self.noise.copy_(noise)
        self.graph.replay()
        return self.actions


class TorchBackend:
    """The PyTorch policy behind the backend interface.

    Args:
        policy: a loaded :class:`~gr00t_policy.policy.Gr00tPolicy` (its device and dtype are used).
        cuda_graph: replay the sampler as CUDA graphs (policy on a CUDA device only).
    """

    name = "torch"

    def __init__(self, policy: Any, *, cuda_graph: bool = False) -> None:
        self.policy = policy
        self.cuda_graph = bool(cuda_graph)
        self._graphs: dict[int, _CudaGraphSampler] = {}
        if self.cuda_graph:
            if policy.model.device.type != "cuda" or not torch.cuda.is_available():
                raise BackendUnavailable(
                    f"cuda_graph needs the policy on a CUDA device; it is on {policy.model.device}"
                )
            head = policy.model.action_head
            with torch.inference_mode():
                self._plan = head.build_plan(policy.denoising_steps, policy.data_config.embodiment_id)

    def prepare_goal(self, tokens: torch.Tensor, mask: torch.Tensor) -> Any:
        from gr00t_policy.policy import GoalTokens

        with torch.inference_mode():
            return self.policy.prepare_goal(GoalTokens(tokens=tokens, mask=mask))

    def predict_chunk(
        self,
        state: Mapping[str, np.ndarray],
        goal: Any,
        *,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        prefix: Mapping[str, np.ndarray] | None = None,
        prefix_weights: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """`prefix`/`prefix_weights`: real-time-chunking guidance (see Gr00tPolicy.predict_chunk)."""
        if not self.cuda_graph or prefix is not None:
            with torch.inference_mode():
                return self.policy.predict_chunk(
                    state, goal, noise=noise, generator=generator, prefix=prefix, prefix_weights=prefix_weights
                )
        return self._predict_graphed(state, goal, noise, generator)

    def _predict_graphed(
        self, state: Mapping[str, np.ndarray], goal: Any, noise: torch.Tensor | None,
        generator: torch.Generator | None,
    ) -> dict[str, np.ndarray]:  # fmt: skip
        from ..model.embodiments import decode_actions, encode_state

        policy = self.policy
        if goal.model_id != policy.model_id:
            raise ValueError(f"goal cache was made by model {goal.model_id!r}, this policy is {policy.model_id!r}")
        head = policy.model.action_head
        c = head.config
        with torch.inference_mode():
            kv = goal.kv.kv
            num_tokens = int(kv[0][0].shape[2])
            if num_tokens not in self._graphs:
                self._graphs[num_tokens] = _CudaGraphSampler(head, self._plan, kv)
            if noise is None:  # drawn as FlowMatchingActionHead._initial_noise draws it
                where = generator.device if generator is not None else head.device
                noise = torch.randn(
                    (1, c.action_horizon, c.action_dim), generator=generator, device=where, dtype=torch.float32
                )
            vector = encode_state(state, policy.data_config, policy.stats)
            state_t = torch.from_numpy(vector).to(head.device, head.dtype).view(1, 1, -1)
            actions = self._graphs[num_tokens].run(goal, state_t, noise.to(head.device, head.dtype))
            host = actions[0].float().cpu().numpy().astype(np.float64)
        return decode_actions(host, policy.data_config, policy.stats)
