"""Calling the graph from the web server's asyncio loop: awaiting an rclpy future (completed on an
executor thread), and the resolved name of a service for messages."""

from __future__ import annotations

import asyncio
from typing import Any


async def wait_ros_future(ros_future: Any, timeout: float) -> Any:
    """The future's result; TimeoutError after `timeout` s. Its done callback runs on an executor thread,
    so the result is handed over to this loop with call_soon_threadsafe."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def done(f: Any) -> None:
        def settle() -> None:
            if future.done():
                return
            exc = f.exception()
            if exc is not None:
                future.set_exception(exc)
            else:
                future.set_result(f.result())

        loop.call_soon_threadsafe(settle)

    ros_future.add_done_callback(done)
    return await asyncio.wait_for(future, timeout)


def resolved_name(node: Any, name: str) -> str:
    """`name` as the node resolves it (namespace, remaps), for messages; `name` itself if that fails."""
    try:
        return node.resolve_service_name(name)
    except Exception:  # noqa: BLE001 - only for a message
        return name
