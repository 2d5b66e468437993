"""Fine-tuning GR00T N1 with the flow-matching loss on a GR00T LeRobot dataset (no ROS).

Recipe = Isaac-GR00T ``scripts/gr00t_finetune.py`` (reference doc §8): AdamW (lr 1e-4, betas
(0.95, 0.999), eps 1e-8, weight decay 1e-5), cosine schedule with 5 % linear warm-up, gradient
clipping at norm 1 (HF Trainer's ``max_grad_norm``), bf16 autocast + TF32 on CUDA with fp32 master
weights, ``new_embodiment`` (slot 31) by default. What is trained follows the original's
``set_trainable_parameters``:

* ``tune_llm`` off freezes the LLM; ``tune_visual`` off freezes the SigLIP tower **and** mlp1;
  ``backbone.linear`` (the projection into the action head's width) always trains.
* ``tune_projector`` off freezes the state/action encoders, the action decoder and the position
  embedding; ``tune_diffusion_model`` off freezes the DiT.
* Frozen modules run in eval mode (``set_frozen_modules_to_eval_mode``), so their dropout is off.

Output directory::

    <output_dir>/checkpoint-<step>/   config.json, model.safetensors, experiment_cfg/metadata.json,
                                      trainer_state.pt (optimizer, schedule, RNG), trainer_state.json
    <output_dir>/                     the final model in the same HF layout (Gr00tPolicy.from_pretrained)
    <output_dir>/train_log.jsonl      one line per logged step: step, loss, lr, grad_norm, timings
    <output_dir>/loss_curve.png       when matplotlib is installed

Checkpoints are written to a temporary directory and renamed, so a crash while saving never leaves
a half-written ``checkpoint-<step>``. A resumed run continues bit-for-bit on the same device: the
sample stream, the crops, dropout and the loss noise all resume from the saved state.

Multi-GPU (DDP): ``torchrun --nproc_per_node N $(which gr00t-finetune) ...`` runs one process per
device (:mod:`.distributed`; ``nccl`` on CUDA, ``gloo`` on the CPU). The trainable part of the model
is wrapped in ``DistributedDataParallel`` (frozen parameters are not registered with it, so no
``find_unused_parameters`` is needed unless a trainable parameter gets no gradient, which is
detected once at start-up), gradients are averaged over ranks once per optimizer step (``no_sync``
on the other micro-batches), and the sample stream is sharded over the ranks
(:class:`ShuffledStreamSampler`). ``batch_size`` is per device: an optimizer step sees
``batch_size * gradient_accumulation_steps * world_size`` samples (the effective batch; the
learning rate is not rescaled). All ranks start from the same weights (rank 0's are broadcast)
and resume from the same checkpoint; the loss noise, dropout and crops are seeded per rank. Only
rank 0 writes checkpoints (with every rank's RNG state, so a resume on the same world size is
exact), ``train_log.jsonl`` (losses averaged over ranks) and the plot.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
import re
import shutil
import time
from collections.abc import Iterator, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from ..model.checkpoint import load_checkpoint, load_metadata, save_checkpoint
from ..model.configuration_gr00t_n1 import TOKENIZER_EAGLE2, get_preset
from ..model.embodiments import DataConfig, EmbodimentStats, get_data_config
from ..model.hub import resolve_model
from ..model.modeling_gr00t_n1 import Gr00tN1Model
from ..model.processing_gr00t_n1 import PromptTokenizer
from ..policy import MODEL_DTYPES
from .collate import Gr00tTrainingCollator
from .dataset import (
    Gr00tWindowDataset,
    ShuffledStreamSampler,
    WindowConfig,
    dataset_metadata,
    load_dataset_meta,
)
from .distributed import DistributedContext, distributed_session

logger = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "checkpoint-"
TRAINER_STATE_FILE = "trainer_state.pt"
TRAINER_STATE_JSON = "trainer_state.json"
TRAIN_LOG_FILE = "train_log.jsonl"
LOSS_PLOT_FILE = "loss_curve.png"
TOKENIZER_SUBDIR = "tokenizer"  # Gr00tPolicy.from_pretrained looks for <checkpoint>/tokenizer
SAVE_DTYPES = MODEL_DTYPES  # checkpoint storage precisions: those a policy can be loaded in
NORMALIZATION_STATS = ("dataset", "base")
_RANGE_TOLERANCE = 1e-3  # radians; float32 statistics of the same robot differ by less
_MAX_NORMALISED_EXCESS = 1.0  # base normalisation: values up to +-2 are kept, beyond that the range widens
# Settings that must match for a resumed run to continue the same optimisation.
_RESUME_SENSITIVE = (
    "batch_size", "gradient_accumulation_steps", "max_steps", "seed", "learning_rate", "opening_s", "opening_repeat",
    "goal_readout_weight", "normalization_stats",
)


@dataclass(frozen=True)
class FinetuneConfig:
    """Everything a fine-tuning run needs; defaults are the reference recipe (doc §8).

    Attributes (grouped as the CLI groups them):
        dataset_dir / output_dir: GR00T LeRobot dataset; where checkpoints and logs go.
        base_model: checkpoint to start from: a directory, or a Hugging Face repo id
            ``org/name[@revision]`` (``model/hub.py``); or ``preset`` (e.g. ``demo``) with random
            weights seeded by ``preset_seed``. Exactly one of the two.
        tokenizer_dir: Eagle-2 tokenizer files for real checkpoints (default ``<base_model>/tokenizer``);
            copied into every checkpoint so that the result loads on its own.
        instruction_first: prompt order of the trained model (``BackboneConfig.instruction_first``);
            None keeps the base model's. Changing it re-learns how System 2 reads the prompt.
        embodiment_tag: projector slot and metadata key (``new_embodiment`` = 31, ``gr1`` = 24).
        normalization_stats: ``dataset`` (the original runner): the dataset's min/max become the
            checkpoint's normalisation; ``base``: keep the base checkpoint's for this embodiment, for
            continuing a policy on more data of the same robot (new min/max would rescale every
            target the base learned; values beyond the base's range normalise past +-1, and joints
            the data leaves by more than their range are widened: :func:`keep_base_statistics`).
        data_config: registered data config (state/action groups, cameras, state encoding).
        tune_*: what trains (module docstring); reference defaults: LLM frozen, the rest trains.
        batch_size: samples per micro-batch per process (per device); an optimizer step sees
            ``batch_size * gradient_accumulation_steps * world_size`` samples, world_size being the
            number of processes under torchrun (1 otherwise).
        max_steps: optimizer steps; the cosine schedule spans them, warm-up is ``warmup_ratio`` of them.
        max_grad_norm: gradient clipping threshold (0 disables).
        use_video: False trains on blank frames (no decoder needed; vision learns nothing useful).
        opening_s / opening_repeat: frames in each episode's first ``opening_s`` seconds are drawn
            ``opening_repeat`` times per epoch (``WindowConfig``): more of the frames where a
            demonstration commits to its target, so reading the instruction gets more of the loss.
        goal_readout_weight: weight of an auxiliary training-only loss (0 = off, the reference
            recipe): a linear readout of the chunk's motion (last minus first normalised action)
            from the mean goal token (:class:`GoalReadout`). The action head reads the goal tokens
            with state and noise at hand, so the flow-matching loss alone barely asks System 2 to
            say where to move; a linear readout of its mean token can only succeed if System 2
            combines the instruction with the image (e.g. which side the named object is on).
            The readout is saved with the trainer state, never with the model.
        num_workers: DataLoader worker processes (decoding + crops); 0 = in the main process.
        device: ``auto`` = cuda when available, else cpu. ``bf16`` autocast applies on CUDA only.
        save_steps: checkpoint period in optimizer steps; ``save_total_limit`` keeps the newest ones.
        save_dtype: storage dtype of the saved weights (float32 keeps them exact for resuming).
        log_every: steps per line of ``train_log.jsonl`` (mean loss over those steps).
        resume: continue from the newest ``checkpoint-*`` in ``output_dir``.
        ddp_find_unused_parameters: DDP's ``find_unused_parameters``; None = on only if a trainable
            parameter gets no gradient in a probe step at start-up (frozen ones never count).
    """

    dataset_dir: Path
    output_dir: Path
    base_model: Path | str | None = None
    preset: str | None = None
    preset_seed: int = 0
    tokenizer_dir: Path | None = None
    instruction_first: bool | None = None
    embodiment_tag: str = "new_embodiment"
    normalization_stats: str = "dataset"
    data_config: str = "gr1_arms_only"
    # --- what to train (Isaac-GR00T gr00t_finetune.py defaults)
    tune_llm: bool = False
    tune_visual: bool = True
    tune_projector: bool = True
    tune_diffusion_model: bool = True
    # --- optimisation
    batch_size: int = 16
    gradient_accumulation_steps: int = 1
    max_steps: int = 10_000
    learning_rate: float = 1e-4
    adam_betas: tuple[float, float] = (0.95, 0.999)
    adam_eps: float = 1e-8
    weight_decay: float = 1e-5
    warmup_ratio: float = 0.05
    max_grad_norm: float = 1.0
    # --- data
    use_video: bool = True
    num_workers: int = 2
    video_cache_episodes: int = 8
    opening_s: float = 0.0
    opening_repeat: int = 1
    goal_readout_weight: float = 0.0
    # --- run
    seed: int = 42
    device: str = "auto"
    bf16: bool = True
    save_steps: int = 500
    save_total_limit: int | None = 8
    save_dtype: str = "float32"
    log_every: int = 10
    resume: bool = False
    progress_bar: bool = True
    ddp_find_unused_parameters: bool | None = None

    def __post_init__(self) -> None:
        if (self.base_model is None) == (self.preset is None):
            raise ValueError(
                f"give exactly one of base_model and preset (got base_model={self.base_model}, "
                f"preset={self.preset!r})"
            )
        positive = {
            "batch_size": self.batch_size,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
            "max_steps": self.max_steps,
            "save_steps": self.save_steps,
            "log_every": self.log_every,
        }
        for name, value in positive.items():
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.max_grad_norm < 0:
            raise ValueError(f"max_grad_norm must be >= 0 (0 disables clipping), got {self.max_grad_norm}")
        if self.normalization_stats not in NORMALIZATION_STATS:
            raise ValueError(
                f"normalization_stats must be one of {NORMALIZATION_STATS}, got {self.normalization_stats!r}"
            )
        if self.normalization_stats == "base" and self.base_model is None:
            raise ValueError("normalization_stats='base' needs a base_model (a preset has no statistics)")
        if self.save_dtype not in SAVE_DTYPES:
            raise ValueError(f"save_dtype must be one of {sorted(SAVE_DTYPES)}, got {self.save_dtype!r}")
        if self.save_total_limit is not None and self.save_total_limit < 1:
            raise ValueError(f"save_total_limit must be >= 1 or None, got {self.save_total_limit}")
        if self.num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {self.num_workers}")
        if self.opening_s < 0 or self.opening_repeat < 1:
            raise ValueError(f"need opening_s >= 0 and opening_repeat >= 1, got {self.opening_s}, {self.opening_repeat}")
        if not self.goal_readout_weight >= 0:
            raise ValueError(f"goal_readout_weight must be >= 0 (0 disables it), got {self.goal_readout_weight}")
        if not (self.tune_llm or self.tune_visual or self.tune_projector or self.tune_diffusion_model):
            logger.warning("all tune_* flags are off: only backbone.linear trains (as in the original)")

    @property
    def samples_per_step(self) -> int:
        """Samples per optimizer step in one process (times the world size under DDP)."""
        return self.batch_size * self.gradient_accumulation_steps

    @property
    def warmup_steps(self) -> int:
        return math.ceil(self.warmup_ratio * self.max_steps)  # HF Trainer's get_warmup_steps

    def to_json_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(self).items()}


class GoalReadout(nn.Module):
    """Training-only auxiliary head: the chunk's motion, linearly, from the mean goal token.

    Deliberately weak (mean pooling, one linear layer): whatever it predicts must already be in the
    goal tokens, so its loss teaches System 2, not itself.
    """

    def __init__(self, token_dim: int, action_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(token_dim, action_dim)

    def loss(
        self, goal_tokens: torch.Tensor, token_mask: torch.Tensor, action: torch.Tensor, action_mask: torch.Tensor
    ) -> torch.Tensor:
        """MSE between the readout and ``action[:, -1] - action[:, 0]`` on the real action dims.

        Args:
            goal_tokens: (B, T, D) backbone features; token_mask: (B, T), true on prompt tokens.
            action / action_mask: (B, H, A) normalised chunk and its mask, as the flow-matching loss gets.
        """
        weights = token_mask.to(goal_tokens.dtype).unsqueeze(-1)
        pooled = (goal_tokens * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        motion = (action[:, -1] - action[:, 0]).to(pooled.dtype)
        mask = action_mask[:, 0].to(pooled.dtype)
        return (((self.linear(pooled) - motion) ** 2) * mask).sum() / mask.sum().clamp(min=1.0)


@dataclass
class FinetuneResult:
    """What a run did: the final model directory, its last step, and the per-step losses."""

    output_dir: Path
    final_step: int
    start_step: int
    losses: list[tuple[int, float]] = field(default_factory=list)
    checkpoints: list[Path] = field(default_factory=list)


# ----------------------------------------------------------------------------- building blocks
def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda if available, else cpu; other names are passed to torch."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available")
    return device


def set_trainable_modules(
    model: Gr00tN1Model, *, tune_llm: bool, tune_visual: bool, tune_projector: bool, tune_diffusion_model: bool
) -> int:
    """Set ``requires_grad`` as the original's ``set_trainable_parameters``; returns trainable params."""
    model.requires_grad_(True)
    vlm = model.backbone.model
    if not tune_llm:
        vlm.language_model.requires_grad_(False)
    if not tune_visual:
        vlm.vision_model.requires_grad_(False)
        vlm.mlp1.requires_grad_(False)
    head = model.action_head
    if not tune_projector:
        for module in (head.state_encoder, head.action_encoder, head.action_decoder, head.position_embedding):
            module.requires_grad_(False)
    if not tune_diffusion_model:
        head.model.requires_grad_(False)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def frozen_modules_to_eval(
    model: Gr00tN1Model, *, tune_llm: bool, tune_visual: bool, tune_projector: bool, tune_diffusion_model: bool
) -> None:
    """After ``model.train()``: frozen parts back to eval mode (original ``set_frozen_modules_to_eval_mode``)."""
    vlm, head = model.backbone.model, model.action_head
    if not tune_llm:
        vlm.language_model.eval()
    if not tune_visual:
        vlm.vision_model.eval()
        vlm.mlp1.eval()
    if not tune_projector:
        for module in (head.state_encoder, head.action_encoder, head.action_decoder):
            module.eval()
    if not tune_diffusion_model:
        head.model.eval()


