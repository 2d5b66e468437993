"""ONNX export of the System 1 action head (state encoder, goal K/V, denoising step, unrolled chunk).

One export covers one embodiment and one Euler schedule (both are baked into the graphs as
constants, exactly as :meth:`FlowMatchingActionHead.build_plan` precomputes them). Graphs::

    goal_kv.onnx        goal_tokens (B, T, D)                      -> goal_key_i, goal_value_i (B, heads, T, hd)
    state_encoder.onnx  state (B, 1, S)                            -> state_features (B, 1, D)
    denoise_step.onnx   actions (B, H, A), step (), state_features, goal K/V -> next_actions (B, H, A)
    sample_chunk.onnx   noise (B, H, A), state (B, 1, S), goal K/V -> actions (B, H, A)

``i`` runs over the cross-attention blocks in block order. ``step`` is the Euler step index
0..K-1: the per-step constants (timestep embedding, every AdaLN scale/shift, the action encoder's
time row) are stacked into [K, ...] tables inside the graph and gathered by index, so the step
graph's inputs stay small and the schedule cannot drift from the plan. ``next_actions`` is
``x + dt v`` (dt is folded into the decoder, as in the plan). Batch B and goal-token count T are
dynamic; the horizon H, action width A, state width S and D are fixed by the config.

``sample_chunk`` traces :meth:`FlowMatchingActionHead.sample_cached` itself, so it follows the
sampler whatever it becomes; ``denoise_step`` re-states one iteration of that loop (the model has
no single-step entry point) and is checked against the unrolled graph and torch in
:func:`validate_export`.

We use the TorchScript exporter (``dynamo=False``): the torch.export-based exporter needs
``onnxscript``, which is not a dependency of this project; the traced graphs are static (no
data-dependent control flow), which is what the tracer handles well.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..model.modeling_action_head import DenoisingPlan, FlowMatchingActionHead, GoalKV
from ..model.modeling_dit import StepModulation

logger = logging.getLogger(__name__)

# LayerNormalization became a standard op in opset 17; TensorRT 8.6+ and onnxruntime >= 1.14 take it.
DEFAULT_OPSET = 17
MANIFEST_NAME = "manifest.json"
# Bump when graph names, inputs or semantics change, so caches made by older code are rebuilt.
EXPORT_FORMAT_VERSION = 1
# A protobuf message cannot exceed 2 GiB; above this size weights go to a side file
# (``<graph>.onnx.data``), which onnxruntime and the TensorRT parser both read.
EXTERNAL_DATA_THRESHOLD_BYTES = 2**31 - 2**26

GOAL_KV, STATE_ENCODER, DENOISE_STEP, SAMPLE_CHUNK = "goal_kv", "state_encoder", "denoise_step", "sample_chunk"
ALL_GRAPHS = (GOAL_KV, STATE_ENCODER, DENOISE_STEP, SAMPLE_CHUNK)
BATCH_AXIS, TOKENS_AXIS = "batch", "goal_tokens"


def goal_kv_names(num_cross_blocks: int) -> list[str]:
    """Graph I/O names of the goal K/V, interleaved (key_0, value_0, key_1, ...) as the graphs take them."""
    return [f"goal_{kind}_{i}" for i in range(num_cross_blocks) for kind in ("key", "value")]


def _detached(value: Any) -> Any:
    """``value`` with every tensor detached (no copy), through dataclasses and containers.

    The plan holds views of parameters (``W[e]``) that still require grad, which the tracer
    refuses to bake in as constants.
    """
    if isinstance(value, torch.Tensor):
        return value.detach()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(
            value, **{f.name: _detached(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
        )
    if isinstance(value, (list, tuple)):
        return type(value)(_detached(v) for v in value)
    if isinstance(value, dict):
        return {k: _detached(v) for k, v in value.items()}
    return value


def frozen_plan(head: FlowMatchingActionHead, num_steps: int, embodiment_id: int) -> DenoisingPlan:
    """The head's denoising plan with detached tensors, ready for tracing."""
    with torch.no_grad():
        return _detached(head.build_plan(num_steps, embodiment_id))


