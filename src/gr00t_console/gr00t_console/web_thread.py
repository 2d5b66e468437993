"""The console's web server on a thread of its own with its own asyncio loop: ROS callbacks never
block on it, and it never waits on an executor."""

from __future__ import annotations

import asyncio
import threading

from gr00t_console.server import ConsoleServer, bound_addresses, start_server

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0


class WebThread:
    """`start()` returns once the server listens (`url`) or could not (`bind_error`: a port in use is
    reported, never raised: the console is a convenience and must not take the graph down)."""

    def __init__(self, server: ConsoleServer, host: str, port: int) -> None:
        self._server = server
        self._host, self._port = host, port
        self.bind_error = ""
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._runner = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        started = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(started,), name="gr00t_console_web", daemon=True)
        self._thread.start()
        started.wait(START_TIMEOUT_S)

    def _serve(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._runner = self._loop.run_until_complete(start_server(self._server))
            host, port = bound_addresses(self._runner)[0]
            shown = f"[{host}]" if ":" in host else host
            self.url = f"http://{shown}:{port}/"
        except OSError as exc:
            self.bind_error = f"cannot listen on {self._host}:{self._port}: {exc.strerror or exc}"
        finally:
            started.set()
        if self._runner is not None:
            self._loop.run_forever()
        self._loop.close()

    def stop(self) -> None:
        """Close the clients' connections and the server, end the thread."""
        if self._runner is not None and self._loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
            try:
                future.result(timeout=STOP_TIMEOUT_S)
            except Exception:  # noqa: BLE001 - stopping anyway
                pass
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=STOP_TIMEOUT_S)
