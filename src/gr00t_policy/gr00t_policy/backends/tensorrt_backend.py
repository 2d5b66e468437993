"""System 1 on TensorRT engines built from the exported ONNX graphs (TensorRT Python API).

Two engines per model: ``goal_kv`` (run once per goal update) and ``sample_chunk`` (the unrolled
K-step sampler, one launch per chunk). All I/O is bound to CUDA tensors owned by torch: the goal
K/V stay on the GPU between chunks and only the finished chunk is copied to the host.

Engines are cached next to the ONNX graphs under ``tensorrt/``, keyed by the ONNX content hash
(which covers the weights), the GPU name and compute capability, the TensorRT version, the
precision and the optimisation profile: a different GPU or TensorRT build never loads a stale
engine. Building the real-size sampler takes minutes; it happens once per key.

Not exercised on the CPU-only development machine (no GPU, and PyPI's ``tensorrt`` wheel is a stub
that downloads from NVIDIA); without TensorRT or a GPU everything here raises
:class:`~gr00t_policy.backends.BackendUnavailable`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import BackendUnavailable

logger = logging.getLogger(__name__)

try:
    import tensorrt as trt
except ImportError:
    trt = None

PRECISIONS = ("fp32", "fp16", "bf16")
# Builder scratch memory; the real-size DiT needs well under this (activations are ~17 tokens).
WORKSPACE_BYTES = 4 * 2**30


@dataclass(frozen=True)
class ShapeProfile:
    """Ranges of the dynamic axes the engines accept (TensorRT optimisation profile).

    Tokens: one 224 px view gives 64 image tokens plus the prompt, ~100 in total (doc §2.4);
    the maximum leaves room for several views and long instructions. Batch: the robot runs 1;
    more is for benchmarks and multi-robot serving.
    """

    batch: tuple[int, int, int] = (1, 1, 8)
    goal_tokens: tuple[int, int, int] = (1, 100, 512)


def require_tensorrt() -> Any:
    """The ``tensorrt`` module, or :class:`BackendUnavailable` saying what is missing."""
    if trt is None:
        raise BackendUnavailable(
            "TensorRT is not installed (the PyPI `tensorrt` package needs NVIDIA's index and a CUDA "
            "machine); use backend:=onnxruntime or backend:=torch, or install TensorRT >= 8.6"
        )
    if not torch.cuda.is_available():
        raise BackendUnavailable("TensorRT needs a CUDA GPU and none is visible to torch")
    return trt


def _file_sha256(path: Path) -> str:
    """Content hash of an ONNX graph and its external data, memoised beside it by (size, mtime)."""
    parts = [path] + ([path.with_name(f"{path.name}.data")] if path.with_name(f"{path.name}.data").exists() else [])
    stamp = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in parts]
    memo = path.with_name(f"{path.name}.sha256.json")
    if memo.exists():
        cached = json.loads(memo.read_text())
        if cached.get("stamp") == [list(s) for s in stamp]:
            return str(cached["sha256"])
    digest = hashlib.sha256()
    for p in parts:
        with p.open("rb") as f:
            for block in iter(lambda: f.read(2**24), b""):
                digest.update(block)
    memo.write_text(json.dumps({"stamp": stamp, "sha256": digest.hexdigest()}))
    return digest.hexdigest()


def engine_cache_key(onnx_path: Path, precision: str, profile: ShapeProfile) -> str:
    props = torch.cuda.get_device_properties(torch.cuda.current_device())
    key = {
        "onnx_sha256": _file_sha256(onnx_path),
        "gpu": props.name,
        "compute_capability": f"{props.major}.{props.minor}",
        "tensorrt": trt.__version__,
        "precision": precision,
        "profile": asdict(profile),
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def _dynamic_axes(onnx_path: Path) -> dict[str, dict[int, str]]:
    """Input name -> {axis: symbolic name} from the ONNX graph (without loading the weights)."""
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    return {
        i.name: {a: d.dim_param for a, d in enumerate(i.type.tensor_type.shape.dim) if d.dim_param}
        for i in model.graph.input
    }


def build_engine(
    onnx_path: str | Path,
    *,
    precision: str = "fp16",
    profile: ShapeProfile = ShapeProfile(),
    cache_dir: str | Path | None = None,
) -> Path:
    """Build (or find in the cache) the serialized engine of one ONNX graph; returns its path."""
    from ..export.onnx_export import BATCH_AXIS, TOKENS_AXIS

    require_tensorrt()
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    onnx_path = Path(onnx_path)
    cache_dir = Path(cache_dir) if cache_dir else onnx_path.parent / "tensorrt"
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = engine_cache_key(onnx_path, precision, profile)
    engine_path = cache_dir / f"{onnx_path.stem}-{precision}-{key[:16]}.engine"
    if engine_path.exists():
        return engine_path

    trt_logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(trt_logger)
    major = int(trt.__version__.split(".")[0])
    # TensorRT 10 networks are always explicit-batch; 8.x needs the flag.
    flags = 0 if major >= 10 else 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, trt_logger)
    if not parser.parse_from_file(str(onnx_path)):  # reads external data beside the graph
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse {onnx_path}: {errors}")

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    elif precision == "bf16":
        if not hasattr(trt.BuilderFlag, "BF16"):
            raise BackendUnavailable(f"TensorRT {trt.__version__} has no bf16; use fp16 or TensorRT >= 9")
        config.set_flag(trt.BuilderFlag.BF16)
    if precision != "fp32":
        # Layer norms over 1536 channels lose too much in 16-bit accumulation (TensorRT warns about
        # it too); keep them in fp32 and let everything else use the reduced precision.
        config.set_flag(trt.BuilderFlag.PREFER_PRECISION_CONSTRAINTS)
        for i in range(network.num_layers):
            layer = network.get_layer(i)
            if layer.type == trt.LayerType.NORMALIZATION:
                layer.precision = trt.float32

    ranges = {BATCH_AXIS: profile.batch, TOKENS_AXIS: profile.goal_tokens}
    axes = _dynamic_axes(onnx_path)
    opt_profile = builder.create_optimization_profile()
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        dims = list(tensor.shape)
        if all(d >= 0 for d in dims):
            continue
        shapes = []
        for which in range(3):  # min, opt, max
            shapes.append(tuple(ranges[axes[tensor.name][a]][which] if d < 0 else d for a, d in enumerate(dims)))
        opt_profile.set_shape(tensor.name, *shapes)
    config.add_optimization_profile(opt_profile)

    logger.info("building TensorRT %s engine for %s (minutes for the real size)", precision, onnx_path.name)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine for {onnx_path} (see the TensorRT log)")
    staging = engine_path.with_suffix(f".tmp{os.getpid()}")
    staging.write_bytes(bytes(serialized))
    staging.replace(engine_path)
    return engine_path


class TensorRTEngine:
    """One deserialized engine with torch CUDA tensors as I/O on the current stream."""

    def __init__(self, engine_path: str | Path) -> None:
        require_tensorrt()
        self._logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self._logger)
        self.engine = self.runtime.deserialize_cuda_engine(Path(engine_path).read_bytes())
        if self.engine is None:
            raise RuntimeError(f"could not deserialize {engine_path} (built by another TensorRT?)")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        self._torch_dtype = {n: _torch_dtype(self.engine.get_tensor_dtype(n)) for n in names}

    def run(self, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Enqueue on torch's current CUDA stream; outputs are fresh CUDA tensors (no host copy)."""
        for name in self.inputs:
            t = inputs[name]
            if not (t.is_cuda and t.is_contiguous() and t.dtype == self._torch_dtype[name]):
                raise ValueError(f"{name}: need a contiguous CUDA {self._torch_dtype[name]} tensor")
            self.context.set_input_shape(name, tuple(t.shape))
            self.context.set_tensor_address(name, t.data_ptr())
        outputs = {}
        for name in self.outputs:
            shape = tuple(self.context.get_tensor_shape(name))
            outputs[name] = torch.empty(shape, dtype=self._torch_dtype[name], device="cuda")
            self.context.set_tensor_address(name, outputs[name].data_ptr())
        if not self.context.execute_async_v3(torch.cuda.current_stream().cuda_stream):
            raise RuntimeError("TensorRT execution failed (see the TensorRT log)")
        return outputs