def _pairs(flat: Sequence[torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]


# ---------------------------------------------------------------------------- graph modules
class GoalKVGraph(nn.Module):
    """Goal tokens -> K/V of every cross-attention block (once per goal update)."""

    def __init__(self, head: FlowMatchingActionHead) -> None:
        super().__init__()
        self.head = head

    def forward(self, goal_tokens: torch.Tensor) -> tuple[torch.Tensor, ...]:
        kv = self.head.prepare_goal_kv(goal_tokens).kv
        return tuple(t for pair in kv for t in pair)


class StateEncoderGraph(nn.Module):
    """Normalised, padded state -> the DiT's state token, for the plan's embodiment."""

    def __init__(self, head: FlowMatchingActionHead, plan: DenoisingPlan) -> None:
        super().__init__()
        self.head = head
        self.embodiment_id = plan.embodiment_id

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        return self.head.state_encoder.forward_category(state.to(self.head.dtype), self.embodiment_id)


class DenoiseStepGraph(nn.Module):
    """One Euler step of :meth:`FlowMatchingActionHead.sample_cached` with the step index as input.

    The per-step constants of the plan are stacked into buffers of leading size K; everything
    else (weights, fused QKV) is read from the plan and the DiT as the sampler does.
    """

    def __init__(self, head: FlowMatchingActionHead, plan: DenoisingPlan) -> None:
        super().__init__()
        self.head = head
        self.plan = plan
        mods = plan.modulations
        self.register_buffer(
            "block_scale_plus_one", torch.stack([torch.stack([s for s, _ in m.block_scale_shift]) for m in mods])
        )
        self.register_buffer(
            "block_shift", torch.stack([torch.stack([sh for _, sh in m.block_scale_shift]) for m in mods])
        )
        self.register_buffer("out_shift", torch.stack([m.out_shift_scale[0] for m in mods]))
        self.register_buffer("out_scale_plus_one", torch.stack([m.out_shift_scale[1] for m in mods]))
        self.register_buffer("encoder_in_bias", torch.stack(plan.encoder_in_bias))  # (K, 1, D)

    def forward(
        self, actions: torch.Tensor, step: torch.Tensor, state_features: torch.Tensor, *goal_kv: torch.Tensor
    ) -> torch.Tensor:
        plan, dit = self.plan, self.head.model
        b, horizon, action_dim = actions.shape
        block_scale, block_shift = self.block_scale_plus_one[step], self.block_shift[step]
        modulation = StepModulation(
            temb=None,  # type: ignore[arg-type]  # only the sampler's constants are read
            block_scale_shift=[(block_scale[i], block_shift[i]) for i in range(block_scale.shape[0])],
            out_shift_scale=(self.out_shift[step], self.out_scale_plus_one[step]),
        )
        x2d = actions.to(self.head.dtype).reshape(b * horizon, action_dim)
        hidden = F.silu(torch.addmm(self.encoder_in_bias[step], x2d, plan.encoder_in_weight))
        action_tokens = torch.addmm(plan.encoder_out_bias.repeat(b, 1), hidden, plan.encoder_out_weight)
        features = dit.forward_cached(
            torch.cat([state_features.to(self.head.dtype), action_tokens.view(b, horizon, -1)], dim=1),
            _pairs(goal_kv),
            modulation,
            fused_qkv=plan.fused_qkv,
            keep_last=horizon,
            project=False,
        )
        decoded = F.relu(torch.addmm(plan.decoder_in_bias, features.reshape(b * horizon, -1), plan.decoder_in_weight))
        x2d = torch.addmm(x2d, decoded, plan.decoder_out_weight) + plan.decoder_out_bias
        return x2d.view(b, horizon, action_dim)


class SampleChunkGraph(nn.Module):
    """The whole K-step sampler (state encoder + unrolled Euler loop) as one graph."""

    def __init__(self, head: FlowMatchingActionHead, plan: DenoisingPlan) -> None:
        super().__init__()
        self.head = head
        self.plan = plan

    def forward(self, noise: torch.Tensor, state: torch.Tensor, *goal_kv: torch.Tensor) -> torch.Tensor:
        # batch_size from the traced state keeps the batch symbolic (a Python int would be baked in).
        kv = GoalKV(kv=_pairs(goal_kv), batch_size=state.shape[0])
        return self.head.sample_cached(kv, state, self.plan, noise=noise).actions


# ---------------------------------------------------------------------------- manifest
@dataclass
class GraphSpec:
    file: str
    inputs: list[str]
    outputs: list[str]
    bytes: int


@dataclass
class ExportManifest:
    """What an export directory holds and what it was made from (``manifest.json``)."""

    format_version: int
    model_id: str
    weights_digest: str
    embodiment_id: int
    num_steps: int
    buckets: list[int]
    action_horizon: int
    action_dim: int
    max_state_dim: int
    goal_dim: int
    num_cross_blocks: int
    cross_heads: int
    cross_head_dim: int
    dtype: str
    opset: int
    torch_version: str
    onnx_version: str
    export_seconds: float
    graphs: dict[str, GraphSpec] = field(default_factory=dict)
    validation: dict[str, Any] = field(default_factory=dict)

    def path(self, directory: Path, graph: str) -> Path:
        return Path(directory) / self.graphs[graph].file

    def kv_names(self) -> list[str]:
        return goal_kv_names(self.num_cross_blocks)

    def write(self, directory: Path) -> None:
        (Path(directory) / MANIFEST_NAME).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, directory: str | Path) -> ExportManifest:
        data = json.loads((Path(directory) / MANIFEST_NAME).read_text())
        data["graphs"] = {k: GraphSpec(**v) for k, v in data.get("graphs", {}).items()}
        return cls(**data)


