"""Checkpoint I/O in the Hugging Face layout of ``nvidia/GR00T-N1-2B``.

Directory layout (read and written)::

    config.json                         GR00T N1 config (see configuration_gr00t_n1.py)
    model.safetensors                   or model-0000i-of-0000n.safetensors + model.safetensors.index.json
    experiment_cfg/metadata.json        per-embodiment statistics and modalities (embodiments.py)

Loading builds the model on the ``meta`` device (no memory), checks every tensor name and shape
against the safetensors headers *before* reading any data, then reads tensors one at a time straight
into the target dtype and device and assigns them (``load_state_dict(assign=True)``). Peak memory is
the model in its target dtype plus one tensor, so the 4.4 GB bf16 checkpoint never needs 2x RAM.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from .configuration_gr00t_n1 import ConfigError, Gr00tN1Config
from .modeling_gr00t_n1 import IGNORED_CHECKPOINT_KEY_PREFIXES, Gr00tN1Model

logger = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
SAFETENSORS_NAME = "model.safetensors"
SAFETENSORS_INDEX_NAME = "model.safetensors.index.json"
METADATA_RELPATH = Path("experiment_cfg") / "metadata.json"


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, unreadable or inconsistent. The message names the file."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class CheckpointMismatchError(CheckpointError):
    """Tensor names or shapes do not match the model built from config.json."""

    def __init__(self, path: str | Path, report: KeyReport) -> None:
        self.report = report
        super().__init__(path, "state dict does not match the model:\n" + report.format())


@dataclass
class KeyReport:
    """Comparison of a checkpoint's tensors (name -> shape) with the model's."""

    expected: int
    found: int
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    @property
    def matched(self) -> int:
        return self.expected - len(self.missing) - len(self.mismatched)

    def format(self, limit: int = 20) -> str:
        lines = [
            f"expected {self.expected} tensors, found {self.found}: {self.matched} match, "
            f"{len(self.missing)} missing, {len(self.unexpected)} unexpected, "
            f"{len(self.mismatched)} with another shape, {len(self.ignored)} ignored"
        ]

        def block(title: str, items: list[str]) -> None:
            if items:
                lines.append(f"  {title}:")
                lines.extend(f"    {item}" for item in items[:limit])
                if len(items) > limit:
                    lines.append(f"    ... and {len(items) - limit} more")

        block("missing", self.missing)
        block("unexpected", self.unexpected)
        block(
            "shape mismatch (checkpoint vs model)",
            [f"{k}: {list(got)} vs {list(want)}" for k, got, want in self.mismatched],
        )
        block("ignored (known unused)", self.ignored)
        return "\n".join(lines)


def is_ignored_key(name: str) -> bool:
    return name.startswith(IGNORED_CHECKPOINT_KEY_PREFIXES)


def compare_shapes(found: Mapping[str, Iterable[int]], expected: Mapping[str, Iterable[int]]) -> KeyReport:
    """Strict name/shape comparison, ignoring the known unused ``action_head.decode_layer.*``."""
    found_t = {k: tuple(v) for k, v in found.items()}
    expected_t = {k: tuple(v) for k, v in expected.items()}
    ignored = sorted(k for k in found_t if is_ignored_key(k) and k not in expected_t)
    report = KeyReport(expected=len(expected_t), found=len(found_t), ignored=ignored)
    report.missing = sorted(k for k in expected_t if k not in found_t)
    report.unexpected = sorted(k for k in found_t if k not in expected_t and k not in ignored)
    report.mismatched = sorted(
        (k, found_t[k], expected_t[k]) for k in expected_t if k in found_t and found_t[k] != expected_t[k]
    )
    return report


def model_shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


# ----------------------------------------------------------------------------- reading
def _read_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise CheckpointError(path, f"{what} is missing")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(path, f"{what} is not valid JSON ({exc})") from None


def safetensors_files(directory: Path) -> list[Path]:
    """The weight files of a checkpoint dir: the index's shards, or the single model.safetensors."""
    index_path = directory / SAFETENSORS_INDEX_NAME
    if index_path.is_file():
        index = _read_json(index_path, "safetensors index")
        weight_map = index.get("weight_map") if isinstance(index, dict) else None
        if not isinstance(weight_map, dict) or not weight_map:
            raise CheckpointError(index_path, "has no 'weight_map' object")
        files = [directory / name for name in sorted(set(weight_map.values()))]
        for f in files:
            if not f.is_file():
                raise CheckpointError(f, f"shard listed in {SAFETENSORS_INDEX_NAME} is missing")
        return files
    single = directory / SAFETENSORS_NAME
    if single.is_file():
        return [single]
    others = sorted(directory.glob("*.safetensors"))
    if len(others) == 1:
        return others
    if others:
        raise CheckpointError(
            directory, f"{len(others)} .safetensors files but no {SAFETENSORS_INDEX_NAME} to say which to use"
        )
    raise CheckpointError(directory, f"no {SAFETENSORS_NAME} (or sharded {SAFETENSORS_INDEX_NAME}) found")


