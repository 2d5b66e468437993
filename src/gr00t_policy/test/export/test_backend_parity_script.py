"""benchmarks/check_backend_parity.py on the CPU: the candidates this machine has, compared for real."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "check_backend_parity.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("check_backend_parity", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_parity_script_compares_onnxruntime_with_the_torch_reference(tmp_path):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "parity.json"
    script = _load_script()
    argv = ["--preset", "demo", "--cases", "2", "--onnxruntime", "--onnx-cache", str(tmp_path), "--out", str(out)]
    assert script.main(argv) == 0
    report = json.loads(out.read_text())
    ort = report["candidates"]["onnxruntime-cpu"]
    assert ort["finite"] and 0 < ort["max_abs_ref"] and ort["max_abs_diff"] < 1e-4
    if not torch.cuda.is_available():
        assert set(report["candidates"]) == {"onnxruntime-cpu"}


def test_compare_measures_the_largest_difference():
    script = _load_script()
    reference = torch.tensor([[1.0, -2.0], [0.5, 4.0]]).numpy()
    result = script.compare(reference + [[0.0, 0.1], [0.0, -0.3]], reference)
    assert result["max_abs_diff"] == pytest.approx(0.3) and result["relative_max_diff"] == pytest.approx(0.3 / 4.0)