def action_head_digest(head: FlowMatchingActionHead) -> str:
    """Cheap fingerprint of the head's weights (names, shapes, dtypes, sums and a strided sample).

    Hashing every byte of the real head (3.4 GB in fp32) takes seconds; sums plus up to 4096
    evenly spaced raw values per tensor catch any re-initialisation or a different checkpoint.
    """
    digest = hashlib.sha256()
    with torch.no_grad():
        for name, tensor in head.state_dict().items():
            flat = tensor.detach().reshape(-1)
            stride = max(1, flat.numel() // 4096)
            digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
            digest.update(np.float64(flat.double().sum().item()).tobytes())
            digest.update(flat[::stride].float().cpu().numpy().tobytes())
    return digest.hexdigest()


# ---------------------------------------------------------------------------- export
def example_inputs(
    head: FlowMatchingActionHead, batch_size: int, num_tokens: int, *, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Random inputs for every graph (goal tokens, state, noise) on the head's device."""
    c = head.config
    g = torch.Generator().manual_seed(seed)
    kw: dict[str, Any] = {"generator": g}
    return {
        "goal_tokens": torch.randn(batch_size, num_tokens, c.input_embedding_dim, **kw).to(head.device, head.dtype),
        "state": torch.randn(batch_size, 1, c.max_state_dim, **kw).clamp(-1, 1).to(head.device, head.dtype),
        "noise": torch.randn(batch_size, c.action_horizon, c.action_dim, **kw).to(head.device, head.dtype),
    }


@contextlib.contextmanager
def _constant_layer_norm_widths() -> Iterator[None]:
    """Trace ``F.layer_norm(x, (x.shape[-1],), ...)`` with a constant width.

    Under the tracer ``x.shape[-1]`` is a traced value, and the ONNX LayerNormalization symbolic
    refuses a non-constant ``normalized_shape``. The width is a constant of the model, so it is
    safe to bake in. (If ``modeling_dit`` passed ``norm.normalized_shape`` instead of
    ``(dim,)``, this patch could go.)
    """
    original = F.layer_norm

    def layer_norm(x: torch.Tensor, normalized_shape: Sequence[Any], *args: Any, **kwargs: Any) -> torch.Tensor:
        return original(x, tuple(int(d) for d in normalized_shape), *args, **kwargs)

    F.layer_norm = layer_norm  # type: ignore[assignment]
    try:
        yield
    finally:
        F.layer_norm = original  # type: ignore[assignment]


def _export_graph(
    module: nn.Module,
    args: tuple[torch.Tensor, ...],
    path: Path,
    input_names: list[str],
    output_names: list[str],
    dynamic_axes: dict[str, dict[int, str]],
    opset: int,
) -> GraphSpec:
    with warnings.catch_warnings(), _constant_layer_norm_widths():
        # The TorchScript exporter is deprecated in favour of one that needs onnxscript (see module doc).
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            module,
            args,
            str(path),
            dynamo=False,
            opset_version=opset,
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=dynamic_axes,
            do_constant_folding=True,
        )
    if path.stat().st_size > EXTERNAL_DATA_THRESHOLD_BYTES:
        _move_weights_to_external_data(path)
    return GraphSpec(file=path.name, inputs=input_names, outputs=output_names, bytes=_graph_bytes(path))


def _move_weights_to_external_data(path: Path) -> None:
    import onnx

    model = onnx.load(str(path))
    onnx.save_model(
        model, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location=f"{path.name}.data"
    )


def _graph_bytes(path: Path) -> int:
    data = path.with_name(f"{path.name}.data")
    return path.stat().st_size + (data.stat().st_size if data.exists() else 0)


def export_action_head(
    head: FlowMatchingActionHead,
    out_dir: str | Path,
    *,
    num_steps: int,
    embodiment_id: int,
    model_id: str,
    graphs: Sequence[str] = ALL_GRAPHS,
    opset: int = DEFAULT_OPSET,
    trace_batch: int = 2,
    trace_tokens: int = 7,
) -> ExportManifest:
    """Export the requested graphs of ``head`` into ``out_dir`` (written atomically) and return the manifest.

    Tracing uses batch 2 and 7 goal tokens so that no size equals 1 (the tracer could otherwise
    specialise a broadcast); both axes are exported as dynamic.
    """
    unknown = set(graphs) - set(ALL_GRAPHS)
    if unknown:
        raise ValueError(f"unknown graph(s) {sorted(unknown)}; choose from {list(ALL_GRAPHS)}")
    out_dir = Path(out_dir)
    start = time.perf_counter()
    head = head.eval()
    plan = frozen_plan(head, num_steps, embodiment_id)
    dit_config = head.model.config
    num_cross = len(head.model.cross_attention_blocks)
    kv_names = goal_kv_names(num_cross)
    ex = example_inputs(head, trace_batch, trace_tokens)
    with torch.no_grad():
        kv_flat = GoalKVGraph(head)(ex["goal_tokens"])
        state_features = StateEncoderGraph(head, plan)(ex["state"])
    kv_axes = {name: {0: BATCH_AXIS, 2: TOKENS_AXIS} for name in kv_names}
    batch_only = {0: BATCH_AXIS}

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; a cache may be shared between users
    specs: dict[str, GraphSpec] = {}
    try:
        with torch.no_grad():
            if GOAL_KV in graphs:
                specs[GOAL_KV] = _export_graph(
                    GoalKVGraph(head), (ex["goal_tokens"],), staging / f"{GOAL_KV}.onnx",
                    ["goal_tokens"], kv_names, {"goal_tokens": {0: BATCH_AXIS, 1: TOKENS_AXIS}, **kv_axes}, opset,
                )  # fmt: skip
            if STATE_ENCODER in graphs:
                specs[STATE_ENCODER] = _export_graph(
                    StateEncoderGraph(head, plan), (ex["state"],), staging / f"{STATE_ENCODER}.onnx",
                    ["state"], ["state_features"], {"state": batch_only, "state_features": batch_only}, opset,
                )  # fmt: skip
            if DENOISE_STEP in graphs:
                step = torch.tensor(1, dtype=torch.long)  # not 0, so no index is constant-folded away
                specs[DENOISE_STEP] = _export_graph(
                    DenoiseStepGraph(head, plan), (ex["noise"], step, state_features, *kv_flat),
                    staging / f"{DENOISE_STEP}.onnx",
                    ["actions", "step", "state_features", *kv_names], ["next_actions"],
                    {"actions": batch_only, "state_features": batch_only, "next_actions": batch_only, **kv_axes},
                    opset,
                )  # fmt: skip
            if SAMPLE_CHUNK in graphs:
                specs[SAMPLE_CHUNK] = _export_graph(
                    SampleChunkGraph(head, plan), (ex["noise"], ex["state"], *kv_flat),
                    staging / f"{SAMPLE_CHUNK}.onnx",
                    ["noise", "state", *kv_names], ["actions"],
                    {"noise": batch_only, "state": batch_only, "actions": batch_only, **kv_axes}, opset,
                )  # fmt: skip
        import onnx

        manifest = ExportManifest(
            format_version=EXPORT_FORMAT_VERSION,
            model_id=model_id,
            weights_digest=action_head_digest(head),
            embodiment_id=plan.embodiment_id,
            num_steps=plan.num_steps,
            buckets=list(plan.buckets),
            action_horizon=head.config.action_horizon,
            action_dim=head.config.action_dim,
            max_state_dim=head.config.max_state_dim,
            goal_dim=head.config.input_embedding_dim,
            num_cross_blocks=num_cross,
            cross_heads=dit_config.num_attention_heads,
            cross_head_dim=dit_config.attention_head_dim,
            dtype=str(head.dtype).removeprefix("torch."),
            opset=opset,
            torch_version=torch.__version__,
            onnx_version=onnx.__version__,
            export_seconds=time.perf_counter() - start,
            graphs=specs,
        )
        manifest.write(staging)
        _replace_dir(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("exported %s to %s in %.1f s", sorted(specs), out_dir, manifest.export_seconds)
    return manifest


def _replace_dir(staging: Path, target: Path) -> None:
    """Move a finished export into place; a concurrent exporter of the same files may win the race."""
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        target.rename(old)
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        try:
            staging.rename(target)
        except OSError:  # another process created it meanwhile; theirs is equivalent
            shutil.rmtree(staging, ignore_errors=True)


def export_policy(policy: Any, out_dir: str | Path, **kwargs: Any) -> ExportManifest:
    """:func:`export_action_head` for a :class:`~gr00t_policy.policy.Gr00tPolicy` (its steps and embodiment)."""
    return export_action_head(
        policy.model.action_head,
        out_dir,
        num_steps=policy.denoising_steps,
        embodiment_id=policy.data_config.embodiment_id,
        model_id=policy.model_id,
        **kwargs,
    )


# ---------------------------------------------------------------------------- validation
@dataclass
class GraphCheck:
    graph: str
    batch_size: int
    num_tokens: int
    max_abs_diff: float
    max_abs_reference: float

    def passed(self, atol: float, rtol: float) -> bool:
        return self.max_abs_diff <= atol + rtol * self.max_abs_reference


def check_graphs(directory: str | Path) -> None:
    """``onnx.checker`` on every graph of an export (raises ``onnx.checker.ValidationError``)."""
    import onnx

    manifest = ExportManifest.read(directory)
    for name in manifest.graphs:
        # A path (not a loaded proto) lets the checker handle external data and > 2 GB models.
        onnx.checker.check_model(str(manifest.path(Path(directory), name)))


def validate_export(
    directory: str | Path,
    head: FlowMatchingActionHead,
    *,
    batch_sizes: Sequence[int] = (1, 2),
    token_counts: Sequence[int] = (5, 23),
    intra_op_threads: int | None = None,
) -> list[GraphCheck]:
    """Run every exported graph on onnxruntime CPU against the torch model; returns the max differences.

    References: the goal K/V and state encoder against the head's own methods, the unrolled chunk
    against :meth:`sample_cached`, the step graph driven for K steps against the same.
    """
    from ..backends.onnxruntime_backend import OnnxSystem1Runner

    directory = Path(directory)
    manifest = ExportManifest.read(directory)
    plan = frozen_plan(head, manifest.num_steps, manifest.embodiment_id)
    runner = OnnxSystem1Runner(directory, intra_op_threads=intra_op_threads)
    checks: list[GraphCheck] = []

    def record(graph: str, b: int, t: int, got: np.ndarray, want: torch.Tensor) -> None:
        ref = want.detach().float().cpu().numpy()
        checks.append(GraphCheck(graph, b, t, float(np.abs(got - ref).max()), float(np.abs(ref).max())))

    for b in batch_sizes:
        for t in token_counts:
            ex = example_inputs(head, b, t, seed=1000 * b + t)
            with torch.no_grad():
                kv = head.prepare_goal_kv(ex["goal_tokens"])
                state_features = head.state_encoder.forward_category(ex["state"], manifest.embodiment_id)
                actions = head.sample_cached(kv, ex["state"], plan, noise=ex["noise"]).actions
            np_in = {k: v.float().cpu().numpy() for k, v in ex.items()}
            goal = runner.goal_kv(np_in["goal_tokens"]) if GOAL_KV in manifest.graphs else None
            if goal is not None:
                for i, (k, v) in enumerate(kv.kv):
                    record(GOAL_KV, b, t, goal.values[2 * i].numpy(), k)
                    record(GOAL_KV, b, t, goal.values[2 * i + 1].numpy(), v)
            else:
                goal = runner.goal_from_arrays([t_.float().cpu().numpy() for pair in kv.kv for t_ in pair])
            if STATE_ENCODER in manifest.graphs:
                record(STATE_ENCODER, b, t, runner.state_features(np_in["state"]), state_features)
            if SAMPLE_CHUNK in manifest.graphs:
                unrolled = runner.sample(np_in["noise"], np_in["state"], goal, loop="unrolled")
                record(SAMPLE_CHUNK, b, t, unrolled, actions)
            if DENOISE_STEP in manifest.graphs and STATE_ENCODER in manifest.graphs:
                stepped = runner.sample(np_in["noise"], np_in["state"], goal, loop="python")
                record(DENOISE_STEP, b, t, stepped, actions)
    return checks
