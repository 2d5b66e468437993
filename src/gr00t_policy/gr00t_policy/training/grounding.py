"""Grounding pretraining of System 2: teach the goal tokens where the named object is.

Action fine-tuning alone never taught the small demo backbone to combine a colour word with where
that colour is in the image (``gr00t_eval.language_probe``: binding read-out at chance, the first
chunk picks the named side of touch-one-of-two half the time). Here the backbone is trained with
direct answers instead: on rendered task scenes (``python -m gr00t_sim.grounding_scenes``) a small
:class:`GroundingHead` reads the goal tokens through learned-query attention — the kind of read the
action head's cross-attention does — and predicts the named object's side and table position and
every object's position. The action head is not touched; the result loads as a normal checkpoint,
to be fine-tuned on demonstrations (``gr00t-finetune --no-tune-llm --no-tune-visual`` keeps what
System 2 learned here).

Learning is not gradual: the held-out side accuracy sits at chance for hundreds of steps and then
rises within a few hundred (first the objects' positions, then the named one's). The log says when.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..policy import Gr00tPolicy
from .checkpointing import TOKENIZER_SUBDIR
from .distributed import resolve_device
from .optimizer import cosine_schedule_with_warmup
from .trainable import set_trainable_modules

logger = logging.getLogger(__name__)

SCENE_ARRAYS = ("images", "instructions", "tasks", "target_xy", "target_left", "object_xy", "object_on_table")
HEAD_FILE = "grounding_head.pt"
LOG_FILE = "grounding_log.jsonl"
RECORD_FILE = "grounding_pretraining.json"


@dataclass
class GroundingConfig:
    """``gr00t-pretrain-grounding`` settings."""

    scenes: Path  # training scenes (.npz from gr00t_sim.grounding_scenes)
    validation: Path  # held-out scenes, other seeds
    base_model: Path
    output_dir: Path
    max_steps: int = 4000
    batch_size: int = 32
    learning_rate: float = 1e-3
    warmup_steps: int = 50
    weight_decay: float = 1e-5
    max_grad_norm: float = 1.0
    tune_visual: bool = True
    tune_llm: bool = True
    eval_every: int = 200
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        for path_field in ("scenes", "validation", "base_model", "output_dir"):
            setattr(self, path_field, Path(getattr(self, path_field)))
        if self.max_steps < 1 or self.batch_size < 1 or self.eval_every < 1:
            raise ValueError("max_steps, batch_size and eval_every must be at least 1")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")

    def to_json_dict(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}


class SceneAnswers:
    """A scenes file in memory, answers as tensors; positions normalised by ``xy_mean`` / ``xy_std``."""

    def __init__(self, path: Path, xy_mean: torch.Tensor | None = None, xy_std: torch.Tensor | None = None) -> None:
        with np.load(path, allow_pickle=False) as data:
            missing = [name for name in SCENE_ARRAYS if name not in data.files]
            if missing:
                raise ValueError(f"{path}: not a grounding scenes file, missing arrays {missing}")
            arrays = {name: data[name] for name in SCENE_ARRAYS}
        if arrays["images"].ndim != 4 or arrays["images"].shape[-1] != 3 or arrays["images"].dtype != np.uint8:
            raise ValueError(
                f"{path}: images must be (N, H, W, 3) uint8, got {arrays['images'].shape} {arrays['images'].dtype}"
            )
        self.images = arrays["images"]
        self.instructions = [str(text) for text in arrays["instructions"]]
        self.tasks = np.array([str(task) for task in arrays["tasks"]])
        target_xy = torch.from_numpy(arrays["target_xy"]).float()
        object_xy = torch.from_numpy(arrays["object_xy"]).float()
        self.object_on_table = torch.from_numpy(arrays["object_on_table"]).bool()
        if xy_mean is None or xy_std is None:
            on_table = object_xy[self.object_on_table]
            xy_mean, xy_std = on_table.mean(0), on_table.std(0).clamp(min=1e-3)
        self.xy_mean, self.xy_std = xy_mean, xy_std
        self.target_xy = (target_xy - xy_mean) / xy_std
        self.object_xy = (object_xy - xy_mean) / xy_std
        self.target_left = torch.from_numpy(arrays["target_left"]).float()

    def __len__(self) -> int:
        return len(self.instructions)

    @property
    def num_objects(self) -> int:
        return self.object_xy.shape[1]


class GroundingHead(nn.Module):
    """Goal tokens -> answers, one learned query per question (the named object, each object).

    Deliberately small: one attention read per query and a linear map, so what it predicts has to
    be readable from the goal tokens the way the action head's cross-attention reads them.
    Per query: a logit (named object on the left / object on the table) and a position (x, y).
    """

    def __init__(self, token_dim: int, num_objects: int, num_heads: int = 4) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(token_dim)
        self.queries = nn.Parameter(torch.randn(1 + num_objects, token_dim) * token_dim**-0.5)
        self.attention = nn.MultiheadAttention(token_dim, num_heads, batch_first=True)
        self.answer = nn.Linear(token_dim, 3)

    def forward(self, goal_tokens: torch.Tensor, token_mask: torch.Tensor) -> torch.Tensor:
        """(B, T, D) tokens, (B, T) mask (true on tokens) -> (B, 1 + K, 3) answers."""
        tokens = self.norm(goal_tokens)
        queries = self.queries.unsqueeze(0).expand(len(tokens), -1, -1)
        read, _ = self.attention(queries, tokens, tokens, key_padding_mask=~token_mask.bool(), need_weights=False)
        return self.answer(read)


def grounding_loss(answers: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Loss terms: named object's side (BCE) and position (MSE), objects on the table (BCE) and positions (MSE)."""
    bce = nn.functional.binary_cross_entropy_with_logits
    target, objects = answers[:, 0], answers[:, 1:]
    on_table = batch["object_on_table"]
    position_error = ((objects[..., 1:] - batch["object_xy"]) ** 2).sum(-1)
    terms = {
        "target_side": bce(target[:, 0], batch["target_left"]),
        "target_xy": ((target[:, 1:] - batch["target_xy"]) ** 2).sum(-1).mean(),
        "object_on_table": bce(objects[..., 0], on_table.float()),
        "object_xy": (position_error * on_table).sum() / on_table.sum().clamp(min=1),
    }
    terms["loss"] = sum(terms.values())
    return terms


