"""System 1 inference backends behind one interface (selected by the `backend` node parameter).

A backend turns (state, goal) into an action chunk:

* ``torch``: the PyTorch model (eager; optional CUDA-graph capture on a GPU, bf16 when the
  policy is loaded in bf16), :mod:`.torch_backend`.
* ``onnxruntime``: the exported ONNX graphs on ONNX Runtime (CPU / CUDA / TensorRT execution
  providers), :mod:`.onnxruntime_backend`.
* ``tensorrt``: TensorRT engines built from the same ONNX graphs, :mod:`.tensorrt_backend`.

Compiled backends export the loaded policy's action head into the ONNX cache on first use
(:mod:`gr00t_policy.export.cache`), so a checkpoint is all they need. Implementations are
imported lazily: a missing optional dependency surfaces as :class:`BackendUnavailable` when that
backend is asked for, not when the package is imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np
import torch


class BackendUnavailable(RuntimeError):
    """The requested backend cannot run on this machine or build."""


class System1Backend(Protocol):
    name: str

    def prepare_goal(self, tokens: torch.Tensor, mask: torch.Tensor) -> Any:
        """Per-goal work (e.g. cross-attention K/V of the goal tokens), reused across chunks."""

    def predict_chunk(
        self,
        state: Mapping[str, np.ndarray],
        goal: Any,
        *,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> dict[str, np.ndarray]:
        """Group -> (horizon, dim) absolute joint positions.

        ``noise`` (1, horizon, action_dim) fixes the initial noise; otherwise it is drawn with
        ``generator`` exactly as the torch sampler draws it, so every backend gives the same
        chunk from the same seed (within its numerical tolerance).
        """


BACKENDS = ("torch", "onnxruntime", "tensorrt")


def create_backend(name: str, policy: Any, **options: Any) -> System1Backend:
    """Backend ``name`` for a loaded :class:`~gr00t_policy.policy.Gr00tPolicy`.

    ``options`` go to the backend's constructor (e.g. ``intra_op_threads`` for onnxruntime,
    ``cuda_graph`` for torch, ``precision`` for tensorrt; see each class).
    """
    if name == "torch":
        from .torch_backend import TorchBackend

        return TorchBackend(policy, **options)
    if name == "onnxruntime":
        from .onnxruntime_backend import OnnxRuntimeBackend

        return OnnxRuntimeBackend(policy, **options)
    if name == "tensorrt":
        from .tensorrt_backend import TensorRTBackend

        return TensorRTBackend(policy, **options)
    raise BackendUnavailable(f"unknown backend {name!r}; one of {BACKENDS}")


def __getattr__(name: str) -> Any:
    # `from gr00t_policy.backends import TorchBackend` keeps working without importing every backend.
    if name == "TorchBackend":
        from .torch_backend import TorchBackend

        return TorchBackend
    raise AttributeError(name)
