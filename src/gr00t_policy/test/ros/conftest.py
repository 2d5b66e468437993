"""Fixtures for in-process node tests: one rclpy context per test, a background executor."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable

import pytest

rclpy = pytest.importorskip("rclpy", reason="node tests need rclpy (run through tools/test.sh)")
from rclpy.executors import MultiThreadedExecutor  # noqa: E402


class RosHarness:
    def __init__(self) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.executor = MultiThreadedExecutor(num_threads=4, context=self.context)
        self.nodes = []
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while self.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception:  # noqa: BLE001 - shutting down
                if not self.context.ok():
                    return
                raise

    def add(self, node):
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def node(self, name: str):
        return self.add(rclpy.create_node(name, context=self.context))

    @staticmethod
    def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.02)
        return predicate()

    def close(self) -> None:
        for node in self.nodes:
            if hasattr(node, "shutdown"):
                node.shutdown()
        self.executor.shutdown(timeout_sec=2.0)
        for node in self.nodes:
            node.destroy_node()
        rclpy.shutdown(context=self.context)
        self._thread.join(timeout=2.0)
        # Collect this test's rclpy objects now, in this thread: a collection that the next test's
        # executor thread triggers while it builds its wait set finalized them there once and
        # crashed the process (segfault in the full suite, "Garbage-collecting" in that thread).
        gc.collect()


@pytest.fixture
def ros():
    harness = RosHarness()
    yield harness
    harness.close()


@pytest.fixture(scope="session")
def demo_policy():
    from gr00t_policy.policy import Gr00tPolicy, resolve_model_path

    return Gr00tPolicy.from_pretrained(resolve_model_path(""))
