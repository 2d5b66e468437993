"""The console's web server: the page, its files, a WebSocket for live state and commands, and a
small HTTP API (no rclpy here: the node passes a backend that talks to the graph).

Why aiohttp: one well-kept asyncio library that serves HTTP and WebSockets together (no second
server or thread per connection), with per-message size limits (`max_msg_size`,
`client_max_size`) enforced before a handler runs, heartbeats that drop dead clients, and a test
client (`aiohttp.test_utils`) that the tests use without opening a browser. The Foxglove SDK's
server speaks only the Foxglove protocol (no page, no custom commands), and a bare `websockets`
server would need a separate HTTP server for the page.

Endpoints (`token` = the console's token; see `protocol` for the request format):
  GET  /                     the page;  GET /static/<file>: its scripts, style and vendored uPlot
  GET  /api/health           {"ok": true} (no token; says nothing about the robot)
  POST /api/estop            e-stop — always allowed, no token
  POST /api/command          {"op": ...} with `Authorization: Bearer <token>`
  GET  /api/state?group=G    the state snapshot (token)
  GET  /api/camera/<name>    the latest JPEG of a camera (token)
  GET  /ws                   WebSocket: {"op": "auth", "token": ...} first; then state pushes (JSON)
                             and camera frames (binary: 1 byte camera index + JPEG); commands as JSON.
                             Before auth only {"op": "estop"} is executed.
Every request is size-bounded and validated; a handler's failure is counted and answered with an
error, never propagated; a loopback-bound server refuses foreign Host headers (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol

from aiohttp import WSMsgType, web

from gr00t_console.protocol import (
    VIEW_OPS,
    Request,
    RequestError,
    bearer_token,
    parse_request,
    token_matches,
)
from gr00t_console.state import ConsoleState

STATIC_FILES = {  # URL name -> (package file, content type); nothing else is served
    "app.js": ("app.js", "text/javascript; charset=utf-8"),
    "style.css": ("style.css", "text/css; charset=utf-8"),
    "uPlot.iife.min.js": ("vendor/uPlot.iife.min.js", "text/javascript; charset=utf-8"),
    "uPlot.min.css": ("vendor/uPlot.min.css", "text/css; charset=utf-8"),
    "uPlot.LICENSE": ("vendor/uPlot.LICENSE", "text/plain; charset=utf-8"),
}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
MAX_AUTH_FAILURES = 5  # per WebSocket connection, then it is closed


class Backend(Protocol):
    async def execute(self, request: Request) -> dict[str, Any]:
        """Carry out a validated robot/recorder op; {"ok": bool, "message": str, ...}. Never raises."""


@dataclass(frozen=True)
class ServerConfig:
    host: str
    port: int
    token: str
    max_request_bytes: int = 4096
    max_instruction_bytes: int = 2048
    max_clients: int = 8
    push_rate_hz: float = 20.0
    camera_max_fps: float = 15.0
    requests_per_s: float = 20.0  # per connection, sustained
    request_burst: int = 40
    default_group: str = "right_arm"


class Counters:
    """Refusals by kind, for /diagnostics; `log(kind, message)` is the node's throttled log."""

    def __init__(self, log: Callable[[str, str], None] | None = None) -> None:
        self.counts: dict[str, int] = {}
        self._log = log or (lambda kind, message: None)

    def refuse(self, kind: str, message: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        try:
            self._log(kind, message)
        except Exception:  # noqa: BLE001 - a log failure must not turn into a crash
            pass


class _CountingHandler(logging.Handler):
    """aiohttp's own reports of malformed requests (bad request lines, missing Host, oversize
    headers: logged with tracebacks by `aiohttp.server`) become counted, throttled refusals."""

    def __init__(self, counters: Counters) -> None:
        super().__init__(logging.WARNING)
        self.counters = counters

    def emit(self, record: logging.LogRecord) -> None:
        try:
            exc = record.exc_info[1] if record.exc_info else None
            detail = (
                f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
                if exc
                else record.getMessage().splitlines()[0][:160]
            )
            self.counters.refuse("bad_http", f"malformed request: {detail}")
        except Exception:  # noqa: BLE001 - a log handler must not raise
            pass


def _route_aiohttp_logs(counters: Counters) -> None:
    for name in ("aiohttp.server", "aiohttp.web", "aiohttp.websocket", "aiohttp.access"):
        logger = logging.getLogger(name)
        for handler in [h for h in logger.handlers if isinstance(h, _CountingHandler)]:
            logger.removeHandler(handler)
        logger.addHandler(_CountingHandler(counters))
        logger.propagate = False


class _Bucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.t = float(burst), time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.t) * self.rate)
        self.t = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class _Client:
    def __init__(self, ws: web.WebSocketResponse, group: str, bucket: _Bucket) -> None:
        self.ws = ws
        self.authed = False
        self.auth_failures = 0
        self.group = group
        self.bucket = bucket
        self.wake = asyncio.Event()
        self.since_sample = 0
        self.since_chunk = 0
        self.camera_seq: dict[str, int] = {}


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ConsoleServer:
    def __init__(
        self, config: ServerConfig, state: ConsoleState, backend: Backend, counters: Counters | None = None
    ) -> None:
        self.config = config
        self.state = state
        self.backend = backend
        self.counters = counters or Counters()
        self.groups = tuple(state.config.groups)
        self._clients: set[_Client] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._static = {name: (_read_static(path), ctype) for name, (path, ctype) in STATIC_FILES.items()}
        self._index = _read_static("index.html")
        self._loopback = _is_loopback(config.host)
        _route_aiohttp_logs(self.counters)
        self.app = self._make_app()

    # ------------------------------------------------------------------ set-up
    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=self.config.max_request_bytes, middlewares=[self._guard])
        app.router.add_get("/", self._page)
        app.router.add_get("/static/{name}", self._static_file)
        app.router.add_get("/api/health", self._health)
        app.router.add_post("/api/estop", self._http_estop)
        app.router.add_post("/api/command", self._http_command)
        app.router.add_get("/api/state", self._http_state)
        app.router.add_get("/api/camera/{name}", self._http_camera)
        app.router.add_get("/ws", self._websocket)
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def _on_startup(self, _app: web.Application) -> None:
        self._loop = asyncio.get_running_loop()

    async def _on_shutdown(self, _app: web.Application) -> None:
        for client in list(self._clients):
            await client.ws.close(code=1001, message=b"console stopping")

    @property
    def watching(self) -> bool:
        """Whether any authenticated client is connected (the node encodes camera frames only then)."""
        return any(c.authed for c in list(self._clients))  # list(): atomic copy, read from ROS threads

    def notify_urgent(self) -> None:
        """Thread-safe: push the state to every client now (a controller state change)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._wake_all)
            except RuntimeError:  # loop closed meanwhile
                pass

    def _wake_all(self) -> None:
        for client in self._clients:
            client.wake.set()

    # ------------------------------------------------------------------ guard
    @web.middleware
    async def _guard(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
        if self._loopback and not self._host_allowed(request.host):
            self.counters.refuse("bad_host", f"request with Host {request.host[:100]!r} refused (loopback console)")
            return _json({"ok": False, "message": "bad Host header"}, 421)
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # 404, 405, 413 (body over client_max_size): answered in JSON
            if exc.status == 413:
                self.counters.refuse("too_large", f"{request.method} {request.path[:100]}: body too large")
            response = _json({"ok": False, "message": exc.reason}, exc.status)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bad request must never take the node down
            self.counters.refuse("handler_error", f"{request.method} {request.path[:100]}: {type(exc).__name__}: {exc}")
            return _json({"ok": False, "message": "internal error"}, 500)
        if not isinstance(response, web.WebSocketResponse):
            response.headers.update(SECURITY_HEADERS)
        return response

    def _host_allowed(self, host: str) -> bool:
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        name = name.strip("[]")
        return _is_loopback(name)

    # ------------------------------------------------------------------ HTTP
    async def _page(self, _request: web.Request) -> web.Response:
        return web.Response(body=self._index, content_type="text/html", charset="utf-8")

    async def _static_file(self, request: web.Request) -> web.Response:
        entry = self._static.get(request.match_info["name"])
        if entry is None:
            raise web.HTTPNotFound()
        body, ctype = entry
        return web.Response(body=body, headers={"Content-Type": ctype})

    async def _health(self, _request: web.Request) -> web.Response:
        return _json({"ok": True, "auth_required": True})

    async def _http_estop(self, _request: web.Request) -> web.Response:
        result = await self._execute(Request("estop"))
        return _json(result, 200 if result.get("ok") else 503)

    def _authorized(self, request: web.Request) -> bool:
        if token_matches(self.config.token, bearer_token(request.headers.get("Authorization"))):
            return True
        self.counters.refuse(
            "bad_token", f"{request.method} {request.path[:100]} without a valid token from {request.remote}"
        )
        return False

    async def _http_command(self, request: web.Request) -> web.Response:
        body = await request.read()  # bounded by client_max_size (413 beyond)
        try:
            parsed = self._parse(body)
        except RequestError as exc:
            self.counters.refuse("invalid", f"POST /api/command: {exc}")
            return _json({"ok": False, "message": str(exc)}, 400)
        if parsed.needs_token and not self._authorized(request):
            return _json({"ok": False, "message": "token required"}, 401)
        if parsed.op in ("auth", *VIEW_OPS):
            return _json({"ok": True, "message": "nothing to do over HTTP"})
        return _json(await self._execute(parsed))

    async def _http_state(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _json({"ok": False, "message": "token required"}, 401)
        group = request.query.get("group", self.config.default_group)
        if group not in self.groups:
            return _json({"ok": False, "message": f"group: one of {', '.join(self.groups)}"}, 400)
        return _json(self.state.snapshot(group))

    async def _http_camera(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _json({"ok": False, "message": "token required"}, 401)
        frame = self.state.camera(request.match_info["name"])
        if frame is None:
            raise web.HTTPNotFound()
        return web.Response(body=frame[1], content_type="image/jpeg")

    def _parse(self, raw: str | bytes) -> Request:
        return parse_request(
            raw,
            max_bytes=self.config.max_request_bytes,
            max_instruction_bytes=self.config.max_instruction_bytes,
            groups=self.groups,
        )

    async def _execute(self, request: Request) -> dict[str, Any]:
        try:
            result = await self.backend.execute(request)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the backend promises not to raise; be sure
            self.counters.refuse("backend_error", f"{request.op}: {type(exc).__name__}: {exc}")
            result = {"ok": False, "message": f"{request.op} failed: {type(exc).__name__}"}
        return result

    # ------------------------------------------------------------------ WebSocket
    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        if len(self._clients) >= self.config.max_clients:
            self.counters.refuse(
                "too_many_clients",
                f"WebSocket from {request.remote} refused: {self.config.max_clients} clients connected",
            )
            return _json({"ok": False, "message": "too many clients"}, 503)
        ws = web.WebSocketResponse(max_msg_size=self.config.max_request_bytes, heartbeat=10.0)
        await ws.prepare(request)
        client = _Client(ws, self.config.default_group, _Bucket(self.config.requests_per_s, self.config.request_burst))
        self._clients.add(client)
        sender = asyncio.ensure_future(self._push_loop(client))
        try:
            await ws.send_json(
                {
                    "type": "hello",
                    "auth_required": True,
                    "groups": list(self.groups),
                    "group": client.group,
                    "joints": {g: list(j) for g, j in self.state.config.groups.items()},
                }
            )
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await self._on_ws_text(client, message.data)
                elif message.type == WSMsgType.BINARY:
                    self.counters.refuse("invalid", "binary WebSocket message")
                    await ws.send_json({"type": "error", "message": "binary messages are not accepted"})
                else:  # ERROR (e.g. over max_msg_size: aiohttp closes the connection)
                    if message.type == WSMsgType.ERROR:
                        self.counters.refuse("too_large", f"WebSocket error: {ws.exception()}")
                    break
                if client.auth_failures >= MAX_AUTH_FAILURES:
                    await ws.close(code=4401, message=b"too many bad tokens")
                    break
        except asyncio.CancelledError:
            raise
        except (ConnectionError, RuntimeError) as exc:
            self.counters.refuse("connection_lost", f"WebSocket: {type(exc).__name__}: {exc}")
        finally:
            self._clients.discard(client)
            sender.cancel()
            try:
                await sender
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        return ws

    async def _on_ws_text(self, client: _Client, data: str) -> None:
        if not client.bucket.take():
            self.counters.refuse("rate_limited", "WebSocket client over its request rate")
            await client.ws.send_json({"type": "error", "message": "too many requests"})
            return
        try:
            request = self._parse(data)
        except RequestError as exc:
            self.counters.refuse("invalid", f"WebSocket: {exc}")
            await client.ws.send_json({"type": "error", "message": str(exc)})
            return
        reply: dict[str, Any] = {"type": "reply", "op": request.op, "id": request.id}
        if request.op == "auth":
            if token_matches(self.config.token, request.args["token"]):
                client.authed = True
                client.wake.set()
                reply.update(ok=True, message="authenticated")
            else:
                client.auth_failures += 1
                self.counters.refuse("bad_token", "WebSocket auth with a wrong token")
                reply.update(ok=False, message="wrong token")
        elif request.needs_token and not client.authed:
            self.counters.refuse("bad_token", f"WebSocket {request.op} without the token")
            reply.update(ok=False, message="token required")
        elif request.op == "select_group":
            client.group = request.args["group"]
            client.since_sample = client.since_chunk = 0
            client.wake.set()
            reply.update(ok=True, message=f"plotting {client.group}")
        else:
            if request.op == "estop":
                reply["received_t"] = round(self.state.now(), 4)
            reply.update(await self._execute(request))
            if request.op == "estop":
                reply["answered_t"] = round(self.state.now(), 4)
        await client.ws.send_json(reply)

    async def _push_loop(self, client: _Client) -> None:
        """State at up to push_rate_hz (at once on urgent changes), camera frames at up to camera_max_fps."""
        period = 1.0 / self.config.push_rate_hz
        camera_period = 1.0 / self.config.camera_max_fps
        last_camera = 0.0
        while not client.ws.closed:
            try:
                await asyncio.wait_for(client.wake.wait(), timeout=period)
            except TimeoutError:
                pass
            client.wake.clear()
            if not client.authed or client.ws.closed:
                continue
            snapshot = self.state.snapshot(client.group, client.since_sample, client.since_chunk)
            client.since_sample = snapshot["plot"]["last_sample"]
            client.since_chunk = snapshot["plot"]["last_chunk"]
            snapshot["cameras"] = self.state.cameras()
            await client.ws.send_str(json.dumps(snapshot, allow_nan=False))
            now = time.monotonic()
            if now - last_camera >= camera_period:
                for index, name in enumerate(snapshot["cameras"][:255]):
                    frame = self.state.camera(name)
                    if frame is not None and frame[0] != client.camera_seq.get(name):
                        client.camera_seq[name] = frame[0]
                        last_camera = now
                        await client.ws.send_bytes(bytes([index]) + frame[1])


def _json(payload: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(payload, status=status, dumps=lambda o: json.dumps(o, allow_nan=False))


def _read_static(path: str) -> bytes:
    return resources.files("gr00t_console").joinpath("static", *path.split("/")).read_bytes()


async def start_server(server: ConsoleServer) -> web.AppRunner:
    """Listen on exactly (host, port) of the config; OSError when the address is taken or unavailable."""
    runner = web.AppRunner(server.app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host=server.config.host, port=server.config.port, reuse_address=False)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


def bound_addresses(runner: web.AppRunner) -> list[tuple[str, int]]:
    """(host, port) of every socket the server listens on (port 0 in the config = chosen by the OS)."""
    addresses = []
    for site in runner.sites:
        server = getattr(site, "_server", None)
        for sock in getattr(server, "sockets", None) or ():
            host, port = sock.getsockname()[:2]
            addresses.append((host, port))
    return addresses
