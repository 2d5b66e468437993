"""Drive every subscription, service and action server of one node process with generated input.

One run (`fuzz_node`): start the node as a process in a DDS domain of its own, discover its
interfaces from the running node (`get_subscriber_names_and_types_by_node`,
`get_service_names_and_types_by_node`, `get_action_server_names_and_types_by_node`), then for each
interface in turn: good input keeps flowing on every other interface (the profile's feed), the
interface gets `examples` generated messages / requests / goals (hypothesis), and after each one the
process must still be running. Outputs named by the profile (System 1's and the leader teleop's
`joint_command`) are checked the whole time: every position finite and inside the robot's joint
limits. After the last interface, good input resumes everywhere and the profile's recovery check
must pass (the node publishes, serves and records again by itself, or after the operator's
documented steps: reset the e-stop, enable).

Not driven, on purpose, and listed in the report as `infrastructure`: rclpy's parameter services
(`~/set_parameters` etc.: rclpy's code, not the node's; fuzzing them would legitimately reconfigure
the node) and the hidden services of an action server (`.../_action/*`: driven through the action
client, which is how any caller reaches them).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from gr00t_bringup.fuzz.strategies import Hints, import_type, message_strategy, with_invalid_utf8
from gr00t_bringup.processes import _die_with_parent, executable_path
from gr00t_description.ros.node_main import spin_in_background

PARAMETER_SERVICES = (
    "describe_parameters",
    "get_parameter_types",
    "get_parameters",
    "list_parameters",
    "set_parameters",
    "set_parameters_atomically",
    "get_type_description",
)
SERVICE_TIMEOUT_S = 8.0  # the sim's ~/reset_episode waits up to 5 s for its physics thread
GOAL_TIMEOUT_S = 8.0  # System 1 waits for a clock up to 5 s before it answers a goal
DISCOVERY_TIMEOUT_S = 120.0  # model loading on a loaded 2-core machine


class NodeDied(RuntimeError):
    """The node process exited while it was being fuzzed."""


@dataclass
class Interfaces:
    subscriptions: dict[str, str] = field(default_factory=dict)  # name -> type
    services: dict[str, str] = field(default_factory=dict)
    actions: dict[str, str] = field(default_factory=dict)
    infrastructure: list[str] = field(default_factory=list)

    def all(self) -> list[tuple[str, str, str]]:
        """(kind, name, type) of every interface to fuzz, in a stable order."""
        return [
            *(("topic", n, t) for n, t in sorted(self.subscriptions.items())),
            *(("service", n, t) for n, t in sorted(self.services.items())),
            *(("action", n, t) for n, t in sorted(self.actions.items())),
        ]


@dataclass
class InterfaceReport:
    kind: str
    name: str
    type: str
    examples: int = 0
    raw_invalid_utf8: int = 0  # topic examples sent as CDR bytes with invalid UTF-8
    not_sendable: int = 0  # examples rclpy refused to serialise (client side; nothing was sent)
    answered: int = 0  # services: responses; actions: goal responses
    accepted: int = 0  # services: success/accepted true; actions: goals accepted
    timeouts: int = 0
    seconds: float = 0.0


@dataclass
class OutputReport:
    topic: str
    messages: int = 0
    violations: int = 0
    examples: list[str] = field(default_factory=list)


@dataclass
class NodeReport:
    node: str
    examples_per_interface: int
    seed: int
    discovered: list[str] = field(default_factory=list)  # "kind name [type]"
    infrastructure: list[str] = field(default_factory=list)
    interfaces: list[InterfaceReport] = field(default_factory=list)
    outputs: list[OutputReport] = field(default_factory=list)
    alive: bool = True
    exit_code: int | None = None
    died_during: str = ""
    recovered: bool = False
    recovery: str = ""
    log_lines: int = 0
    seconds: float = 0.0
    output_tail: str = ""

    @property
    def uncovered(self) -> list[str]:
        driven = {f"{i.kind} {i.name} [{i.type}]" for i in self.interfaces if i.examples > 0}
        return [d for d in self.discovered if d not in driven]

    @property
    def ok(self) -> bool:
        return self.alive and self.recovered and not self.uncovered and all(o.violations == 0 for o in self.outputs)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(uncovered=self.uncovered, ok=self.ok)
        return data


class NodeProcess:
    """The node under test as a process (as bring-up starts it), its output kept for the report."""

    def __init__(self, executable: list[str], name: str, parameters: dict[str, Any], env: dict[str, str]) -> None:
        self.name = name
        self._dir = Path(tempfile.mkdtemp(prefix=f"fuzz_{name}_"))
        params = self._dir / "params.yaml"
        params.write_text(yaml.safe_dump({f"/{name}": {"ros__parameters": parameters}}))
        command = [*executable, "--ros-args", "-r", f"__node:={name}", "--params-file", str(params)]
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            env=env,
            preexec_fn=_die_with_parent,
            errors="replace",
        )
        self._pump = threading.Thread(target=self._read, daemon=True)
        self._pump.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n")[:500])
            if len(self.lines) > 20_000:
                del self.lines[:10_000]

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, count: int = 40) -> str:
        return "\n".join(self.lines[-count:])

    def stop(self, timeout_s: float = 15.0) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(2)  # SIGINT, as Ctrl-C / ros2 launch
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5.0)
        self._pump.join(timeout=2.0)
        return self.process.returncode


class Session:
    """The harness side: an rclpy context in the node's domain, a probe node spun in a thread."""

    def __init__(self, domain_id: int) -> None:
        import rclpy
        from rclpy.executors import MultiThreadedExecutor

        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node("gr00t_fuzzer", context=self.context)
        self.executor = MultiThreadedExecutor(num_threads=3, context=self.context)
        self.executor.add_node(self.node)
        self._spinner = spin_in_background(self.executor, self.context, "fuzz_session_spin")
        self.fuzzing: str | None = None  # the interface being fuzzed: the good-input feed skips it
        self.state: dict[str, Any] = {}  # profile-specific (publishers, latest outputs)

    def now_s(self) -> float:
        return self.node.get_clock().now().nanoseconds * 1e-9

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.02)
        return predicate()

    def call(self, client: Any, request: Any, timeout_s: float = SERVICE_TIMEOUT_S) -> Any | None:
        if not client.wait_for_service(timeout_sec=timeout_s):
            return None
        future = client.call_async(request)
        self.wait_for(future.done, timeout_s)
        return future.result() if future.done() else None

    def close(self) -> None:
        import rclpy

        self.executor.shutdown(timeout_sec=2.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._spinner.join(timeout=2.0)


def discover(session: Session, node_name: str, alive: Callable[[], bool], timeout_s: float) -> Interfaces:
    """The node's interfaces once the graph shows it with interfaces of its own and its lists have
    stopped changing for 1.5 s."""
    from rclpy.action import get_action_server_names_and_types_by_node

    probe = session.node
    deadline = time.monotonic() + timeout_s
    previous: tuple | None = None
    stable_since = 0.0
    while time.monotonic() < deadline:
        if not alive():
            raise NodeDied(f"{node_name} exited during start-up")
        if (node_name, "/") in probe.get_node_names_and_namespaces():
            current = (
                tuple(sorted((n, tuple(t)) for n, t in probe.get_subscriber_names_and_types_by_node(node_name, "/"))),
                tuple(sorted((n, tuple(t)) for n, t in probe.get_service_names_and_types_by_node(node_name, "/"))),
                tuple(
                    sorted((n, tuple(t)) for n, t in get_action_server_names_and_types_by_node(probe, node_name, "/"))
                ),
            )
            if current != previous:
                previous, stable_since = current, time.monotonic()
            else:
                # Parameter services come with the node; its own interfaces may follow seconds later
                # (after a model load or a robot connection): wait for some, then for quiet.
                own = current[0] or current[2] or any(not _infrastructure(n) for n, _t in current[1])
                quiet_s = time.monotonic() - stable_since
                if (own and quiet_s > 1.5) or quiet_s > 15.0:
                    break
        time.sleep(0.2)
    else:
        raise TimeoutError(f"{node_name} did not appear in the graph within {timeout_s:.0f} s")
    subscriptions, services, actions = previous
    interfaces = Interfaces()
    interfaces.subscriptions = {n: t[0] for n, t in subscriptions}
    interfaces.actions = {n: t[0] for n, t in actions}
    for name, types in services:
        if _infrastructure(name):
            interfaces.infrastructure.append(f"service {name} [{types[0]}]")
        else:
            interfaces.services[name] = types[0]
    return interfaces


def _infrastructure(service: str) -> bool:
    """rclpy's parameter services and an action server's hidden services (see the module docstring)."""
    return "/_action/" in service or service.rsplit("/", 1)[-1] in PARAMETER_SERVICES


class OutputMonitor:
    """Checks every message of an output topic: finite positions inside the joint limits."""

    def __init__(self, session: Session, topic: str, lower: dict[str, float], upper: dict[str, float]) -> None:
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import JointState

        self.report = OutputReport(topic)
        self.messages: list[Any] = []
        self._lower, self._upper = lower, upper
        qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.BEST_EFFORT)  # matches any publisher
        session.node.create_subscription(JointState, topic, self._on_message, qos)

    def _on_message(self, msg: Any) -> None:
        self.report.messages += 1
        self.messages = [*self.messages[-50:], msg]
        bad = []
        for name, value in zip(msg.name, msg.position):
            if not np.isfinite(value):
                bad.append(f"{name}={value}")
            elif name in self._lower and not self._lower[name] - 1e-6 <= value <= self._upper[name] + 1e-6:
                bad.append(f"{name}={value:.4f} outside [{self._lower[name]:.4f}, {self._upper[name]:.4f}]")
            elif name not in self._lower:
                bad.append(f"{name}: not a joint of the robot")
        if len(msg.name) != len(msg.position):
            bad.append(f"{len(msg.name)} names but {len(msg.position)} positions")
        if bad:
            self.report.violations += 1
            if len(self.report.examples) < 5:
                self.report.examples.append("; ".join(bad[:4]))


