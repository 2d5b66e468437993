"""gr00t-eval with a Hugging Face repo id instead of a checkpoint directory, offline from a Hub cache
the test builds (huggingface_hub's layout: models--org--name/{refs/main, snapshots/<commit>/})."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from gr00t_eval.cli import main
from gr00t_policy.policy import Gr00tPolicy

COMMIT = "c" * 40


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    cache = tmp_path / "hf_cache"
    repo = cache / "models--acme--gr00t-demo"
    Gr00tPolicy.from_preset("demo").save_pretrained(tmp_path / "ckpt", dtype=torch.bfloat16)
    shutil.copytree(tmp_path / "ckpt", repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def test_a_hub_model_runs_in_the_library_evaluation(hub_cache, tmp_path):
    report_path = tmp_path / "report.json"
    code = main(
        [
            "--policy",
            "model",
            "--model",
            "acme/gr00t-demo@main",
            "--tasks",
            "reach",
            "--episodes",
            "1",
            "--no-frames",
            "--quiet",
            "--output",
            str(report_path),
        ]
    )
    assert code == 0
    report = json.loads(report_path.read_text())
    assert "acme/gr00t-demo@main" in json.dumps(report)
    assert report["tasks"]["reach"]["episodes"] == 1


def test_a_missing_hub_model_is_one_clear_line_before_anything_starts(hub_cache, tmp_path, capsys):
    code = main(
        [
            "--policy",
            "node",
            "--model",
            "acme/gr00t-other",
            "--tasks",
            "reach",
            "--episodes",
            "1",
            "--quiet",
            "--output",
            str(tmp_path / "report.json"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "acme/gr00t-other@main is not in the Hugging Face cache" in err and "HF_HUB_OFFLINE=1" in err
    assert not (tmp_path / "report.json").exists()
