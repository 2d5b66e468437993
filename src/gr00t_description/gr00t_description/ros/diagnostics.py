"""A node's reports: /diagnostics, throttled per-source log lines for bad input, and the log
callback through which the pure classes (e.g. the safety supervisor) write to the node's ROS log."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue


def ros_log_callback(logger) -> Callable[[int, str], None]:
    """A ``log(level, message)`` callback (``logging`` levels) that writes to a ROS logger, for the
    pure classes that report through one (e.g. ``SafetySupervisor``): their lines then carry the
    node's name and reach the ROS log like the node's own."""

    # One call site per severity: rclpy refuses a severity change at one call site.
    def log(level: int, message: str) -> None:
        if level >= logging.ERROR:
            logger.error(message)
        elif level >= logging.WARNING:
            logger.warning(message)
        else:
            logger.info(message)

    return log


class InputLog:
    """Per-source throttled log lines for per-message events, and their counts for /diagnostics.

    A 1 kHz publisher of instructions made 600-1100 log lines in 3 s and halved the command rate.
    Each source (a topic, a service, an action; also one source per kind of event) logs at most
    one line per ``period_s``, saying how many it held back; every event is counted in ``counts``
    (source -> total). The clock is read before rclpy is called: rclpy's own
    ``throttle_duration_sec`` inspects the caller's frame on every call, a cost a flood multiplies.
    """

    def __init__(self, logger, period_s: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._logger = logger
        self._period_s = period_s
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._held_back: dict[str, int] = {}
        self.counts: dict[str, int] = {}

    def error(self, source: str, message: str) -> None:
        text = self._due(source, message)
        if text is not None:
            self._logger.error(text)

    def warning(self, source: str, message: str) -> None:
        text = self._due(source, message)
        if text is not None:
            self._logger.warning(text)

    def info(self, source: str, message: str) -> None:
        text = self._due(source, message)
        if text is not None:
            self._logger.info(text)

    def count(self, source: str) -> int:
        """Events from ``source`` so far."""
        with self._lock:
            return self.counts.get(source, 0)

    def snapshot(self) -> dict[str, int]:
        """Events per source so far (a copy: callbacks on other threads keep counting)."""
        with self._lock:
            return dict(self.counts)

    def _due(self, source: str, message: str) -> str | None:
        """Count the event; the line to log now, or None while the source is throttled."""
        now = self._clock()
        with self._lock:
            self.counts[source] = self.counts.get(source, 0) + 1
            if now - self._last.get(source, -math.inf) < self._period_s:
                self._held_back[source] = self._held_back.get(source, 0) + 1
                return None
            held_back = self._held_back.pop(source, 0)
            self._last[source] = now
        return message + (f" ({held_back} more {source} not logged)" if held_back else "")


class DiagnosticsPublisher:
    """Publishes one DiagnosticStatus per node on /diagnostics at a fixed period."""

    def __init__(
        self,
        node: Any,
        hardware_id: str,
        fill: Callable[[], tuple[int, str, dict[str, Any]]],
        period_s: float = 1.0,
    ) -> None:
        self._node = node
        self._hardware_id = hardware_id
        self._fill = fill
        self._publisher = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._timer = node.create_timer(period_s, self.publish)

    def publish(self) -> None:
        level, message, values = self._fill()
        status = DiagnosticStatus(
            level=bytes([level]),
            name=f"{self._node.get_name()}: {self._hardware_id}",
            message=message,
            hardware_id=self._hardware_id,
            values=[KeyValue(key=k, value=_format(v)) for k, v in values.items()],
        )
        array = DiagnosticArray(status=[status])
        array.header.stamp = self._node.get_clock().now().to_msg()
        self._publisher.publish(array)


def _format(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def now_seconds(node: Any) -> float:
    return node.get_clock().now().nanoseconds * 1e-9
