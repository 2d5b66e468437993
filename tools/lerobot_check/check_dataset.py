"""Load datasets written by gr00t-convert with the `lerobot` package's own dataset class, in the
separate environment tools/lerobot_check/setup.sh makes, and dump what LeRobot sees (frames,
timestamps, tasks, features, decoded video) to an .npz that the test compares with our reader.

    .venv-lerobot/bin/python tools/lerobot_check/check_dataset.py --v3 DATASET_V3 --out v3.npz
    .venv-lerobot/bin/python tools/lerobot_check/check_dataset.py --v2 DATASET_V2 --out v2.npz

A v3.0 dataset is loaded as it is. A v2.1 dataset goes through what LeRobot provides for older
layouts: its own v2.1 -> v3.0 converter (`lerobot.datasets.v30.convert_dataset_v21_to_v30`), on a
copy, then the same loader.

Why torchvision's two op schemas are declared below: LeRobot imports torchvision at module level
(for image transforms, not used on video datasets), and torchvision's PyPI wheel is built against
the CUDA torch: its compiled ops cannot load next to the CPU torch this environment has, and
torchvision then fails at import registering fake kernels for `nms` / `qnms`. Declaring those two
schemas (no kernels) lets its Python parts import; nothing here calls them. Video is decoded by
torchcodec, LeRobot's default backend.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

_TORCHVISION_SCHEMAS = torch.library.Library("torchvision", "DEF")  # kept alive: the schemas live with it
for _schema in (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
):
    _TORCHVISION_SCHEMAS.define(_schema)

import lerobot  # noqa: E402
from lerobot.datasets.lerobot_dataset import LeRobotDataset  # noqa: E402


def dump(dataset: LeRobotDataset, out: Path) -> None:
    """Every frame as LeRobot's __getitem__ returns it."""
    columns: dict[str, list] = {
        k: [] for k in ("episode_index", "frame_index", "index", "timestamp", "task_index", "state", "action")
    }
    tasks, frames = [], {}
    camera_keys = list(dataset.meta.camera_keys)
    for i in range(len(dataset)):
        item = dataset[i]
        for key in ("episode_index", "frame_index", "index", "timestamp", "task_index"):
            columns[key].append(float(item[key]))
        columns["state"].append(item["observation.state"].numpy())
        columns["action"].append(item["action"].numpy())
        tasks.append(item["task"])
        for key in camera_keys:  # (C, H, W) float in [0, 1] -> (H, W, C) uint8
            frames.setdefault(key, []).append((item[key].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
    meta = {
        "lerobot_version": getattr(lerobot, "__version__", "unknown"),
        "codebase_version": dataset.meta.info["codebase_version"],
        "num_episodes": dataset.num_episodes,
        "num_frames": dataset.num_frames,
        "fps": dataset.fps,
        "features": sorted(dataset.features),
        "camera_keys": camera_keys,
        "tasks": tasks,
        "meta_tasks": [str(t) for t in dataset.meta.tasks.index],
    }
    np.savez(
        out,
        meta=json.dumps(meta),
        **{k: np.asarray(v) for k, v in columns.items()},
        **{f"frames/{k}": np.stack(v) for k, v in frames.items()},
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    layout = parser.add_mutually_exclusive_group(required=True)
    layout.add_argument("--v3", type=Path, help="a LeRobot v3.0 dataset (gr00t-convert --format lerobot-v3)")
    layout.add_argument("--v2", type=Path, help="a LeRobot v2.1 / GR00T dataset (gr00t-convert, the default format)")
    parser.add_argument("--out", type=Path, required=True, help=".npz to write")
    args = parser.parse_args()
    if args.v3:
        dataset = LeRobotDataset("local/gr00t_v3", root=args.v3, video_backend="torchcodec")
        dump(dataset, args.out)
        return 0
    from lerobot.datasets.v30.convert_dataset_v21_to_v30 import convert_dataset

    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "local" / "gr00t_v2"
        shutil.copytree(args.v2, copy)
        convert_dataset("local/gr00t_v2", root=Path(scratch), push_to_hub=False)
        dataset = LeRobotDataset("local/gr00t_v2", root=copy, video_backend="torchcodec")
        dump(dataset, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
