"""Embodiments, GR-1 data configs and state/action (un)normalisation.

* Embodiment tags select the projector slot of the per-embodiment encoders/decoder (doc §5):
  ``gr1`` = 24 (the pretraining tag of Fourier GR-1), ``new_embodiment`` = 31 (fine-tuned robots).
* A :class:`DataConfig` lists the state and action **groups** in model order (the data-config key
  order, not the dataset's storage order) with their widths, the camera keys, and the encodings
  (doc §6). Joint names are not known here: the robot config maps each group to joint names.
* Statistics come from the checkpoint's ``experiment_cfg/metadata.json`` (layout in
  ``datasets_and_recording.md`` §2): ``{tag: {"statistics": {"state"|"action": {group: {"min": [...],
  "max": [...], ...}}}, "modalities": {...}, "embodiment_tag": tag}}``.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

EMBODIMENT_IDS: dict[str, int] = {"gr1": 24, "new_embodiment": 31}

STATE_ENCODING_SIN_COS = "sin_cos"
NORMALIZATION_MIN_MAX = "min_max"
SUPPORTED_STATE_ENCODINGS = (STATE_ENCODING_SIN_COS, NORMALIZATION_MIN_MAX)
SUPPORTED_ACTION_NORMALIZATIONS = (NORMALIZATION_MIN_MAX,)


def _unknown(kind: str, name: str, choices: Sequence[str]) -> KeyError:
    close = difflib.get_close_matches(name, list(choices), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return KeyError(f"unknown {kind} {name!r}; available: {sorted(choices)}.{hint}")


def embodiment_id(tag: str) -> int:
    """Projector slot of an embodiment tag (``gr1`` -> 24, ``new_embodiment`` -> 31)."""
    try:
        return EMBODIMENT_IDS[tag]
    except KeyError:
        raise _unknown("embodiment tag", tag, list(EMBODIMENT_IDS)) from None


@dataclass(frozen=True)
class DataConfig:
    """Model-side layout of one robot configuration.

    Attributes:
        name: data config name (``gr1_arms_only`` ...).
        video_keys: camera keys in view order (one 224 px tile each).
        state_groups / action_groups: ``(group, dim)`` in model order.
        state_encoding: ``sin_cos`` (per group ``[sin(q), cos(q)]``, no statistics needed) or
            ``min_max``.
        action_normalization: ``min_max`` (GR-1 configs).
        language_key: the dataset annotation key the instruction comes from (informational).
        embodiment_tag: which projector slot and metadata entry to use.
    """

    name: str
    video_keys: tuple[str, ...]
    state_groups: tuple[tuple[str, int], ...]
    action_groups: tuple[tuple[str, int], ...]
    state_encoding: str
    action_normalization: str = NORMALIZATION_MIN_MAX
    language_key: str = "annotation.human.action.task_description"
    embodiment_tag: str = "gr1"
    max_state_dim: int = 64
    max_action_dim: int = 32

    def __post_init__(self) -> None:
        if self.state_encoding not in SUPPORTED_STATE_ENCODINGS:
            raise ValueError(
                f"data config {self.name!r}: state_encoding must be one of {SUPPORTED_STATE_ENCODINGS}, "
                f"got {self.state_encoding!r}"
            )
        if self.action_normalization not in SUPPORTED_ACTION_NORMALIZATIONS:
            raise ValueError(
                f"data config {self.name!r}: action_normalization must be one of "
                f"{SUPPORTED_ACTION_NORMALIZATIONS}, got {self.action_normalization!r}"
            )
        if self.encoded_state_dim > self.max_state_dim:
            raise ValueError(
                f"data config {self.name!r}: encoded state has {self.encoded_state_dim} dims, "
                f"more than max_state_dim {self.max_state_dim}"
            )
        if self.action_dim > self.max_action_dim:
            raise ValueError(
                f"data config {self.name!r}: {self.action_dim} action dims exceed max_action_dim {self.max_action_dim}"
            )
        embodiment_id(self.embodiment_tag)  # validates the tag

    @property
    def embodiment_id(self) -> int:
        return embodiment_id(self.embodiment_tag)

    @property
    def state_dim(self) -> int:
        return sum(d for _, d in self.state_groups)

    @property
    def encoded_state_dim(self) -> int:
        return self.state_dim * (2 if self.state_encoding == STATE_ENCODING_SIN_COS else 1)

    @property
    def action_dim(self) -> int:
        return sum(d for _, d in self.action_groups)

    def with_embodiment(self, tag: str) -> DataConfig:
        return dataclasses.replace(self, embodiment_tag=tag)


_ARMS = (("left_arm", 7), ("right_arm", 7))
_HANDS = (("left_hand", 6), ("right_hand", 6))
_WAIST = (("waist", 3),)
_NECK = (("neck", 3),)

DATA_CONFIGS: dict[str, DataConfig] = {
    cfg.name: cfg
    for cfg in (
        DataConfig(
            name="gr1_arms_only",
            video_keys=("ego_view",),
            state_groups=_ARMS + _HANDS,
            action_groups=_ARMS + _HANDS,
            state_encoding=STATE_ENCODING_SIN_COS,
            language_key="annotation.human.action.task_description",
        ),
        DataConfig(
            name="gr1_arms_waist",
            video_keys=("ego_view",),
            state_groups=_ARMS + _HANDS + _WAIST,
            action_groups=_ARMS + _HANDS + _WAIST,
            state_encoding=STATE_ENCODING_SIN_COS,
            language_key="annotation.human.coarse_action",
        ),
        DataConfig(
            name="gr1_full_upper_body",
            video_keys=("front_view",),
            state_groups=_ARMS + _HANDS + _WAIST + _NECK,
            action_groups=_ARMS + _HANDS + _WAIST + _NECK,
            state_encoding=NORMALIZATION_MIN_MAX,
            language_key="annotation.human.action.task_description",
        ),
    )
}


def get_data_config(name: str, embodiment_tag: str | None = None) -> DataConfig:
    """A registered data config, optionally with another embodiment tag."""
    try:
        cfg = DATA_CONFIGS[name]
    except KeyError:
        raise _unknown("data config", name, list(DATA_CONFIGS)) from None
    return cfg.with_embodiment(embodiment_tag) if embodiment_tag else cfg


# ----------------------------------------------------------------------------- normalisation
@dataclass(frozen=True)
class MinMaxStats:
    """Per-dimension min and max of one group."""

    min: np.ndarray
    max: np.ndarray

    @classmethod
    def from_dict(cls, stats: Mapping[str, Any], where: str, dim: int) -> MinMaxStats:
        try:
            lo = np.asarray(stats["min"], dtype=np.float64).reshape(-1)
            hi = np.asarray(stats["max"], dtype=np.float64).reshape(-1)
        except KeyError as exc:
            raise ValueError(f"{where}: statistics lack {exc.args[0]!r}") from None
        if lo.shape != (dim,) or hi.shape != (dim,):
            raise ValueError(f"{where}: min/max must have {dim} values, got {lo.size} and {hi.size}")
        if np.any(hi < lo):
            raise ValueError(f"{where}: max < min at dims {np.flatnonzero(hi < lo).tolist()}")
        return cls(lo, hi)

    def normalize(self, x: np.ndarray) -> np.ndarray:
        """``2 (x - min)/(max - min) - 1``; dims with min == max map to 0 (original Normalizer)."""
        span = self.max - self.min
        degenerate = span == 0
        out = 2.0 * (x - self.min) / np.where(degenerate, 1.0, span) - 1.0
        return np.where(degenerate, 0.0, out)

    def unnormalize(self, y: np.ndarray) -> np.ndarray:
        """``(y + 1)/2 (max - min) + min`` with no clipping (original min_max inverse)."""
        return (y + 1.0) / 2.0 * (self.max - self.min) + self.min


@dataclass(frozen=True)
class EmbodimentStats:
    state: dict[str, MinMaxStats]
    action: dict[str, MinMaxStats]
    video_resolution: dict[str, tuple[int, int]]  # key -> (width, height), when recorded

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any], data_config: DataConfig) -> EmbodimentStats:
        tag = data_config.embodiment_tag
        if tag not in metadata:
            raise KeyError(
                f"no metadata for embodiment tag {tag!r} (experiment_cfg/metadata.json has "
                f"{sorted(metadata)}); a fine-tuned checkpoint must carry its own tag's statistics"
            )
        entry = metadata[tag]
        stats = entry.get("statistics", {})
        action = {
            g: MinMaxStats.from_dict(stats.get("action", {}).get(g, {}), f"metadata[{tag!r}].statistics.action.{g}", d)
            for g, d in data_config.action_groups
        }
        state: dict[str, MinMaxStats] = {}
        if data_config.state_encoding == NORMALIZATION_MIN_MAX:
            state = {
                g: MinMaxStats.from_dict(
                    stats.get("state", {}).get(g, {}), f"metadata[{tag!r}].statistics.state.{g}", d
                )
                for g, d in data_config.state_groups
            }
        video = {
            key: tuple(spec["resolution"])
            for key, spec in entry.get("modalities", {}).get("video", {}).items()
            if "resolution" in spec
        }
        return cls(state=state, action=action, video_resolution=video)  # type: ignore[arg-type]


def encode_state(state: Mapping[str, np.ndarray], data_config: DataConfig, stats: EmbodimentStats) -> np.ndarray:
    """Group -> (dim,) joint positions (radians) -> the model's (max_state_dim,) state vector.

    ``sin_cos``: per group ``[sin(q), cos(q)]`` (``StateActionSinCosTransform``); ``min_max``: per
    group min-max normalised. Groups are concatenated in data-config order and zero-padded.
    """
    parts = []
    for group, dim in data_config.state_groups:
        if group not in state:
            raise KeyError(
                f"state group {group!r} missing (data config {data_config.name!r} needs "
                f"{[g for g, _ in data_config.state_groups]})"
            )
        q = np.asarray(state[group], dtype=np.float64).reshape(-1)
        if q.shape != (dim,):
            raise ValueError(f"state group {group!r} must have {dim} values, got {q.size}")
        if not np.all(np.isfinite(q)):
            raise ValueError(f"state group {group!r} has non-finite values: {q.tolist()}")
        if data_config.state_encoding == STATE_ENCODING_SIN_COS:
            parts.extend([np.sin(q), np.cos(q)])
        else:
            parts.append(stats.state[group].normalize(q))
    vector = np.zeros(data_config.max_state_dim, dtype=np.float64)
    flat = np.concatenate(parts)
    vector[: flat.size] = flat
    return vector


def decode_actions(actions: np.ndarray, data_config: DataConfig, stats: EmbodimentStats) -> dict[str, np.ndarray]:
    """(..., horizon, max_action_dim) normalised -> group -> (..., horizon, dim) float64 un-normalised."""
    out: dict[str, np.ndarray] = {}
    start = 0
    for group, dim in data_config.action_groups:
        block = np.asarray(actions[..., start : start + dim], dtype=np.float64)
        out[group] = stats.action[group].unnormalize(block)
        start += dim
    return out


def make_metadata(
    embodiment_tag: str,
    data_config: str | DataConfig,
    state_stats: Mapping[str, Mapping[str, Sequence[float]]],
    action_stats: Mapping[str, Mapping[str, Sequence[float]]],
    *,
    video_resolution: Mapping[str, tuple[int, int]] | None = None,
    fps: float = 20.0,
) -> dict[str, Any]:
    """Build an ``experiment_cfg/metadata.json`` object for one embodiment.

    Args:
        state_stats / action_stats: group -> {"min": [...], "max": [...], optional "mean", "std",
            "q01", "q99"}. Missing optional entries are filled from min/max (mean = midpoint,
            std = half range, q01/q99 = min/max) so that the file has the six lists the original
            writes. Every group of the data config must be present.
        video_resolution: camera key -> (width, height) of the raw frames, recorded so the policy
            can reject frames of another size (the original asserts it).
    """
    cfg = get_data_config(data_config) if isinstance(data_config, str) else data_config
    embodiment_id(embodiment_tag)

    def complete(groups: Sequence[tuple[str, int]], given: Mapping[str, Mapping[str, Sequence[float]]], kind: str):
        result = {}
        for group, dim in groups:
            if group not in given:
                raise KeyError(f"{kind} statistics lack group {group!r} (data config {cfg.name!r})")
            s = MinMaxStats.from_dict(given[group], f"{kind} statistics of {group!r}", dim)
            entry = {
                k: [float(v) for v in np.asarray(val, dtype=np.float64).reshape(-1)] for k, val in given[group].items()
            }
            entry.setdefault("mean", ((s.min + s.max) / 2).tolist())
            entry.setdefault("std", ((s.max - s.min) / 2).tolist())
            entry.setdefault("q01", s.min.tolist())
            entry.setdefault("q99", s.max.tolist())
            result[group] = entry
        return result

    def modality(groups: Sequence[tuple[str, int]]) -> dict[str, Any]:
        return {g: {"absolute": True, "rotation_type": None, "shape": [d], "continuous": True} for g, d in groups}

    video = {
        key: {
            "resolution": list(video_resolution[key]) if video_resolution and key in video_resolution else None,
            "channels": 3,
            "fps": fps,
        }
        for key in cfg.video_keys
    }
    for spec in video.values():
        if spec["resolution"] is None:
            del spec["resolution"]
    return {
        embodiment_tag: {
            "statistics": {
                "state": complete(cfg.state_groups, state_stats, "state"),
                "action": complete(cfg.action_groups, action_stats, "action"),
            },
            "modalities": {
                "video": video,
                "state": modality(cfg.state_groups),
                "action": modality(cfg.action_groups),
            },
            "embodiment_tag": embodiment_tag,
            # Extension read by Gr00tPolicy.from_pretrained; the original ignores unknown keys.
            "data_config": cfg.name,
        }
    }
