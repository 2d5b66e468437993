"""System 1 inference backends behind one interface (selected by the `backend` node parameter).

A backend turns (state, goal) into an action chunk. `torch` runs the PyTorch model directly;
compiled backends (onnxruntime, tensorrt) plug in here with the same two calls.
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol

import numpy as np
import torch


class BackendUnavailable(RuntimeError):
    """The requested backend cannot run on this machine or build."""


class System1Backend(Protocol):
    name: str

    def prepare_goal(self, tokens: torch.Tensor, mask: torch.Tensor) -> Any:
        """Per-goal work (e.g. cross-attention K/V of the goal tokens), reused across chunks."""

    def predict_chunk(self, state: Mapping[str, np.ndarray], goal: Any) -> dict[str, np.ndarray]:
        """Group -> (horizon, dim) absolute joint positions."""


class TorchBackend:
    name = "torch"

    def __init__(self, policy: Any) -> None:
        self.policy = policy

    def prepare_goal(self, tokens: torch.Tensor, mask: torch.Tensor) -> Any:
        from gr00t_policy.policy import GoalTokens

        with torch.inference_mode():
            return self.policy.prepare_goal(GoalTokens(tokens=tokens, mask=mask))

    def predict_chunk(self, state: Mapping[str, np.ndarray], goal: Any) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            return self.policy.predict_chunk(state, goal)


BACKENDS = ("torch", "onnxruntime", "tensorrt")


def create_backend(name: str, policy: Any) -> System1Backend:
    if name == "torch":
        return TorchBackend(policy)
    if name in BACKENDS:
        raise BackendUnavailable(
            f"backend {name!r} is not built into this version yet; use backend:=torch"
        )
    raise BackendUnavailable(f"unknown backend {name!r}; one of {BACKENDS}")
