"""High-level GR00T N1 inference API used by the ROS nodes (no ROS imports).

The dual-rate split of the paper: System 2 (:meth:`Gr00tPolicy.encode_goal`, ~10 Hz) turns camera
views and an instruction into goal tokens; :meth:`Gr00tPolicy.prepare_goal` turns them into a
:class:`GoalCache` (cross-attention K/V, once per goal); System 1 (:meth:`Gr00tPolicy.predict_chunk`,
as often as needed) turns the robot state and the cached goal into a chunk of absolute joint targets.

Typical use::

    policy = Gr00tPolicy.from_pretrained(ckpt_dir, embodiment="gr1", data_config="gr1_arms_waist",
                                         tokenizer_dir=eagle2_dir)
    goal = policy.prepare_goal(policy.encode_goal([ego_view_rgb], "pick up the apple"))
    chunk = policy.predict_chunk({"left_arm": q_left, ...}, goal)   # group -> (16, dim) radians

Goal tokens cross process boundaries as raw bytes (:meth:`GoalTokens.to_bytes` /
:meth:`GoalTokens.from_bytes`); ``tokens`` is always a contiguous (1, T, D) tensor.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .model.checkpoint import CheckpointError, checkpoint_fingerprint, load_checkpoint, save_checkpoint
from .model.configuration_gr00t_n1 import Gr00tN1Config, get_preset
from .model.embodiments import (
    DATA_CONFIGS,
    DataConfig,
    EmbodimentStats,
    decode_actions,
    encode_state,
    get_data_config,
    make_metadata,
)
from .model.hub import resolve_model
from .model.modeling_action_head import DenoisingPlan, GoalKV
from .model.modeling_gr00t_n1 import Gr00tN1Model
from .model.processing_gr00t_n1 import Gr00tN1Processor, PromptTokenizer

logger = logging.getLogger(__name__)

# NVIDIA's deployment scripts run 4 Euler steps ("on par with 16", doc §4.3); config.json says 16.
DEFAULT_DENOISING_STEPS = 4
_BYTE_DTYPES = {torch.float32: 4, torch.float16: 2, torch.bfloat16: 2}
# Precisions a policy can be loaded in, by name (node parameters, CLI options).
MODEL_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def model_dtype(name: str) -> torch.dtype:
    """``"float32"`` / ``"bfloat16"`` / ``"float16"`` -> the torch dtype; ValueError otherwise."""
    try:
        return MODEL_DTYPES[name]
    except KeyError:
        raise ValueError(f"dtype must be one of {sorted(MODEL_DTYPES)}, got {name!r}") from None


def check_device(device: str) -> torch.device:
    """``device`` as a torch device, or ValueError where this machine cannot run on it (no CUDA)."""
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"device {device!r} is not a torch device name ({exc})") from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {device!r}: no CUDA device is available (torch {torch.__version__}, built for CUDA "
                f"{torch.version.cuda}); set device: cpu or install a CUDA build of torch"
            )
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return resolved


@dataclass(frozen=True)
class GoalTokens:
    """System 2 output for one observation.

    Attributes:
        tokens: (1, T, D) contiguous goal tokens (backbone features), model dtype.
        mask: (1, T) bool, True on real tokens. Single prompts are never padded, so it is all True;
            the DiT does not read it (N1 passes no mask), it is kept for consumers that do.
    """

    tokens: torch.Tensor
    mask: torch.Tensor

    def __post_init__(self) -> None:
        if self.tokens.dim() != 3 or self.tokens.shape[0] != 1:
            raise ValueError(f"goal tokens must be (1, T, D), got {tuple(self.tokens.shape)}")
        if tuple(self.mask.shape) != tuple(self.tokens.shape[:2]):
            raise ValueError(f"goal mask {tuple(self.mask.shape)} does not match tokens {tuple(self.tokens.shape)}")

    @property
    def num_tokens(self) -> int:
        return int(self.tokens.shape[1])

    @property
    def dim(self) -> int:
        return int(self.tokens.shape[2])

    def to_bytes(self, dtype: torch.dtype = torch.float16) -> bytes:
        """Row-major little-endian (T, D) values in ``dtype`` (float32, float16 or bfloat16).

        The mask is not included: a single prompt has no padding. 1 view, T = 99, D = 1536 in
        bf16 is 304,128 bytes (doc §2.4).
        """
        if dtype not in _BYTE_DTYPES:
            raise ValueError(f"dtype must be one of {list(_BYTE_DTYPES)}, got {dtype}")
        t = self.tokens[0].detach().to("cpu", dtype).contiguous()
        as_int = t.view(torch.int16) if t.element_size() == 2 else t.view(torch.int32)
        return as_int.numpy().astype(as_int.numpy().dtype.newbyteorder("<"), copy=False).tobytes()

    @classmethod
    def from_bytes(
        cls,
        data: bytes | bytearray | memoryview,
        num_tokens: int,
        dim: int,
        dtype: torch.dtype = torch.float16,
        *,
        to_dtype: torch.dtype = torch.float32,
    ) -> GoalTokens:
        """Inverse of :meth:`to_bytes`: returns (1, num_tokens, dim) tokens in ``to_dtype``."""
        if dtype not in _BYTE_DTYPES:
            raise ValueError(f"dtype must be one of {list(_BYTE_DTYPES)}, got {dtype}")
        expected = num_tokens * dim * _BYTE_DTYPES[dtype]
        if len(data) != expected:
            raise ValueError(
                f"goal token payload has {len(data)} bytes, expected {expected} "
                f"({num_tokens} x {dim} x {_BYTE_DTYPES[dtype]})"
            )
        np_int = np.dtype("<i2") if _BYTE_DTYPES[dtype] == 2 else np.dtype("<i4")
        raw = torch.from_numpy(np.frombuffer(bytes(data), dtype=np_int).astype(np_int.newbyteorder("="))).view(dtype)
        tokens = raw.reshape(1, num_tokens, dim).to(to_dtype).contiguous()
        return cls(tokens=tokens, mask=torch.ones(1, num_tokens, dtype=torch.bool))


@dataclass(frozen=True)
class GoalCache:
    """Per-goal precomputation for System 1: the goal tokens and their cross-attention K/V.

    Tied to the model that computed it (``model_id``); reuse it for every chunk until the next goal.
    """

    goal: GoalTokens
    kv: GoalKV
    model_id: str


class Gr00tPolicy:
    """GR00T N1 policy for one embodiment and data config."""

    def __init__(
        self,
        model: Gr00tN1Model,
        *,
        tokenizer: PromptTokenizer,
        data_config: DataConfig,
        metadata: Mapping[str, Any],
        model_id: str,
        denoising_steps: int | None = None,
    ) -> None:
        self.model = model.eval()
        self.config: Gr00tN1Config = model.config
        self.data_config = data_config
        self.metadata = dict(metadata)
        self.stats = EmbodimentStats.from_metadata(self.metadata, data_config)
        self.model_id = model_id
        self.denoising_steps = int(denoising_steps or DEFAULT_DENOISING_STEPS)
        self.processor = Gr00tN1Processor(self.config.backbone, tokenizer)
        head = self.config.action_head
        if data_config.action_dim > head.action_dim or data_config.encoded_state_dim > head.max_state_dim:
            raise ValueError(
                f"data config {data_config.name!r} needs {data_config.action_dim} action / "
                f"{data_config.encoded_state_dim} state dims; the model has {head.action_dim} / "
                f"{head.max_state_dim}"
            )
        if data_config.embodiment_id >= head.max_num_embodiments:
            raise ValueError(
                f"embodiment id {data_config.embodiment_id} exceeds the model's {head.max_num_embodiments} slots"
            )
        with torch.inference_mode():
            self._plan: DenoisingPlan = self.model.action_head.build_plan(
                self.denoising_steps, data_config.embodiment_id
            )
        logger.info(
            "GR00T N1 policy %s: embodiment %s (slot %d), data config %s, %d denoising steps, %s on %s",
            model_id,
            data_config.embodiment_tag,
            data_config.embodiment_id,
            data_config.name,
            self.denoising_steps,
            self.model.dtype,
            self.model.device,
        )

    # ------------------------------------------------------------------------ construction
    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        *,
        embodiment: str | None = None,
        data_config: str | None = None,
        device: str = "cpu",
        dtype: torch.dtype = torch.float32,
        tokenizer_dir: str | Path | None = None,
        denoising_steps: int | None = None,
    ) -> Gr00tPolicy:
        """Load a checkpoint directory (HF layout with ``experiment_cfg/metadata.json``).

        Args:
            embodiment: metadata tag (``gr1``, ``new_embodiment``); default: the only tag in the
                metadata.
            data_config: registered data config name; default: the one recorded by
                :func:`make_metadata`, else the registered config whose action groups equal the
                metadata's.
            tokenizer_dir: Eagle-2 tokenizer files (real checkpoints); default ``<path>/tokenizer``
                when present. The ``demo`` tokenizer ships with the package.
            denoising_steps: Euler steps; default 4 (NVIDIA deployment setting).
        """
        path = Path(path)
        loaded = load_checkpoint(path, dtype=dtype, device=device)
        if loaded.metadata is None:
            raise CheckpointError(
                path / "experiment_cfg" / "metadata.json",
                "embodiment metadata is missing (needed to un-normalise actions)",
            )
        tag = _resolve_embodiment(loaded.metadata, embodiment, path)
        cfg = _resolve_data_config(loaded.metadata, tag, data_config, path)
        if tokenizer_dir is None and (path / "tokenizer").is_dir():
            tokenizer_dir = path / "tokenizer"
        tokenizer = PromptTokenizer.for_backbone(loaded.config.backbone, tokenizer_dir)
        model_id = f"{path.resolve().name}-{checkpoint_fingerprint(path, loaded.files)[:8]}"
        return cls(
            loaded.model,
            tokenizer=tokenizer,
            data_config=cfg,
            metadata=loaded.metadata,
            model_id=model_id,
            denoising_steps=denoising_steps,
        )

    @classmethod
    def from_preset(
        cls,
        preset: str,
        *,
        seed: int = 0,
        embodiment: str = "gr1",
        data_config: str = "gr1_arms_only",
        metadata: Mapping[str, Any] | None = None,
        device: str = "cpu",
        dtype: torch.dtype = torch.float32,
        tokenizer_dir: str | Path | None = None,
        denoising_steps: int | None = None,
    ) -> Gr00tPolicy:
        """Random weights for a preset (``demo``; ``gr00t_n1_2b`` needs ~9 GB in fp32), seeded.

        ``metadata`` defaults to statistics min = -1, max = 1 for every dim, i.e. the identity
        between normalised and joint space; pass :func:`make_metadata` output built from the
        robot's joint limits for meaningful ranges.
        """
        config = get_preset(preset)
        cfg = get_data_config(data_config, embodiment)
        if metadata is None:
            metadata = identity_metadata(embodiment, cfg)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = Gr00tN1Model(config)
        model = model.to(device=device, dtype=dtype)
        tokenizer = PromptTokenizer.for_backbone(config.backbone, tokenizer_dir)
        return cls(
            model,
            tokenizer=tokenizer,
            data_config=cfg,
            metadata=metadata,
            model_id=f"{preset}-seed{seed}",
            denoising_steps=denoising_steps,
        )

    def save_pretrained(
        self,
        directory: str | Path,
        *,
        dtype: torch.dtype | None = None,
        max_shard_size: int | str | None = None,
    ) -> list[Path]:
        """Write the model and its metadata in the layout :meth:`from_pretrained` reads."""
        return save_checkpoint(
            self.model, directory, metadata=self.metadata, dtype=dtype, max_shard_size=max_shard_size
        )

    # ------------------------------------------------------------------------ properties
    @property
    def action_horizon(self) -> int:
        return self.config.action_head.action_horizon

    @property
    def goal_dim(self) -> int:
        """Width D of the goal tokens."""
        return self.config.backbone.output_dim

    # ------------------------------------------------------------------------ System 2
    @torch.inference_mode()
    def encode_goal(self, images: Sequence[np.ndarray], instruction: str) -> GoalTokens:
        """Camera views (HxWx3 uint8 RGB, one per ``data_config.video_keys``, in order) + text -> goal tokens.

        Frames are center-cropped by 0.95 and resized to 224 px as the reference eval transforms do;
        when the metadata records a camera resolution, frames of another size are rejected (the
        original asserts it, because the crop geometry was trained at that size).
        """
        keys = self.data_config.video_keys
        if len(images) != len(keys):
            raise ValueError(
                f"data config {self.data_config.name!r} expects {len(keys)} view(s) {list(keys)}, got {len(images)}"
            )
        for key, image in zip(keys, images, strict=True):
            expected = self.stats.video_resolution.get(key)
            if image.ndim != 3 or image.shape[2] != 3:
                raise ValueError(f"view {key!r}: expected HxWx3 RGB, got shape {image.shape}")
            if expected is not None and (image.shape[1], image.shape[0]) != tuple(expected):
                raise ValueError(
                    f"view {key!r}: frame is {image.shape[1]}x{image.shape[0]} (WxH), checkpoint metadata "
                    f"says {expected[0]}x{expected[1]}"
                )
        inputs = self.processor([list(images)], [instruction])
        device = self.model.device
        out = self.model.encode_goal(
            inputs["pixel_values"].to(device),
            inputs["input_ids"].to(device),
            inputs["attention_mask"].to(device),
        )
        return GoalTokens(tokens=out.features.contiguous(), mask=out.attention_mask.bool())

    @torch.inference_mode()
    def prepare_goal(self, goal: GoalTokens) -> GoalCache:
        """Goal tokens -> per-goal cache (cross-attention K/V of every cross block), once per goal."""
        if goal.dim != self.goal_dim:
            raise ValueError(f"goal tokens have width {goal.dim}, this model expects {self.goal_dim}")
        tokens = goal.tokens.to(self.model.device, self.model.dtype)
        kv = self.model.action_head.prepare_goal_kv(tokens)
        return GoalCache(goal=GoalTokens(tokens=tokens, mask=goal.mask), kv=kv, model_id=self.model_id)

    # ------------------------------------------------------------------------ System 1
    def _state_tensor(self, state: Mapping[str, np.ndarray]) -> torch.Tensor:
        vector = encode_state(state, self.data_config, self.stats)
        return torch.from_numpy(vector).to(self.model.device, self.model.dtype).view(1, 1, -1)

    def _decode(self, actions: torch.Tensor) -> dict[str, np.ndarray]:
        return decode_actions(actions[0].float().cpu().numpy().astype(np.float64), self.data_config, self.stats)

    def _rtc_guidance(
        self, prefix: Mapping[str, np.ndarray] | None, prefix_weights: np.ndarray | None
    ) -> dict[str, torch.Tensor]:
        """Group -> (H, dim) radians prefix and (H,) weights -> sampler kwargs in normalised space.

        The prefix is min-max normalised with this policy's action statistics, exactly as actions
        are; padded action dims get weight 0 (no target there).
        """
        if prefix is None and prefix_weights is None:
            return {}
        if prefix is None or prefix_weights is None:
            raise ValueError("real-time chunking needs both prefix and prefix_weights")
        horizon = self.action_horizon
        weights = np.asarray(prefix_weights, dtype=np.float64).reshape(-1)
        if weights.shape != (horizon,) or not np.all(np.isfinite(weights)):
            raise ValueError(f"prefix_weights must be {horizon} finite values, got shape {np.shape(prefix_weights)}")
        if np.any((weights < 0) | (weights > 1)):
            raise ValueError(f"prefix_weights must lie in [0, 1], got {weights.tolist()}")
        target = np.zeros((horizon, self.config.action_head.action_dim))
        mask = np.zeros_like(target)
        start = 0
        for group, dim in self.data_config.action_groups:
            if group not in prefix:
                raise KeyError(
                    f"RTC prefix lacks action group {group!r} (data config {self.data_config.name!r} needs "
                    f"{[g for g, _ in self.data_config.action_groups]})"
                )
            values = np.asarray(prefix[group], dtype=np.float64)
            if values.shape != (horizon, dim) or not np.all(np.isfinite(values)):
                raise ValueError(f"RTC prefix {group!r} must be finite ({horizon}, {dim}), got shape {values.shape}")
            target[:, start : start + dim] = self.stats.action[group].normalize(values)
            mask[:, start : start + dim] = 1.0
            start += dim
        device, dtype = self.model.device, self.model.dtype
        return {
            "prefix": torch.from_numpy(target).to(device, dtype).unsqueeze(0),
            "prefix_weights": torch.from_numpy(weights[:, None] * mask).to(device, dtype).unsqueeze(0),
        }

    @torch.inference_mode()
    def predict_chunk(
        self,
        state: Mapping[str, np.ndarray],
        goal: GoalCache,
        *,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        prefix: Mapping[str, np.ndarray] | None = None,
        prefix_weights: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """One action chunk via the cached sampler.

        Args:
            state: group -> (dim,) joint positions in radians (groups of ``data_config.state_groups``).
            goal: from :meth:`prepare_goal` of this policy.
            noise: initial noise (1, horizon, 32); default drawn with ``generator``.
            prefix / prefix_weights: real-time chunking (Black et al. 2025): group -> (horizon, dim)
                radians the robot will execute meanwhile (``RtcGuidance.prefix_positions`` mapped to
                groups) and (horizon,) weights in [0, 1] (``RtcGuidance.guidance_weights``). Steps
                with weight 1 come out equal to the prefix, weight 0 leaves a step to the model;
                see :func:`~gr00t_policy.model.modeling_action_head.inpaint_euler_update`.
        Returns:
            group -> (horizon, dim) float64 absolute joint targets (un-normalised).
        """
        if goal.model_id != self.model_id:
            raise ValueError(f"goal cache was made by model {goal.model_id!r}, this policy is {self.model_id!r}")
        actions = self.model.action_head.sample_cached(
            goal.kv,
            self._state_tensor(state),
            self._plan,
            noise=noise,
            generator=generator,
            **self._rtc_guidance(prefix, prefix_weights),
        ).actions
        return self._decode(actions)

    @torch.inference_mode()
    def predict_chunk_naive(
        self,
        state: Mapping[str, np.ndarray],
        goal: GoalCache | GoalTokens,
        *,
        noise: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        prefix: Mapping[str, np.ndarray] | None = None,
        prefix_weights: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Same as :meth:`predict_chunk` through the original, uncached sampler (parity/benchmarks)."""
        tokens = goal.goal.tokens if isinstance(goal, GoalCache) else goal.tokens
        head = self.model.action_head
        ids = torch.tensor([self.data_config.embodiment_id], device=self.model.device)
        actions = head.sample_naive(
            tokens.to(self.model.device, self.model.dtype),
            self._state_tensor(state),
            ids,
            num_steps=self.denoising_steps,
            noise=noise,
            generator=generator,
            **self._rtc_guidance(prefix, prefix_weights),
        ).actions
        return self._decode(actions)


