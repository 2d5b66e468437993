"""The console node as a process of its own (no graph around it): it serves, says which node is
missing, survives hostile clients, keeps running when its port is taken, refuses a bad
configuration with one line, and exits 0 on SIGINT/SIGTERM at any moment."""

from __future__ import annotations

import ast
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from console_testing import _executable, free_port, fresh_domain, ros_env

pytestmark = pytest.mark.slow


_ENVS: dict[int, dict[str, str]] = {}


def process_env(process: subprocess.Popen) -> dict[str, str]:
    return _ENVS[process.pid]


def start(tmp_path: Path, *params: str, port: int | None = None) -> tuple[subprocess.Popen, int, Path]:
    port = port or free_port()
    token_file = tmp_path / f"token{port}"
    args = [
        sys.executable,
        _executable("gr00t_console", "console_node"),
        "--ros-args",
        "-p",
        f"port:={port}",
        "-p",
        f"token_file:={token_file}",
        *params,
    ]
    env = ros_env(fresh_domain())
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _ENVS[process.pid] = env
    return process, port, token_file


def wait_serving(process: subprocess.Popen, port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("console not serving")


def stop(process: subprocess.Popen, sig: int = signal.SIGINT) -> str:
    process.send_signal(sig)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "Traceback" not in output and "[ERROR]" not in output, output
    return output


def post(port: int, path: str, body: bytes = b"", token: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method="POST")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_without_a_graph_requests_say_which_node_is_missing(tmp_path):
    process, port, token_file = start(tmp_path)
    try:
        wait_serving(process, port)
        token = token_file.read_text().strip()
        assert token_file.stat().st_mode & 0o777 == 0o600
        status, reply = post(port, "/api/estop")
        assert (
            status == 503
            and reply["message"] == "no controller is running (no service /gr00t/estop or /gr00t_leader_teleop/estop)"
        ), reply
        status, reply = post(port, "/api/command", b'{"op": "record_start", "text": "wave"}', token)
        assert status == 200 and "gr00t_recorder is not running" in reply["message"] and not reply["ok"]
        status, reply = post(port, "/api/command", b'{"op": "instruct", "text": "wave"}', token)
        assert "gr00t_system1 is not running (no action server /gr00t/execute_instruction)" in reply["message"]
        status, reply = post(port, "/api/command", b'{"op": "enable"}')
        assert status == 401
        # Hostile input on the real node: garbage on the socket, oversize and malformed bodies.
        for raw in (
            b"\x00" * 5000,
            b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
            b"POST /api/command HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n{",
        ):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(raw)
                sock.settimeout(3)
                try:
                    sock.recv(1024)
                except OSError:
                    pass
        assert post(port, "/api/command", b"{" * 3000, token)[0] == 400
        assert post(port, "/api/command", b'{"op": "estop", "x": "' + b"a" * 9000 + b'"}', token)[0] == 413
        wait_serving(process, port, timeout=5)
    finally:
        output = stop(process, signal.SIGTERM)
    assert f"console at http://127.0.0.1:{port}/" in output and token not in output


def test_a_taken_port_is_an_error_in_the_log_not_an_exit(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        process, _, _ = start(tmp_path, port=port)
        time.sleep(8)
        assert process.poll() is None
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert f"console not served: cannot listen on 127.0.0.1:{port}" in output, output


def test_a_generated_token_is_printed_on_stdout_only(tmp_path):
    port = free_port()
    args = [sys.executable, _executable("gr00t_console", "console_node"), "--ros-args", "-p", f"port:={port}"]
    process = subprocess.Popen(
        args, env=ros_env(fresh_domain()), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    wait_serving(process, port)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    line = next(text for text in out.splitlines() if text.startswith("gr00t console: "))
    token = line.split("#token=", 1)[1]
    assert len(token) >= 40 and token not in err  # the log (stderr, files) never holds it


def test_a_bad_configuration_is_one_line_and_exit_2(tmp_path):
    process, _, _ = start(tmp_path, "-p", "default_group:=tail")
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 2 and "default_group 'tail'" in output and "Traceback" not in output, output
    process, _, _ = start(tmp_path, "-p", "max_clients:=1000")
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 2 and "max_clients" in output, output


@pytest.mark.parametrize(
    "sig, when", [(signal.SIGINT, 0.5), (signal.SIGTERM, 1.0), (signal.SIGINT, "serving"), (signal.SIGTERM, "client")]
)
def test_sigint_and_sigterm_at_any_moment_exit_0(tmp_path, sig, when):
    process, port, token_file = start(tmp_path)
    client = None
    if when == "serving":
        wait_serving(process, port)
    elif when == "client":
        wait_serving(process, port)
        client = socket.create_connection(("127.0.0.1", port))
        client.sendall(
            b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        assert b"101" in client.recv(1024)
    else:
        time.sleep(when)
    try:
        process.send_signal(sig)
        output, _ = process.communicate(timeout=30)
        assert process.returncode == 0, output
        assert "Traceback" not in output, output
    finally:
        if client is not None:
            client.close()


DIAGNOSTICS_PROBE = """
import rclpy, sys, time
from diagnostic_msgs.msg import DiagnosticArray
rclpy.init()
node = rclpy.create_node("diagnostics_probe")
found = {}
def on(msg):
    for status in msg.status:
        if status.hardware_id == "gr00t_console":
            found.update({kv.key: kv.value for kv in status.values}, level=int.from_bytes(status.level, "little"),
                         message=status.message)
node.create_subscription(DiagnosticArray, "/diagnostics", on, 10)
end = time.monotonic() + 20
while "refused_bad_token" not in found and time.monotonic() < end:
    rclpy.spin_once(node, timeout_sec=0.1)
print(repr(found))
"""


def test_refused_requests_are_counted_in_diagnostics(tmp_path):
    process, port, _token_file = start(tmp_path)
    try:
        wait_serving(process, port)
        for _ in range(3):
            assert post(port, "/api/command", b'{"op": "enable"}', "wrong-token-wrong-token")[0] == 401
        assert post(port, "/api/command", b'{"op": "fly"}')[0] == 400
        env = {**process_env(process)}
        result = subprocess.run(
            [sys.executable, "-c", DIAGNOSTICS_PROBE], env=env, capture_output=True, text=True, timeout=60
        )
        found = ast.literal_eval(result.stdout.strip() or "{}")
        assert found.get("refused_bad_token") == "3" and found.get("refused_invalid") == "1", (found, result.stderr)
        assert found["level"] == 1 and found["url"] == f"http://127.0.0.1:{port}/"
    finally:
        stop(process, signal.SIGINT)
