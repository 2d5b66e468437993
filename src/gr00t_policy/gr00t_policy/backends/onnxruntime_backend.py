"""System 1 on ONNX Runtime (CPU, CUDA or TensorRT execution provider) from the exported graphs.

:class:`OnnxSystem1Runner` runs an export directory on batched numpy arrays (tests, benchmarks);
:class:`OnnxRuntimeBackend` wraps it behind the System 1 backend interface (joint-space state in,
joint-space chunk out), exporting the policy into the ONNX cache on first use.

All graph I/O goes through IO bindings on the session's device: the goal K/V are uploaded once per
goal and stay there, and in the Python-driven loop the actions stay on the device between steps;
only the finished chunk is copied to the host. On CPU the same code is zero-copy.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import BackendUnavailable

logger = logging.getLogger(__name__)

try:
    import onnxruntime as ort
except ImportError:  # pragma: no cover - onnxruntime is in requirements.txt
    ort = None

# Measured on the demo preset on 2 CPU cores (docs/benchmarks/system1_cpu.md): one call of the
# unrolled graph beats a state-encoder call + K step calls, because per-call overhead dominates
# a small model. The step graph stays available for per-step guidance (real-time chunking).
UNROLLED, PYTHON_LOOP = "unrolled", "python"
LOOPS = (UNROLLED, PYTHON_LOOP)
DEFAULT_LOOP = UNROLLED

GRAPH_OPTIMIZATION_LEVELS = ("disable", "basic", "extended", "all")
# Preferred order when the caller does not choose: TensorRT EP is opt-in because it builds its
# engines on the first run (minutes for the real size).
AUTO_PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")
DEVICE_PROVIDERS = {"CUDAExecutionProvider": "cuda", "TensorrtExecutionProvider": "cuda"}


def _require_onnxruntime() -> Any:
    if ort is None:
        raise BackendUnavailable("onnxruntime is not installed; pip install onnxruntime (or onnxruntime-gpu)")
    return ort


@dataclass
class OnnxGoal:
    """Goal K/V on the session device, interleaved (key_0, value_0, ...), for one goal update."""

    values: list[Any]  # onnxruntime.OrtValue
    batch_size: int
    num_tokens: int
    model_id: str = ""


class OnnxSystem1Runner:
    """Batched numpy interface to one export directory (see :mod:`gr00t_policy.export.onnx_export`).

    Args:
        directory: an export directory (``manifest.json`` + graphs).
        execution_providers: onnxruntime provider names in priority order; default CUDA if
            available, else CPU. ``TensorrtExecutionProvider`` caches its engines next to the graphs.
        intra_op_threads: threads per operator (CPU EP); default ``torch.get_num_threads()``, which
            the System 1 node sets from its ``num_threads`` parameter.
        graph_optimization_level: one of :data:`GRAPH_OPTIMIZATION_LEVELS`.
        loop: default sampling loop, :data:`UNROLLED` (one graph per chunk) or :data:`PYTHON_LOOP`
            (state encoder + K step graphs).
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        execution_providers: Sequence[str] | None = None,
        intra_op_threads: int | None = None,
        graph_optimization_level: str = "all",
        loop: str = DEFAULT_LOOP,
    ) -> None:
        from ..export.onnx_export import ExportManifest

        _require_onnxruntime()
        if loop not in LOOPS:
            raise ValueError(f"loop must be one of {LOOPS}, got {loop!r}")
        if graph_optimization_level not in GRAPH_OPTIMIZATION_LEVELS:
            raise ValueError(
                f"graph_optimization_level must be one of {GRAPH_OPTIMIZATION_LEVELS}, got {graph_optimization_level!r}"
            )
        self.directory = Path(directory)
        self.manifest = ExportManifest.read(self.directory)
        self.loop = loop
        self.providers = self._resolve_providers(execution_providers)
        self.device_type = DEVICE_PROVIDERS.get(self.providers[0], "cpu")
        self.intra_op_threads = int(intra_op_threads or torch.get_num_threads())
        self.graph_optimization_level = graph_optimization_level
        self._sessions: dict[str, Any] = {}
        self._kv_names = self.manifest.kv_names()
        # Step indices live on the device for the whole run (no per-step allocation or upload).
        self._step_values = [
            ort.OrtValue.ortvalue_from_numpy(np.array(k, dtype=np.int64), self.device_type, 0)
            for k in range(self.manifest.num_steps)
        ]

    # ------------------------------------------------------------------------ sessions
    @staticmethod
    def _resolve_providers(requested: Sequence[str] | None) -> list[str]:
        available = ort.get_available_providers()
        if requested is None:
            return [p for p in AUTO_PROVIDERS if p in available]
        missing = [p for p in requested if p not in available]
        if missing:
            raise BackendUnavailable(f"onnxruntime has no {missing}; this build offers {available}")
        return list(requested)

    def _provider_options(self) -> list[tuple[str, dict[str, Any]] | str]:
        out: list[tuple[str, dict[str, Any]] | str] = []
        for p in self.providers:
            if p == "TensorrtExecutionProvider":
                out.append(
                    (
                        p,
                        {
                            "trt_fp16_enable": True,
                            "trt_engine_cache_enable": True,
                            "trt_engine_cache_path": str(self.directory / "ort_trt_cache"),
                        },
                    )
                )
            else:
                out.append(p)
        return out

    def session(self, graph: str) -> Any:
        """The (lazily created) inference session of one graph."""
        if graph not in self._sessions:
            if graph not in self.manifest.graphs:
                raise ValueError(f"{self.directory} has no {graph!r} graph (has {sorted(self.manifest.graphs)})")
            options = ort.SessionOptions()
            options.intra_op_num_threads = self.intra_op_threads
            options.inter_op_num_threads = 1  # the graphs are a chain; parallel branches don't pay
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            options.graph_optimization_level = {
                "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
                "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
            }[self.graph_optimization_level]
            options.log_severity_level = 3  # warnings about unused initialisers etc. are noise here
            self._sessions[graph] = ort.InferenceSession(
                str(self.manifest.path(self.directory, graph)), options, providers=self._provider_options()
            )
        return self._sessions[graph]

    def _to_device(self, array: np.ndarray) -> Any:
        return ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(array, dtype=np.float32), self.device_type, 0)

    def _run(self, graph: str, inputs: Mapping[str, Any], outputs: Sequence[str]) -> list[Any]:
        session = self.session(graph)
        binding = session.io_binding()
        for name, value in inputs.items():
            binding.bind_ortvalue_input(name, value)
        for name in outputs:
            binding.bind_output(name, self.device_type, 0)
        session.run_with_iobinding(binding)
        return binding.get_outputs()

    # ------------------------------------------------------------------------ graphs
    def goal_kv(self, goal_tokens: np.ndarray, model_id: str = "") -> OnnxGoal:
        """(B, T, D) goal tokens -> goal K/V on the device (once per goal update)."""
        b, t, _ = goal_tokens.shape
        values = self._run("goal_kv", {"goal_tokens": self._to_device(goal_tokens)}, self._kv_names)
        return OnnxGoal(values=values, batch_size=b, num_tokens=t, model_id=model_id)

    def goal_from_arrays(self, kv: Sequence[np.ndarray], model_id: str = "") -> OnnxGoal:
        """Goal K/V computed elsewhere (e.g. by torch), interleaved key_0, value_0, ..."""
        if len(kv) != len(self._kv_names):
            raise ValueError(f"expected {len(self._kv_names)} K/V tensors, got {len(kv)}")
        return OnnxGoal([self._to_device(a) for a in kv], kv[0].shape[0], kv[0].shape[2], model_id)

    def state_features(self, state: np.ndarray) -> np.ndarray:
        return self._run("state_encoder", {"state": self._to_device(state)}, ["state_features"])[0].numpy()

    def sample(self, noise: np.ndarray, state: np.ndarray, goal: OnnxGoal, *, loop: str | None = None) -> np.ndarray:
        """Noise (B, H, A) and normalised state (B, 1, S) -> normalised actions (B, H, A)."""
        loop = loop or self.loop
        if noise.shape[0] != goal.batch_size or state.shape[0] != goal.batch_size:
            raise ValueError(f"batch mismatch: noise {noise.shape[0]}, state {state.shape[0]}, goal {goal.batch_size}")
        kv = dict(zip(self._kv_names, goal.values, strict=True))
        if loop == UNROLLED:
            inputs = {"noise": self._to_device(noise), "state": self._to_device(state), **kv}
            return self._run("sample_chunk", inputs, ["actions"])[0].numpy()
        if loop != PYTHON_LOOP:
            raise ValueError(f"loop must be one of {LOOPS}, got {loop!r}")
        state_features = self._run("state_encoder", {"state": self._to_device(state)}, ["state_features"])[0]
        actions = self._to_device(noise)
        for step in self._step_values:
            inputs = {"actions": actions, "step": step, "state_features": state_features, **kv}
            actions = self._run("denoise_step", inputs, ["next_actions"])[0]
        return actions.numpy()


