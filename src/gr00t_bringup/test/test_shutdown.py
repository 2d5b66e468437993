"""Every node process, stopped by SIGINT or SIGTERM, exits 0 with no ERROR line and no traceback:
right after start-up (idle), and with the policy graph busy (an ExecuteInstruction goal active,
System 1 inferring, the recorder mid-episode). The action's client gets a result and the recorder's
bag is complete and readable.

rclpy's default signal handler invalidates the context the moment the signal arrives, while the
executor and the nodes' own threads are still running: they then fail with `RCLError`s (exit 1,
`failed to initialize wait set`, `publisher's context is invalid`, `Failed get goal status array`).
"""

from __future__ import annotations

import os
import pty
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

rclpy = pytest.importorskip("rclpy")
from gr00t_bringup.graph import GraphOptions, NodeSpec, build_graph  # noqa: E402
from gr00t_bringup.processes import executable_path  # noqa: E402
from gr00t_description import load_stack  # noqa: E402
from gr00t_interfaces.action import ExecuteInstruction  # noqa: E402
from gr00t_interfaces.msg import ActionChunk  # noqa: E402
from gr00t_interfaces.srv import SetInstruction  # noqa: E402
from rclpy.action import ActionClient  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402

pytestmark = pytest.mark.slow

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
FAILURE_LINE = re.compile(r"\[(ERROR|FATAL)\]|Traceback|RCLError|Exception in thread|never retrieved")
# The sim profile as gr00t-launch starts it; the console on a free port (another graph may hold 8090).
SIM_GRAPH = GraphOptions(extra={"gr00t_console": {"port": 0}})
START_TIMEOUT_S = 150.0  # ten processes importing torch/MuJoCo at once on two busy cores
EXIT_TIMEOUT_S = 30.0


