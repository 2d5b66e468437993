"""gr00t-export / gr00t-bench command lines: exit codes and outputs (tiny runs, not timings)."""

from __future__ import annotations

import json

import pytest
import torch

from gr00t_policy.cli import bench, export
from gr00t_policy.export.onnx_export import ALL_GRAPHS, ExportManifest


def test_export_onnx_writes_checked_and_validated_graphs(tmp_path, capsys):
    out = tmp_path / "demo_onnx"
    code = export.main(["onnx", "--preset", "demo", str(out), "--validate-batches", "1,2", "--validate-tokens", "4"])
    assert code == export.EXIT_OK, capsys.readouterr()
    manifest = ExportManifest.read(out)
    assert set(manifest.graphs) == set(ALL_GRAPHS) and manifest.validation["passed"]
    assert "onnx.checker ok" in capsys.readouterr().out


def test_export_onnx_of_a_missing_checkpoint_is_bad_input(tmp_path, capsys):
    code = export.main(["onnx", "--checkpoint", str(tmp_path / "nowhere"), str(tmp_path / "out")])
    assert code == export.EXIT_BAD_INPUT
    assert "error:" in capsys.readouterr().err


def test_export_tensorrt_explains_what_is_missing(demo_export, tmp_path, capsys):
    from gr00t_policy.backends import tensorrt_backend

    assert export.main(["tensorrt", str(tmp_path / "missing.onnx")]) == export.EXIT_BAD_INPUT
    if tensorrt_backend.trt is not None and torch.cuda.is_available():
        pytest.skip("TensorRT and a GPU are present")
    code = export.main(["tensorrt", str(demo_export / "sample_chunk.onnx"), "--precision", "fp16"])
    assert code == export.EXIT_BAD_INPUT
    assert "TensorRT" in capsys.readouterr().err


def test_bench_system1_writes_and_merges_runs(demo_export, onnx_cache, tmp_path, capsys):
    out = tmp_path / "bench.json"
    tiny = ["--preset", "demo", "--chunks", "3", "--warmup", "1", "--goals", "2", "--out", str(out)]
    assert bench.main(["system1", "--backend", "torch", *tiny]) == bench.EXIT_OK
    assert bench.main(["system1", "--backend", "onnxruntime", "--onnx-cache", str(onnx_cache),
                       "--compare-loops", *tiny]) == bench.EXIT_OK  # fmt: skip
    runs = {r["backend"]: r for r in json.loads(out.read_text())["runs"]}
    assert runs["torch"]["chunk"]["n"] == 3 and runs["torch"]["naive_over_cached_p50"] > 0
    assert set(runs["onnxruntime"]["sampler_by_loop"]) == {"unrolled", "python"}
    for run in runs.values():
        assert run["achieved_replanning_hz"] > 0 and run["peak_rss_mib"] > 0
        assert run["environment"]["versions"]["torch"] == torch.__version__


def test_bench_tensorrt_without_tensorrt_is_bad_input(capsys):
    from gr00t_policy.backends import tensorrt_backend

    if tensorrt_backend.trt is not None and torch.cuda.is_available():
        pytest.skip("TensorRT and a GPU are present")
    assert bench.main(["system1", "--preset", "demo", "--backend", "tensorrt", "--chunks", "1"]) == bench.EXIT_BAD_INPUT
    assert "TensorRT" in capsys.readouterr().err


def test_bench_system2_times_the_backbone(tmp_path):
    out = tmp_path / "s2.json"
    assert bench.main(["system2", "--preset", "demo", "--chunks", "2", "--warmup", "1", "--out", str(out)]) == 0
    run = json.loads(out.read_text())["runs"][0]
    assert run["encode_goal"]["n"] == 2 and run["goal_tokens"] > 0


def test_time_interleaved_synchronises_around_each_timed_call():
    events: list[str] = []
    times = bench.time_interleaved(
        {"a": lambda: events.append("a"), "b": lambda: events.append("b")},
        n=2,
        warmup=1,
        sync=lambda: events.append("|"),
    )
    assert events == ["a", "b"] + ["|", "a", "|", "|", "b", "|"] * 2  # warm-up unsynchronised, then sync-call-sync
    assert [len(v) for v in times.values()] == [2, 2]
    assert bench.device_sync("cpu") is None and bench.device_sync("cuda:0") is torch.cuda.synchronize
