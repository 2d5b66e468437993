"""Training windows for the flow-matching loss from a GR00T LeRobot dataset (no ROS).

The dataset's ``meta/`` files are read by :mod:`.dataset_meta`, its episodes by :mod:`.episodes`,
its videos by :mod:`.video`; the order samples are drawn in is :mod:`.sampler`'s.

One training sample is one frame ``t`` of one episode (every frame is a sample, as in the original
loader): the state at ``t``, the action chunk ``t .. t+H-1`` (past the episode end the last action
repeats, the original's padding for ``absolute`` keys, §1.7), the camera frames at ``t`` and the
frame's task string. State, action and camera keys are sliced out of the stored vectors with
``modality.json`` and reordered into the **data config's** group order, which is what the model
sees (storage order is free, §1.5).

Normalisation goes through the checkpoint metadata built from ``meta/stats.json``
(:func:`~.dataset_meta.dataset_metadata`): the very statistics written next to the fine-tuned
weights are the ones used to normalise the training targets, so training and inference cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ..model.embodiments import DataConfig, EmbodimentStats, encode_state
from .dataset_meta import DatasetError, DatasetMeta
from .episodes import EpisodeArrays, load_episode
from .video import VideoFrameCache

# Frame size used for blank views when info.json does not record one (the GR-1 demo data's).
DEFAULT_BLANK_RESOLUTION = (256, 256)


def random_crop_and_resize(
    image: np.ndarray, rng: np.random.Generator, crop_scale: float = 0.95, size: int = 224
) -> np.ndarray:
    """Training variant of the eval transform (doc §2.6 step 3: *random* crop in training).

    Crop ``int(scale*H) x int(scale*W)`` at a random offset, bilinear antialiased resize, x255
    with a truncating cast, as :func:`~gr00t_policy.model.processing_gr00t_n1.crop_and_resize`.
    The original's colour jitter is not applied.
    """
    h, w = image.shape[:2]
    ch, cw = int(crop_scale * h), int(crop_scale * w)
    top = int(rng.integers(0, h - ch + 1))
    left = int(rng.integers(0, w - cw + 1))
    x = torch.from_numpy(np.ascontiguousarray(image[top : top + ch, left : left + cw]))
    x = x.permute(2, 0, 1).float().div(255.0)
    x = F.interpolate(x[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True)[0]
    return (x * 255.0).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


# ----------------------------------------------------------------------------- samples
@dataclass(frozen=True)
class WindowConfig:
    """How samples are cut and what the model expects.

    Attributes:
        action_horizon: H, steps per action chunk (16 for GR00T N1).
        max_action_dim: model action width; the data config's dims are zero-padded to it.
        image_size / crop_scale: tile size and training crop (224, 0.95 as the original).
        use_video: False feeds blank (black) frames of the recorded resolution, for datasets
            without videos or machines without a decoder; the model then learns from state and
            language only.
        video_cache_episodes: decoded episodes kept per worker process (see VideoFrameCache).
        seed: with the draw number, fixes the crop of every sample (exact resume).
        opening_s / opening_repeat: frames in the first ``opening_s`` seconds of every episode are
            sampled ``opening_repeat`` times per epoch (1 = every frame once). The opening is where a
            demonstration commits to its target; once an arm moves, the state and the images show
            which one, so later frames teach little about reading the instruction.
    """

    action_horizon: int = 16
    max_action_dim: int = 32
    image_size: int = 224
    crop_scale: float = 0.95
    use_video: bool = True
    video_cache_episodes: int = 8
    seed: int = 0
    opening_s: float = 0.0
    opening_repeat: int = 1

    def __post_init__(self) -> None:
        if self.action_horizon < 1:
            raise ValueError(f"action_horizon must be >= 1, got {self.action_horizon}")
        if self.opening_s < 0.0 or self.opening_repeat < 1:
            raise ValueError(
                f"need opening_s >= 0 and opening_repeat >= 1, got {self.opening_s} and {self.opening_repeat}"
            )
        if not 0.0 < self.crop_scale <= 1.0:
            raise ValueError(f"crop_scale must be in (0, 1], got {self.crop_scale}")


class Gr00tWindowDataset(Dataset):
    """Every frame of every episode as a training sample (state, action chunk, views, instruction).

    Items are addressed either by an int (sample number) or by ``(sample, draw)`` as produced by
    :class:`ShuffledStreamSampler`; ``draw`` seeds the sample's random crop, so a sample's content
    depends only on (seed, draw), never on worker state. Samples ``0 .. num_frames - 1`` are the
    frames in dataset order; with ``WindowConfig.opening_repeat`` > 1 the opening frames' extra
    copies follow them (:meth:`frame_of`).

    Each item is a dict:
        ``images``: list of (image_size, image_size, 3) uint8 tiles, one per data-config camera;
        ``instruction``: str; ``state``: (max_state_dim,) float32 encoded state;
        ``action``: (H, max_action_dim) float32 normalised, zero-padded;
        ``action_mask``: (H, max_action_dim) bool, True on the data config's dims.
    """

    def __init__(
        self, meta: DatasetMeta, data_config: DataConfig, stats: EmbodimentStats, config: WindowConfig
    ) -> None:
        if data_config.action_dim > config.max_action_dim:
            raise ValueError(
                f"data config {data_config.name!r} has {data_config.action_dim} action dims, the model "
                f"only {config.max_action_dim}"
            )
        if config.use_video:
            missing = [k for k in data_config.video_keys if k not in meta.video_features]
            if missing:
                raise DatasetError(meta.root, [f"cameras {missing} have no video feature in meta/info.json"])
        self.meta = meta
        self.data_config = data_config
        self.stats = stats
        self.config = config
        self.episodes = [load_episode(meta, e) for e in meta.episodes]
        lengths = np.array([e.length for e in self.episodes])
        self._starts = np.concatenate([[0], np.cumsum(lengths)])
        self._extra_frames = self._opening_frames(config)
        self._videos = VideoFrameCache(config.video_cache_episodes)
        # Normalised actions precomputed once per episode: (T, action_dim) in data-config order.
        self._actions = [self._normalise_actions(e) for e in self.episodes]
        self._action_mask = np.zeros((config.action_horizon, config.max_action_dim), dtype=bool)
        self._action_mask[:, : data_config.action_dim] = True
        resolution = next(iter(meta.video_resolution.values()), DEFAULT_BLANK_RESOLUTION)
        self._blank = np.zeros((resolution[1], resolution[0], 3), dtype=np.uint8)

    def _opening_frames(self, config: WindowConfig) -> np.ndarray:
        """Dataset frame numbers of the opening frames' extra copies (empty without oversampling)."""
        if config.opening_repeat == 1 or config.opening_s == 0.0:
            return np.zeros(0, dtype=np.int64)
        opening = [
            self._starts[i] + np.flatnonzero(e.timestamps - e.timestamps[0] < config.opening_s)
            for i, e in enumerate(self.episodes)
        ]
        return np.repeat(np.concatenate(opening).astype(np.int64), config.opening_repeat - 1)

    @property
    def num_frames(self) -> int:
        return int(self._starts[-1])

    def __len__(self) -> int:
        return self.num_frames + len(self._extra_frames)

    def frame_of(self, sample: int) -> int:
        """Sample number -> dataset frame number."""
        if not 0 <= sample < len(self):
            raise IndexError(f"sample {sample} out of range [0, {len(self)})")
        return sample if sample < self.num_frames else int(self._extra_frames[sample - self.num_frames])

    def _normalise_actions(self, episode: EpisodeArrays) -> np.ndarray:
        parts = [self.stats.action[g].normalize(episode.action[g]) for g, _ in self.data_config.action_groups]
        return np.concatenate(parts, axis=1).astype(np.float32)

    def locate(self, index: int) -> tuple[int, int]:
        """Dataset frame number -> (episode position in meta.episodes, frame in that episode)."""
        if not 0 <= index < self.num_frames:
            raise IndexError(f"frame {index} out of range [0, {self.num_frames})")
        episode = int(np.searchsorted(self._starts, index, side="right") - 1)
        return episode, index - int(self._starts[episode])

    def action_window(self, episode: int, frame: int) -> np.ndarray:
        """(H, action_dim) normalised actions from ``frame``, the last one repeated past the end."""
        actions = self._actions[episode]
        rows = np.minimum(np.arange(frame, frame + self.config.action_horizon), len(actions) - 1)
        return actions[rows]

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        index, draw = (key, key) if isinstance(key, (int, np.integer)) else (int(key[0]), int(key[1]))
        episode_pos, frame = self.locate(self.frame_of(int(index)))
        episode = self.episodes[episode_pos]
        rng = np.random.default_rng([self.config.seed, draw])
        state = encode_state(
            {g: episode.state[g][frame] for g, _ in self.data_config.state_groups}, self.data_config, self.stats
        )
        action = np.zeros((self.config.action_horizon, self.config.max_action_dim), dtype=np.float32)
        action[:, : self.data_config.action_dim] = self.action_window(episode_pos, frame)
        images = []
        for key_name in self.data_config.video_keys:
            if self.config.use_video:
                path, start_s = self.meta.video_segment(
                    self.meta.episodes[episode_pos].index, self.meta.video_features[key_name]
                )
                timestamp = start_s + float(episode.timestamps[frame])
                raw = self._videos.frame_at(path, timestamp, tolerance_s=1.0 / self.meta.fps)
            else:
                raw = self._blank
            images.append(random_crop_and_resize(raw, rng, self.config.crop_scale, self.config.image_size))
        return {
            "images": images,
            "instruction": self.meta.tasks[int(episode.task_indices[frame])],
            "state": state.astype(np.float32),
            "action": action,
            "action_mask": self._action_mask.copy(),
        }