def build_optimizer(model: nn.Module, config: FinetuneConfig, extra: nn.Module | None = None) -> torch.optim.AdamW:
    """AdamW over trainable parameters; no weight decay on biases and norms (HF Trainer's grouping).

    ``extra``: a training-only module (the goal readout) optimised alongside the model.
    """
    decay, no_decay = [], []
    named = list(model.named_parameters()) + (list(extra.named_parameters(prefix="extra")) if extra else [])
    for name, param in named:
        if not param.requires_grad:
            continue
        leaf = name.rsplit(".", 1)[-1]
        if leaf in ("bias", "b") or "norm" in name.lower():
            no_decay.append(param)
        else:
            decay.append(param)
    return torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=config.learning_rate,
        betas=config.adam_betas,
        eps=config.adam_eps,
    )


def cosine_schedule_with_warmup(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up from 0, then half a cosine down to 0 (transformers' ``get_cosine_schedule_with_warmup``)."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return step / max(1, warmup_steps)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def list_checkpoints(output_dir: Path) -> list[tuple[int, Path]]:
    """Complete ``checkpoint-<step>`` directories (with trainer state), oldest first."""
    found = []
    if output_dir.is_dir():
        for path in output_dir.iterdir():
            match = re.fullmatch(rf"{CHECKPOINT_PREFIX}(\d+)", path.name)
            if match and path.is_dir() and (path / TRAINER_STATE_FILE).is_file():
                found.append((int(match.group(1)), path))
    return sorted(found)


def latest_checkpoint(output_dir: Path) -> Path | None:
    checkpoints = list_checkpoints(output_dir)
    return checkpoints[-1][1] if checkpoints else None


def merge_metadata(base: Mapping[str, Any] | None, entry: Mapping[str, Any]) -> dict[str, Any]:
    """Base checkpoint metadata with the dataset's embodiment entry added or replaced (original runner)."""
    merged = dict(base or {})
    merged.update(entry)
    return merged


def keep_base_statistics(
    base: Mapping[str, Any] | None, entry: Mapping[str, Any], data_config: DataConfig
) -> dict[str, Any]:
    """The dataset's embodiment entry with the base checkpoint's statistics for it (``base``
    normalisation). Dimensions where the dataset leaves the base's range by more than
    ``_MAX_NORMALISED_EXCESS`` in normalised units are widened to cover it: a joint the base data
    barely moved (a hand held open: a min-max span of micro-radians) would otherwise normalise a
    new recording's motion to values of 1e8 and swamp the loss."""
    tag = data_config.embodiment_tag
    if not base or tag not in base or "statistics" not in base[tag]:
        raise ValueError(
            f"normalization_stats='base': the base checkpoint has no statistics for embodiment {tag!r} "
            f"(it has {sorted(base or {})})"
        )
    base_stats = EmbodimentStats.from_metadata(base, data_config)
    dataset_stats = EmbodimentStats.from_metadata(entry, data_config)
    statistics = copy.deepcopy(base[tag]["statistics"])  # widened below, the base stays as loaded
    for kind in ("state", "action"):
        for group, ours in getattr(dataset_stats, kind).items():
            theirs = getattr(base_stats, kind)[group]
            beyond = np.maximum(theirs.min - ours.min, ours.max - theirs.max)
            normalised = 2.0 * beyond / np.maximum(theirs.max - theirs.min, 1e-12)
            # No absolute tolerance here: a joint held still spans ~1e-12 rad, so even 1e-4 rad of new
            # motion normalises to ~1e8.
            widen = normalised > _MAX_NORMALISED_EXCESS
            if widen.any():
                entry_stats = statistics[kind][group]
                entry_stats["min"] = np.where(widen, np.minimum(theirs.min, ours.min), theirs.min).tolist()
                entry_stats["max"] = np.where(widen, np.maximum(theirs.max, ours.max), theirs.max).tolist()
                logger.warning(
                    "normalization_stats='base': %s.%s dims %s widened to the dataset's range (up to %.3g "
                    "rad beyond the base's, which spans %s rad there)", kind, group, np.flatnonzero(widen).tolist(),
                    float(beyond[widen].max()), [float(f"{v:.3g}") for v in (theirs.max - theirs.min)[widen]],
                )
            elif beyond.max() > _RANGE_TOLERANCE:
                logger.warning(
                    "normalization_stats='base': the dataset's %s.%s goes up to %.3f beyond the base "
                    "checkpoint's range (normalised values up to %.2f past +-1 there)",
                    kind, group, float(beyond.max()), float(normalised.max()),
                )
    kept = {key: dict(value) for key, value in entry.items()}
    kept[tag]["statistics"] = statistics
    return kept


def _to_device(batch: Mapping[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


# ----------------------------------------------------------------------------- the trainer
class Gr00tFinetuner:
    """Builds model, data and optimizer from a :class:`FinetuneConfig` and runs :meth:`train`.

    ``distributed`` / ``device``: the process group and this rank's device (:func:`finetune` sets
    them up under torchrun); by default the current process group if one is initialised, else a
    single process, and ``config.device``.
    """

    def __init__(
        self,
        config: FinetuneConfig,
        *,
        distributed: DistributedContext | None = None,
        device: torch.device | None = None,
    ) -> None:
        self.config = config
        self.dist = distributed if distributed is not None else DistributedContext.current()
        self.device = device if device is not None else resolve_device(config.device)
        self.output_dir = Path(config.output_dir)
        self.data_config = get_data_config(config.data_config, config.embodiment_tag)
        self.dataset_meta = load_dataset_meta(config.dataset_dir, self.data_config, need_video=config.use_video)
        # Effective batch: samples per optimizer step over all processes.
        self.global_batch_size = config.samples_per_step * self.dist.world_size

        resume_from = None
        if config.resume:
            # Rank 0 picks the checkpoint and every rank loads that one.
            resume_from = latest_checkpoint(self.output_dir) if self.dist.is_main else None
            resume_from = self.dist.broadcast(resume_from)
            if resume_from is None:
                logger.warning("resume requested but %s has no checkpoint; starting fresh", self.output_dir)
        elif list_checkpoints(self.output_dir):
            raise FileExistsError(
                f"{self.output_dir} already holds checkpoints ({latest_checkpoint(self.output_dir)}); "
                "pass resume=True (--resume) to continue, or choose another output directory"
            )
        self.resume_from = resume_from

        base_metadata, self.tokenizer_dir = self._build_model(resume_from)
        entry = dataset_metadata(self.dataset_meta, self.data_config)
        if self.config.normalization_stats == "base":
            entry = keep_base_statistics(base_metadata, entry, self.data_config)
        self.metadata = merge_metadata(base_metadata, entry)
        stats = EmbodimentStats.from_metadata(self.metadata, self.data_config)
        head = self.model.config.action_head
        if self.data_config.encoded_state_dim > head.max_state_dim or self.data_config.action_dim > head.action_dim:
            raise ValueError(
                f"data config {self.data_config.name!r} needs {self.data_config.encoded_state_dim} state / "
                f"{self.data_config.action_dim} action dims; the model has {head.max_state_dim} / {head.action_dim}"
            )
        backbone = self.model.config.backbone
        self.dataset = Gr00tWindowDataset(
            self.dataset_meta,
            self.data_config,
            stats,
            WindowConfig(
                action_horizon=head.action_horizon,
                max_action_dim=head.action_dim,
                image_size=backbone.vision.image_size,
                crop_scale=backbone.image_crop_scale,
                use_video=config.use_video,
                video_cache_episodes=config.video_cache_episodes,
                seed=config.seed,
                opening_s=config.opening_s,
                opening_repeat=config.opening_repeat,
            ),
        )
        tokenizer = PromptTokenizer.for_backbone(backbone, self.tokenizer_dir)
        self.collator = Gr00tTrainingCollator(
            tokenizer,
            self.data_config.embodiment_id,
            num_image_tokens=backbone.num_image_tokens,
            image_size=backbone.vision.image_size,
            instruction_first=backbone.instruction_first,
        )
        self._tune = {
            "tune_llm": config.tune_llm,
            "tune_visual": config.tune_visual,
            "tune_projector": config.tune_projector,
            "tune_diffusion_model": config.tune_diffusion_model,
        }
        self.num_trainable = set_trainable_modules(self.model, **self._tune)
        self.goal_readout: GoalReadout | None = None
        self.readout_losses: list[float] = []
        if config.goal_readout_weight > 0:
            torch.manual_seed(config.seed)  # same readout initialisation on every rank
            self.goal_readout = GoalReadout(self.model.backbone.linear.out_features, head.action_dim).to(self.device)
        self.optimizer = build_optimizer(self.model, config, extra=self.goal_readout)
        self.scheduler = cosine_schedule_with_warmup(self.optimizer, config.warmup_steps, config.max_steps)
        # Loss noise and dropout are seeded per rank (rank 0 = a single process's seed); the
        # weights are not (preset_seed / the checkpoint), and DDP broadcasts rank 0's anyway.
        rank_seed = config.seed + self.dist.rank
        self.loss_generator = torch.Generator(device=self.device).manual_seed(rank_seed)
        # Dropout draws from the global RNG: seed it so that two runs of one config are identical
        # (a resumed run then restores the saved state instead).
        torch.manual_seed(rank_seed)
        self.step = 0
        self.sample_position = 0  # samples consumed from the global stream, all ranks together
        if resume_from is not None:
            self._load_trainer_state(resume_from)
        self.ddp: DistributedDataParallel | None = None
        if self.dist.enabled:
            self.ddp = self._wrap_ddp()
        logger.info(
            "fine-tuning %s on %s (%d episodes, %d frames, %d samples per epoch): %s, embodiment %s (slot %d), %s of %s "
            "parameters trainable, device %s, rank %d of %d, effective batch %d "
            "(%d per device x %d accumulation x %d processes), from step %d",
            config.base_model or f"preset {config.preset}",
            self.dataset_meta.root,
            len(self.dataset_meta.episodes),
            self.dataset.num_frames,
            len(self.dataset),
            self.data_config.name,
            self.data_config.embodiment_tag,
            self.data_config.embodiment_id,
            f"{self.num_trainable:,}",
            f"{sum(p.numel() for p in self.model.parameters()):,}",
            self.device,
            self.dist.rank,
            self.dist.world_size,
            self.global_batch_size,
            config.batch_size,
            config.gradient_accumulation_steps,
            self.dist.world_size,
            self.step,
        )

    # ------------------------------------------------------------------ construction helpers
    def _build_model(self, resume_from: Path | None) -> tuple[dict[str, Any] | None, Path | None]:
        """Load the starting weights (checkpoint to resume, base checkpoint or preset) in fp32."""
        config = self.config
        tokenizer_dir = Path(config.tokenizer_dir) if config.tokenizer_dir else None
        base_metadata: dict[str, Any] | None = None
        base: Path | None = None
        if config.base_model is not None:
            base = resolve_model(config.base_model)  # a directory, or a Hub repo id from the cache
            if tokenizer_dir is None and (base / TOKENIZER_SUBDIR).is_dir():
                tokenizer_dir = base / TOKENIZER_SUBDIR
            base_metadata = load_metadata(base)
        source = resume_from or base
        if source is not None:
            # Master weights stay fp32 whatever the storage dtype; bf16 only inside autocast.
            loaded = load_checkpoint(source, dtype=torch.float32, device=self.device)
            self.model = loaded.model
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(config.preset_seed)
                model = Gr00tN1Model(get_preset(str(config.preset)))
            self.model = model.to(self.device, torch.float32)
        backbone = self.model.config.backbone
        if config.instruction_first is not None and config.instruction_first != backbone.instruction_first:
            if resume_from is not None:
                raise ValueError(
                    f"{resume_from} was trained with instruction_first={backbone.instruction_first}; "
                    "a resumed run cannot change the prompt order"
                )
            logger.warning(
                "prompt order changed from the base model's: instruction %s the images",
                "before" if config.instruction_first else "after",
            )
            backbone.instruction_first = config.instruction_first
        if self.model.config.backbone.tokenizer == TOKENIZER_EAGLE2 and tokenizer_dir is None:
            raise ValueError(
                "the base model uses the Eagle-2 tokenizer: pass tokenizer_dir (--tokenizer-dir) or put the "
                f"files in <base_model>/{TOKENIZER_SUBDIR}"
            )
        return base_metadata, tokenizer_dir

    def unused_trainable_parameters(self) -> list[str]:
        """Trainable parameters that get no gradient from one training forward/backward (names).

        A probe on one sample with the training modes and autocast; the RNG states are restored
        and the gradients cleared, so the run itself is unaffected. DDP needs
        ``find_unused_parameters`` only when this is not empty.
        """
        cuda = self.device.type == "cuda"
        batch = _to_device(self.collator([self.dataset[0]]), self.device)
        self.model.train()
        frozen_modules_to_eval(self.model, **self._tune)
        autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda and self.config.bf16)
        with torch.random.fork_rng(devices=[self.device] if cuda else []), autocast:
            out = self.model(*_model_inputs(batch), generator=torch.Generator(device=self.device).manual_seed(0))
            out["loss"].float().backward()
        unused = [n for n, p in self.model.named_parameters() if p.requires_grad and p.grad is None]
        self.model.zero_grad(set_to_none=True)
        return unused

    def _wrap_ddp(self) -> DistributedDataParallel:
        """DDP over the trainable parameters (frozen ones, ``requires_grad=False``, are not registered)."""
        find_unused = self.config.ddp_find_unused_parameters
        if find_unused is None:
            unused = self.unused_trainable_parameters()
            find_unused = bool(unused)
            if unused:
                logger.info("DDP: find_unused_parameters on (%d trainable parameters get no gradient, e.g. %s)",
                            len(unused), unused[:3])
        return DistributedDataParallel(
            self.model,
            device_ids=[self.device.index] if self.device.type == "cuda" else None,
            find_unused_parameters=find_unused,
        )

    def _rng_state(self) -> dict[str, Any]:
        return {
            "loss_generator": self.loss_generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
        }

    def _set_rng_state(self, rng: Mapping[str, Any]) -> None:
        self.loss_generator.set_state(rng["loss_generator"])
        torch.set_rng_state(rng["torch_rng"])
        if self.device.type == "cuda" and rng.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(rng["cuda_rng"], self.device)

    def _load_trainer_state(self, checkpoint: Path) -> None:
        state = torch.load(checkpoint / TRAINER_STATE_FILE, map_location="cpu", weights_only=False)
        # A setting newer than the checkpoint had its default there.
        saved = {**{f.name: f.default for f in dataclasses.fields(FinetuneConfig)}, **state.get("config", {})}
        changed = {k: (saved[k], getattr(self.config, k)) for k in _RESUME_SENSITIVE if saved[k] != getattr(self.config, k)}
        saved_world = int(state.get("world_size", 1))
        if saved_world != self.dist.world_size:
            changed["world_size"] = (saved_world, self.dist.world_size)
        if changed:
            logger.warning("resuming %s with changed settings %s: the run will not match an uninterrupted one", checkpoint, changed)
        saved_readout = state.get("goal_readout")
        if (saved_readout is None) != (self.goal_readout is None):
            raise ValueError(
                f"{checkpoint} was trained with goal_readout_weight {saved['goal_readout_weight']}; a resumed run "
                "cannot switch the goal readout on or off (its optimizer state belongs to the run)"
            )
        if self.goal_readout is not None:
            self.goal_readout.load_state_dict(saved_readout)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        rank_states = state.get("rank_rng_states")
        if rank_states is not None and len(rank_states) == self.dist.world_size:
            self._set_rng_state(rank_states[self.dist.rank])
        elif self.dist.is_main:
            self._set_rng_state(state)  # rank 0's (a single process's) state
        # else: a rank the checkpoint has no state for keeps its fresh per-rank seeds.
        self.step = int(state["step"])
        # Checkpoints from before DDP support lack the position: one process consumed samples_per_step.
        self.sample_position = int(state.get("sample_position", self.step * self.config.samples_per_step))
        logger.info("resumed from %s at step %d", checkpoint, self.step)

    # ------------------------------------------------------------------ saving
    def _write_model(self, directory: Path) -> None:
        save_checkpoint(self.model, directory, metadata=self.metadata, dtype=SAVE_DTYPES[self.config.save_dtype])
        if self.tokenizer_dir is not None:
            shutil.copytree(self.tokenizer_dir, directory / TOKENIZER_SUBDIR, dirs_exist_ok=True)

    def save_checkpoint(self, last_loss: float | None) -> Path:
        """Write ``checkpoint-<step>`` atomically and prune old ones beyond ``save_total_limit``.

        Under DDP every rank calls this: the ranks' RNG states are gathered (which also lines
        them up), rank 0 alone writes, and a barrier holds the others until the checkpoint is
        complete. The weights and optimizer state are identical on all ranks.
        """
        final = self.output_dir / f"{CHECKPOINT_PREFIX}{self.step}"
        rank_states = self.dist.gather(self._rng_state())
        if self.dist.is_main:
            self._write_checkpoint(final, last_loss, rank_states)
        self.dist.barrier()
        return final

    def _write_checkpoint(self, final: Path, last_loss: float | None, rank_states: list[dict[str, Any]]) -> None:
        staging = self.output_dir / f".{final.name}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        self._write_model(staging)
        torch.save(
            {
                "step": self.step,
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "goal_readout": self.goal_readout.state_dict() if self.goal_readout is not None else None,
                **rank_states[0],
                "sample_position": self.sample_position,
                "world_size": self.dist.world_size,
                "rank_rng_states": rank_states if self.dist.world_size > 1 else None,
                "config": self.config.to_json_dict(),
            },
            staging / TRAINER_STATE_FILE,
        )
        (staging / TRAINER_STATE_JSON).write_text(
            json.dumps(
                {"step": self.step, "loss": last_loss, "learning_rate": self.scheduler.get_last_lr()[0],
                 "config": self.config.to_json_dict()},
                indent=2,
            )
            + "\n"
        )
        shutil.rmtree(final, ignore_errors=True)
        staging.rename(final)
        if self.config.save_total_limit is not None:
            for _, old in list_checkpoints(self.output_dir)[: -self.config.save_total_limit]:
                shutil.rmtree(old, ignore_errors=True)

    # ------------------------------------------------------------------ training
    def _batches(self) -> Iterator[dict[str, torch.Tensor]]:
        sampler = ShuffledStreamSampler(
            len(self.dataset),
            self.config.seed,
            start=self.sample_position,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
        )
        loader = DataLoader(
            self.dataset,
            batch_size=self.config.batch_size,
            sampler=sampler,
            collate_fn=self.collator,
            num_workers=self.config.num_workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
            # Its own generator for the workers' base seed: drawing it from the global RNG would
            # shift the dropout stream of a resumed run (samples depend only on (seed, draw) anyway).
            generator=torch.Generator().manual_seed(self.config.seed),
        )
        return iter(loader)

    def _train_step(self, batches: Iterator[dict[str, torch.Tensor]]) -> tuple[float, float]:
        """One optimizer step over ``gradient_accumulation_steps`` micro-batches -> (loss, grad norm)."""
        config = self.config
        model = self.ddp if self.ddp is not None else self.model
        model.train()
        frozen_modules_to_eval(self.model, **self._tune)
        autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda" and config.bf16)
        total = readout_total = 0.0
        for micro in range(config.gradient_accumulation_steps):
            batch = _to_device(next(batches), self.device)
            # DDP: gradients are all-reduced (averaged over ranks) on the last micro-batch only.
            final = micro == config.gradient_accumulation_steps - 1
            sync = self.ddp.no_sync() if self.ddp is not None and not final else nullcontext()
            with sync:
                with autocast:
                    out = model(*_model_inputs(batch), generator=self.loss_generator)
                loss = out["loss"].float()
                if self.goal_readout is not None:
                    readout = self.goal_readout.loss(
                        out["backbone_features"].float(), batch["attention_mask"], batch["action"], batch["action_mask"]
                    )
                    loss = loss + config.goal_readout_weight * readout
                    readout_total += readout.item() / config.gradient_accumulation_steps
                loss = loss / config.gradient_accumulation_steps
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"loss is {loss.item()} at step {self.step + 1}; lower learning_rate")
                loss.backward()
            total += loss.item()
        self.sample_position += self.global_batch_size
        total = self.dist.mean(total, self.device)  # the logged loss: all ranks' micro-batches
        if self.goal_readout is not None:
            self.readout_losses.append(self.dist.mean(readout_total, self.device))
        params = [p for p in self.model.parameters() if p.requires_grad]
        if self.goal_readout is not None:
            readout_params = list(self.goal_readout.parameters())
            if self.dist.enabled:  # outside DistributedDataParallel: average its gradients by hand
                for param in readout_params:
                    torch.distributed.all_reduce(param.grad)
                    param.grad /= self.dist.world_size
            params += readout_params
        if config.max_grad_norm > 0:
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm))
        else:
            grad_norm = float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params if p.grad is not None])))
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total, grad_norm

    def train(self) -> FinetuneResult:
        """Run until ``max_steps``; checkpoints every ``save_steps`` and at the end.

        Under DDP every rank runs this; only rank 0 writes files (log, checkpoints, final model,
        plot), and the others wait at a barrier after each save.
        """
        config = self.config
        main = self.dist.is_main
        if main:
            self.output_dir.mkdir(parents=True, exist_ok=True)
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True  # reference: bf16 + tf32
            torch.backends.cudnn.allow_tf32 = True
        log_path = self.output_dir / TRAIN_LOG_FILE
        if main:
            _truncate_log(log_path, self.step)
        result = FinetuneResult(output_dir=self.output_dir, final_step=self.step, start_step=self.step)
        if self.step >= config.max_steps:
            logger.info("already at step %d of %d; nothing to train", self.step, config.max_steps)
            return result
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover - tqdm is optional
            tqdm = None
        bar = (
            tqdm(total=config.max_steps, initial=self.step, desc="fine-tune", unit="step", dynamic_ncols=True)
            if tqdm is not None and config.progress_bar and main
            else None
        )
        batches = self._batches()
        window: list[float] = []
        window_start = time.perf_counter()
        loss = float("nan")
        try:
            while self.step < config.max_steps:
                lr = self.scheduler.get_last_lr()[0]
                loss, grad_norm = self._train_step(batches)
                self.step += 1
                result.losses.append((self.step, loss))
                window.append(loss)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}")
                if self.step % config.log_every == 0 or self.step == config.max_steps:
                    elapsed = time.perf_counter() - window_start
                    record = {
                        "step": self.step,
                        "loss": float(np.mean(window)),
                        "last_loss": loss,
                        "learning_rate": lr,
                        "grad_norm": grad_norm,
                        "samples_per_s": len(window) * self.global_batch_size / max(elapsed, 1e-9),
                        "epoch": self.sample_position / len(self.dataset),
                    }
                    if self.readout_losses:  # the auxiliary part of "loss" (unweighted)
                        record["goal_readout_loss"] = float(np.mean(self.readout_losses))
                        self.readout_losses.clear()
                    if main:
                        with log_path.open("a") as f:
                            f.write(json.dumps(record) + "\n")
                    window, window_start = [], time.perf_counter()
                if self.step % config.save_steps == 0 or self.step == config.max_steps:
                    result.checkpoints.append(self.save_checkpoint(loss))
        finally:
            if bar is not None:
                bar.close()
        if main:
            self._write_model(self.output_dir)
            _plot_losses(log_path, self.output_dir / LOSS_PLOT_FILE)
        self.dist.barrier()  # the final model is complete before any rank returns
        result.final_step = self.step
        logger.info("fine-tuning done: step %d, last loss %.4f, model in %s", self.step, loss, self.output_dir)
        return result