def _qos_for(session: Session, topic: str, node_name: str) -> Any:
    """A publisher QoS every subscription of the node on `topic` accepts: reliable (matches best
    effort too), transient local only if the subscription asks for it (a volatile publisher does
    not match a transient-local subscription)."""
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    durability = DurabilityPolicy.VOLATILE
    for info in session.node.get_subscriptions_info_by_topic(topic):
        if info.node_name == node_name and info.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL:
            durability = DurabilityPolicy.TRANSIENT_LOCAL
    return QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=durability)


def _run_examples(strategy: st.SearchStrategy[Any], drive: Callable[[Any], None], examples: int, run_seed: int) -> None:
    @seed(run_seed)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],  # no shrinking: the node's state carries over between examples
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(strategy)
    def run(value: Any) -> None:
        drive(value)

    run()


def fuzz_interface(
    session: Session,
    process: NodeProcess,
    kind: str,
    name: str,
    type_name: str,
    hints: Hints,
    examples: int,
    run_seed: int,
    pace_s: float,
) -> InterfaceReport:
    report = InterfaceReport(kind, name, type_name)
    started = time.monotonic()
    node = session.node

    def check_alive() -> None:
        if not process.alive():
            raise NodeDied(f"{process.name} exited after {report.examples} examples on {kind} {name}")

    if kind == "topic":
        msg_class = import_type(type_name)
        publisher = node.create_publisher(msg_class, name, _qos_for(session, name, process.name))
        session.wait_for(lambda: publisher.get_subscription_count() > 0, 5.0)

        def drive_topic(value: tuple[Any, bool, int]) -> None:
            msg, raw, choice = value
            check_alive()
            data = with_invalid_utf8(msg, choice) if raw else None
            try:
                publisher.publish(data if data is not None else msg)
            except (TypeError, ValueError, AssertionError, UnicodeError):
                report.not_sendable += 1
            report.examples += 1
            report.raw_invalid_utf8 += data is not None
            time.sleep(pace_s)
            check_alive()

        strategy = st.tuples(message_strategy(msg_class, hints), st.booleans(), st.integers(0, 1 << 16))
        try:
            _run_examples(strategy, drive_topic, examples, run_seed)
        finally:
            node.destroy_publisher(publisher)
    elif kind == "service":
        srv_class = import_type(type_name)
        client = node.create_client(srv_class, name)
        client.wait_for_service(timeout_sec=5.0)

        def drive_service(request: Any) -> None:
            check_alive()
            try:
                future = client.call_async(request)
            except (TypeError, ValueError, AssertionError, UnicodeError):
                report.not_sendable += 1
                report.examples += 1
                return
            report.examples += 1
            if session.wait_for(lambda: future.done() or not process.alive(), SERVICE_TIMEOUT_S) and future.done():
                report.answered += 1
                response = future.result()
                report.accepted += bool(getattr(response, "success", getattr(response, "accepted", False)))
            else:
                report.timeouts += 1
            check_alive()

        try:
            _run_examples(message_strategy(srv_class.Request, hints), drive_service, examples, run_seed)
        finally:
            node.destroy_client(client)
    elif kind == "action":
        from rclpy.action import ActionClient

        action_class = import_type(type_name)
        client = ActionClient(node, action_class, name)
        client.wait_for_server(timeout_sec=5.0)

        def drive_action(goal: Any) -> None:
            check_alive()
            try:
                future = client.send_goal_async(goal)
            except (TypeError, ValueError, AssertionError, UnicodeError):
                report.not_sendable += 1
                report.examples += 1
                return
            report.examples += 1
            if not (session.wait_for(lambda: future.done() or not process.alive(), GOAL_TIMEOUT_S) and future.done()):
                report.timeouts += 1
                check_alive()
                return
            report.answered += 1
            handle = future.result()
            if handle.accepted:
                report.accepted += 1
                cancel = handle.cancel_goal_async()
                session.wait_for(lambda: cancel.done() or not process.alive(), GOAL_TIMEOUT_S)
            check_alive()

        try:
            _run_examples(message_strategy(action_class.Goal, hints), drive_action, examples, run_seed)
        finally:
            client.destroy()
    report.seconds = time.monotonic() - started
    return report


