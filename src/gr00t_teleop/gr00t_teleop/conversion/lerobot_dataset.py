"""The GR00T flavour of a LeRobot v2.1 dataset: layout, metadata files, statistics, validation.

Layout and field meanings: Isaac-GR00T's `getting_started/LeRobot_compatible_data_schema.md` (Isaac-GR00T
`getting_started/LeRobot_compatible_data_schema.md`, `gr00t/data/schema.py` at b51a5e8). Besides
what Isaac-GR00T reads (modality.json, the annotation columns, stats.json with q01/q99), it carries
what stock LeRobot's v2.1 layout has: a `frame_index` column and `meta/episodes_stats.jsonl`, so
LeRobot's own v2.1 -> v3.0 conversion accepts it (`lerobot_v3.py` writes v3.0 directly).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CODEBASE_VERSION = "v2.1"
CHUNKS_SIZE = 1000
DATA_PATH = "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"
VIDEO_PATH = "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"
STATE_COLUMN = "observation.state"
ACTION_COLUMN = "action"
TASK_DESCRIPTION_COLUMN = "annotation.human.action.task_description"
VALIDITY_COLUMN = "annotation.human.validity"
VALID_TASK = "valid"
STAT_NAMES = ("mean", "std", "min", "max", "q01", "q99")


class DatasetValidationError(ValueError):
    def __init__(self, root: Path, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"dataset {root} is invalid:\n  - " + "\n  - ".join(problems))


@dataclass(frozen=True)
class GroupLayout:
    """Joint groups in storage order, and the joint names of each (from the robot config)."""

    groups: tuple[tuple[str, tuple[str, ...]], ...]

    @property
    def joint_names(self) -> list[str]:
        return [name for _group, names in self.groups for name in names]

    @property
    def dim(self) -> int:
        return len(self.joint_names)

    def ranges(self) -> dict[str, tuple[int, int]]:
        out, start = {}, 0
        for group, names in self.groups:
            out[group] = (start, start + len(names))
            start += len(names)
        return out


def video_feature_key(video_key: str) -> str:
    return f"observation.images.{video_key}"


def episode_chunk(episode_index: int) -> int:
    return episode_index // CHUNKS_SIZE


def data_path(root: Path, episode_index: int) -> Path:
    return Path(root) / DATA_PATH.format(episode_chunk=episode_chunk(episode_index), episode_index=episode_index)


def video_path(root: Path, episode_index: int, video_key: str) -> Path:
    return Path(root) / VIDEO_PATH.format(
        episode_chunk=episode_chunk(episode_index), video_key=video_feature_key(video_key), episode_index=episode_index
    )


def modality_json(layout: GroupLayout, video_keys: Sequence[str], annotation_keys: Sequence[str]) -> dict[str, Any]:
    ranges = layout.ranges()
    groups = {g: {"start": s, "end": e} for g, (s, e) in ranges.items()}
    return {
        "state": {g: dict(v) for g, v in groups.items()},
        "action": {g: dict(v) for g, v in groups.items()},
        "video": {k: {"original_key": video_feature_key(k)} for k in video_keys},
        # 'annotation.human.action.task_description' -> 'human.action.task_description'
        "annotation": {k.removeprefix("annotation."): {} for k in annotation_keys},
    }


def info_json(
    robot_type: str,
    fps: float,
    layout: GroupLayout,
    video_shapes: Mapping[str, tuple[int, int]],  # key -> (height, width)
    total_episodes: int,
    total_frames: int,
    total_tasks: int,
    annotation_keys: Sequence[str],
) -> dict[str, Any]:
    names = layout.joint_names
    features: dict[str, Any] = {}
    for key, (height, width) in video_shapes.items():
        features[video_feature_key(key)] = {
            "dtype": "video",
            "shape": [height, width, 3],
            "names": ["height", "width", "channel"],
            "video_info": {
                "video.fps": float(fps),
                "video.codec": "h264",
                "video.pix_fmt": "yuv420p",
                "video.is_depth_map": False,
                "has_audio": False,
            },
        }
    features[STATE_COLUMN] = {"dtype": "float64", "shape": [len(names)], "names": names}
    features[ACTION_COLUMN] = {"dtype": "float64", "shape": [len(names)], "names": names}
    features["timestamp"] = {"dtype": "float64", "shape": [1]}
    for key in [*annotation_keys, "frame_index", "task_index", "episode_index", "index"]:
        features[key] = {"dtype": "int64", "shape": [1]}
    features["next.reward"] = {"dtype": "float64", "shape": [1]}
    features["next.done"] = {"dtype": "bool", "shape": [1]}
    return {
        "codebase_version": CODEBASE_VERSION,
        "robot_type": robot_type,
        "total_episodes": total_episodes,
        "total_frames": total_frames,
        "total_tasks": total_tasks,
        "total_videos": total_episodes * len(video_shapes),
        "total_chunks": episode_chunk(max(total_episodes - 1, 0)) + 1 if total_episodes else 0,
        "chunks_size": CHUNKS_SIZE,
        "fps": float(fps),
        "splits": {"train": f"0:{total_episodes}"},
        "data_path": DATA_PATH,
        "video_path": VIDEO_PATH,
        "features": features,
    }


def episode_table(
    state: np.ndarray,
    action: np.ndarray,
    fps: float,
    episode_index: int,
    first_index: int,
    task_index: int,
    valid_index: int,
    annotation_keys: Sequence[str],
) -> pa.Table:
    """One row per frame; `timestamp = k / fps` so video frames are found by timestamp."""
    length = len(state)
    done = np.zeros(length, dtype=bool)
    done[-1:] = True
    columns: dict[str, pa.Array] = {
        STATE_COLUMN: pa.array(list(state.astype(np.float64)), type=pa.list_(pa.float64())),
        ACTION_COLUMN: pa.array(list(action.astype(np.float64)), type=pa.list_(pa.float64())),
        "timestamp": pa.array(np.arange(length, dtype=np.float64) / fps),
    }
    for key in annotation_keys:
        columns[key] = pa.array(np.full(length, valid_index if key == VALIDITY_COLUMN else task_index, np.int64))
    columns["frame_index"] = pa.array(np.arange(length, dtype=np.int64))
    columns["task_index"] = pa.array(np.full(length, task_index, np.int64))
    columns["episode_index"] = pa.array(np.full(length, episode_index, np.int64))
    columns["index"] = pa.array(np.arange(first_index, first_index + length, dtype=np.int64))
    columns["next.reward"] = pa.array(np.zeros(length, np.float64))
    columns["next.done"] = pa.array(done)
    return pa.table(columns)


def compute_stats(columns: Mapping[str, np.ndarray]) -> dict[str, dict[str, list[float]]]:
    """Per column: mean, std, min, max, q01, q99 per dimension (float32 values, like the loader),
    and count (frames; LeRobot aggregates per-episode statistics weighted by it)."""
    stats = {}
    for name, values in columns.items():
        data = np.asarray(values, dtype=np.float64)
        if data.ndim == 1:
            data = data[:, None]
        stats[name] = {
            "mean": data.mean(axis=0),
            "std": data.std(axis=0),
            "min": data.min(axis=0),
            "max": data.max(axis=0),
            "q01": np.quantile(data, 0.01, axis=0),
            "q99": np.quantile(data, 0.99, axis=0),
        }
        stats[name] = {k: v.astype(np.float32).astype(float).tolist() for k, v in stats[name].items()}
        stats[name]["count"] = [int(len(data))]
    return stats


def write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_table(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


# ---------------------------------------------------------------------------- validation
def validate_dataset(
    root: Path,
    required_groups: Mapping[str, Sequence[tuple[str, int]]] | None = None,
    required_video_keys: Sequence[str] = (),
    check_videos: bool = True,
) -> dict[str, Any]:
    """Check a dataset the way the GR00T loader will use it; raise `DatasetValidationError` listing
    every problem. `required_groups` = {'state': [(group, dim)…], 'action': […]} from the data config.
    Returns info.json on success."""
    from .video import count_video_frames

    root = Path(root)
    problems: list[str] = []
    meta = root / "meta"
    try:
        info = json.loads((meta / "info.json").read_text())
        modality = json.loads((meta / "modality.json").read_text())
        episodes = read_jsonl(meta / "episodes.jsonl")
        tasks = read_jsonl(meta / "tasks.jsonl")
        stats = json.loads((meta / "stats.json").read_text())
    except (OSError, ValueError) as exc:
        raise DatasetValidationError(root, [f"cannot read the meta files: {exc}"]) from exc

    fps = float(info["fps"])
    features = info["features"]
    state_dim = features[STATE_COLUMN]["shape"][0]
    action_dim = features[ACTION_COLUMN]["shape"][0]
    task_indices = {t["task_index"] for t in tasks}
    if info["total_episodes"] != len(episodes):
        problems.append(f"info.total_episodes {info['total_episodes']} != {len(episodes)} lines in episodes.jsonl")
    if info["total_frames"] != sum(e["length"] for e in episodes):
        problems.append(f"info.total_frames {info['total_frames']} != sum of episode lengths")
    if info["total_tasks"] != len(tasks):
        problems.append(f"info.total_tasks {info['total_tasks']} != {len(tasks)} lines in tasks.jsonl")

    for section, dim in (("state", state_dim), ("action", action_dim)):
        spans = sorted((v["start"], v["end"], k) for k, v in modality.get(section, {}).items())
        covered = 0
        for start, end, key in spans:
            if start != covered or end <= start:
                problems.append(
                    f"modality.{section}.{key} [{start}:{end}] leaves a gap or overlaps (expected start {covered})"
                )
            covered = max(covered, end)
        if covered != dim:
            problems.append(f"modality.{section} covers {covered} dims, the {section} vector has {dim}")
        for group, group_dim in (required_groups or {}).get(section, []):
            entry = modality.get(section, {}).get(group)
            if entry is None:
                problems.append(f"data config needs {section} group {group!r}, not in modality.json")
            elif entry["end"] - entry["start"] != group_dim:
                problems.append(
                    f"modality.{section}.{group} has {entry['end'] - entry['start']} dims, data config says {group_dim}"
                )
    for key, entry in modality.get("video", {}).items():
        if entry.get("original_key", video_feature_key(key)) not in features:
            problems.append(f"modality.video.{key} points to {entry.get('original_key')!r}, not a feature in info.json")
    for key in required_video_keys:
        if key not in modality.get("video", {}):
            problems.append(f"data config needs video {key!r}, not in modality.json")
    for column, dim in ((STATE_COLUMN, state_dim), (ACTION_COLUMN, action_dim)):
        for stat in STAT_NAMES:
            if len(stats.get(column, {}).get(stat, [])) != dim:
                problems.append(f"stats.json lacks {column}.{stat} with {dim} values")

    expected_index = 0
    for episode in episodes:
        index, length = episode["episode_index"], episode["length"]
        path = data_path(root, index)
        if not path.is_file():
            problems.append(f"episode {index}: {path.relative_to(root)} missing")
            continue
        table = pq.read_table(path)
        missing = {
            STATE_COLUMN,
            ACTION_COLUMN,
            "timestamp",
            "frame_index",
            "episode_index",
            "index",
            "task_index",
        } - set(table.column_names)
        if missing:
            problems.append(f"episode {index}: columns {sorted(missing)} missing")
            continue
        if table.num_rows != length:
            problems.append(f"episode {index}: {table.num_rows} rows, episodes.jsonl says {length}")
            expected_index += length
            continue
        state = np.array(table.column(STATE_COLUMN).to_pylist(), dtype=np.float64)
        action = np.array(table.column(ACTION_COLUMN).to_pylist(), dtype=np.float64)
        if state.shape != (length, state_dim) or action.shape != (length, action_dim):
            problems.append(
                f"episode {index}: state {state.shape} / action {action.shape}, expected ({length}, {state_dim})"
            )
        elif not (np.isfinite(state).all() and np.isfinite(action).all()):
            problems.append(f"episode {index}: state or action holds NaN/inf")
        timestamps = table.column("timestamp").to_numpy()
        if not np.allclose(timestamps, np.arange(length) / fps, atol=1e-6):
            problems.append(f"episode {index}: timestamps are not k / fps")
        if table.column("frame_index").to_pylist() != list(range(length)):
            problems.append(f"episode {index}: frame_index is not 0..{length - 1}")
        if set(table.column("episode_index").to_pylist()) != {index}:
            problems.append(f"episode {index}: episode_index column disagrees")
        global_index = table.column("index").to_numpy()
        if length and (
            global_index[0] != expected_index or not np.array_equal(np.diff(global_index), np.ones(length - 1))
        ):
            problems.append(f"episode {index}: global index does not continue from {expected_index}")
        expected_index += length
        for column in table.column_names:
            if column.startswith("annotation.") or column == "task_index":
                bad = set(table.column(column).to_pylist()) - task_indices
                if bad:
                    problems.append(f"episode {index}: {column} refers to unknown tasks {sorted(bad)}")
        if check_videos:
            for key, feature in features.items():
                if feature.get("dtype") != "video":
                    continue
                video_key = key.removeprefix("observation.images.")
                video = video_path(root, index, video_key)
                if not video.is_file():
                    problems.append(f"episode {index}: video {video.relative_to(root)} missing")
                    continue
                frames, width, height = count_video_frames(video)
                if frames != length:
                    problems.append(f"episode {index}: {video.name} of {key} has {frames} frames, expected {length}")
                if [height, width] != feature["shape"][:2]:
                    problems.append(
                        f"episode {index}: {key} is {width}x{height}, info.json says {feature['shape'][:2]}"
                    )
    if problems:
        raise DatasetValidationError(root, problems)
    return info
