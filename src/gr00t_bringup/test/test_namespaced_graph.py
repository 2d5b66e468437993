"""The whole simulated graph under a namespace (two robots on one network): every node, the runner's
instruction action, episode reset and scene state work with relative names only."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

NAMESPACE = "robot7"


def test_the_sim_graph_runs_an_episode_under_a_namespace(tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    command = [
        sys.executable,
        shutil.which("gr00t-launch"),
        "sim",
        "--namespace",
        NAMESPACE,
        "--quiet",
        "--episode",
        "reach/10003",
        "--duration",
        "15",
        "--summary",
        str(summary),
    ]
    result = subprocess.run(command, env=os.environ.copy(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(summary.read_text())
    assert set(report["exit_codes"].values()) == {0}, report["exit_codes"]
    assert report["action"]["chunks_executed"] > 0, report["action"]  # System 1 ran the instruction
    assert report["counts"]["joint_commands"] > 100 and report["counts"]["goal_tokens"] > 10, report["counts"]
    # Judged from the namespaced scene state after a namespaced episode reset.
    assert isinstance(report["episode"]["success"], bool), report["episode"]
    assert "running" in report["controller_states"], report["controller_states"]