@dataclass
class NodeProfile:
    """How to run and judge one node (see profiles.py)."""

    node: str
    package: str
    executable: str
    parameters: Callable[[Path], dict[str, Any]]  # given a scratch directory
    names: tuple[str, ...] = ()
    setup: Callable[[Session], None] = lambda session: None  # publishers, clients, output subscriptions
    feed: Callable[[Session], None] = lambda session: None  # one round of good input (skip session.fuzzing)
    feed_period_s: float = 0.05
    recover: Callable[[Session], str | None] = lambda session: None  # None = recovered, else why not
    monitored_outputs: tuple[str, ...] = ()  # joint_command topics checked against the joint limits
    startup_timeout_s: float = DISCOVERY_TIMEOUT_S
    teardown: Callable[[], None] = lambda: None  # after the node has stopped (fake servers)
    command: tuple[str, ...] = ()  # instead of package/executable: a program of the tests

    def program(self) -> list[str]:
        return list(self.command) or [str(executable_path(self.package, self.executable))]


def fuzz_node(
    profile: NodeProfile,
    examples: int,
    run_seed: int = 0,
    domain_id: int | None = None,
    pace_s: float = 0.005,
    log: Callable[[str], None] = lambda line: None,
) -> NodeReport:
    """Start the node, fuzz each of its interfaces with `examples` examples, check it recovers."""
    from gr00t_description import load_stack

    report = NodeReport(profile.node, examples, run_seed)
    started = time.monotonic()
    domain_id = domain_id if domain_id is not None else 100 + (os.getpid() + run_seed) % 100
    env = {**os.environ, "ROS_DOMAIN_ID": str(domain_id), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    previous_env = {k: os.environ.get(k) for k in ("ROS_AUTOMATIC_DISCOVERY_RANGE",)}
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    scratch = Path(tempfile.mkdtemp(prefix=f"fuzz_{profile.node}_scratch_"))
    session = Session(domain_id)
    process = NodeProcess(profile.program(), profile.node, profile.parameters(scratch), env)
    stop_feed = threading.Event()
    monitors: list[OutputMonitor] = []
    try:
        robot = load_stack().robot
        lower = {n: float(robot.joints[n].lower) for n in robot.joint_names}
        upper = {n: float(robot.joints[n].upper) for n in robot.joint_names}
        monitors = [OutputMonitor(session, topic, lower, upper) for topic in profile.monitored_outputs]
        profile.setup(session)
        interfaces = discover(session, profile.node, process.alive, profile.startup_timeout_s)
        report.discovered = [f"{kind} {name} [{type_name}]" for kind, name, type_name in interfaces.all()]
        report.infrastructure = sorted(interfaces.infrastructure)

        def feed_loop() -> None:
            while not stop_feed.is_set():
                try:
                    profile.feed(session)
                except Exception as exc:  # noqa: BLE001 - a feed failure must not end the run unseen
                    log(f"[{profile.node}] good-input feed failed: {exc!r}")
                stop_feed.wait(profile.feed_period_s)

        feeder = threading.Thread(target=feed_loop, daemon=True)
        feeder.start()
        hints = Hints(now_s=session.now_s, names=profile.names)
        for index, (kind, name, type_name) in enumerate(interfaces.all()):
            session.fuzzing = name
            log(f"[{profile.node}] {kind} {name} [{type_name}]: {examples} examples")
            try:
                report.interfaces.append(
                    fuzz_interface(session, process, kind, name, type_name, hints, examples, run_seed + index, pace_s)
                )
            except NodeDied:
                report.died_during = f"{kind} {name}"
                break
            finally:
                session.fuzzing = None
        report.alive = process.alive()
        if report.alive:
            why_not = profile.recover(session)
            report.recovered = why_not is None
            report.recovery = why_not or "recovered"
            report.alive = process.alive()
        else:
            report.recovery = "not tried: the node died"
    finally:
        stop_feed.set()
        report.outputs = [m.report for m in monitors]
        if process.alive():
            report.exit_code = process.stop()
        else:
            report.exit_code = process.process.returncode
            report.alive = False
        report.log_lines = len(process.lines)
        report.output_tail = process.tail(25 if report.ok else 60)
        session.close()
        profile.teardown()
        for key, value in previous_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        report.seconds = round(time.monotonic() - started, 1)
    return report


def main_log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
