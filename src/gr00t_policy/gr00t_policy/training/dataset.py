"""GR00T LeRobot v2 and LeRobot v3.0 datasets -> training windows for the flow-matching loss (no ROS).

Layout (Isaac-GR00T's LeRobot-compatible data schema, Isaac-GR00T ``gr00t/data/dataset.py``)::

    meta/info.json  meta/episodes.jsonl  meta/tasks.jsonl  meta/modality.json  meta/stats.json
    data/chunk-000/episode_000000.parquet                      (observation.state, action, timestamp, ...)
    videos/chunk-000/observation.images.<cam>/episode_000000.mp4

or LeRobot's v3.0 layout (``codebase_version`` v3.x in info.json; what ``gr00t-convert --format
lerobot-v3`` writes): episodes in ``meta/episodes/*/*.parquet`` with their rows' range in a shared
``data/chunk-*/file-*.parquet`` and their span (``from_timestamp``) in a shared
``videos/<key>/chunk-*/file-*.mp4``, tasks in ``meta/tasks.parquet``. Both need GR00T's
``meta/modality.json`` (which group lies where in the state and action vectors).

One training sample is one frame ``t`` of one episode (every frame is a sample, as in the original
loader): the state at ``t``, the action chunk ``t .. t+H-1`` (past the episode end the last action
repeats, the original's padding for ``absolute`` keys, §1.7), the camera frames at ``t`` and the
frame's task string. State, action and camera keys are sliced out of the stored vectors with
``modality.json`` and reordered into the **data config's** group order, which is what the model
sees (storage order is free, §1.5).

Normalisation goes through the checkpoint metadata built from ``meta/stats.json``
(:func:`dataset_metadata`): the very statistics written next to the fine-tuned weights are the
ones used to normalise the training targets, so training and inference cannot disagree.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ..model.embodiments import DataConfig, EmbodimentStats, encode_state, make_metadata

logger = logging.getLogger(__name__)

META_FILES = ("info.json", "episodes.jsonl", "tasks.jsonl", "modality.json", "stats.json")
DEFAULT_STATE_COLUMN = "observation.state"
DEFAULT_ACTION_COLUMN = "action"
TASK_INDEX_COLUMN = "task_index"
# Frame size used for blank views when info.json does not record one (the GR-1 demo data's).
DEFAULT_BLANK_RESOLUTION = (256, 256)


class DatasetError(ValueError):
    """The dataset directory does not have the GR00T LeRobot layout the trainer needs.

    The message lists every problem found, each naming the file and the value seen.
    """

    def __init__(self, root: Path, problems: Sequence[str]) -> None:
        self.root = Path(root)
        self.problems = list(problems)
        super().__init__(f"dataset {root} cannot be used for training:\n  - " + "\n  - ".join(self.problems))


@dataclass(frozen=True)
class GroupSlice:
    """Where one state/action group lives: ``column[start:end]`` of the parquet file."""

    column: str
    start: int
    end: int

    @property
    def dim(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class EpisodeInfo:
    index: int
    length: int
    # v3.0 only: the shared files holding this episode (relative to the root) and where it starts.
    data_file: str | None = None
    video_files: tuple[tuple[str, str, float], ...] = ()  # (feature, file, from_timestamp s)


@dataclass(frozen=True)
class DatasetMeta:
    """Parsed and cross-checked ``meta/`` files of one dataset, for one data config.

    Attributes:
        state_slices / action_slices: data-config group -> where it is stored.
        video_features: data-config camera key -> info.json feature (``observation.images.<cam>``).
        video_resolution: camera key -> (width, height) of the stored frames.
        language_column: parquet column holding the task index of each frame.
    """

    root: Path
    info: dict[str, Any]
    episodes: tuple[EpisodeInfo, ...]
    tasks: dict[int, str]
    stats: dict[str, Any]
    fps: float
    state_slices: dict[str, GroupSlice]
    action_slices: dict[str, GroupSlice]
    video_features: dict[str, str]
    video_resolution: dict[str, tuple[int, int]]
    language_column: str

    @property
    def num_frames(self) -> int:
        return sum(e.length for e in self.episodes)

    def episode_chunk(self, episode_index: int) -> int:
        return episode_index // int(self.info.get("chunks_size", 1000))

    @property
    def is_v3(self) -> bool:
        return str(self.info.get("codebase_version", "")).startswith("v3")

    @cached_property
    def _episodes_by_index(self) -> dict[int, EpisodeInfo]:
        return {episode.index: episode for episode in self.episodes}

    def _episode(self, episode_index: int) -> EpisodeInfo:
        try:
            return self._episodes_by_index[episode_index]
        except KeyError:
            raise KeyError(f"episode {episode_index} is not in {self.root}") from None

    def data_path(self, episode_index: int) -> Path:
        if self.is_v3:
            return self.root / str(self._episode(episode_index).data_file)
        template = self.info["data_path"]
        return self.root / template.format(
            episode_chunk=self.episode_chunk(episode_index), episode_index=episode_index
        )

    def video_path(self, episode_index: int, video_feature: str) -> Path:
        return self.video_segment(episode_index, video_feature)[0]

    def video_segment(self, episode_index: int, video_feature: str) -> tuple[Path, float]:
        """(video file, time of the episode's first frame in it): 0 in v2, one file per episode."""
        if self.is_v3:
            for feature, path, start in self._episode(episode_index).video_files:
                if feature == video_feature:
                    return self.root / path, start
            raise KeyError(f"episode {episode_index} of {self.root} has no video for {video_feature}")
        template = self.info["video_path"]
        return self.root / template.format(
            episode_chunk=self.episode_chunk(episode_index),
            video_key=video_feature,
            episode_index=episode_index,
        ), 0.0


def _read_json(path: Path, problems: list[str]) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        problems.append(f"{path} is missing")
    except json.JSONDecodeError as exc:
        problems.append(f"{path} is not valid JSON ({exc})")
    return None


def _read_jsonl(path: Path, problems: list[str]) -> list[dict[str, Any]] | None:
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        problems.append(f"{path} is missing")
        return None
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            problems.append(f"{path}:{number} is not valid JSON ({exc})")
    return rows


def _group_slices(
    section: str,
    groups: Sequence[tuple[str, int]],
    modality: Mapping[str, Any],
    default_column: str,
    features: Mapping[str, Any],
    problems: list[str],
) -> dict[str, GroupSlice]:
    entries = modality.get(section, {})
    slices: dict[str, GroupSlice] = {}
    for group, dim in groups:
        entry = entries.get(group)
        if entry is None:
            problems.append(
                f"meta/modality.json: {section} group {group!r} is missing (has {sorted(entries)}); "
                f"the data config needs {[g for g, _ in groups]}"
            )
            continue
        column = entry.get("original_key", default_column)
        start, end = int(entry.get("start", -1)), int(entry.get("end", -1))
        if end - start != dim or start < 0:
            problems.append(
                f"meta/modality.json: {section}.{group} is [{start}:{end}] ({end - start} dims), "
                f"the data config expects {dim}"
            )
            continue
        width = (features.get(column, {}).get("shape") or [None])[0]
        if width is None:
            problems.append(f"meta/info.json: feature {column!r} (for {section}.{group}) has no shape")
        elif end > int(width):
            problems.append(
                f"meta/modality.json: {section}.{group} [{start}:{end}] exceeds {column!r}, "
                f"which info.json says has {width} dims"
            )
        slices[group] = GroupSlice(column=column, start=start, end=end)
    return slices


def _video_resolution(feature: Mapping[str, Any]) -> tuple[int, int] | None:
    """(width, height) from a video feature's ``shape`` + ``names`` (the original loader's rule)."""
    shape, names = feature.get("shape"), feature.get("names")
    if not shape or len(shape) != 3:
        return None
    if names and "height" in names and "width" in names:
        return int(shape[names.index("width")]), int(shape[names.index("height")])
    return int(shape[1]), int(shape[0])  # LeRobot default (height, width, channel)


def load_dataset_meta(root: str | Path, data_config: DataConfig, *, need_video: bool = True) -> DatasetMeta:
    """Read and validate ``meta/*`` of a dataset for ``data_config``; raises :class:`DatasetError`.

    Checks that every meta file exists and parses, that modality.json holds each group of the data
    config with the right width inside the stored vectors, that stats.json has min/max for the
    stored state and action columns, and (``need_video``) that every camera has a video feature.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(root, [f"{root} is not a directory"])
    meta = root / "meta"
    problems: list[str] = []
    info = _read_json(meta / "info.json", problems)
    if info is not None and str(info.get("codebase_version", "")).startswith("v3"):
        episodes_rows, task_rows = _read_v3_episodes_and_tasks(root, info, problems)
    else:
        episodes_rows = _read_jsonl(meta / "episodes.jsonl", problems)
        task_rows = _read_jsonl(meta / "tasks.jsonl", problems)
    modality = _read_json(meta / "modality.json", problems)
    stats = _read_json(meta / "stats.json", problems)
    if problems:
        raise DatasetError(root, problems)
    assert info is not None and modality is not None and stats is not None
    assert episodes_rows is not None and task_rows is not None
    for key in ("data_path", "features"):
        if key not in info:
            problems.append(f"meta/info.json has no {key!r}")
    if need_video and "video_path" not in info:
        problems.append("meta/info.json has no 'video_path' (or train with use_video=False)")
    features = info.get("features", {})

    episodes = []
    for row in episodes_rows:
        try:
            episodes.append(EpisodeInfo(index=int(row["episode_index"]), length=int(row["length"]),
                                        data_file=row.get("data_file"), video_files=tuple(row.get("video_files", ()))))
        except (KeyError, TypeError, ValueError):
            problems.append(f"meta/episodes.jsonl: row {row} lacks an integer episode_index/length")
    if not episodes and not problems:
        problems.append("meta/episodes.jsonl lists no episodes")
    tasks: dict[int, str] = {}
    for row in task_rows:
        try:
            tasks[int(row["task_index"])] = str(row["task"])
        except (KeyError, TypeError, ValueError):
            problems.append(f"meta/tasks.jsonl: row {row} lacks task_index/task")

    state_slices = _group_slices(
        "state", data_config.state_groups, modality, DEFAULT_STATE_COLUMN, features, problems
    )
    action_slices = _group_slices(
        "action", data_config.action_groups, modality, DEFAULT_ACTION_COLUMN, features, problems
    )
    for slices in (state_slices, action_slices):
        for group, where in slices.items():
            column_stats = stats.get(where.column)
            if column_stats is None:
                problems.append(f"meta/stats.json has no entry for column {where.column!r}")
                continue
            for name in ("min", "max"):
                values = column_stats.get(name)
                if values is None or len(np.asarray(values).reshape(-1)) < where.end:
                    problems.append(
                        f"meta/stats.json: {where.column}.{name} must have at least {where.end} values "
                        f"(for group {group!r})"
                    )

    video_features: dict[str, str] = {}
    video_resolution: dict[str, tuple[int, int]] = {}
    video_modality = modality.get("video", {})
    for key in data_config.video_keys:
        feature = video_modality.get(key, {}).get("original_key", f"observation.images.{key}")
        spec = features.get(feature)
        if spec is None:
            if need_video:
                problems.append(
                    f"camera {key!r}: no video feature {feature!r} in meta/info.json "
                    f"(features: {sorted(features)}); fix modality.json or train without video"
                )
            continue
        video_features[key] = feature
        resolution = _video_resolution(spec)
        if resolution is not None:
            video_resolution[key] = resolution
    if len(set(video_resolution.values())) > 1:
        # The original crop transform asserts one resolution per embodiment (§1.6).
        problems.append(f"all cameras must share one resolution, info.json has {video_resolution}")

    language_column = data_config.language_key
    annotation = modality.get("annotation", {}).get(language_column.removeprefix("annotation."), {})
    language_column = annotation.get("original_key", language_column)
    if language_column not in features and TASK_INDEX_COLUMN in features:
        logger.warning(
            "dataset %s has no %r column; using %r for the instruction", root, language_column, TASK_INDEX_COLUMN
        )
        language_column = TASK_INDEX_COLUMN
    if problems:
        raise DatasetError(root, problems)
    return DatasetMeta(
        root=root,
        info=info,
        episodes=tuple(episodes),
        tasks=tasks,
        stats=stats,
        fps=float(info.get("fps", 20.0)),
        state_slices=state_slices,
        action_slices=action_slices,
        video_features=video_features,
        video_resolution=video_resolution,
        language_column=language_column,
    )


def _read_v3_episodes_and_tasks(root: Path, info: Mapping[str, Any], problems: list[str]
                                ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Episode and task rows of a LeRobot v3.0 dataset, in the v2 rows' shape plus each episode's
    shared data file and video segments."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    episode_files = sorted((root / "meta" / "episodes").glob("*/*.parquet"))
    if not episode_files:
        problems.append(f"{root / 'meta' / 'episodes'} holds no */*.parquet (LeRobot v3.0 episode metadata)")
        return [], []
    tasks_path = root / "meta" / "tasks.parquet"
    if not tasks_path.is_file():
        problems.append(f"{tasks_path} is missing")
        return [], []
    episodes = pa.concat_tables([pq.read_table(p) for p in episode_files], promote_options="default").to_pylist()
    tasks_table = pq.read_table(tasks_path)
    # pandas writes the task string as the DataFrame's index: '__index_level_0__' or 'task'.
    text_column = next((c for c in ("task", "__index_level_0__") if c in tasks_table.column_names), None)
    if text_column is None or "task_index" not in tasks_table.column_names:
        problems.append(f"{tasks_path}: expected columns task_index and task (or a pandas index), got {tasks_table.column_names}")
        return [], []
    tasks = [{"task_index": i, "task": t} for i, t in zip(tasks_table.column("task_index").to_pylist(),
                                                          tasks_table.column(text_column).to_pylist(), strict=True)]
    video_features = [k for k, f in info.get("features", {}).items() if f.get("dtype") == "video"]
    rows = []
    for episode in episodes:
        try:
            row = {"episode_index": episode["episode_index"], "length": episode["length"],
                   "data_file": info["data_path"].format(chunk_index=episode["data/chunk_index"],
                                                         file_index=episode["data/file_index"])}
            row["video_files"] = [
                (feature, info["video_path"].format(video_key=feature, chunk_index=episode[f"videos/{feature}/chunk_index"],
                                                    file_index=episode[f"videos/{feature}/file_index"]),
                 float(episode[f"videos/{feature}/from_timestamp"]))
                for feature in video_features
            ]
        except (KeyError, TypeError, AttributeError) as exc:
            problems.append(f"{episode_files[0].parent.parent}: episode row {episode.get('episode_index')} lacks {exc}")
            continue
        rows.append(row)
    return rows, tasks


def _group_stats(stats: Mapping[str, Any], slices: Mapping[str, GroupSlice]) -> dict[str, dict[str, list[float]]]:
    """stats.json column vectors -> per-group slices of every statistic present (doc §2)."""
    out: dict[str, dict[str, list[float]]] = {}
    for group, where in slices.items():
        column = stats[where.column]
        out[group] = {
            name: np.asarray(values, dtype=np.float64).reshape(-1)[where.start : where.end].tolist()
            for name, values in column.items()
            if name in ("min", "max", "mean", "std", "q01", "q99")
        }
    return out


def dataset_metadata(meta: DatasetMeta, data_config: DataConfig) -> dict[str, Any]:
    """The ``experiment_cfg/metadata.json`` entry for this dataset (one key: the embodiment tag)."""
    return make_metadata(
        data_config.embodiment_tag,
        data_config,
        _group_stats(meta.stats, meta.state_slices),
        _group_stats(meta.stats, meta.action_slices),
        video_resolution=meta.video_resolution or None,
        fps=meta.fps,
    )


# ----------------------------------------------------------------------------- episodes
@dataclass(frozen=True)
class EpisodeArrays:
    """Numeric columns of one episode, already split into the data config's groups."""

    state: dict[str, np.ndarray]  # group -> (T, dim) float64, radians
    action: dict[str, np.ndarray]  # group -> (T, dim) float64
    timestamps: np.ndarray  # (T,) seconds from episode start
    task_indices: np.ndarray  # (T,) int64 into tasks.jsonl

    @property
    def length(self) -> int:
        return int(self.timestamps.shape[0])


def _column_matrix(table: Any, column: str, path: Path, problems: list[str]) -> np.ndarray | None:
    if column not in table.column_names:
        problems.append(f"{path}: column {column!r} is missing (has {table.column_names})")
        return None
    values = table.column(column).to_pylist()
    try:
        matrix = np.asarray(values, dtype=np.float64)
    except ValueError:
        problems.append(f"{path}: column {column!r} rows have different lengths")
        return None
    return matrix.reshape(len(values), -1)


_DATA_FILE_CACHE: OrderedDict[Path, Any] = OrderedDict()


def _read_data_file(path: Path) -> Any:
    """A parquet file, the last few kept: v3.0 files hold many episodes, read one after another."""
    import pyarrow.parquet as pq

    table = _DATA_FILE_CACHE.get(path)
    if table is None:
        table = pq.read_table(path)
        _DATA_FILE_CACHE[path] = table
        while len(_DATA_FILE_CACHE) > 2:
            _DATA_FILE_CACHE.popitem(last=False)
    return table


def load_episode(meta: DatasetMeta, episode: EpisodeInfo) -> EpisodeArrays:
    """Read one episode's parquet file and check it against the meta files."""
    try:
        import pyarrow.parquet  # noqa: F401 - checked here for a clear message
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("reading LeRobot parquet files needs pyarrow (pip install pyarrow)") from exc
    path = meta.data_path(episode.index)
    if not path.is_file():
        raise DatasetError(meta.root, [f"{path} is missing (episode {episode.index} of meta/episodes.jsonl)"])
    table = _read_data_file(path)
    if meta.is_v3:  # a shared file: this episode's rows only
        import pyarrow.compute as pc

        table = table.filter(pc.equal(table.column("episode_index"), episode.index))
    problems: list[str] = []
    columns: dict[str, np.ndarray | None] = {}
    for where in [*meta.state_slices.values(), *meta.action_slices.values()]:
        if where.column not in columns:
            columns[where.column] = _column_matrix(table, where.column, path, problems)
    if table.num_rows != episode.length:
        problems.append(
            f"{path}: {table.num_rows} rows, meta/episodes.jsonl says length {episode.length}"
        )
    if table.num_rows == 0:
        problems.append(f"{path}: episode has no frames")
    for column, matrix in columns.items():
        if matrix is None:
            continue
        expected = (meta.info["features"].get(column, {}).get("shape") or [None])[0]
        if expected is not None and matrix.shape[1] != int(expected):
            problems.append(f"{path}: column {column!r} has {matrix.shape[1]} dims, info.json says {expected}")
        if not np.all(np.isfinite(matrix)):
            problems.append(f"{path}: column {column!r} has non-finite values")
    if "timestamp" in table.column_names:
        timestamps = np.asarray(table.column("timestamp").to_pylist(), dtype=np.float64).reshape(-1)
    else:
        timestamps = np.arange(table.num_rows, dtype=np.float64) / meta.fps
    if meta.language_column in table.column_names:
        task_indices = np.asarray(table.column(meta.language_column).to_pylist(), dtype=np.int64).reshape(-1)
        unknown = sorted(set(task_indices.tolist()) - set(meta.tasks))
        if unknown:
            problems.append(f"{path}: {meta.language_column} indices {unknown} are not in meta/tasks.jsonl")
    else:
        problems.append(f"{path}: no instruction column {meta.language_column!r}")
        task_indices = np.zeros(0, dtype=np.int64)
    if problems:
        raise DatasetError(meta.root, problems)

    def split(slices: Mapping[str, GroupSlice]) -> dict[str, np.ndarray]:
        return {g: columns[w.column][:, w.start : w.end] for g, w in slices.items()}  # type: ignore[index]

    return EpisodeArrays(
        state=split(meta.state_slices),
        action=split(meta.action_slices),
        timestamps=timestamps,
        task_indices=task_indices,
    )


# ----------------------------------------------------------------------------- video
def decode_video(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """All frames of an mp4 -> (times (F,) seconds, frames (F, H, W, 3) uint8 RGB), with PyAV."""
    try:
        import av
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "decoding dataset videos needs PyAV (pip install av); or train without video (--no-video)"
        ) from exc
    if not path.is_file():
        raise FileNotFoundError(f"video {path} is missing")
    times, frames = [], []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            times.append(float(frame.pts * stream.time_base) if frame.pts is not None else float(frame.time))
            frames.append(frame.to_ndarray(format="rgb24"))
    if not frames:
        raise ValueError(f"video {path} has no frames")
    return np.asarray(times), np.stack(frames)


class VideoFrameCache:
    """Decoded episodes kept in memory, least recently used evicted.

    Decoding a whole episode once and indexing it is far cheaper than seeking an H.264 stream
    per sample; the LRU bounds memory (a 400-frame 256 px episode is ~79 MB per camera).
    """

    def __init__(self, max_episodes: int) -> None:
        self.max_episodes = max(1, int(max_episodes))
        self._cache: OrderedDict[Path, tuple[np.ndarray, np.ndarray]] = OrderedDict()

    def frame_at(self, path: Path, timestamp: float, tolerance_s: float) -> np.ndarray:
        """The frame nearest ``timestamp`` (the original loader matches parquet timestamps)."""
        entry = self._cache.get(path)
        if entry is None:
            entry = decode_video(path)
            self._cache[path] = entry
            while len(self._cache) > self.max_episodes:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(path)
        times, frames = entry
        i = int(np.clip(np.searchsorted(times, timestamp), 1, len(times) - 1)) if len(times) > 1 else 0
        if len(times) > 1 and abs(times[i - 1] - timestamp) <= abs(times[i] - timestamp):
            i -= 1
        if abs(times[i] - timestamp) > tolerance_s:
            raise ValueError(
                f"video {path} has no frame within {tolerance_s:.3f} s of timestamp {timestamp:.3f} s "
                f"(nearest {times[i]:.3f} s; {len(times)} frames)"
            )
        return frames[i]


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
                path, start_s = self.meta.video_segment(self.meta.episodes[episode_pos].index,
                                                        self.meta.video_features[key_name])
                raw = self._videos.frame_at(path, start_s + float(episode.timestamps[frame]), tolerance_s=1.0 / self.meta.fps)
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


class ShuffledStreamSampler(torch.utils.data.Sampler):
    """An endless stream of ``(frame, draw)``: a fresh permutation of the dataset per epoch.

    Position ``p`` of the stream is epoch ``p // n``, item ``p % n`` of ``randperm(n, seed + epoch)``,
    and ``draw = p``; so starting at ``start`` reproduces a run that was interrupted after
    ``start`` samples, independent of how many DataLoader workers prefetch.

    With ``world_size`` > 1 (DDP) the one global stream is dealt out: rank ``r`` takes positions
    ``start + r``, ``start + r + world_size``, ... Within an epoch that is exactly
    ``torch.utils.data.DistributedSampler(shuffle=True, seed=seed)`` after ``set_epoch(epoch)``
    (same ``randperm(n, seed + epoch)``, rank ``r`` takes ``perm[r::world_size]``); the epoch
    change happens per sample position, so every sample is seen once per epoch without the padding
    or dropping DistributedSampler needs when ``n`` is not a multiple of the world size, and a
    resumed run continues the same streams. ``draw`` stays the global position, so every rank's
    crops are distinct.
    """

    def __init__(self, num_samples: int, seed: int, start: int = 0, *, rank: int = 0, world_size: int = 1) -> None:
        if num_samples < 1:
            raise ValueError("the dataset has no samples")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank {rank}, world_size {world_size}")
        self.num_samples = int(num_samples)
        self.seed = int(seed)
        self.start = int(start)
        self.rank = int(rank)
        self.world_size = int(world_size)

    def _permutation(self, epoch: int) -> torch.Tensor:
        return torch.randperm(self.num_samples, generator=torch.Generator().manual_seed(self.seed + epoch))

    def __iter__(self):
        position = self.start + self.rank
        epoch = position // self.num_samples
        order = self._permutation(epoch)
        while True:
            if position // self.num_samples != epoch:
                epoch = position // self.num_samples
                order = self._permutation(epoch)
            yield int(order[position % self.num_samples]), position
            position += self.world_size
