"""Shared pieces of the gr00t_policy nodes: QoS choices, stack loading, diagnostics, model lookup."""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
import threading
import time
from typing import Any, Callable, TypeVar

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from gr00t_description import ConfigError, StackConfig, load_stack
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.exceptions import InvalidParameterValueException
from rclpy.node import Node
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

# Cameras and joint states in: best effort matches both best-effort drivers and reliable publishers.
SENSOR_QOS = qos_profile_sensor_data
# Commands, chunks, goal tokens out: reliable, latest wins; staleness is judged from header stamps.
LATEST_RELIABLE_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE
)
# Instructions and controller status: late joiners get the last value.
LATCHED_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)


def load_node_policy(
    node: Node, stack: StackConfig, model_path: str, device: str, dtype: str, tokenizer_dir: str = ""
) -> Any:
    """The checkpoint a policy node runs ('' = the bundled model), on `device` in `dtype`.

    A device this machine cannot run on or an unknown dtype raises ValueError before any loading.
    """
    from gr00t_policy.policy import Gr00tPolicy, check_device, model_dtype, resolve_model_path

    torch_device, torch_dtype = check_device(device), model_dtype(dtype)
    path = resolve_model_path(model_path)
    node.get_logger().info(f"loading GR00T model from {path} ({dtype} on {device})")
    return Gr00tPolicy.from_pretrained(
        path,
        embodiment=stack.embodiment_tag,
        data_config=stack.data_config,
        device=str(torch_device),
        dtype=torch_dtype,
        tokenizer_dir=tokenizer_dir or None,
    )


def declare_stack(node: Node) -> StackConfig:
    """Declare `stack_config` and load the stack YAML it names ('' = the default stack)."""
    path = node.declare_parameter("stack_config", "").value
    stack = load_stack(path or None)
    node.get_logger().info(f"stack config: {stack.path} (robot {stack.robot.name})")
    return stack


def declare_from_stack(node: Node, stack: StackConfig, section: str, name: str, default: Any) -> Any:
    """Declare parameter `name` whose default comes from `nodes.<section>.<name>` of the stack YAML."""
    value = stack.nodes.get(section, {}).get(name, default)
    if isinstance(default, float) and isinstance(value, int):
        value = float(value)
    return node.declare_parameter(name, value).value


def parameter(description: str, low: float, high: float) -> dict[str, Any]:
    """Metadata of a config dataclass field that is a node parameter: what it means, its range."""
    return {"description": description, "range": (low, high)}


ConfigT = TypeVar("ConfigT")


def declare_config(node: Node, stack: StackConfig, section: str, config_type: type[ConfigT]) -> ConfigT:
    """Declare every field of the dataclass ``config_type`` as a parameter of ``node``, with the
    description and range of its ``parameter(...)`` metadata, and return the filled dataclass.

    Values come from ``nodes.<section>`` of the stack YAML, the one place that holds the
    deployment's values: a missing key or a value out of range is a ConfigError naming it.
    """
    values = stack.nodes.get(section, {})
    fields: dict[str, Any] = {}
    for field in dataclasses.fields(config_type):
        description = field.metadata["description"]
        low, high = field.metadata["range"]
        if field.name not in values:
            raise ConfigError(f"{stack.path}: nodes.{section}.{field.name} is missing ({description})")
        if field.type in ("int", int):
            value: Any = int(values[field.name])
            ranges = {"integer_range": [IntegerRange(from_value=int(low), to_value=int(high), step=1)]}
        else:
            value = float(values[field.name])
            ranges = {"floating_point_range": [FloatingPointRange(from_value=float(low), to_value=float(high))]}
        descriptor = ParameterDescriptor(description=description, **ranges)
        try:
            fields[field.name] = node.declare_parameter(field.name, value, descriptor).value
        except InvalidParameterValueException as exc:
            raise ConfigError(f"parameter {field.name} ({description}): {exc}") from exc
    return config_type(**fields)


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
        node: Node,
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


def now_seconds(node: Node) -> float:
    return node.get_clock().now().nanoseconds * 1e-9


def run_node(
    factory: Callable[[], Node],
    *,
    num_threads: int = 2,
    args: list[str] | None = None,
    startup_errors: tuple[type[BaseException], ...] = (),
) -> None:
    """`main()` of a gr00t node (see `gr00t_description.node_main.run_node`): init, spin on a
    MultiThreadedExecutor, and on SIGINT/SIGTERM a stop in order, exit 0.

    `startup_errors` (bad model, unavailable backend, bad config) end the process with a one-line
    message and exit code 2 instead of a traceback. A node's `shutdown()` (ending its action,
    joining its worker threads) runs while the context is still valid: a thread still inside torch
    at exit aborts the process, one still publishing fails.
    """
    from gr00t_description.node_main import run_node as run

    run(factory, num_threads=num_threads, args=args, startup_errors=startup_errors)
