"""The console's web server without ROS: token, bind address, size limits, and fuzzed HTTP/WebSocket
requests against a running server (a fake backend records what would have reached the robot)."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gr00t_console.protocol import OPS, Request
from gr00t_console.server import STATIC_FILES, ConsoleServer, Counters, ServerConfig, bound_addresses, start_server
from gr00t_console.state import ConsoleState, StateConfig

TOKEN = "test-token-0123456789abcdef0123456789"
ROBOT_OPS = sorted(set(OPS) - {"auth", "select_group"})


class FakeBackend:
    def __init__(self) -> None:
        self.calls: list[Request] = []

    async def execute(self, request: Request) -> dict[str, Any]:
        self.calls.append(request)
        return {"ok": True, "message": f"{request.op} done"}


class RunningServer:
    """A ConsoleServer on its own event loop thread, like the node runs it."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **config: Any) -> None:
        self.backend = FakeBackend()
        self.state = ConsoleState(StateConfig(("j1", "j2"), {"right_arm": ("j1",), "left_arm": ("j2",)}))
        self.server = ConsoleServer(
            ServerConfig(
                host=host,
                port=port,
                token=TOKEN,
                max_request_bytes=1024,
                requests_per_s=1000.0,
                request_burst=1000,
                **config,
            ),
            self.state,
            self.backend,
            Counters(),
        )
        self.loop = asyncio.new_event_loop()
        self.runner = self.loop.run_until_complete(start_server(self.server))
        self.addresses = bound_addresses(self.runner)
        self.port = self.addresses[0][1]
        self.url = f"http://{host}:{self.port}"
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def running():
    server = RunningServer()
    yield server
    server.close()


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes, dict]:
    async def go():
        async with aiohttp.ClientSession() as session:
            async with session.request(method, url, data=body, headers=headers or {}) as response:
                return response.status, await response.read(), dict(response.headers)

    return asyncio.run(go())


def ws_session(url: str, messages: list, *, read_replies: bool = True) -> list[dict]:
    """Send `messages` (str = text, bytes = binary) over one WebSocket; the JSON replies received."""

    async def go():
        replies = []
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(url + "/ws", max_msg_size=0) as ws:
                hello = await ws.receive_json(timeout=5)
                assert hello["type"] == "hello" and hello["auth_required"]
                for message in messages:
                    if isinstance(message, bytes):
                        await ws.send_bytes(message)
                    else:
                        await ws.send_str(message)
                    if not read_replies:
                        continue
                    while True:
                        msg = await ws.receive(timeout=5)
                        if msg.type != aiohttp.WSMsgType.TEXT:
                            return replies  # closed by the server
                        data = json.loads(msg.data)
                        if data["type"] in ("reply", "error"):
                            replies.append(data)
                            break
        return replies

    return asyncio.run(go())


def auth(token: str = TOKEN) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_everything_but_estop_needs_the_token_over_http(running):
    running.backend.calls.clear()
    for op in ROBOT_OPS:
        body = {"op": op, "text": "touch the cube", "outcome": "success"}
        body = {k: v for k, v in body.items() if k == "op" or k in OPS[op]}
        status, payload, _ = http("POST", running.url + "/api/command", json.dumps(body).encode())
        if op == "estop":
            assert status == 200 and json.loads(payload)["ok"], payload
        else:
            assert status == 401, (op, status, payload)
        status, _, _ = http("POST", running.url + "/api/command", json.dumps(body).encode(), auth("wrong" * 8))
        assert status == (200 if op == "estop" else 401)
        status, payload, _ = http("POST", running.url + "/api/command", json.dumps(body).encode(), auth())
        assert status == 200 and json.loads(payload)["message"] == f"{op} done"
    assert [c.op for c in running.backend.calls].count("estop") == 3
    assert {c.op for c in running.backend.calls} == set(ROBOT_OPS)
    assert len(running.backend.calls) == len(ROBOT_OPS) + 2  # only the e-stops got through without the token
    status, payload, _ = http("POST", running.url + "/api/estop")
    assert status == 200 and running.backend.calls[-1].op == "estop"
    for path in ("/api/state", "/api/camera/ego_view"):
        assert http("GET", running.url + path)[0] == 401
    assert http("GET", running.url + "/api/state", headers=auth())[0] == 200
    assert running.server.counters.counts["bad_token"] >= len(ROBOT_OPS)


