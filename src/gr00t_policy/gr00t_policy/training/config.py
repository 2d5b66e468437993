"""The fine-tuning run's settings: :class:`FinetuneConfig`, validated when built, defaults = the reference recipe."""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..policy import MODEL_DTYPES

logger = logging.getLogger(__name__)

SAVE_DTYPES = MODEL_DTYPES  # checkpoint storage precisions: those a policy can be loaded in
NORMALIZATION_STATS = ("dataset", "base")
# Settings that must match for a resumed run to continue the same optimisation (kept next to the
# fields so that a new setting gets decided on here).
RESUME_SENSITIVE_SETTINGS = (
    "batch_size",
    "gradient_accumulation_steps",
    "max_steps",
    "seed",
    "learning_rate",
    "opening_s",
    "opening_repeat",
    "goal_readout_weight",
    "normalization_stats",
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
            the data leaves by more than their range are widened: :func:`.normalization.keep_base_statistics`).
        data_config: registered data config (state/action groups, cameras, state encoding).
        tune_*: what trains (:mod:`.trainable`); reference defaults: LLM frozen, the rest trains.
        batch_size: samples per micro-batch per process (per device); an optimizer step sees
            ``batch_size * gradient_accumulation_steps * world_size`` samples, world_size being the
            number of processes under torchrun (1 otherwise).
        max_steps: optimizer steps; the cosine schedule spans them, warm-up is ``warmup_ratio`` of them.
        max_grad_norm: gradient clipping threshold (0 disables).
        use_video: False trains on blank frames (no decoder needed; vision learns nothing useful).
        opening_s / opening_repeat: frames in each episode's first ``opening_s`` seconds are drawn
            ``opening_repeat`` times per epoch (``WindowConfig``): more of the frames where a
            demonstration commits to its target, so reading the instruction gets more of the loss.
        goal_readout_weight: weight of an experimental training-only loss (0 = off, the reference
            recipe): a linear readout of the chunk's motion (last minus first normalised action) from
            the mean goal token (:class:`.goal_readout.GoalReadout`, whose module says why). The readout
            is saved with the trainer state, never with the model.
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
                f"give exactly one of base_model and preset (got base_model={self.base_model}, preset={self.preset!r})"
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
            raise ValueError(
                f"need opening_s >= 0 and opening_repeat >= 1, got {self.opening_s}, {self.opening_repeat}"
            )
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
