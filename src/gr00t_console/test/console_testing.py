"""Helpers of the console's tests (a module of its own name: several test folders have a conftest.py)
and the simulated graph as real processes: `gr00t-launch sim` (sim, System 2,
System 1, console) plus the episode recorder, on a DDS domain of their own, localhost only."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ros_env(domain_id: int) -> dict[str, str]:
    return {
        **os.environ,
        "ROS_DOMAIN_ID": str(domain_id),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "PYTHONUNBUFFERED": "1",
    }


def fresh_domain() -> int:
    """A domain of the test's own; above the 100-199 that tools/test.sh and the other tests draw from
    (Fast DDS allows up to 232 on Linux)."""
    return random.Random(os.getpid() ^ time.time_ns()).randint(200, 232)


@dataclass
class SimGraph:
    env: dict[str, str]
    url: str
    token: str
    episodes_dir: Path
    log: Path
    processes: list[subprocess.Popen]

    def api(self, path: str, *, token: bool = True, method: str = "GET", body: bytes | None = None) -> dict:
        request = urllib.request.Request(self.url + path, data=body, method=method)
        if token:
            request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def operator(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        executable = shutil.which("gr00t-operator")
        assert executable, "gr00t-operator not on PATH: build the workspace and source install/setup.bash"
        return subprocess.run(
            [sys.executable, executable, *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )


def _executable(package: str, name: str) -> str:
    from ament_index_python.packages import get_package_prefix

    return str(Path(get_package_prefix(package)) / "lib" / package / name)


@pytest.fixture(scope="module")
def sim_graph(tmp_path_factory) -> SimGraph:
    """sim + System 2 + System 1 + console (gr00t-launch sim) and the recorder, until the console shows
    the controller's state."""
    tmp = tmp_path_factory.mktemp("console_graph")
    port = free_port()
    token_file = tmp / "token"
    params = tmp / "params.yaml"
    params.write_text(f"gr00t_console:\n  ros__parameters:\n    port: {port}\n    token_file: {token_file}\n")
    env = ros_env(fresh_domain())
    log = tmp / "graph.log"
    episodes = tmp / "episodes"
    with open(log, "w") as out:
        launch = subprocess.Popen(
            [
                sys.executable,
                shutil.which("gr00t-launch"),
                "sim",
                "--duration",
                "0",
                "--instruction",
                "",
                "--params-file",
                str(params),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        recorder = subprocess.Popen(
            [
                sys.executable,
                _executable("gr00t_teleop", "recorder_node"),
                "--ros-args",
                "-p",
                f"output_dir:={episodes}",
                "-p",
                "min_free_disk_mb_to_start:=100.0",
                "-p",
                "min_free_disk_mb:=50.0",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    graph = SimGraph(env, f"http://127.0.0.1:{port}", "", episodes, log, [launch, recorder])
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            for process in graph.processes:
                assert process.poll() is None, f"exited {process.returncode}:\n{log.read_text()[-4000:]}"
            if token_file.exists() and token_file.read_text().strip():
                graph.token = token_file.read_text().strip()
                try:
                    state = graph.api("/api/state")
                    if state["controller"] and state["recorder"] and state["rates"]["camera"] > 0:
                        break
                except OSError:
                    pass
            time.sleep(1.0)
        else:
            raise AssertionError(f"the graph did not come up:\n{log.read_text()[-4000:]}")
        yield graph
    finally:
        for process in reversed(graph.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in graph.processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        codes = [p.returncode for p in graph.processes]
        assert codes == [0, 0], f"exit codes {codes}:\n{log.read_text()[-4000:]}"