class NodeRun:
    """One node as a process of its own session (as gr00t-launch starts it), output collected."""

    def __init__(self, spec: NodeSpec, params_dir: Path, namespace: str = "", tty_stdin: bool = False) -> None:
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
        self.process = subprocess.Popen(
            command, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
            start_new_session=True, env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        if stdin is not None:
            os.close(stdin)
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.signalled_at_line: int | None = None
        self._pump = threading.Thread(target=self._read, daemon=True)
        self._pump.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if READY[self.spec.executable] in line:
                self.ready.set()

    def send(self, sig: int) -> None:
        if self.signalled_at_line is None:
            self.signalled_at_line = len(self.lines)
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass

    def finish(self, timeout_s: float = EXIT_TIMEOUT_S) -> int | None:
        try:
            code = self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            code = None
        self.kill()
        self._pump.join(timeout=5.0)
        return code

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self.process.poll() is None:
            self.process.wait(timeout=10)
        if self._tty is not None:
            os.close(self._tty)
            self._tty = None

    def failures_after_signal(self) -> list[str]:
        return [line for line in self.lines[self.signalled_at_line or 0:] if FAILURE_LINE.search(line)]

    def describe(self) -> str:
        return f"--- {self.spec.name} (exit {self.process.poll()}) ---\n" + "".join(self.lines[-40:])


def _stop(runs: list[NodeRun], sig: int) -> None:
    """SIGINT as a terminal's Ctrl-C under `ros2 launch` delivers it: once from the terminal to the
    process group, once more forwarded by launch; SIGTERM once."""
    for run in runs:
        run.send(sig)
    if sig == signal.SIGINT:
        time.sleep(0.05)
        for run in runs:
            run.send(sig)


def _assert_clean_exits(runs: list[NodeRun]) -> None:
    codes = {run.spec.name: run.finish() for run in runs}
    failures = {run.spec.name: run.failures_after_signal() for run in runs}
    bad = {name for name, code in codes.items() if code != 0} | {name for name, lines in failures.items() if lines}
    details = "\n".join(run.describe() for run in runs if run.spec.name in bad)
    assert not bad, f"exit codes {codes}; failure lines {failures}\n{details}"


def _ready_all(runs: list[NodeRun], timeout_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    for run in runs:
        if not run.ready.wait(max(0.0, deadline - time.monotonic())):
            raise AssertionError(f"{run.spec.name} not up within {timeout_s:.0f} s\n{run.describe()}")


class _Client:
    """The test's own ROS participant: action client, recorder control, chunk counter."""

    def __init__(self, stack) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("shutdown_test_client", context=self.context)
        self.action = ActionClient(self.node, ExecuteInstruction, stack.actions["execute_instruction"])
        self.record_start = self.node.create_client(SetInstruction, "/gr00t_recorder/start")
        self.chunks = 0
        self.node.create_subscription(ActionChunk, stack.topics["action_chunk"], self._on_chunk, 10)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _on_chunk(self, _msg: ActionChunk) -> None:
        self.chunks += 1

    def _spin(self) -> None:
        while self.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception:  # noqa: BLE001 - the context is shutting down
                return

    @staticmethod
    def wait(future, timeout_s: float, what: str):
        deadline = time.monotonic() + timeout_s
        while not future.done():
            assert time.monotonic() < deadline, f"no answer to {what} within {timeout_s:.0f} s"
            time.sleep(0.02)
        return future.result()

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._thread.join(timeout=2.0)


def _started(specs: list[NodeSpec], tmp_path: Path, request) -> list[NodeRun]:
    runs: list[NodeRun] = []
    request.addfinalizer(lambda: [run.kill() for run in runs])
    for spec in specs:
        runs.append(NodeRun(spec, tmp_path))
    return runs


@pytest.mark.parametrize(
    ("sig", "moment"),
    [(signal.SIGINT, "mid_inference"), (signal.SIGTERM, "action_start")],
    ids=["SIGINT-mid_inference", "SIGTERM-action_start"],
)
def test_busy_graph_stops_cleanly_mid_action_mid_recording(sig: int, moment: str, tmp_path: Path, request) -> None:
    """`mid_inference`: System 1 has published chunks, inferring the next ones; `action_start`: the
    goal was just accepted (System 1 asking System 2 to take the instruction)."""
    stack = load_stack()
    episodes = tmp_path / "episodes"
    recorder = NodeSpec("gr00t_teleop", "recorder_node", "gr00t_recorder",
                        {**stack.node_parameters("recorder"), "output_dir": str(episodes)})
    runs = _started([*build_graph(stack, "sim", SIM_GRAPH), recorder], tmp_path, request)
    client = _Client(stack)
    request.addfinalizer(client.close)
    _ready_all(runs)

    assert client.record_start.wait_for_service(timeout_sec=30.0)
    started = client.wait(client.record_start.call_async(SetInstruction.Request(text="pick up the red cube")),
                          30.0, "recorder start")
    assert started.accepted, started.message
    assert client.action.wait_for_server(timeout_sec=30.0)
    goal = ExecuteInstruction.Goal(instruction="pick up the red cube")
    goal.timeout.sec = 120
    handle = client.wait(client.action.send_goal_async(goal), 30.0, "the goal")
    assert handle.accepted
    result_future = handle.get_result_async()
    deadline = time.monotonic() + 90.0
    while moment == "mid_inference" and client.chunks < 3:  # System 1 infers chunk after chunk
        assert time.monotonic() < deadline, "no action chunks within 90 s\n" + "".join(r.describe() for r in runs)
        assert not result_future.done(), result_future.result()
        time.sleep(0.05)

    _stop(runs, sig)
    _assert_clean_exits(runs)
    # The action ended with a result, not with a dead server.
    result = client.wait(result_future, 5.0, "the action's result").result
    assert result.outcome == ExecuteInstruction.Result.OUTCOME_ABORTED, (result.outcome, result.reason)
    # The episode in progress was closed: a complete bag, marked interrupted, with the recorded data.
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore

    from gr00t_teleop.recording import EpisodeOutcome, read_episode_metadata

    (bag_dir,) = [p for p in episodes.iterdir() if p.is_dir()]
    assert (bag_dir / "metadata.yaml").exists()
    episode = read_episode_metadata(bag_dir)
    assert episode.outcome is EpisodeOutcome.INTERRUPTED, episode
    with AnyReader([bag_dir], default_typestore=get_typestore(Stores.ROS2_KILTED)) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
        assert counts.get("/" + stack.topics["joint_states"].lstrip("/"), 0) > 0, counts
        assert sum(1 for _ in reader.messages()) == sum(counts.values())


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_every_node_stops_cleanly_right_after_start_up(sig: int, tmp_path: Path, request) -> None:
    stack, robot_stack = load_stack(), load_stack("gr1t2_robot")
    try:
        from gr00t_gr1_bridge.fake_grx_server import FakeGrxServer
        from gr00t_gr1_bridge.grx_client import import_fourier_grx_client

        import_fourier_grx_client()
    except ImportError:
        FakeGrxServer = None  # noqa: N806 - the bridge needs fourier-grx-client; the rest still runs
    specs = build_graph(stack, "sim", SIM_GRAPH)
    teleop = build_graph(stack, "teleop_sim", GraphOptions(scripted_teleop=True, console=False))
    specs += [s for s in teleop if s.name != "gr00t_sim"]
    for spec in specs:
        if spec.name == "gr00t_recorder":
            spec.parameters["output_dir"] = str(tmp_path / "episodes")
    specs.append(NodeSpec("gr00t_teleop", "joy_teleop_node", "gr00t_joy_teleop", stack.node_parameters("joy_teleop")))
    runs = _started(specs, tmp_path, request)
    runs.append(NodeRun(NodeSpec("gr00t_teleop", "keyboard_joy", "keyboard_joy"), tmp_path, tty_stdin=True))
    if FakeGrxServer is not None:
        ip = f"127.{os.getpid() % 250 + 1}.{int(time.time()) % 250 + 1}.{sig}"
        server = FakeGrxServer(ip=ip, rate_hz=200.0)

        def close_server() -> None:
            server.publishing = False  # a zenoh session closing under a live sample stream can hang
            time.sleep(0.05)
            server.close()

        request.addfinalizer(close_server)
        bridge = NodeSpec("gr00t_gr1_bridge", "gr1_bridge_node", "gr00t_gr1_bridge",
                          {**robot_stack.node_parameters("gr1_bridge"), "server_ip": ip, "dry_run": True})
        runs.append(NodeRun(bridge, tmp_path, namespace="/shutdown_test_robot"))  # its own joint_states

    # Each node is stopped the moment it reports ready: its threads have just started.
    deadline = time.monotonic() + START_TIMEOUT_S
    waiting = list(runs)
    while waiting:
        for run in [r for r in waiting if r.ready.is_set()]:
            _stop([run], sig)
            waiting.remove(run)
        exited = [r for r in waiting if r.process.poll() is not None]
        assert not exited, "exited before ready:\n" + "".join(r.describe() for r in exited)
        assert time.monotonic() < deadline, "not up:\n" + "".join(r.describe() for r in waiting)
        time.sleep(0.01)
    _assert_clean_exits(runs)
