"""Our GR00T LeRobot v2.1 dataset -> LeRobot's v3.0 layout (what LeRobot >= 0.4 and its GR00T
integration load), written with pyarrow and PyAV only (LeRobot itself is not a runtime dependency).

v3.0, as LeRobot's `lerobot/datasets/utils.py` and `v30/convert_dataset_v21_to_v30.py` define it:

    meta/info.json                       codebase_version "v3.0", data_path / video_path templates
    meta/tasks.parquet                   task_index, indexed by the task string (a pandas index)
    meta/episodes/chunk-000/file-000.parquet
                                         one row per episode: tasks, length, dataset_from_index /
                                         dataset_to_index, data/{chunk,file}_index,
                                         videos/<key>/{chunk,file}_index, from_/to_timestamp,
                                         stats/<feature>/<stat>
    meta/stats.json                      whole-dataset statistics
    data/chunk-000/file-000.parquet      the frames of many episodes, one after another
    videos/<key>/chunk-000/file-000.mp4  their frames, one MP4 per camera and file

Episodes are packed into files up to LeRobot's default sizes (100 MB of data, 200 MB of video per
file). Video files are concatenated by remuxing (no re-encoding): our MP4s start every episode on a
key frame and have no B-frames, so an episode's frames stay exactly where from_timestamp puts them.
GR00T's `meta/modality.json` is kept too: LeRobot ignores it, our trainer reads it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import av
import pyarrow as pa
import pyarrow.parquet as pq

from . import lerobot_dataset as v2

CODEBASE_VERSION = "v3.0"
CHUNKS_SIZE = 1000  # files per chunk directory
DATA_FILE_SIZE_MB = 100
VIDEO_FILE_SIZE_MB = 200
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
TASKS_PATH = "meta/tasks.parquet"


def _next_file(chunk: int, file: int) -> tuple[int, int]:
    return (chunk + 1, 0) if file == CHUNKS_SIZE - 1 else (chunk, file + 1)


def _tasks_table(tasks: list[dict[str, Any]]) -> pa.Table:
    """tasks.parquet as pandas writes a DataFrame indexed by the task string: LeRobot reads it with
    `pd.read_parquet` and takes the task text from the index."""
    table = pa.table(
        {
            "task_index": pa.array([int(t["task_index"]) for t in tasks], pa.int64()),
            "__index_level_0__": pa.array([str(t["task"]) for t in tasks], pa.string()),
        }
    )
    pandas_metadata = {
        "index_columns": ["__index_level_0__"],
        "column_indexes": [
            {
                "name": None,
                "field_name": None,
                "pandas_type": "unicode",
                "numpy_type": "object",
                "metadata": {"encoding": "UTF-8"},
            }
        ],
        "columns": [
            {
                "name": "task_index",
                "field_name": "task_index",
                "pandas_type": "int64",
                "numpy_type": "int64",
                "metadata": None,
            },
            {
                "name": None,
                "field_name": "__index_level_0__",
                "pandas_type": "unicode",
                "numpy_type": "object",
                "metadata": None,
            },
        ],
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.2.0",
    }
    return table.replace_schema_metadata({b"pandas": json.dumps(pandas_metadata).encode()})


class _VideoConcatenator:
    """Remuxes episode MP4s one after another into a file; returns where each episode starts."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._output = av.open(str(path), mode="w")
        self._stream: Any = None
        self.duration_s = 0.0
        self.bytes = 0

    def append(self, episode_video: Path, frames: int, fps: float) -> tuple[float, float]:
        start = self.duration_s
        with av.open(str(episode_video)) as source:
            stream = source.streams.video[0]
            if self._stream is None:
                self._stream = self._output.add_stream_from_template(stream)
            offset = round(start / float(stream.time_base))
            for packet in source.demux(stream):
                if packet.dts is None:  # the demuxer's flush packet
                    continue
                packet.pts += offset
                packet.dts += offset
                packet.stream = self._stream
                self._output.mux(packet)
        # Frames are at k / fps, so the next episode starts one frame period after this one's last.
        self.duration_s = start + frames / fps
        self.bytes += episode_video.stat().st_size
        return start, self.duration_s

    def close(self) -> None:
        self._output.close()