def test_everything_but_estop_needs_the_token_over_the_websocket(running):
    running.backend.calls.clear()
    requests = [
        json.dumps(
            {
                "op": op,
                "id": i,
                **({"text": "go"} if "text" in OPS[op] else {}),
                **({"outcome": "failure"} if "outcome" in OPS[op] else {}),
                **({"group": "left_arm"} if "group" in OPS[op] else {}),
            }
        )
        for i, op in enumerate([*ROBOT_OPS, "select_group"])
    ]
    replies = ws_session(running.url, requests)
    assert [r["ok"] for r in replies] == [op == "estop" for op in [*ROBOT_OPS, "select_group"]], replies
    assert all(r["message"] == "token required" for r in replies if not r["ok"])
    assert [c.op for c in running.backend.calls] == ["estop"]
    replies = ws_session(running.url, [json.dumps({"op": "auth", "token": TOKEN}), *requests])
    assert all(r["ok"] for r in replies), replies
    assert sorted(c.op for c in running.backend.calls) == sorted(["estop", *ROBOT_OPS])


def test_repeated_wrong_tokens_close_the_websocket(running):
    replies = ws_session(running.url, [json.dumps({"op": "auth", "token": f"guess{i}"}) for i in range(8)])
    assert len(replies) == 5 and not any(r["ok"] for r in replies)


def test_an_authenticated_client_gets_state_pushes_and_urgent_changes_at_once(running):
    async def go():
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(running.url + "/ws") as ws:
                await ws.receive_json(timeout=5)
                await ws.send_str(json.dumps({"op": "auth", "token": TOKEN}))
                states = []
                while len(states) < 2:
                    msg = await ws.receive_json(timeout=5)
                    if msg["type"] == "state":
                        states.append(msg)
                running.state.on_controller_status(4, "e-stop", ["estop"], 0, 0.0, False)
                running.server.notify_urgent()
                while True:
                    msg = await ws.receive_json(timeout=5)
                    if msg["type"] == "state" and msg["controller"] and msg["controller"]["state"] == "ESTOPPED":
                        return msg

    assert asyncio.run(go())["controller"]["faults"] == ["estop"]


def test_oversize_requests_are_refused_and_the_server_lives_on(running):
    status, _, _ = http("POST", running.url + "/api/command", b'{"op": "estop", "x": "' + b"a" * 5000 + b'"}', auth())
    assert status == 413
    replies = ws_session(running.url, ['{"op": "estop", "x": "' + "a" * 5000 + '"}'])
    assert replies == []  # the connection was closed (message too big)
    assert http("GET", running.url + "/api/health")[0] == 200


def test_a_foreign_host_header_is_refused_on_a_loopback_console(running):
    status, _, _ = http("GET", running.url + "/api/health", headers={"Host": "evil.example:80"})
    assert status == 421
    assert http("GET", running.url + "/api/health", headers={"Host": f"localhost:{running.port}"})[0] == 200


def test_the_page_and_only_packaged_files_are_served_with_a_strict_policy(running):
    status, body, headers = http("GET", running.url + "/")
    assert status == 200 and b"gr00t-ros console" in body
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    # Nothing the page loads comes from outside the package: no external URL, no CDN, no web font.
    for name in STATIC_FILES:
        status, content, _ = http("GET", f"{running.url}/static/{name}")
        assert status == 200 and content
        if name.endswith((".js", ".css")) and "uPlot" not in name:
            assert not re.search(rb"https?://", content), name
    for ref in re.findall(rb'(?:src|href)="([^"]+)"', body):
        assert ref.startswith(b"/static/"), ref
        assert http("GET", running.url + ref.decode())[0] == 200
    for path in ("/static/..%2f..%2fetc%2fpasswd", "/static/../server.py", "/static/app.js/x", "/../etc/passwd"):
        assert http("GET", running.url + path)[0] == 404