@torch.no_grad()
def evaluation_loss(
    model: Gr00tN1Model, batch: Mapping[str, torch.Tensor], *, seed: int = 0, num_draws: int = 8
) -> float:
    """Mean flow-matching loss of ``model`` on one batch, eval mode, ``num_draws`` noise/tau draws from ``seed``.

    The training loss is noisy (fresh noise, tau and dropout every step); with everything fixed,
    two models can be compared on the same footing (e.g. before and after fine-tuning).
    """
    was_training = model.training
    model.eval()
    generator = torch.Generator(device=model.device).manual_seed(seed)
    try:
        batch = _to_device(batch, model.device)
        losses = [
            float(
                model(
                    batch["pixel_values"],
                    batch["input_ids"],
                    batch["attention_mask"],
                    batch["state"],
                    batch["action"],
                    batch["action_mask"],
                    batch["embodiment_id"],
                    generator=generator,
                )["loss"]
            )
            for _ in range(num_draws)
        ]
        return float(np.mean(losses))
    finally:
        model.train(was_training)


def finetune(config: FinetuneConfig) -> FinetuneResult:
    """Build a :class:`Gr00tFinetuner` and train.

    Launched by torchrun (``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` set), this process joins the
    process group first (``nccl`` on CUDA, ``gloo`` on the CPU) and leaves it destroyed at the end.
    """
    with distributed_session(resolve_device(config.device)) as (context, device):
        return Gr00tFinetuner(config, distributed=context, device=device).train()


_MODEL_INPUT_KEYS = ("pixel_values", "input_ids", "attention_mask", "state", "action", "action_mask", "embodiment_id")


def _model_inputs(batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """A collated batch in `Gr00tN1Model.forward`'s argument order."""
    return tuple(batch[key] for key in _MODEL_INPUT_KEYS)


def read_train_log(output_dir: str | Path) -> list[dict[str, Any]]:
    path = Path(output_dir) / TRAIN_LOG_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines after ``step`` (a resumed run rewrites them)."""
    if not path.is_file():
        return
    keep = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= step]
    path.write_text("".join(line + "\n" for line in keep))


def _plot_losses(log_path: Path, png_path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.info("matplotlib not installed; no %s", png_path.name)
        return
    records = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    if not records:
        return
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([r["step"] for r in records], [r["loss"] for r in records])
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("flow-matching loss")
    ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