@dataclass
class TensorInfo:
    file: Path
    shape: tuple[int, ...]
    dtype: str


def read_tensor_index(files: Iterable[Path]) -> dict[str, TensorInfo]:
    """Name -> (file, shape, dtype) from the safetensors headers only (no tensor data read)."""
    index: dict[str, TensorInfo] = {}
    for path in files:
        try:
            with safe_open(str(path), framework="pt") as f:
                for name in f.keys():
                    sl = f.get_slice(name)
                    if name in index:
                        raise CheckpointError(path, f"tensor {name!r} also appears in {index[name].file.name}")
                    index[name] = TensorInfo(path, tuple(sl.get_shape()), str(sl.get_dtype()))
        except CheckpointError:
            raise
        except Exception as exc:  # noqa: BLE001 - safetensors raises several types for bad files
            raise CheckpointError(path, f"not a readable safetensors file ({type(exc).__name__}: {exc})") from None
    return index


def _materialize_non_persistent_buffers(model: nn.Module, device: torch.device) -> None:
    """Recompute the buffers that are not in any checkpoint after a meta-device build.

    Only two kinds exist (doc §10): SigLIP ``position_ids`` and Llama ``rotary_emb.inv_freq``.
    Anything else still on meta is a bug, reported by name.
    """
    for module in model.modules():
        cls_name = type(module).__name__
        if cls_name == "SiglipVisionEmbeddings":
            module.position_ids = torch.arange(module.num_positions, device=device).expand((1, -1))
        elif cls_name == "LlamaRotaryEmbedding":
            init_fn = module.compute_default_rope_parameters
            if module.rope_type != "default":
                from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

                init_fn = ROPE_INIT_FUNCTIONS[module.rope_type]
            inv_freq, module.attention_scaling = init_fn(module.config)
            inv_freq = inv_freq.to(device)
            module.inv_freq = inv_freq
            module.original_inv_freq = inv_freq.clone()
    leftovers = [n for n, b in model.named_buffers() if b.is_meta]
    if leftovers:
        raise RuntimeError(f"buffers left on the meta device after loading: {leftovers}")


def build_meta_model(config: Gr00tN1Config) -> Gr00tN1Model:
    """The model with every tensor on the meta device (shapes only, no memory)."""
    with torch.device("meta"):
        return Gr00tN1Model(config)


_LOAD_BATCH_BYTES = 256 * 2**20