def _torch_dtype(trt_dtype: Any) -> torch.dtype:
    table = {trt.float32: torch.float32, trt.float16: torch.float16, trt.int64: torch.int64, trt.int32: torch.int32}
    if hasattr(trt, "bfloat16"):  # TensorRT >= 9
        table[trt.bfloat16] = torch.bfloat16
    return table[trt_dtype]


@dataclass
class TensorRTGoal:
    kv: dict[str, torch.Tensor]  # graph input name -> CUDA tensor
    model_id: str


class TensorRTBackend:
    """System 1 backend on TensorRT engines (goal K/V engine + unrolled sampler engine).

    Args:
        policy: a loaded fp32 policy (exported once into the ONNX cache; TensorRT lowers precision).
        precision: ``fp16`` (default), ``bf16`` or ``fp32`` for the engines.
        cache_dir: ONNX cache root (engines go into ``<export>/tensorrt/``).
        profile: dynamic-axis ranges of the engines.
    """

    name = "tensorrt"

    def __init__(
        self,
        policy: Any,
        *,
        precision: str = "fp16",
        cache_dir: str | Path | None = None,
        profile: ShapeProfile = ShapeProfile(),
    ) -> None:
        from ..export.cache import ensure_exported
        from ..export.onnx_export import GOAL_KV, SAMPLE_CHUNK

        require_tensorrt()
        self.policy = policy
        self.export_dir, self.manifest = ensure_exported(policy, cache_dir)
        self.precision = precision
        self.goal_engine = TensorRTEngine(
            build_engine(self.manifest.path(self.export_dir, GOAL_KV), precision=precision, profile=profile)
        )
        self.sample_engine = TensorRTEngine(
            build_engine(self.manifest.path(self.export_dir, SAMPLE_CHUNK), precision=precision, profile=profile)
        )

    def prepare_goal(self, tokens: torch.Tensor, mask: torch.Tensor) -> TensorRTGoal:
        del mask  # the DiT does not read it (see OnnxRuntimeBackend.prepare_goal)
        tokens = tokens.detach().to("cuda", torch.float32).contiguous()
        return TensorRTGoal(kv=self.goal_engine.run({"goal_tokens": tokens}), model_id=self.policy.model_id)

    def predict_chunk(
        self,
        state: Mapping[str, np.ndarray],
        goal: TensorRTGoal,
        *,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> dict[str, np.ndarray]:
        from ..model.embodiments import decode_actions, encode_state

        if goal.model_id != self.policy.model_id:
            raise ValueError(f"goal was prepared for model {goal.model_id!r}, this is {self.policy.model_id!r}")
        m = self.manifest
        if noise is None:  # same draw as the torch sampler, so seeds give the same chunk
            device = generator.device if generator is not None else torch.device("cpu")
            noise = torch.randn((1, m.action_horizon, m.action_dim), generator=generator, device=device)
        vector = encode_state(state, self.policy.data_config, self.policy.stats)
        inputs = {
            "noise": noise.to("cuda", torch.float32).contiguous(),
            "state": torch.from_numpy(np.asarray(vector, dtype=np.float32)).to("cuda").view(1, 1, -1),
            **goal.kv,
        }
        actions = self.sample_engine.run(inputs)["actions"]
        host = actions[0].float().cpu().numpy().astype(np.float64)  # synchronises the stream
        return decode_actions(host, self.policy.data_config, self.policy.stats)
