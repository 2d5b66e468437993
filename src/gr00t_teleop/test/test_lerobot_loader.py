"""What gr00t-convert writes, loaded by the `lerobot` package's own LeRobotDataset (pinned, in the
separate environment tools/lerobot_check/setup.sh makes; skipped while it is missing): the v3.0
layout directly, the v2.1 / GR00T layout through LeRobot's own v2.1 -> v3.0 converter. Frames,
timestamps, indices, tasks, features and the decoded video must be what our files hold."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
import pytest
from test_foreign_bags import convert_two_task_session

REPO = Path(__file__).resolve().parents[3]
LEROBOT_PYTHON = Path(os.environ.get("GR00T_LEROBOT_PYTHON", REPO / ".venv-lerobot" / "bin" / "python"))
CHECK = REPO / "tools" / "lerobot_check" / "check_dataset.py"
FPS = 20.0

pytestmark = pytest.mark.skipif(
    not LEROBOT_PYTHON.exists(), reason=f"no LeRobot environment at {LEROBOT_PYTHON}: run tools/lerobot_check/setup.sh"
)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("lerobot")
    return convert_two_task_session(root, FPS)


def lerobot_view(layout_flag: str, dataset: Path, out: Path) -> tuple[dict, np.lib.npyio.NpzFile]:
    result = subprocess.run(
        [str(LEROBOT_PYTHON), str(CHECK), layout_flag, str(dataset), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, (
        f"LeRobot failed to load {dataset}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    seen = np.load(out)
    return json.loads(str(seen["meta"])), seen


def our_view(v2_root: Path) -> dict[str, np.ndarray]:
    """Our files, read with pyarrow and PyAV (the v2.1 episodes, in order)."""
    tables = [pq.read_table(v2_root / f"data/chunk-000/episode_{i:06d}.parquet") for i in range(2)]
    frames = []
    for i in range(2):
        with av.open(str(v2_root / f"videos/chunk-000/observation.images.ego_view/episode_{i:06d}.mp4")) as video:
            frames += [f.to_ndarray(format="rgb24") for f in video.decode(video=0)]
    column = lambda name: np.concatenate([np.asarray(t.column(name).to_pylist()) for t in tables])  # noqa: E731
    return {
        "state": column("observation.state"),
        "action": column("action"),
        "timestamp": column("timestamp"),
        "frame_index": column("frame_index"),
        "episode_index": column("episode_index"),
        "index": column("index"),
        "task_index": column("task_index"),
        "frames": np.stack(frames),
    }


@pytest.mark.parametrize("fmt,flag", [("lerobot-v3", "--v3"), ("gr00t-v2", "--v2")])
def test_lerobot_loads_what_we_write(datasets, tmp_path, fmt, flag):
    meta, seen = lerobot_view(flag, datasets[fmt], tmp_path / "seen.npz")
    ours = our_view(datasets["gr00t-v2"])
    assert meta["lerobot_version"] == "0.4.4" and meta["codebase_version"] == "v3.0"
    assert (meta["num_episodes"], meta["num_frames"], meta["fps"]) == (2, 72, 20)
    assert {
        "observation.state",
        "action",
        "observation.images.ego_view",
        "timestamp",
        "frame_index",
        "episode_index",
        "index",
        "task_index",
    } <= set(meta["features"])
    assert meta["tasks"] == ["pick the pear"] * 41 + ["place the pear"] * 31
    for key in ("episode_index", "frame_index", "index", "task_index"):
        assert np.array_equal(seen[key], ours[key]), key
    assert np.allclose(seen["timestamp"], ours["timestamp"], atol=1e-6)
    # LeRobot serves float32; our parquet holds float64.
    assert np.allclose(seen["state"], ours["state"], atol=1e-6) and np.allclose(
        seen["action"], ours["action"], atol=1e-6
    )
    # The frame LeRobot decodes (torchcodec, by timestamp in the shared v3 file) is ours, to within
    # the rounding of its [0, 1] floats and of two decoders' colour conversion.
    lerobot_frames = seen["frames/observation.images.ego_view"].astype(float)
    assert lerobot_frames.shape == ours["frames"].shape
    assert np.abs(lerobot_frames - ours["frames"]).mean(axis=(1, 2, 3)).max() < 2.0
