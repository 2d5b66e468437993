"""Shutdown probe: start node processes as gr00t-launch does, stop them at chosen moments with chosen
signals, and judge their exit (exit code, hang, ERROR / FATAL / traceback lines printed after the
signal).

Shared by the shutdown test (test/test_shutdown.py) and the shutdown cycles benchmark
(benchmarks/shutdown_cycles.py); each caller picks its own moments, signals and timeouts.
"""

from __future__ import annotations

import os
import pty
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import rclpy
import yaml
from rclpy.action import ActionClient
from rclpy.executors import SingleThreadedExecutor

from gr00t_bringup.graph import NodeSpec
from gr00t_bringup.processes import executable_path
from gr00t_description.ros.node_main import spin_in_background
from gr00t_interfaces.action import ExecuteInstruction
from gr00t_interfaces.msg import ActionChunk
from gr00t_interfaces.srv import SetInstruction

# The log line each node prints once it is up (its constructor finished).
READY = {
    "sim_node": "GR1 tabletop sim:",
    "system2_node": "System 2 ready",
    "system1_node": "System 1 ready",
    "console_node": "console at ",
    "recorder_node": "recorder ready",
    "leader_teleop_node": "leader teleop:",
    "scripted_teleop_node": "scripted teleop:",
    "joy_teleop_node": "joy teleop:",
    "gr1_bridge_node": "GR-1 bridge:",
    "keyboard_joy": "publishing on",
}
# What a clean exit never prints: rclpy's RCLErrors from a context invalidated under running threads,
# exceptions escaping threads, and asyncio futures whose exception nobody awaited.
FAILURE_LINE = re.compile(r"\[(ERROR|FATAL)\]|Traceback|RCLError|Exception in thread|never retrieved")


class NodeProcess:
    """One node as a process, its output collected line by line.

    `process_group=None` starts it in a session of its own (as gr00t-launch does); a number puts it in
    that process group (0: a new group it leads), so that one `os.killpg` reaches every node, as a
    terminal's Ctrl-C does.
    """

    def __init__(
        self,
        spec: NodeSpec,
        params_dir: Path,
        *,
        namespace: str = "",
        tty_stdin: bool = False,
        process_group: int | None = None,
    ) -> None:
        self.spec = spec
        if spec.executable not in READY:
            raise KeyError(f"{spec.executable}: no ready line known for this node; add it to READY")
        command = [str(executable_path(spec.package, spec.executable)), "--ros-args", "-r", f"__node:={spec.name}"]
        if namespace:
            command += ["-r", f"__ns:={namespace}"]
        if spec.parameters:
            fq_name = f"{namespace}/{spec.name}" if namespace else f"/{spec.name}"
            params_file = params_dir / f"{spec.name}.yaml"
            params_file.write_text(yaml.safe_dump({fq_name: {"ros__parameters": spec.parameters}}))
            command += ["--params-file", str(params_file)]
        stdin, self._tty = None, None
        if tty_stdin:  # keyboard_joy reads keys from a terminal
            self._tty, stdin = pty.openpty()
        self.owns_group = process_group is None
        group = {"start_new_session": True} if self.owns_group else {"process_group": process_group}
        self.process = subprocess.Popen(
            command,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
            **group,
        )
        if stdin is not None:
            os.close(stdin)
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.signal_line: int | None = None  # len(lines) at the first signal: failures are counted from here
        self.signalled_at = 0.0
        self.output_closed_at = 0.0  # ~ when it exited (its output ends then)
        self._pump = threading.Thread(target=self._read, daemon=True)
        self._pump.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if READY[self.spec.executable] in line:
                self.ready.set()
        self.output_closed_at = time.monotonic()

    def mark_signal(self) -> None:
        """Remember where the output stood at the first signal; later signals do not move it."""
        if self.signal_line is None:
            self.signal_line = len(self.lines)
            self.signalled_at = time.monotonic()

    def send(self, sig: int) -> None:
        """Signal this node's own process group (its session's, when it owns one)."""
        self.mark_signal()
        try:
            if self.owns_group:
                os.killpg(self.process.pid, sig)
            else:
                self.process.send_signal(sig)
        except ProcessLookupError:
            pass

    def finish(self, timeout_s: float) -> int | None:
        """Wait for the exit: its code, or None when it hung (then it is killed)."""
        try:
            code: int | None = self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            code = None
        self.kill()
        self._pump.join(timeout=5.0)
        return code

    def kill(self) -> None:
        """SIGKILL what is left: its whole session when it owns one, else only this process (its group
        holds the other nodes, which may still be shutting down)."""
        try:
            if self.owns_group:
                os.killpg(self.process.pid, signal.SIGKILL)
            else:
                self.process.kill()
        except ProcessLookupError:
            pass
        if self.process.poll() is None:
            self.process.wait(timeout=10)
        if self._tty is not None:
            os.close(self._tty)
            self._tty = None

    def failures_after_signal(self) -> list[str]:
        """Failure lines printed since the first signal (all of them when never signalled)."""
        return [line for line in self.lines[self.signal_line or 0 :] if FAILURE_LINE.search(line)]

    def describe(self, tail_lines: int = 40) -> str:
        return f"--- {self.spec.name} (exit {self.process.poll()}) ---\n" + "".join(self.lines[-tail_lines:])


def first_not_ready(nodes: Iterable[NodeProcess], timeout_s: float) -> NodeProcess | None:
    """Wait until every node is ready, all within one deadline; the first one that was not, or None."""
    deadline = time.monotonic() + timeout_s
    for node in nodes:
        if not node.ready.wait(max(0.0, deadline - time.monotonic())):
            return node
    return None


class ProbeClient:
    """A ROS participant next to the probed nodes: ExecuteInstruction client, recorder start, action
    chunk counter. Its own rclpy context and spin thread, so that it outlives the nodes' shutdown and
    can still receive the action's result."""

    def __init__(self, stack: Any, node_name: str) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(node_name, context=self.context)
        self.action = ActionClient(self.node, ExecuteInstruction, stack.actions["execute_instruction"])
        self.record_start = self.node.create_client(SetInstruction, "gr00t_recorder/start")
        self.chunks = 0
        self.node.create_subscription(ActionChunk, stack.topics["action_chunk"], self._on_chunk, 10)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = spin_in_background(self.executor, self.context, "shutdown_probe_spin")

    def _on_chunk(self, _msg: ActionChunk) -> None:
        self.chunks += 1

    @staticmethod
    def wait(future: Any, timeout_s: float, what: str) -> Any:
        """The future's result, polled (the spin thread completes it); TimeoutError naming `what`."""
        deadline = time.monotonic() + timeout_s
        while not future.done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no answer to {what} within {timeout_s:.0f} s")
            time.sleep(0.02)
        return future.result()

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._thread.join(timeout=2.0)
