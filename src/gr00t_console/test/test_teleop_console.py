"""The teleoperator's console: `gr00t-launch teleop_sim` (sim, leader teleop, recorder, console) as
real processes. The console's controller is the leader teleop there: its state, enable, e-stop (no
token) and reset go to it; recordings start and stop from the console and from gr00t-operator."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from console_testing import free_port, fresh_domain, ros_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def teleop_graph(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("teleop_console")
    port = free_port()
    episodes = tmp / "episodes"
    params = tmp / "params.yaml"
    params.write_text(
        f"gr00t_console:\n  ros__parameters:\n    port: {port}\n    token_file: {tmp / 'token'}\n"
        f"gr00t_recorder:\n  ros__parameters:\n    output_dir: {episodes}\n    min_free_disk_mb_to_start: 100.0\n"
        f"    min_free_disk_mb: 50.0\n"
    )
    env = ros_env(fresh_domain())
    log = tmp / "graph.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, shutil.which("gr00t-launch"), "teleop_sim", "--params-file", str(params)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, log.read_text()[-4000:]
            assert time.monotonic() < deadline, log.read_text()[-4000:]
            try:
                token = (tmp / "token").read_text().strip()
                state = call(url, "GET", "/api/state", token=token)[1]
                if state["recorder"]:  # the leader teleop publishes its status on its first change
                    break
            except (OSError, KeyError):
                pass
            time.sleep(1.0)
        yield url, token, episodes, env
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
        assert process.returncode == 0, log.read_text()[-4000:]
        assert "'gr00t_console': 0" in log.read_text(), log.read_text()[-2000:]


def call(url: str, method: str, path: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else (b"" if method == "POST" else None)
    request = urllib.request.Request(url + path, data=data, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def wait_controller(url: str, token: str, state: str, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        controller = call(url, "GET", "/api/state", token=token)[1]["controller"]
        if controller["state"] == state:
            return controller
        assert time.monotonic() < deadline, controller
        time.sleep(0.1)


def test_the_leader_teleop_is_the_controller_enable_estop_reset(teleop_graph):
    url, token, _episodes, _env = teleop_graph
    assert call(url, "POST", "/api/command", {"op": "enable"})[0] == 401
    status, reply = call(url, "POST", "/api/command", {"op": "enable"}, token)
    assert status == 200 and reply["ok"], reply
    deadline = time.monotonic() + 10
    while not (controller := call(url, "GET", "/api/state", token=token)[1]["controller"]):
        assert time.monotonic() < deadline, "no controller status after enable"
        time.sleep(0.1)
    assert controller["source"] == "gr00t_leader_teleop" and controller["state"] != "DISABLED", controller
    status, reply = call(url, "POST", "/api/estop")  # no token
    assert status == 200 and reply["ok"], reply
    wait_controller(url, token, "ESTOPPED")
    status, reply = call(url, "POST", "/api/command", {"op": "reset_estop"}, token)
    assert reply["ok"], reply
    wait_controller(url, token, "DISABLED")
    status, reply = call(url, "POST", "/api/command", {"op": "instruct", "text": "wave"}, token)
    assert not reply["ok"] and "gr00t_system1 is not running" in reply["message"]


def test_recordings_from_the_console_and_from_gr00t_operator(teleop_graph):
    url, token, episodes, env = teleop_graph
    # Enabled, the leader teleop commands (holds) the arm: the episodes have the joint commands training needs.
    assert call(url, "POST", "/api/command", {"op": "enable"}, token)[1]["ok"]
    time.sleep(1)
    status, reply = call(url, "POST", "/api/command", {"op": "record_start", "text": "pick up the red cube"}, token)
    assert reply["ok"], reply
    time.sleep(2)
    status, reply = call(url, "POST", "/api/command", {"op": "record_stop", "outcome": "failure"}, token)
    assert reply["ok"] and ": failure" in reply["message"], reply
    operator = [sys.executable, shutil.which("gr00t-operator")]
    result = subprocess.run(
        [*operator, "record", "start", "pick up the blue cube"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    time.sleep(1)
    result = subprocess.run([*operator, "record", "stop"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    deadline = time.monotonic() + 5
    while call(url, "GET", "/api/state", token=token)[1]["episodes"]["total"] < 2:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert call(url, "GET", "/api/state", token=token)[1]["episodes"] == {
        "success": 1,
        "failure": 1,
        "discarded": 0,
        "interrupted": 0,
        "total": 2,
    }
    bags = sorted(p for p in episodes.iterdir() if p.is_dir())
    assert len(bags) == 2 and all(list(b.glob("*.mcap")) for b in bags)
