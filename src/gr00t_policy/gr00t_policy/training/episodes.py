"""One episode's numeric columns from its parquet file (v2: one file per episode; v3.0: a shared file),
checked against the dataset's ``meta/`` files and split into the data config's groups."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .dataset_meta import DatasetError, DatasetMeta, EpisodeInfo, GroupSlice


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
        problems.append(f"{path}: {table.num_rows} rows, meta/episodes.jsonl says length {episode.length}")
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
