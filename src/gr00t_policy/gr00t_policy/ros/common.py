"""Shared pieces of the gr00t_policy nodes: QoS choices, stack loading, diagnostics, model lookup."""

from __future__ import annotations

import math
import sys
import time
from typing import Any, Callable

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from gr00t_description import StackConfig, load_stack
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
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


class RejectionLog:
    """Error log for rejected input that a flood of bad samples cannot turn into a CPU sink.

    rclpy's ``throttle_duration_sec`` inspects the caller's frame on every call (milliseconds each),
    so 50 bad samples a second starve the node's executor; this checks the clock first and logs at
    most once per ``period_s`` with the count since the last line.
    """

    def __init__(self, logger, period_s: float = 2.0) -> None:
        self._logger = logger
        self._period_s = period_s
        self._last = -math.inf
        self._pending = 0
        self.total = 0

    def report(self, message: str) -> None:
        self.total += 1
        self._pending += 1
        now = time.monotonic()
        if now - self._last >= self._period_s:
            suffix = f" ({self._pending} rejected since the last report)" if self._pending > 1 else ""
            self._logger.error(message + suffix)
            self._last, self._pending = now, 0


def now_seconds(node: Node) -> float:
    return node.get_clock().now().nanoseconds * 1e-9


def run_node(
    factory: Callable[[], Node],
    *,
    num_threads: int = 2,
    args: list[str] | None = None,
    startup_errors: tuple[type[BaseException], ...] = (),
) -> None:
    """`main()` of a gr00t node: init, spin on a MultiThreadedExecutor, clean shutdown.

    `startup_errors` (bad model, unavailable backend, bad config) end the process with a one-line
    message and exit code 2 instead of a traceback. A node's `shutdown()` (joining its worker
    threads) runs before rclpy shuts down: a thread still inside torch at exit aborts the process.
    """
    import rclpy

    rclpy.init(args=args)
    node = None
    try:
        node = factory()
        executor = MultiThreadedExecutor(num_threads=num_threads)
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except startup_errors as exc:
        print(f"{getattr(factory, '__name__', 'node')}: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    finally:
        if node is not None:
            if hasattr(node, "shutdown"):
                node.shutdown()
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