class OnnxRuntimeBackend:
    """System 1 backend on ONNX Runtime; exports the policy's head into the ONNX cache if needed.

    Options (``create_backend("onnxruntime", policy, **options)``): ``cache_dir`` (root of the
    ONNX cache, see :func:`gr00t_policy.export.cache.default_cache_root`), and the
    :class:`OnnxSystem1Runner` arguments ``execution_providers``, ``intra_op_threads``,
    ``graph_optimization_level``, ``loop``.
    """

    name = "onnxruntime"

    def __init__(
        self,
        policy: Any,
        *,
        cache_dir: str | Path | None = None,
        execution_providers: Sequence[str] | None = None,
        intra_op_threads: int | None = None,
        graph_optimization_level: str = "all",
        loop: str = DEFAULT_LOOP,
    ) -> None:
        from ..export.cache import ensure_exported

        _require_onnxruntime()
        self.policy = policy
        self.export_dir, self.manifest = ensure_exported(policy, cache_dir)
        self.runner = OnnxSystem1Runner(
            self.export_dir,
            execution_providers=execution_providers,
            intra_op_threads=intra_op_threads,
            graph_optimization_level=graph_optimization_level,
            loop=loop,
        )
        logger.info(
            "onnxruntime System 1: %s, providers %s, %d threads, loop %s",
            self.export_dir,
            self.runner.providers,
            self.runner.intra_op_threads,
            self.runner.loop,
        )

    def prepare_goal(self, tokens: torch.Tensor, mask: torch.Tensor) -> OnnxGoal:
        if tokens.shape[-1] != self.manifest.goal_dim:
            raise ValueError(f"goal tokens have width {tokens.shape[-1]}, this model expects {self.manifest.goal_dim}")
        # The DiT does not read the mask (N1 passes none); single prompts are never padded.
        del mask
        return self.runner.goal_kv(tokens.detach().float().cpu().numpy(), model_id=self.policy.model_id)

    def predict_chunk(
        self,
        state: Mapping[str, np.ndarray],
        goal: OnnxGoal,
        *,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> dict[str, np.ndarray]:
        from ..model.embodiments import decode_actions, encode_state

        if goal.model_id != self.policy.model_id:
            raise ValueError(f"goal was prepared for model {goal.model_id!r}, this is {self.policy.model_id!r}")
        m = self.manifest
        shape = (1, m.action_horizon, m.action_dim)
        if noise is None:
            # Drawn exactly as the torch sampler draws it, so a seeded generator gives the same chunk.
            noise = torch.randn(shape, generator=generator, dtype=torch.float32)
        elif tuple(noise.shape) != shape:
            raise ValueError(f"initial noise must have shape {shape}, got {tuple(noise.shape)}")
        vector = encode_state(state, self.policy.data_config, self.policy.stats)
        actions = self.runner.sample(
            noise.detach().float().cpu().numpy(), np.asarray(vector, dtype=np.float32).reshape(1, 1, -1), goal
        )
        return decode_actions(actions[0].astype(np.float64), self.policy.data_config, self.policy.stats)