def load_weights_into(
    model: Gr00tN1Model,
    tensor_index: Mapping[str, TensorInfo],
    *,
    dtype: torch.dtype,
    device: torch.device | str,
    source: Path,
) -> KeyReport:
    """Strict-check then assign every tensor of ``tensor_index`` into a (meta) model."""
    device = torch.device(device)
    report = compare_shapes({k: v.shape for k, v in tensor_index.items()}, model_shapes(model))
    if not report.ok:
        raise CheckpointMismatchError(source, report)
    state: dict[str, torch.Tensor] = {}
    by_file: dict[Path, list[str]] = {}
    for name, info in tensor_index.items():
        if not is_ignored_key(name):
            by_file.setdefault(info.file, []).append(name)
    for path, names in by_file.items():
        try:
            pending = list(names)
            while pending:
                # safetensors memory-maps the file and the pages read stay mapped (and counted in RSS)
                # until it is closed; reopening every ~256 MiB bounds that to one batch when the
                # tensors are converted to another dtype (bf16 file -> fp32 model).
                with safe_open(str(path), framework="pt", device="cpu") as f:
                    batch_bytes = 0
                    while pending and batch_bytes < _LOAD_BATCH_BYTES:
                        name = pending.pop(0)
                        source = f.get_tensor(name)
                        batch_bytes += source.numel() * source.element_size()
                        # One tensor at a time, straight into the target dtype.
                        state[name] = source.to(device=device, dtype=dtype)
                        del source
        except Exception as exc:  # noqa: BLE001
            raise CheckpointError(path, f"failed reading tensor data ({type(exc).__name__}: {exc})") from None
    model.load_state_dict(state, strict=True, assign=True)
    _materialize_non_persistent_buffers(model, device)
    return report


@dataclass
class LoadedCheckpoint:
    model: Gr00tN1Model
    config: Gr00tN1Config
    metadata: dict[str, Any] | None
    report: KeyReport
    files: list[Path]


def load_config(directory: str | Path) -> Gr00tN1Config:
    path = Path(directory) / CONFIG_NAME
    data = _read_json(path, "model config")
    try:
        if isinstance(data, dict) and "schema" in data:
            return Gr00tN1Config.from_parity_dict(data)
        return Gr00tN1Config.from_hf_dict(data)
    except (ConfigError, KeyError, TypeError) as exc:
        raise CheckpointError(path, f"invalid GR00T N1 config ({exc})") from None


def load_metadata(directory: str | Path) -> dict[str, Any] | None:
    path = Path(directory) / METADATA_RELPATH
    if not path.exists():
        return None
    data = _read_json(path, "embodiment metadata")
    if not isinstance(data, dict):
        raise CheckpointError(path, "must hold a JSON object keyed by embodiment tag")
    return data


def load_checkpoint(
    directory: str | Path,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    config: Gr00tN1Config | None = None,
) -> LoadedCheckpoint:
    """Load a checkpoint directory (HF layout) into a :class:`Gr00tN1Model` in eval mode."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(directory, "checkpoint directory does not exist")
    config = config or load_config(directory)
    files = safetensors_files(directory)
    index = read_tensor_index(files)
    model = build_meta_model(config)
    report = load_weights_into(model, index, dtype=dtype, device=device, source=directory)
    model.eval()
    metadata = load_metadata(directory)
    logger.info(
        "loaded %s: %d tensors from %d file(s) as %s on %s (%d ignored)",
        directory,
        report.matched,
        len(files),
        dtype,
        device,
        len(report.ignored),
    )
    return LoadedCheckpoint(model=model, config=config, metadata=metadata, report=report, files=files)


def load_safetensors_file(
    model_config: Gr00tN1Config, path: str | Path, *, dtype: torch.dtype = torch.float32, device: str = "cpu"
) -> Gr00tN1Model:
    """Load a bare ``.safetensors`` (e.g. the parity ``tiny_model.safetensors``) with the strict check."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "weights file is missing")
    model = build_meta_model(model_config)
    load_weights_into(model, read_tensor_index([path]), dtype=dtype, device=device, source=path)
    return model.eval()


# ----------------------------------------------------------------------------- writing
def _parse_size(size: int | str | None) -> int | None:
    if size is None or isinstance(size, int):
        return size
    units = {"KB": 1e3, "MB": 1e6, "GB": 1e9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}
    text = size.strip().upper()
    for unit, factor in sorted(units.items(), key=lambda u: -len(u[0])):
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