class GroundingPretrainer:
    """Trains a checkpoint's System 2 (and a :class:`GroundingHead`) on scene answers."""

    def __init__(self, config: GroundingConfig) -> None:
        self.config = config
        self.device = resolve_device(config.device)
        torch.manual_seed(config.seed)
        self.policy = Gr00tPolicy.from_pretrained(config.base_model, device=str(self.device))
        self.model = self.policy.model
        self.train_set = SceneAnswers(config.scenes)
        self.validation = SceneAnswers(config.validation, self.train_set.xy_mean, self.train_set.xy_std)
        if self.validation.num_objects != self.train_set.num_objects:
            raise ValueError(
                f"{config.validation} has {self.validation.num_objects} objects, "
                f"{config.scenes} {self.train_set.num_objects}"
            )
        backbone = self.model.backbone
        self.head = GroundingHead(backbone.config.output_dim, self.train_set.num_objects).to(self.device)
        # gr00t-finetune's module groups (tune_visual = the SigLIP tower and mlp1); the action head
        # stays out of the optimizer, so it is saved exactly as loaded.
        set_trainable_modules(
            self.model,
            tune_llm=config.tune_llm,
            tune_visual=config.tune_visual,
            tune_projector=False,
            tune_diffusion_model=False,
        )
        self.params = [p for p in backbone.parameters() if p.requires_grad] + list(self.head.parameters())
        self.optimizer = torch.optim.AdamW(self.params, lr=config.learning_rate, weight_decay=config.weight_decay)
        self.scheduler = cosine_schedule_with_warmup(self.optimizer, config.warmup_steps, config.max_steps)
        self.rng = np.random.default_rng(config.seed)

    def _batch(self, scenes: SceneAnswers, rows: np.ndarray) -> dict[str, torch.Tensor]:
        inputs = self.policy.processor([[scenes.images[i]] for i in rows], [scenes.instructions[i] for i in rows])
        index = torch.from_numpy(rows)
        batch = {
            **inputs,
            "target_left": scenes.target_left[index],
            "target_xy": scenes.target_xy[index],
            "object_xy": scenes.object_xy[index],
            "object_on_table": scenes.object_on_table[index],
        }
        return {k: v.to(self.device) for k, v in batch.items()}

    def _answers(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        goal = self.model.backbone(batch["pixel_values"], batch["input_ids"], batch["attention_mask"])
        return self.head(goal.features.float(), goal.attention_mask)

    @torch.no_grad()
    def evaluate(self, batch_size: int = 64) -> dict[str, float]:
        """Held-out side accuracy (also per task), mean position errors (cm) and on-table accuracy."""
        self.model.eval()
        self.head.eval()
        scale = self.train_set.xy_std.to(self.device)
        target_cm = object_cm = table_hits = placed = 0.0
        scenes = self.validation
        side_hit = np.zeros(len(scenes), bool)
        for start in range(0, len(scenes), batch_size):
            batch = self._batch(scenes, np.arange(start, min(start + batch_size, len(scenes))))
            answers = self._answers(batch)
            target, objects = answers[:, 0], answers[:, 1:]
            on_table = batch["object_on_table"]
            side_hit[start : start + len(target)] = ((target[:, 0] > 0).float() == batch["target_left"]).cpu().numpy()
            target_cm += float((((target[:, 1:] - batch["target_xy"]) * scale).norm(dim=-1)).sum()) * 100
            object_cm += (
                float(((((objects[..., 1:] - batch["object_xy"]) * scale).norm(dim=-1)) * on_table).sum()) * 100
            )
            table_hits += float(((objects[..., 0] > 0) == on_table).float().mean(-1).sum())
            placed += float(on_table.sum())
        n = len(scenes)
        return {
            "side_accuracy": float(side_hit.mean()),
            **{
                f"side_accuracy/{task}": float(side_hit[scenes.tasks == task].mean())
                for task in np.unique(scenes.tasks)
            },
            "target_error_cm": target_cm / n,
            "object_error_cm": object_cm / max(placed, 1.0),
            "on_table_accuracy": table_hits / n,
        }

    def train(self) -> dict[str, Any]:
        config = self.config
        config.output_dir.mkdir(parents=True, exist_ok=True)
        log_path = config.output_dir / LOG_FILE
        log_path.unlink(missing_ok=True)
        started, last = time.monotonic(), None
        for step in range(1, config.max_steps + 1):
            self.model.train()
            self.head.train()
            rows = self.rng.choice(len(self.train_set), size=min(config.batch_size, len(self.train_set)), replace=False)
            batch = self._batch(self.train_set, rows)
            terms = grounding_loss(self._answers(batch), batch)
            if not torch.isfinite(terms["loss"]):
                raise FloatingPointError(
                    f"grounding loss is {terms['loss'].item()} at step {step}; lower learning_rate"
                )
            self.optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            if config.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(self.params, config.max_grad_norm)
            self.optimizer.step()
            self.scheduler.step()
            if step % config.eval_every == 0 or step == config.max_steps:
                last = {
                    "step": step,
                    **{k: v.item() for k, v in terms.items()},
                    **self.evaluate(),
                    "learning_rate": self.scheduler.get_last_lr()[0],
                    "elapsed_s": time.monotonic() - started,
                }
                with log_path.open("a") as log:
                    log.write(json.dumps(last) + "\n")
                per_task = ", ".join(
                    f"{k.split('/')[1]} {100 * v:.0f}%" for k, v in last.items() if k.startswith("side_accuracy/")
                )
                logger.info(
                    "step %d: loss %.3f; held out: named side %.1f%% (%s), named position error %.1f cm, "
                    "object position error %.1f cm",
                    step,
                    last["loss"],
                    100 * last["side_accuracy"],
                    per_task,
                    last["target_error_cm"],
                    last["object_error_cm"],
                )
        self._save(last)
        return last or {}

    def _save(self, result: Mapping[str, Any] | None) -> None:
        out = self.config.output_dir
        self.policy.save_pretrained(out)
        record = {
            "base_model": str(self.config.base_model),
            "config": self.config.to_json_dict(),
            "result": dict(result or {}),
        }
        (out / RECORD_FILE).write_text(json.dumps(record, indent=2) + "\n")
        tokenizer = self.config.base_model / TOKENIZER_SUBDIR
        if tokenizer.is_dir():
            shutil.copytree(tokenizer, out / TOKENIZER_SUBDIR, dirs_exist_ok=True)
        torch.save(
            {
                "head": self.head.state_dict(),
                "xy_mean": self.train_set.xy_mean,
                "xy_std": self.train_set.xy_std,
                "num_objects": self.train_set.num_objects,
            },
            out / HEAD_FILE,
        )


def pretrain_grounding(config: GroundingConfig) -> dict[str, Any]:
    """Train and save; returns the last held-out evaluation."""
    return GroundingPretrainer(config).train()
