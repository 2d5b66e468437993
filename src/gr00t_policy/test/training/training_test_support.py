"""Helpers for the fine-tuning tests: tiny synthetic datasets in the GR00T LeRobot v2 layout.

A uniquely named module rather than conftest.py, so that `from … import` cannot pick up another test
directory's conftest when several are collected in one run (the fixtures are in conftest.py).

The layout follows Isaac-GR00T's LeRobot-compatible data schema and this project's storage
order (§1.5 example: left_arm, right_arm, left_hand, right_hand, waist, neck = 32 dims). Episodes
are smooth joint trajectories with ``action[t] = state[t + 1]`` (the last action repeats the last
state), the relation a policy should learn; videos are tiny H.264 clips whose colour follows the
frame index, so frame lookup by timestamp is observable.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # src/gr00t_policy
try:
    import gr00t_policy  # noqa: F401
except ImportError:  # running from a source checkout without the package installed
    sys.path.insert(0, str(PACKAGE_ROOT))

GROUPS = (("left_arm", 7), ("right_arm", 7), ("left_hand", 6), ("right_hand", 6), ("waist", 3), ("neck", 3))
STORED_DIM = sum(d for _, d in GROUPS)
FPS = 20.0
TASKS = ("pick up the red cube", "wave the right hand")
VIDEO_KEY = "ego_view"
VIDEO_FEATURE = f"observation.images.{VIDEO_KEY}"
DATA_PATH = "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"
VIDEO_PATH = "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"


def episode_trajectory(episode: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """(state, action) of one episode, (length, 32) radians each, action[t] = state[t + 1]."""
    rng = np.random.default_rng(episode)
    t = np.arange(length + 1)[:, None] / FPS
    freq = rng.uniform(0.3, 1.0, STORED_DIM)
    phase = rng.uniform(0, 2 * np.pi, STORED_DIM)
    amplitude = rng.uniform(0.2, 0.8, STORED_DIM)
    q = amplitude * np.sin(2 * np.pi * freq * t + phase)
    return q[:-1], q[1:]


def write_video(path: Path, length: int, size: tuple[int, int] = (32, 32)) -> None:
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=int(FPS))
        stream.height, stream.width = size
        stream.pix_fmt = "yuv420p"
        for k in range(length):
            image = np.full((*size, 3), (k * 9) % 256, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def make_synthetic_dataset(
    root: Path, *, num_episodes: int = 3, length: int = 24, with_video: bool = True, video_size: int = 32
) -> Path:
    """Write a complete GR00T LeRobot dataset under ``root`` and return it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    meta = root / "meta"
    meta.mkdir(parents=True, exist_ok=True)
    names = [f"joint_{i}" for i in range(STORED_DIM)]
    all_state, all_action = [], []
    episodes = []
    index = 0
    for episode in range(num_episodes):
        state, action = episode_trajectory(episode, length)
        all_state.append(state)
        all_action.append(action)
        task = episode % len(TASKS)
        table = pa.table(
            {
                "observation.state": pa.array(state.tolist(), type=pa.list_(pa.float64())),
                "action": pa.array(action.tolist(), type=pa.list_(pa.float64())),
                "timestamp": pa.array(np.arange(length) / FPS),
                "annotation.human.action.task_description": pa.array([task] * length, type=pa.int64()),
                "task_index": pa.array([task] * length, type=pa.int64()),
                "annotation.human.validity": pa.array([len(TASKS)] * length, type=pa.int64()),
                "episode_index": pa.array([episode] * length, type=pa.int64()),
                "index": pa.array(np.arange(index, index + length), type=pa.int64()),
                "next.reward": pa.array(np.zeros(length)),
                "next.done": pa.array([False] * (length - 1) + [True]),
            }
        )
        index += length
        path = root / DATA_PATH.format(episode_chunk=0, episode_index=episode)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)
        if with_video:
            write_video(
                root / VIDEO_PATH.format(episode_chunk=0, video_key=VIDEO_FEATURE, episode_index=episode),
                length,
                (video_size, video_size),
            )
        episodes.append({"episode_index": episode, "tasks": [TASKS[task], "valid"], "length": length})

    features = {
        "observation.state": {"dtype": "float64", "shape": [STORED_DIM], "names": names},
        "action": {"dtype": "float64", "shape": [STORED_DIM], "names": names},
        "timestamp": {"dtype": "float64", "shape": [1]},
        "annotation.human.action.task_description": {"dtype": "int64", "shape": [1]},
        "task_index": {"dtype": "int64", "shape": [1]},
        "annotation.human.validity": {"dtype": "int64", "shape": [1]},
        "episode_index": {"dtype": "int64", "shape": [1]},
        "index": {"dtype": "int64", "shape": [1]},
        "next.reward": {"dtype": "float64", "shape": [1]},
        "next.done": {"dtype": "bool", "shape": [1]},
    }
    if with_video:
        features[VIDEO_FEATURE] = {
            "dtype": "video",
            "shape": [video_size, video_size, 3],
            "names": ["height", "width", "channel"],
            "video_info": {"video.fps": FPS, "video.codec": "h264", "video.pix_fmt": "yuv420p"},
        }
    info = {
        "codebase_version": "v2.0",
        "robot_type": "GR1T2",
        "total_episodes": num_episodes,
        "total_frames": num_episodes * length,
        "total_tasks": len(TASKS) + 1,
        "total_videos": num_episodes if with_video else 0,
        "total_chunks": 1,
        "chunks_size": 1000,
        "fps": FPS,
        "splits": {"train": f"0:{num_episodes}"},
        "data_path": DATA_PATH,
        "video_path": VIDEO_PATH,
        "features": features,
    }
    ranges, start = {}, 0
    for group, dim in GROUPS:
        ranges[group] = {"start": start, "end": start + dim}
        start += dim
    modality = {
        "state": ranges,
        "action": ranges,
        "video": {VIDEO_KEY: {"original_key": VIDEO_FEATURE}} if with_video else {},
        "annotation": {"human.action.task_description": {}, "human.validity": {}},
    }

    def column_stats(x: np.ndarray) -> dict[str, list[float]]:
        return {
            "mean": x.mean(0).tolist(),
            "std": x.std(0).tolist(),
            "min": x.min(0).tolist(),
            "max": x.max(0).tolist(),
            "q01": np.quantile(x, 0.01, axis=0).tolist(),
            "q99": np.quantile(x, 0.99, axis=0).tolist(),
        }

    stats = {
        "observation.state": column_stats(np.concatenate(all_state)),
        "action": column_stats(np.concatenate(all_action)),
    }
    (meta / "info.json").write_text(json.dumps(info, indent=2))
    (meta / "episodes.jsonl").write_text("".join(json.dumps(e) + "\n" for e in episodes))
    tasks = [*TASKS, "valid"]
    (meta / "tasks.jsonl").write_text(
        "".join(json.dumps({"task_index": i, "task": t}) + "\n" for i, t in enumerate(tasks))
    )
    (meta / "modality.json").write_text(json.dumps(modality, indent=2))
    (meta / "stats.json").write_text(json.dumps(stats))
    return root
