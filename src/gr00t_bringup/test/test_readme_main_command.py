"""The README's two commands, as the README gives them: the main command runs under dash (Debian's
/bin/sh) from an environment with nothing of the project sourced, and CI runs exactly the test command."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def readme_commands() -> list[str]:
    """The README's fenced bash blocks of the quick start, in order: [main command, test command]."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    quick_start = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", quick_start, re.S)][:2]


def _clean_environment() -> dict[str, str]:
    """A new user's shell: no venv, ROS or workspace variables, no project paths on PATH."""
    project_variables = (
        "VIRTUAL_ENV",
        "PYTHONPATH",
        "AMENT_PREFIX_PATH",
        "CMAKE_PREFIX_PATH",
        "LD_LIBRARY_PATH",
        "COLCON_PREFIX_PATH",
        "_ROS_WHEELS_BOOTSTRAP_COMPLETE",
        "GR00T_MODELS_DIR",
        "GR00T_GRX_SITE",
        "MAKEFLAGS",
        "MAKELEVEL",
        "MFLAGS",
    )
    env = {k: v for k, v in os.environ.items() if k not in project_variables and not k.startswith("COLCON")}
    env["PATH"] = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if not p.startswith(str(REPO)))
    return env


def test_ci_runs_exactly_the_readme_test_command() -> None:
    _, test_command = readme_commands()
    ci_lines = [line for line in (REPO / ".ci/run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci_lines[-1] == test_command


@pytest.mark.slow
def test_readme_main_command_runs_under_dash(tmp_path: Path) -> None:
    main_command, _ = readme_commands()
    assert main_command == "make run"
    dash = shutil.which("dash")
    assert dash, "dash is needed to check the README's command under Debian's /bin/sh (apt install dash)"
    summary = tmp_path / "summary.json"
    # The README's command, shortened; make runs its recipes with SHELL, so this is dash whatever
    # /bin/sh is on the machine running the test.
    command = f"{main_command} DURATION=8 SUMMARY={summary} SHELL={dash}"
    result = subprocess.run(
        [dash, "-c", command], cwd=REPO, env=_clean_environment(), capture_output=True, text=True, timeout=600
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    report = json.loads(summary.read_text())
    assert report["episode"]["task"] == "reach" and isinstance(report["episode"]["success"], bool), report
    assert set(report["exit_codes"].values()) == {0}, report["exit_codes"]
    problems = [
        line
        for line in output.splitlines()
        if re.search(r"\[ERROR\]|Traceback|Warning:|not found|Bad substitution|never retrieved", line)
    ]
    assert not problems, "\n".join(problems[:20])