DEFAULT_MODEL_NAME = "gr00t_demo"


def resolve_model_path(model_path: str) -> Path:
    """'' -> the bundled default model; otherwise a checkpoint directory or a Hugging Face Hub repo
    id (``org/name[@revision]``, from the Hub cache; see ``model/hub.py``).

    Lookup for '': $GR00T_MODEL_DIR, then $GR00T_MODELS_DIR/gr00t_demo, then a `models/gr00t_demo`
    in the current directory or any parent (a source checkout), then next to this installation.
    """
    if model_path:
        return resolve_model(model_path)
    if os.environ.get("GR00T_MODEL_DIR"):
        return Path(os.environ["GR00T_MODEL_DIR"])
    if os.environ.get("GR00T_MODELS_DIR"):
        return Path(os.environ["GR00T_MODELS_DIR"]) / DEFAULT_MODEL_NAME
    for start in (Path.cwd(), Path(__file__).resolve()):
        for folder in (start, *start.parents):
            candidate = folder / "models" / DEFAULT_MODEL_NAME
            if (candidate / "config.json").is_file():
                return candidate
    raise FileNotFoundError(
        "no model_path given and the bundled model models/gr00t_demo was not found; "
        "set the model_path parameter or GR00T_MODELS_DIR"
    )


def identity_metadata(embodiment_tag: str, data_config: str | DataConfig) -> dict[str, Any]:
    """Metadata with min = -1, max = 1 everywhere (normalised == joint space)."""
    cfg = get_data_config(data_config) if isinstance(data_config, str) else data_config

    def unit(groups: Sequence[tuple[str, int]]) -> dict[str, dict[str, list[float]]]:
        return {g: {"min": [-1.0] * d, "max": [1.0] * d} for g, d in groups}

    return make_metadata(embodiment_tag, cfg, unit(cfg.state_groups), unit(cfg.action_groups))


def _resolve_embodiment(metadata: Mapping[str, Any], embodiment: str | None, path: Path) -> str:
    tags = sorted(metadata)
    if embodiment is not None:
        if embodiment not in metadata:
            raise KeyError(f"{path}: embodiment {embodiment!r} has no metadata; available: {tags}")
        return embodiment
    if len(tags) != 1:
        raise ValueError(f"{path}: metadata has embodiments {tags}; pass embodiment=<tag>")
    return tags[0]


def _resolve_data_config(metadata: Mapping[str, Any], tag: str, name: str | None, path: Path) -> DataConfig:
    entry = metadata[tag]
    name = name or entry.get("data_config")
    if name is None:
        action_keys = set(
            entry.get("modalities", {}).get("action", {}) or entry.get("statistics", {}).get("action", {})
        )
        matches = [n for n, c in DATA_CONFIGS.items() if {g for g, _ in c.action_groups} == action_keys]
        if len(matches) != 1:
            raise ValueError(
                f"{path}: cannot infer the data config of {tag!r} from action groups {sorted(action_keys)}; "
                f"pass data_config= one of {sorted(DATA_CONFIGS)}"
            )
        name = matches[0]
    return get_data_config(name, tag)
