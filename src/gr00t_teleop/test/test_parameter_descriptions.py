"""`ros2 param describe` on a started teleop, recorder, console or GR-1 bridge node says what every
parameter means, and gives every numeric one (and each element of a numeric list) its range: asked
through the node's parameter services, as an operator's tools ask them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import rclpy
from rcl_interfaces.msg import ParameterDescriptor, ParameterType
from rclpy.executors import MultiThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient

# Declared by rclpy itself for every node, not by our config dataclasses.
ROS_PARAMETERS = {"use_sim_time", "start_type_description_service"}
NUMERIC = {
    ParameterType.PARAMETER_INTEGER,
    ParameterType.PARAMETER_DOUBLE,
    ParameterType.PARAMETER_INTEGER_ARRAY,
    ParameterType.PARAMETER_DOUBLE_ARRAY,
}


class _StubRobot:
    """A GR-1 that never answers: enough for the bridge to start (nothing is enabled here)."""

    def connect(self) -> None:
        pass

    def latest_state(self) -> None:
        return None

    def set_motors_enabled(self, enabled: bool) -> None:
        pass

    def send_positions_deg(self, positions_deg: Any) -> None:
        pass

    def close(self) -> None:
        pass


def _leader(context: rclpy.Context, _tmp: Path) -> Any:
    from gr00t_teleop.leader_teleop_node import LeaderTeleopNode

    return LeaderTeleopNode(context=context)


def _joy(context: rclpy.Context, _tmp: Path) -> Any:
    from gr00t_teleop.joy_teleop_node import JoyTeleopNode

    return JoyTeleopNode(context=context)


def _recorder(context: rclpy.Context, tmp: Path) -> Any:
    from gr00t_teleop.recorder_node import RecorderNode

    return RecorderNode(context=context, parameter_overrides=[Parameter("output_dir", value=str(tmp))])


def _console(context: rclpy.Context, _tmp: Path) -> Any:
    from gr00t_console.console_node import ConsoleNode

    return ConsoleNode(context=context, parameter_overrides=[Parameter("port", value=0)])


def _bridge(context: rclpy.Context, _tmp: Path) -> Any:
    from gr00t_gr1_bridge.gr1_bridge_node import Gr1BridgeNode

    return Gr1BridgeNode(
        robot=_StubRobot(), context=context, parameter_overrides=[Parameter("stack_config", value="gr1t2_robot")]
    )


NODES: dict[str, Callable[[rclpy.Context, Path], Any]] = {
    "leader_teleop": _leader,
    "joy_teleop": _joy,
    "recorder": _recorder,
    "console": _console,
    "gr1_bridge": _bridge,
}


def _result(future: Any, timeout_s: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while not future.done() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert future.done(), "no answer from the node's parameter service"
    return future.result()


def _described(kind: str, tmp_path: Path) -> dict[str, ParameterDescriptor]:
    """Every parameter of a started node of `kind` -> its descriptor, from the node's services."""
    context = rclpy.Context()
    rclpy.init(context=context)
    node = NODES[kind](context, tmp_path)
    peer = rclpy.create_node("parameter_description_test", context=context)
    executor = MultiThreadedExecutor(num_threads=2, context=context)
    executor.add_node(node)
    executor.add_node(peer)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    try:
        client = AsyncParameterClient(peer, node.get_fully_qualified_name())
        assert client.wait_for_services(timeout_sec=10.0)
        names = list(_result(client.list_parameters()).result.names)
        descriptors = _result(client.describe_parameters(names)).descriptors
        return {d.name: d for d in descriptors}
    finally:
        if hasattr(node, "shutdown"):  # what run_node does before stopping the executor
            node.shutdown()
        executor.shutdown()
        thread.join(timeout=5.0)
        node.destroy_node()
        peer.destroy_node()
        rclpy.shutdown(context=context)


@pytest.mark.parametrize("kind", sorted(NODES))
def test_every_parameter_says_what_it_means_and_every_number_its_range(kind, tmp_path):
    descriptors = _described(kind, tmp_path)
    ours = {name: d for name, d in descriptors.items() if name not in ROS_PARAMETERS}
    assert "stack_config" in ours and len(ours) > 5, sorted(descriptors)
    undescribed = sorted(name for name, d in ours.items() if not d.description.strip())
    assert not undescribed, f"{kind}: parameters without a description: {undescribed}"
    unbounded = sorted(
        name for name, d in ours.items() if d.type in NUMERIC and not (d.integer_range or d.floating_point_range)
    )
    assert not unbounded, f"{kind}: numeric parameters without a range: {unbounded}"
    writable = sorted(name for name, d in ours.items() if not d.read_only)
    assert not writable, f"{kind}: read once at start-up, yet `ros2 param set` would be accepted: {writable}"
