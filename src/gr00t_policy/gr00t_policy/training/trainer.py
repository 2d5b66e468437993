"""Fine-tuning GR00T N1 with the flow-matching loss on a GR00T LeRobot dataset (no ROS): the training loop.

Recipe = Isaac-GR00T ``scripts/gr00t_finetune.py`` (reference doc §8): AdamW (lr 1e-4, betas
(0.95, 0.999), eps 1e-8, weight decay 1e-5), cosine schedule with 5 % linear warm-up
(:mod:`.optimizer`), gradient clipping at norm 1 (HF Trainer's ``max_grad_norm``), bf16 autocast +
TF32 on CUDA with fp32 master weights, ``new_embodiment`` (slot 31) by default. What is trained
follows the original's ``set_trainable_parameters`` (:mod:`.trainable`). The settings are
:class:`~.config.FinetuneConfig`.

Output directory: ``checkpoint-<step>/`` directories and the final model (:mod:`.checkpointing`),
``train_log.jsonl`` (:mod:`.train_log`) and ``loss_curve.png`` when matplotlib is installed
(:mod:`.plots`). A resumed run continues bit-for-bit on the same device: the sample stream, the
crops, dropout and the loss noise all resume from the saved state.

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

import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from ..model.checkpoint import load_checkpoint, load_metadata
from ..model.configuration_gr00t_n1 import TOKENIZER_EAGLE2, get_preset
from ..model.embodiments import EmbodimentStats, get_data_config
from ..model.hub import resolve_model
from ..model.modeling_gr00t_n1 import Gr00tN1Model
from ..model.processing_gr00t_n1 import PromptTokenizer
from .checkpointing import (
    CHECKPOINT_PREFIX,
    TOKENIZER_SUBDIR,
    checkpoint_to_resume,
    load_trainer_state,
    resume_changes,
    saved_settings,
    write_checkpoint,
    write_model,
)
from .collate import Gr00tTrainingCollator
from .config import FinetuneConfig
from .dataset import Gr00tWindowDataset, WindowConfig
from .dataset_meta import dataset_metadata, load_dataset_meta
from .distributed import DistributedContext, distributed_session, resolve_device
from .goal_readout import GoalReadout
from .normalization import checkpoint_metadata
from .optimizer import build_optimizer, cosine_schedule_with_warmup
from .plots import LOSS_PLOT_FILE, plot_losses
from .sampler import ShuffledStreamSampler
from .train_log import append_train_log, read_train_log, truncate_train_log
from .trainable import frozen_modules_to_eval, set_trainable_modules

logger = logging.getLogger(__name__)


@dataclass
class FinetuneResult:
    """What a run did: the final model directory, its last step, and the per-step losses."""

    output_dir: Path
    final_step: int
    start_step: int
    losses: list[tuple[int, float]] = field(default_factory=list)
    checkpoints: list[Path] = field(default_factory=list)


class Gr00tFinetuner:
    """Builds model, data and optimizer from a :class:`FinetuneConfig` and runs :meth:`train`.

    ``distributed`` / ``device``: the process group and this rank's device (:func:`finetune` sets
    them up under torchrun); by default the current process group if one is initialised, else a
    single process, and ``config.device``.

    Construction runs these steps in this order (the order matters: the RNG seeding comes after
    everything that draws from the global RNG at start-up, and the trainer state is restored
    after the optimizer it belongs to exists): pick the checkpoint to resume
    (:func:`~.checkpointing.checkpoint_to_resume`), :meth:`_build_model`, :meth:`_build_data`,
    :meth:`_build_optimizer`, :meth:`_seed_run`, :meth:`_load_trainer_state` when resuming,
    :meth:`_wrap_ddp` under torchrun.
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
        self.resume_from = checkpoint_to_resume(self.output_dir, config.resume, self.dist)

        base_metadata = self._build_model(self.resume_from)
        self.metadata = checkpoint_metadata(
            base_metadata,
            dataset_metadata(self.dataset_meta, self.data_config),
            self.data_config,
            config.normalization_stats,
        )
        self._build_data()
        self._build_optimizer()
        self._seed_run()
        self.step = 0
        self.sample_position = 0  # samples consumed from the global stream, all ranks together
        if self.resume_from is not None:
            self._load_trainer_state(self.resume_from)
        self.ddp: DistributedDataParallel | None = self._wrap_ddp() if self.dist.enabled else None
        self._log_setup()

    # ------------------------------------------------------------------ construction steps
    def _build_model(self, resume_from: Path | None) -> dict[str, Any] | None:
        """Load the starting weights (checkpoint to resume, base checkpoint or preset) in fp32.

        Sets ``model`` and ``tokenizer_dir``; returns the base checkpoint's metadata (None for a preset).
        """
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
        self.tokenizer_dir = tokenizer_dir
        return base_metadata

    def _build_data(self) -> None:
        """Sets ``dataset`` (windows normalised with ``metadata``'s statistics) and ``collator``."""
        config = self.config
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

    def _build_optimizer(self) -> None:
        """Freezes what does not train; sets ``goal_readout`` (or None), ``optimizer`` and ``scheduler``."""
        config = self.config
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
            self.goal_readout = GoalReadout(
                self.model.backbone.linear.out_features, self.model.config.action_head.action_dim
            ).to(self.device)
        self.optimizer = build_optimizer(self.model, config, extra=self.goal_readout)
        self.scheduler = cosine_schedule_with_warmup(self.optimizer, config.warmup_steps, config.max_steps)

    def _seed_run(self) -> None:
        """Seeds the loss noise (``loss_generator``) and dropout (the global RNG) of this rank.

        Per rank (rank 0 = a single process's seed); the weights are not (preset_seed / the
        checkpoint), and DDP broadcasts rank 0's anyway.
        """
        rank_seed = self.config.seed + self.dist.rank
        self.loss_generator = torch.Generator(device=self.device).manual_seed(rank_seed)
        # Dropout draws from the global RNG: seed it so that two runs of one config are identical
        # (a resumed run then restores the saved state instead).
        torch.manual_seed(rank_seed)

    def _load_trainer_state(self, checkpoint: Path) -> None:
        """Restores the goal readout, optimizer, schedule, RNG states and stream position of ``checkpoint``."""
        state = load_trainer_state(checkpoint)
        changed = resume_changes(state, self.config, self.dist.world_size)
        if changed:
            logger.warning(
                "resuming %s with changed settings %s: the run will not match an uninterrupted one", checkpoint, changed
            )
        saved_readout = state.get("goal_readout")
        if (saved_readout is None) != (self.goal_readout is None):
            raise ValueError(
                f"{checkpoint} was trained with goal_readout_weight {saved_settings(state)['goal_readout_weight']}; "
                "a resumed run cannot switch the goal readout on or off (its optimizer state belongs to the run)"
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
                logger.info(
                    "DDP: find_unused_parameters on (%d trainable parameters get no gradient, e.g. %s)",
                    len(unused),
                    unused[:3],
                )
        return DistributedDataParallel(
            self.model,
            device_ids=[self.device.index] if self.device.type == "cuda" else None,
            find_unused_parameters=find_unused,
        )

    def _log_setup(self) -> None:
        config = self.config
        logger.info(
            "fine-tuning %s on %s (%d episodes, %d frames, %d samples per epoch): %s, embodiment %s (slot %d), "
            "%s of %s parameters trainable, device %s, rank %d of %d, effective batch %d "
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

    # ------------------------------------------------------------------ RNG state
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

    # ------------------------------------------------------------------ saving
    def _write_model(self, directory: Path) -> None:
        write_model(self.model, directory, self.metadata, self.config.save_dtype, self.tokenizer_dir)

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
        trainer_state = {
            "step": self.step,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "goal_readout": self.goal_readout.state_dict() if self.goal_readout is not None else None,
            **rank_states[0],
            "sample_position": self.sample_position,
            "world_size": self.dist.world_size,
            "rank_rng_states": rank_states if self.dist.world_size > 1 else None,
            "config": self.config.to_json_dict(),
        }
        summary = {
            "step": self.step,
            "loss": last_loss,
            "learning_rate": self.scheduler.get_last_lr()[0],
            "config": self.config.to_json_dict(),
        }
        write_checkpoint(final, self._write_model, trainer_state, summary, self.config.save_total_limit)

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
            norms = [p.grad.norm() for p in params if p.grad is not None]
            grad_norm = float(torch.linalg.vector_norm(torch.stack(norms)))
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total, grad_norm

    def _progress_bar(self) -> Any | None:
        """A tqdm bar on rank 0 when wanted and installed, else None."""
        if not (self.config.progress_bar and self.dist.is_main):
            return None
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover - tqdm is optional
            return None
        return tqdm(total=self.config.max_steps, initial=self.step, desc="fine-tune", unit="step", dynamic_ncols=True)

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
        if main:
            truncate_train_log(self.output_dir, self.step)
        result = FinetuneResult(output_dir=self.output_dir, final_step=self.step, start_step=self.step)
        if self.step >= config.max_steps:
            logger.info("already at step %d of %d; nothing to train", self.step, config.max_steps)
            return result
        bar = self._progress_bar()
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
                        append_train_log(self.output_dir, record)
                    window, window_start = [], time.perf_counter()
                if self.step % config.save_steps == 0 or self.step == config.max_steps:
                    result.checkpoints.append(self.save_checkpoint(loss))
        finally:
            if bar is not None:
                bar.close()
        if main:
            self._write_model(self.output_dir)
            plot_losses(read_train_log(self.output_dir), self.output_dir / LOSS_PLOT_FILE)
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
        losses = [float(model(*_model_inputs(batch), generator=generator)["loss"]) for _ in range(num_draws)]
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


def _to_device(batch: Mapping[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}