def save_checkpoint(
    model: Gr00tN1Model,
    directory: str | Path,
    *,
    metadata: Mapping[str, Any] | None = None,
    dtype: torch.dtype | None = None,
    max_shard_size: int | str | None = None,
) -> list[Path]:
    """Write ``config.json``, the safetensors file(s) and ``experiment_cfg/metadata.json``.

    Args:
        dtype: storage dtype (e.g. ``torch.bfloat16`` like the released checkpoint); default: as is.
        max_shard_size: bytes (or "200MB") per shard; shards are named as HF does
            (``model-00001-of-00003.safetensors`` + ``model.safetensors.index.json``).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CONFIG_NAME).write_text(json.dumps(model.config.to_hf_dict(), indent=2) + "\n")
    state = model.state_dict()
    limit = _parse_size(max_shard_size)
    out_dtype = {name: (dtype if dtype is not None and t.is_floating_point() else t.dtype) for name, t in state.items()}
    # Plan shards from sizes only; tensors are converted shard by shard, so saving needs at most
    # one shard of extra memory (none when the storage dtype equals the model's).
    shards: list[list[str]] = [[]]
    shard_bytes = 0
    for name in sorted(state):
        nbytes = state[name].numel() * torch.tensor([], dtype=out_dtype[name]).element_size()
        if limit is not None and shards[-1] and shard_bytes + nbytes > limit:
            shards.append([])
            shard_bytes = 0
        shards[-1].append(name)
        shard_bytes += nbytes
    for stale in list(directory.glob("model*.safetensors")) + [directory / SAFETENSORS_INDEX_NAME]:
        stale.unlink(missing_ok=True)

    def materialize(names: list[str]) -> dict[str, torch.Tensor]:
        tensors: dict[str, torch.Tensor] = {}
        seen_storage: set[int] = set()
        for name in names:
            t = state[name].detach().to("cpu", out_dtype[name]).contiguous()
            if t.untyped_storage().data_ptr() in seen_storage:  # safetensors refuses shared storage
                t = t.clone()
            seen_storage.add(t.untyped_storage().data_ptr())
            tensors[name] = t
        return tensors

    written: list[Path] = []
    if len(shards) == 1:
        path = directory / SAFETENSORS_NAME
        save_file(materialize(shards[0]), str(path), metadata={"format": "pt"})
        written.append(path)
    else:
        weight_map: dict[str, str] = {}
        total = 0
        for i, names in enumerate(shards, start=1):
            file_name = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
            tensors = materialize(names)
            save_file(tensors, str(directory / file_name), metadata={"format": "pt"})
            written.append(directory / file_name)
            for key, t in tensors.items():
                weight_map[key] = file_name
                total += t.numel() * t.element_size()
            del tensors
        index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
        (directory / SAFETENSORS_INDEX_NAME).write_text(json.dumps(index, indent=2) + "\n")
    if metadata is not None:
        meta_path = directory / METADATA_RELPATH
        meta_path.parent.mkdir(parents=True, exist_ok=True)
        meta_path.write_text(json.dumps(metadata, indent=2) + "\n")
    return written


def count_parameters(shapes: Mapping[str, Iterable[int]]) -> int:
    return sum(math.prod(s) for s in shapes.values())


def checkpoint_fingerprint(directory: str | Path, files: Iterable[Path] | None = None) -> str:
    """Cheap content fingerprint (sha256 hex) of a checkpoint directory.

    Hashing 4.4 GB would take longer than loading it, so this hashes config.json, metadata.json,
    every weight file's size and safetensors header, and 16 evenly spaced 64 KiB samples of its
    data. Any fine-tune changes values in every sampled region with near certainty, so two
    checkpoints with the same fingerprint are, in practice, the same weights.
    """
    import hashlib

    directory = Path(directory)
    digest = hashlib.sha256()
    for extra in (directory / CONFIG_NAME, directory / METADATA_RELPATH):
        if extra.is_file():
            digest.update(extra.read_bytes())
    sample, count = 64 * 1024, 16
    for path in sorted(files if files is not None else safetensors_files(directory)):
        size = path.stat().st_size
        digest.update(f"{path.name}:{size}".encode())
        with path.open("rb") as f:
            header_len = int.from_bytes(f.read(8), "little")
            digest.update(f.read(min(header_len, size)))
            for i in range(count):
                f.seek(int(i * max(size - sample, 0) / max(count - 1, 1)))
                digest.update(f.read(sample))
    return digest.hexdigest()
