"""The whole graph as real processes, started by `gr00t-launch` exactly as a user does: sim,
System 2, System 1; an instruction through the ExecuteInstruction action; clean shutdown."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _launch_command(*extra: str) -> list[str]:
    executable = shutil.which("gr00t-launch")
    assert executable, "gr00t-launch not on PATH: build the workspace and source install/setup.bash"
    return [sys.executable, executable, "sim", "--quiet", *extra]


def _children_of(pid: int) -> list[int]:
    result = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in result.stdout.split()]


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
            alive.append(pid)
        except ProcessLookupError:
            pass
    return alive


def test_instruction_runs_to_its_timeout_and_the_arm_follows(tmp_path: Path):
    summary_path = tmp_path / "summary.json"
    result = subprocess.run(
        _launch_command("--duration", "12", "--episode", "reach/10000", "--summary", str(summary_path)),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads(summary_path.read_text())
    assert summary["action"]["outcome"] == "timeout_reached", summary["action"]
    assert summary["action"]["chunks_executed"] > 10
    # The seeded task episode was set up, its instruction sent, and the run judged from the sim.
    episode = summary["episode"]
    assert (episode["task"], episode["seed"]) == ("reach", 10000)
    assert summary["instruction"] == episode["instruction"] and episode["instruction"]
    assert isinstance(episode["success"], bool)
    rates = summary["rates_hz"]
    # Generous bounds: CI machines are small and shared; the benchmark reports the real figures.
    assert 5.0 <= rates["system2_goal_tokens"] <= 11.0, rates
    assert 80.0 <= rates["joint_commands"] <= 125.0, rates
    assert rates["joint_states"] > 50.0 and rates["camera"] > 5.0, rates
    motion = summary["joint_motion"]
    assert motion["max_displacement_rad"] > 0.05, motion
    # The simulated arm follows the commands: measured-vs-commanded gap stays small.
    assert motion["tracking_error_rad"]["p50"] < 0.25, motion
    assert "running" in summary["controller_states"], summary["controller_states"]
    assert summary["exit_codes"] == {"gr00t_sim": 0, "gr00t_system2": 0, "gr00t_system1": 0, "gr00t_console": 0}


def test_ctrl_c_cancels_the_action_and_leaves_no_orphans(tmp_path: Path):
    summary_path = tmp_path / "summary.json"
    process = subprocess.Popen(
        _launch_command("--duration", "0", "--summary", str(summary_path)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 180
    assert process.stdout is not None
    for line in process.stdout:  # wait until the graph is up and the instruction is running
        lines.append(line)
        if "instruction sent" in line or time.monotonic() > deadline:
            break
    children = _children_of(process.pid)
    assert len(children) == 4, "".join(lines)  # sim, System 2, System 1, console
    time.sleep(5)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    output = "".join(lines) + output
    assert process.returncode == 0, output[-3000:]
    summary = json.loads(summary_path.read_text())
    assert summary["action"]["outcome"] == "canceled", (summary["action"], output[-3000:])
    assert _alive(children) == []