def test_the_server_listens_only_where_configured():
    server = RunningServer(host="127.0.0.1")
    try:
        assert server.addresses == [("127.0.0.1", server.port)]
        with socket.create_connection(("127.0.0.1", server.port), timeout=2):
            pass
        with pytest.raises(OSError):  # another loopback address: nobody listens there
            socket.create_connection(("127.0.0.2", server.port), timeout=2)
        with pytest.raises(OSError):  # the configured port is taken: an error, not another port
            RunningServer(host="127.0.0.1", port=server.port)
    finally:
        server.close()
    other = RunningServer(host="127.0.0.2")
    try:
        assert other.addresses == [("127.0.0.2", other.port)]
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", other.port), timeout=2)
    finally:
        other.close()


# --------------------------------------------------------------------------- fuzz
json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=30),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
    max_leaves=10,
)
requests_json = st.one_of(
    json_values.map(json.dumps),
    st.fixed_dictionaries(
        {"op": st.sampled_from(sorted(OPS))},
        optional={k: json_values for k in ("text", "timeout_s", "outcome", "group", "token", "id")},
    ).map(json.dumps),
    st.text(max_size=200),
)
paths = st.sampled_from(
    [
        "/",
        "/api/command",
        "/api/estop",
        "/api/state",
        "/api/health",
        "/api/camera/ego_view",
        "/ws",
        "/static/app.js",
        "/nope",
        "/api/state?group=%00",
        "/api/camera/..%2F",
    ]
)
headers = st.dictionaries(
    st.sampled_from(["Authorization", "Content-Type", "X-Forwarded-For", "Origin"]),
    st.one_of(
        st.just(f"Bearer {TOKEN[:-1]}"),
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
    ),
    max_size=3,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "OPTIONS"]),
    path=paths,
    body=st.one_of(requests_json.map(str.encode), st.binary(max_size=2000)),
    extra=headers,
)
def test_fuzzed_http_requests_never_crash_the_server_or_reach_the_robot(running, method, path, body, extra):
    before = len(running.backend.calls)
    status, _, _ = http(method, running.url + path, body, extra)
    assert status < 500, (method, path, body[:100], status)
    new = running.backend.calls[before:]
    assert all(call.op == "estop" for call in new), new  # without the token only an e-stop gets through


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(messages=st.lists(st.one_of(requests_json, st.binary(max_size=300)), min_size=1, max_size=6))
def test_fuzzed_websocket_messages_never_crash_the_server_or_reach_the_robot(running, messages):
    before = len(running.backend.calls)
    ws_session(running.url, messages)
    new = running.backend.calls[before:]
    assert all(call.op == "estop" for call in new), new
    for call in new:  # what got through was a validated request
        assert isinstance(call, Request) and call.args == {}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(min_size=1, max_size=3000))
def test_raw_bytes_on_the_socket_never_crash_the_server(running, raw):
    with socket.create_connection(("127.0.0.1", running.port), timeout=5) as sock:
        try:
            sock.sendall(raw + b"\r\n\r\n")
            sock.settimeout(2)
            sock.recv(4096)
        except OSError:
            pass


def test_the_server_still_answers_after_the_fuzz(running):
    assert http("GET", running.url + "/api/health")[0] == 200
    assert ws_session(running.url, [json.dumps({"op": "auth", "token": TOKEN})])[0]["ok"]
    # No request ever raised inside a handler (those would be counted as handler_error / backend_error).
    assert (
        "handler_error" not in running.server.counters.counts and "backend_error" not in running.server.counters.counts
    )
    assert running.server.counters.counts.get("invalid", 0) > 50