def write_v3(v2_root: Path, v3_root: Path) -> dict[str, Any]:
    """Write the v3.0 layout of the v2.1 dataset at `v2_root` into `v3_root` (created); returns its
    info.json."""
    v2_root, v3_root = Path(v2_root), Path(v3_root)
    meta = v2_root / "meta"
    info = json.loads((meta / "info.json").read_text())
    episodes = v2.read_jsonl(meta / "episodes.jsonl")
    tasks = v2.read_jsonl(meta / "tasks.jsonl")
    episode_stats = {row["episode_index"]: row["stats"] for row in v2.read_jsonl(meta / "episodes_stats.jsonl")}
    fps = float(info["fps"])
    video_features = [k for k, f in info["features"].items() if f.get("dtype") == "video"]
    (v3_root / "meta").mkdir(parents=True, exist_ok=True)

    rows: list[dict[str, Any]] = []
    # data: episodes' tables concatenated into files of up to DATA_FILE_SIZE_MB.
    chunk, file, pending, pending_bytes, first_index = 0, 0, [], 0, 0

    def flush_data() -> None:
        nonlocal pending, pending_bytes
        if pending:
            path = v3_root / DATA_PATH.format(chunk_index=chunk, file_index=file)
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.concat_tables(pending), path)
        pending, pending_bytes = [], 0

    for episode in episodes:
        index, length = int(episode["episode_index"]), int(episode["length"])
        table = pq.read_table(v2.data_path(v2_root, index))
        if pending and pending_bytes + table.nbytes > DATA_FILE_SIZE_MB * 2**20:
            flush_data()
            chunk, file = _next_file(chunk, file)
        pending.append(table)
        pending_bytes += table.nbytes
        row: dict[str, Any] = {
            "episode_index": index,
            "tasks": list(episode["tasks"]),
            "length": length,
            "data/chunk_index": chunk,
            "data/file_index": file,
            "dataset_from_index": first_index,
            "dataset_to_index": first_index + length,
        }
        first_index += length
        rows.append(row)
    flush_data()

    for feature in video_features:
        video_key = feature.removeprefix("observation.images.")
        chunk, file = 0, 0
        writer = _VideoConcatenator(v3_root / VIDEO_PATH.format(video_key=feature, chunk_index=chunk, file_index=file))
        for row in rows:
            source = v2.video_path(v2_root, row["episode_index"], video_key)
            if writer.bytes and writer.bytes + source.stat().st_size > VIDEO_FILE_SIZE_MB * 2**20:
                writer.close()
                chunk, file = _next_file(chunk, file)
                writer = _VideoConcatenator(
                    v3_root / VIDEO_PATH.format(video_key=feature, chunk_index=chunk, file_index=file)
                )
            start, end = writer.append(source, row["length"], fps)
            row[f"videos/{feature}/chunk_index"] = chunk
            row[f"videos/{feature}/file_index"] = file
            row[f"videos/{feature}/from_timestamp"] = start
            row[f"videos/{feature}/to_timestamp"] = end
        writer.close()

    for row in rows:
        for feature, stats in episode_stats.get(row["episode_index"], {}).items():
            for name, values in stats.items():
                row[f"stats/{feature}/{name}"] = [float(v) for v in values]
        row["meta/episodes/chunk_index"] = 0
        row["meta/episodes/file_index"] = 0
    episodes_path = v3_root / EPISODES_PATH.format(chunk_index=0, file_index=0)
    episodes_path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), episodes_path)
    pq.write_table(_tasks_table(tasks), v3_root / TASKS_PATH)
    for name in ("stats.json", "modality.json"):
        shutil.copyfile(meta / name, v3_root / "meta" / name)

    v3_info = {key: value for key, value in info.items() if key not in ("total_chunks", "total_videos")}
    v3_info.update(
        {
            "codebase_version": CODEBASE_VERSION,
            "chunks_size": CHUNKS_SIZE,
            "data_files_size_in_mb": DATA_FILE_SIZE_MB,
            "video_files_size_in_mb": VIDEO_FILE_SIZE_MB,
            "data_path": DATA_PATH,
            "video_path": VIDEO_PATH if video_features else None,
            "fps": int(round(fps)) if float(fps).is_integer() else fps,
        }
    )
    features: dict[str, Any] = {}
    for key, feature in info["features"].items():
        feature = dict(feature)
        if feature.get("dtype") != "video":
            feature["fps"] = v3_info["fps"]  # LeRobot's v3 features carry their rate
        features[key] = feature
    v3_info["features"] = features
    (v3_root / "meta" / "info.json").write_text(json.dumps(v3_info, indent=2))
    return v3_info


def is_v3(root: Path) -> bool:
    """Whether the dataset at `root` is in the v3.0 layout (by its info.json)."""
    try:
        info: Mapping[str, Any] = json.loads((Path(root) / "meta" / "info.json").read_text())
    except (OSError, ValueError):
        return False
    return str(info.get("codebase_version", "")).startswith("v3")
