"""The two dataset layouts gr00t-convert writes: GR00T's LeRobot v2.1 (with the columns stock LeRobot
expects) and LeRobot's v3.0; our fine-tuning reads both and sees the same samples from each. (Loading
them with the `lerobot` package itself: tools/lerobot_check/.)"""

from __future__ import annotations

import json

import av
import numpy as np
import pyarrow.parquet as pq
import pytest
from test_foreign_bags import convert_two_task_session

from gr00t_policy.model.embodiments import EmbodimentStats, get_data_config
from gr00t_policy.training.dataset import Gr00tWindowDataset, WindowConfig
from gr00t_policy.training.dataset_meta import dataset_metadata, load_dataset_meta

FPS = 20.0


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("formats")
    return convert_two_task_session(root, FPS)


def test_v2_has_the_columns_and_files_stock_lerobot_expects(datasets):
    root = datasets["gr00t-v2"]
    info = json.loads((root / "meta/info.json").read_text())
    assert info["codebase_version"] == "v2.1"
    for column in ("timestamp", "frame_index", "episode_index", "index", "task_index"):
        assert column in info["features"]
    table = pq.read_table(root / "data/chunk-000/episode_000001.parquet")
    assert table.column("frame_index").to_pylist() == list(range(31))
    assert table.column("index").to_pylist() == list(range(41, 72))
    stats = [json.loads(line) for line in (root / "meta/episodes_stats.jsonl").read_text().splitlines()]
    assert [s["episode_index"] for s in stats] == [0, 1]
    assert stats[1]["stats"]["frame_index"]["max"] == [30.0] and stats[1]["stats"]["action"]["count"] == [31]
    assert (root / "meta/modality.json").is_file()  # what Isaac-GR00T reads


def test_v3_packs_episodes_into_shared_files_with_their_ranges(datasets):
    root = datasets["lerobot-v3"]
    assert not (root.parent / "lerobot-v3.v2-staging").exists()
    info = json.loads((root / "meta/info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["fps"] == 20
    assert info["data_path"] == "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
    assert info["features"]["observation.state"]["fps"] == 20
    episodes = pq.read_table(root / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    assert [(e["episode_index"], e["length"], e["dataset_from_index"], e["dataset_to_index"]) for e in episodes] == [
        (0, 41, 0, 41),
        (1, 31, 41, 72),
    ]
    assert [e["tasks"][0] for e in episodes] == ["pick the pear", "place the pear"]
    video = "videos/observation.images.ego_view"
    assert episodes[1][f"{video}/from_timestamp"] == pytest.approx(41 / FPS)
    assert episodes[1][f"{video}/to_timestamp"] == pytest.approx(72 / FPS)
    data = pq.read_table(root / "data/chunk-000/file-000.parquet")
    assert data.num_rows == 72 and data.column("episode_index").to_pylist() == [0] * 41 + [1] * 31
    tasks = pq.read_table(root / "meta/tasks.parquet")
    assert tasks.column("__index_level_0__").to_pylist()[:2] == ["pick the pear", "place the pear"]
    assert b"pandas" in tasks.schema.metadata  # pandas restores the task text as the index
    # One MP4 per camera: every frame of both episodes at k / fps, decoding the same as the v2 files.
    with av.open(str(root / f"{video}/chunk-000/file-000.mp4")) as container:
        stream = container.streams.video[0]
        frames = [(float(f.pts * stream.time_base), f.to_ndarray(format="rgb24")) for f in container.decode(stream)]
    assert len(frames) == 72
    assert np.allclose([t for t, _ in frames], np.arange(72) / FPS, atol=1e-6)
    with av.open(str(datasets["gr00t-v2"] / "videos/chunk-000/observation.images.ego_view/episode_000001.mp4")) as v2:
        v2_frames = [f.to_ndarray(format="rgb24") for f in v2.decode(video=0)]
    assert all(np.array_equal(a, b) for a, b in zip(v2_frames, [f for _, f in frames[41:]], strict=True))


def test_finetuning_reads_both_layouts_as_the_same_samples(datasets):
    data_config = get_data_config("gr1_arms_only")
    samples = {}
    for fmt, root in datasets.items():
        meta = load_dataset_meta(root, data_config)
        stats = EmbodimentStats.from_metadata({"gr1": dataset_metadata(meta, data_config)["gr1"]}, data_config)
        dataset = Gr00tWindowDataset(meta, data_config, stats, WindowConfig(action_horizon=16, image_size=64))
        assert len(dataset) == 72 and [e.length for e in meta.episodes] == [41, 31]
        samples[fmt] = [dataset[i] for i in (0, 40, 41, 71)]
    for v2_sample, v3_sample in zip(samples["gr00t-v2"], samples["lerobot-v3"], strict=True):
        assert v2_sample["instruction"] == v3_sample["instruction"]
        assert np.array_equal(v2_sample["state"], v3_sample["state"])
        assert np.array_equal(v2_sample["action"], v3_sample["action"])
        assert all(np.array_equal(a, b) for a, b in zip(v2_sample["images"], v3_sample["images"], strict=True))
    assert [s["instruction"] for s in samples["lerobot-v3"]] == ["pick the pear"] * 2 + ["place the pear"] * 2
