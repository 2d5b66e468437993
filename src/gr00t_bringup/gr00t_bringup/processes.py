"""Start the graph's nodes as child processes, the way `ros2 launch` would, and stop them cleanly.

Each child gets its own process group (so a node's own children go too) and PR_SET_PDEATHSIG, so
even a SIGKILLed runner leaves no orphans. The nodes' parameter files live in one temporary folder,
removed by `shutdown()` and, should that never run (an exception, interpreter exit), by a finalizer.

`Graph.supervise()` applies the node-exit policy of the launch files (stack YAML `respawn`): a node
with a respawn policy is started again after its delay, at most its retries; any other exit (or
one past the retries) is returned as the reason to stop the graph. Callers that handle exits
themselves (fault-injection tests, gr00t-eval) use `exited()` / `kill()` / `restart()` instead.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import IO

import yaml

from gr00t_bringup.graph import NodeSpec

_PR_SET_PDEATHSIG = 1


def executable_path(package: str, executable: str) -> Path:
    """`<prefix>/lib/<package>/<executable>` from the ament index, as `ros2 run` resolves it."""
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix

    try:
        prefix = Path(get_package_prefix(package))
    except PackageNotFoundError as exc:
        raise FileNotFoundError(
            f"package {package!r} is not in the ament index: build the workspace and `. install/setup.bash`"
        ) from exc
    path = prefix / "lib" / package / executable
    if not os.access(path, os.X_OK):
        raise FileNotFoundError(f"executable {executable!r} of package {package!r} not found at {path}")
    return path


def _die_with_parent() -> None:
    os.setsid()
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


class NodeProcess:
    def __init__(self, spec: NodeSpec, namespace: str, params_dir: Path, log: IO[str] | None) -> None:
        self.spec = spec
        params_file = params_dir / f"{spec.name}.yaml"
        fq_name = f"{namespace.rstrip('/')}/{spec.name}" if namespace else f"/{spec.name}"
        params_file.write_text(yaml.safe_dump({fq_name: {"ros__parameters": spec.parameters}}))
        command = [str(executable_path(spec.package, spec.executable)), "--ros-args", "-r", f"__node:={spec.name}"]
        if namespace:
            command += ["-r", f"__ns:={namespace}"]
        command += ["--params-file", str(params_file), *spec.ros_arguments]
        self.command = command
        self.respawn_at: float | None = None  # when the supervisor starts this (exited) node again
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            preexec_fn=_die_with_parent,
        )
        self._pump = threading.Thread(target=self._forward_output, args=(log,), daemon=True)
        self._pump.start()

    def _forward_output(self, log: IO[str] | None) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if log is not None:
                log.write(f"[{self.spec.name}] {line}")
                log.flush()

    @property
    def pid(self) -> int:
        return self.process.pid

    def poll(self) -> int | None:
        return self.process.poll()

    def signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass


class Graph:
    """A set of running node processes."""

    def __init__(self, specs: list[NodeSpec], namespace: str = "", log: IO[str] | None = sys.stdout) -> None:
        self._params_dir = Path(tempfile.mkdtemp(prefix="gr00t-launch-"))
        self._remove_params_dir = weakref.finalize(self, shutil.rmtree, self._params_dir, ignore_errors=True)
        self._namespace = namespace
        self._log = log
        self.respawns: dict[str, int] = {}  # node name -> times the supervisor restarted it
        self.nodes: list[NodeProcess] = []
        try:
            for spec in specs:
                self.nodes.append(NodeProcess(spec, namespace, self._params_dir, log))
        except Exception:
            self.shutdown()
            raise

    def node(self, name: str) -> NodeProcess:
        for node in self.nodes:
            if node.spec.name == name:
                return node
        raise KeyError(f"no node {name!r} in the graph ({[n.spec.name for n in self.nodes]})")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> int:
        """Kill one node (fault injection, `respawn` testing); returns its exit code."""
        node = self.node(name)
        node.signal_group(sig)
        return node.process.wait(timeout=10)

    def restart(self, name: str) -> NodeProcess:
        """Start a node again with the same executable and parameters (as launch's respawn does)."""
        old = self.node(name)
        if old.poll() is None:
            raise RuntimeError(f"node {name!r} is still running (pid {old.pid})")
        new = NodeProcess(old.spec, self._namespace, self._params_dir, self._log)
        self.nodes[self.nodes.index(old)] = new
        return new

    def wait_for(self, future, timeout_s: float, what: str):
        """The result of an rclpy future (service call, action goal) spun elsewhere; RuntimeError
        if a node of the graph exits or no answer comes within `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while not future.done():
            if exited := self.exited():
                raise RuntimeError(f"node(s) exited while waiting for {what}: {exited}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"no answer to {what} within {timeout_s:.0f} s")
            time.sleep(0.01)
        return future.result()

    @property
    def params_dir(self) -> Path:
        return self._params_dir

    def supervise(self, now: float | None = None) -> str | None:
        """Apply the node-exit policy once (call it periodically); returns why the graph must stop
        (the node and its exit code), or None while it may run on."""
        now = time.monotonic() if now is None else now
        for node in list(self.nodes):
            code = node.poll()
            if code is None:
                continue
            name, respawn = node.spec.name, node.spec.respawn
            if node.respawn_at is None:  # an exit not seen before
                done = self.respawns.get(name, 0)
                if respawn is None or done >= respawn.max_retries:
                    why = f" after {respawn.max_retries} respawns" if respawn is not None else ""
                    return f"{name} exited with code {code}{why}"
                node.respawn_at = now + respawn.delay_s
                print(
                    f"gr00t-launch: {name} exited with code {code}: respawn {done + 1} of "
                    f"{respawn.max_retries} in {respawn.delay_s:g} s",
                    file=sys.stderr,
                    flush=True,
                )
            elif now >= node.respawn_at:
                self.respawns[name] = self.respawns.get(name, 0) + 1
                new = self.restart(name)
                print(f"gr00t-launch: {name} respawned (pid {new.pid})", file=sys.stderr, flush=True)
        return None

    def exited(self) -> dict[str, int]:
        return {n.spec.name: code for n in self.nodes if (code := n.poll()) is not None}

    def shutdown(self, timeout_s: float = 10.0) -> dict[str, int]:
        """SIGINT (as Ctrl-C), then SIGTERM, then SIGKILL; returns exit codes by node name."""
        for sig, wait_s in ((signal.SIGINT, timeout_s), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            alive = [n for n in self.nodes if n.poll() is None]
            if not alive:
                break
            for node in alive:
                node.signal_group(sig)
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline and any(n.poll() is None for n in alive):
                time.sleep(0.05)
        for node in self.nodes:  # reap the group of a node whose leader already exited
            node.signal_group(signal.SIGKILL)
        codes = {n.spec.name: n.process.wait() for n in self.nodes}
        self._remove_params_dir()  # the nodes read their parameter files at start only
        return codes
