"""GR00T LeRobot v2 and LeRobot v3.0 dataset metadata: the ``meta/`` files, read and cross-checked (no ROS).

Layout (Isaac-GR00T's LeRobot-compatible data schema, Isaac-GR00T ``gr00t/data/dataset.py``)::

    meta/info.json  meta/episodes.jsonl  meta/tasks.jsonl  meta/modality.json  meta/stats.json
    data/chunk-000/episode_000000.parquet                      (observation.state, action, timestamp, ...)
    videos/chunk-000/observation.images.<cam>/episode_000000.mp4

or LeRobot's v3.0 layout (``codebase_version`` v3.x in info.json; what ``gr00t-convert --format
lerobot-v3`` writes): episodes in ``meta/episodes/*/*.parquet`` with their rows' range in a shared
``data/chunk-*/file-*.parquet`` and their span (``from_timestamp``) in a shared
``videos/<key>/chunk-*/file-*.mp4``, tasks in ``meta/tasks.parquet``. Both need GR00T's
``meta/modality.json`` (which group lies where in the state and action vectors).

:func:`load_dataset_meta` reports every problem it finds at once (:class:`DatasetError`);
:func:`dataset_metadata` turns ``meta/stats.json`` into the checkpoint metadata entry whose
statistics normalise the training targets.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ..model.embodiments import DataConfig, make_metadata

logger = logging.getLogger(__name__)

META_FILES = ("info.json", "episodes.jsonl", "tasks.jsonl", "modality.json", "stats.json")
DEFAULT_STATE_COLUMN = "observation.state"
DEFAULT_ACTION_COLUMN = "action"
TASK_INDEX_COLUMN = "task_index"


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
        return self.root / template.format(episode_chunk=self.episode_chunk(episode_index), episode_index=episode_index)

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
            episodes.append(
                EpisodeInfo(
                    index=int(row["episode_index"]),
                    length=int(row["length"]),
                    data_file=row.get("data_file"),
                    video_files=tuple(row.get("video_files", ())),
                )
            )
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

    state_slices = _group_slices("state", data_config.state_groups, modality, DEFAULT_STATE_COLUMN, features, problems)
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


def _read_v3_episodes_and_tasks(
    root: Path, info: Mapping[str, Any], problems: list[str]
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
        problems.append(
            f"{tasks_path}: expected columns task_index and task (or a pandas index), got {tasks_table.column_names}"
        )
        return [], []
    tasks = [
        {"task_index": i, "task": t}
        for i, t in zip(
            tasks_table.column("task_index").to_pylist(), tasks_table.column(text_column).to_pylist(), strict=True
        )
    ]
    video_features = [k for k, f in info.get("features", {}).items() if f.get("dtype") == "video"]
    rows = []
    for episode in episodes:
        try:
            row = {
                "episode_index": episode["episode_index"],
                "length": episode["length"],
                "data_file": info["data_path"].format(
                    chunk_index=episode["data/chunk_index"], file_index=episode["data/file_index"]
                ),
            }
            row["video_files"] = [
                (
                    feature,
                    info["video_path"].format(
                        video_key=feature,
                        chunk_index=episode[f"videos/{feature}/chunk_index"],
                        file_index=episode[f"videos/{feature}/file_index"],
                    ),
                    float(episode[f"videos/{feature}/from_timestamp"]),
                )
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
