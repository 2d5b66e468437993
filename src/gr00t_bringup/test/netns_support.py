"""Two emulated hosts on one machine, for multi-host DDS tests: Linux network namespaces joined by a
veth pair, nodes started inside them, and two small rclpy tools that run inside a namespace.

    hosts = TwoHosts.create()          # needs root (CAP_NET_ADMIN + CAP_SYS_ADMIN for `ip netns`)
    proc = hosts.b.start_node(spec, env=hosts.b.ros_env(domain_id=42, static_peer=True))
    hosts.set_link(False)              # cut the cable; set_link(True) plugs it back in
    hosts.close()                      # stops what was started, deletes the namespaces (and the veth)

Each namespace has its own loopback and one address on the veth (10.77.0.1/24 = host "a",
10.77.0.2/24 = host "b"). The processes still share the machine's /dev/shm, but Fast DDS does not
use shared memory across them (its host id hashes the IPv4 addresses, which differ): everything
between "a" and "b" goes over UDP on the veth, as it would over a cable (checked: cutting the link
stops the traffic).

Test support of test_multi_host.py (not installed). Tools (`python netns_support.py probe|operator`,
run with `ip netns exec`):
- `probe` subscribes to the stack's goal tokens, action chunks, joint commands, controller status
  and /diagnostics and prints one JSON snapshot per `--period-s` on stdout (see `ProbeReader`);
- `operator` publishes an `Instruction` and calls `set_instruction` for `--window-s` seconds, as an
  operator console would, and prints whether anything matched and what was answered (one JSON line).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# A namespace's children die with the test as the graph's nodes die with gr00t-launch: one definition.
from gr00t_bringup.processes import _die_with_parent, executable_path

NETNS_PREFIX = "gr00t-"
SUBNET = "10.77.0"


class NetnsUnavailable(RuntimeError):
    """Network namespaces cannot be created here (not root, no CAP_NET_ADMIN, no `ip`)."""


def _ip() -> str:
    path = shutil.which("ip") or ("/usr/sbin/ip" if os.access("/usr/sbin/ip", os.X_OK) else None)
    if path is None:
        raise NetnsUnavailable("the `ip` command (iproute2) is not installed")
    return path


def _run(*args: str, check: bool = True, timeout: float = 10.0) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([_ip(), *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip() or result.stdout.strip()}")
    return result


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_namespaces() -> list[str]:
    """Delete `gr00t-<pid>-*` namespaces left by a process that no longer exists (a killed test run)."""
    listing = _run("netns", "list", check=False).stdout
    removed = []
    for line in listing.splitlines():
        name = line.split()[0] if line.strip() else ""
        parts = name.split("-")
        if not name.startswith(NETNS_PREFIX) or len(parts) < 3 or not parts[1].isdigit():
            continue
        if int(parts[1]) != os.getpid() and not _pid_alive(int(parts[1])):
            _kill_namespace_pids(name)
            _run("netns", "del", name, check=False)
            removed.append(name)
    return removed


def _kill_namespace_pids(name: str) -> None:
    pids = _run("netns", "pids", name, check=False).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


class Proc:
    """A child process started in a namespace: own process group, killed with its parent (PDEATHSIG),
    output forwarded line by line to `log` and to an optional line callback."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log=None, on_line=None) -> None:
        self.name = name
        self.command = command
        self.lines: deque[str] = deque(maxlen=400)
        self.process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            preexec_fn=_die_with_parent,
        )
        self._thread = threading.Thread(target=self._pump, args=(log, on_line), daemon=True)
        self._thread.start()

    def _pump(self, log, on_line) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if on_line is not None:
                on_line(line)
            if log is not None:
                log.write(f"[{self.name}] {line}")
                log.flush()

    @property
    def pid(self) -> int:
        return self.process.pid

    def poll(self) -> int | None:
        return self.process.poll()

    def output(self) -> str:
        if self.poll() is not None:
            self._thread.join(timeout=2.0)
        return "\n".join(self.lines)

    def signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass

    def wait(self, timeout: float) -> int:
        code = self.process.wait(timeout=timeout)
        self._thread.join(timeout=2.0)
        return code


def stop_all(procs: Sequence[Proc], timeout_s: float = 10.0) -> dict[str, int]:
    """SIGINT (as Ctrl-C), then SIGTERM, then SIGKILL, to each process group; returns exit codes."""
    for sig, wait_s in ((signal.SIGINT, timeout_s), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
        alive = [p for p in procs if p.poll() is None]
        if not alive:
            break
        for proc in alive:
            proc.signal_group(sig)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and any(p.poll() is None for p in alive):
            time.sleep(0.05)
    for proc in procs:  # reap the group of a process whose leader already exited
        proc.signal_group(signal.SIGKILL)
    return {p.name: p.process.wait() for p in procs}


@dataclass
class Host:
    """One emulated host: a network namespace with one address on the veth."""

    netns: str
    interface: str
    address: str
    peer_address: str
    params_dir: Path
    procs: list[Proc] = field(default_factory=list)

    def ros_env(
        self,
        domain_id: int,
        discovery_range: str = "SUBNET",
        static_peer: bool = True,
        extra: dict[str, str] | None = None,
    ) -> dict[str, str]:
        """The environment of a ROS process on this host: domain, discovery range, static peers."""
        env = dict(os.environ)
        for key in (
            "ROS_STATIC_PEERS",
            "ROS_LOCALHOST_ONLY",
            "FASTDDS_DEFAULT_PROFILES_FILE",
            "FASTRTPS_DEFAULT_PROFILES_FILE",
            "ROS_SECURITY_ENABLE",
        ):
            env.pop(key, None)
        env["ROS_DOMAIN_ID"] = str(domain_id)
        env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = discovery_range
        if static_peer:
            env["ROS_STATIC_PEERS"] = self.peer_address
        env["PYTHONUNBUFFERED"] = "1"
        env.update(extra or {})
        return env

    def exec_command(self, command: Sequence[str]) -> list[str]:
        return [_ip(), "netns", "exec", self.netns, *command]

    def spawn(self, name: str, command: Sequence[str], env: dict[str, str], log=None, on_line=None) -> Proc:
        proc = Proc(name, self.exec_command(command), env, log=log, on_line=on_line)
        self.procs.append(proc)
        return proc

    def start_node(self, spec, env: dict[str, str], log=None) -> Proc:
        """Start a `gr00t_bringup.graph.NodeSpec` here as `gr00t-launch` would (same executable,
        node name and parameters file)."""
        import yaml

        params_file = self.params_dir / f"{self.netns}-{spec.name}.yaml"
        params_file.write_text(yaml.safe_dump({f"/{spec.name}": {"ros__parameters": spec.parameters}}))
        command = [
            str(executable_path(spec.package, spec.executable)),
            "--ros-args",
            "-r",
            f"__node:={spec.name}",
            "--params-file",
            str(params_file),
        ]
        return self.spawn(spec.name, command, env, log=log)

    def tool(self, name: str, args: Sequence[str], env: dict[str, str], log=None, on_line=None) -> Proc:
        """Run this file's `probe` / `operator` tool in this namespace."""
        return self.spawn(name, [sys.executable, str(Path(__file__).resolve()), *args], env, log=log, on_line=on_line)


class TwoHosts:
    """Namespaces `a` and `b`, joined by a veth pair `<id>a` <-> `<id>b`."""

    def __init__(self, a: Host, b: Host, tmp: Path) -> None:
        self.a, self.b = a, b
        self._tmp = tmp
        self._closed = False

    @classmethod
    def create(cls) -> TwoHosts:
        if os.name != "posix" or not sys.platform.startswith("linux"):
            raise NetnsUnavailable("network namespaces are Linux-only")
        _ip()
        try:
            remove_stale_namespaces()
        except (RuntimeError, OSError, subprocess.SubprocessError):
            pass
        tag = uuid.uuid4().hex[:6]
        names = (f"{NETNS_PREFIX}{os.getpid()}-{tag}-a", f"{NETNS_PREFIX}{os.getpid()}-{tag}-b")
        interfaces = (f"g{tag}a", f"g{tag}b")  # <= 15 characters
        created: list[str] = []
        tmp = Path(tempfile.mkdtemp(prefix="gr00t-netns-"))
        try:
            for name in names:
                result = _run("netns", "add", name, check=False)
                if result.returncode != 0:
                    raise NetnsUnavailable(
                        f"`ip netns add` failed ({result.stderr.strip()}): needs root / CAP_NET_ADMIN + CAP_SYS_ADMIN"
                    )
                created.append(name)
            probe = subprocess.run(
                [_ip(), "netns", "exec", names[0], "true"], capture_output=True, text=True, timeout=10
            )
            if probe.returncode != 0:
                raise NetnsUnavailable(f"`ip netns exec` failed: {probe.stderr.strip()}")
            _run("link", "add", interfaces[0], "type", "veth", "peer", "name", interfaces[1])
            hosts = []
            for index, (name, interface) in enumerate(zip(names, interfaces)):
                address, peer = f"{SUBNET}.{index + 1}", f"{SUBNET}.{2 - index}"
                _run("link", "set", interface, "netns", name)
                _run("-n", name, "addr", "add", f"{address}/24", "dev", interface)
                _run("-n", name, "link", "set", "lo", "up")
                _run("-n", name, "link", "set", interface, "up")
                hosts.append(Host(name, interface, address, peer, tmp))
            return cls(hosts[0], hosts[1], tmp)
        except BaseException:
            for name in created:
                _run("netns", "del", name, check=False)
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def set_link(self, up: bool) -> None:
        """Plug / unplug the cable: the veth end in `b` goes up / down (the other end loses carrier)."""
        _run("-n", self.b.netns, "link", "set", self.b.interface, "up" if up else "down")

    def link_is_up(self) -> bool:
        out = _run("-n", self.b.netns, "link", "show", self.b.interface).stdout
        flags = out.split("<", 1)[1].split(">", 1)[0].split(",") if "<" in out else []
        return "UP" in flags

    def close(self) -> dict[str, int]:
        """Stop every process started here, kill anything else left in the namespaces, delete them."""
        if self._closed:
            return {}
        self._closed = True
        codes = stop_all(self.a.procs + self.b.procs)
        for host in (self.a, self.b):
            _kill_namespace_pids(host.netns)
            _run("netns", "del", host.netns, check=False)
        shutil.rmtree(self._tmp, ignore_errors=True)
        return codes

    def exists(self) -> bool:
        listing = _run("netns", "list", check=False).stdout
        return any(line.split()[0] in (self.a.netns, self.b.netns) for line in listing.splitlines() if line.strip())


# -- reading the probe's snapshots ----------------------------------------------------------------


class ProbeReader:
    """Keeps the newest snapshot printed by a `probe` process (feed it with `Proc(on_line=...)`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[str, Any] | None = None
        self.history: deque[dict[str, Any]] = deque(maxlen=2000)

    def feed(self, line: str) -> None:
        if not line.startswith("{"):
            return
        try:
            snapshot = json.loads(line)
        except json.JSONDecodeError:
            return
        snapshot["received"] = time.monotonic()
        with self._lock:
            self._latest = snapshot
            self.history.append(snapshot)

    @property
    def latest(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._latest) if self._latest else {}

    def wait_for(self, predicate, timeout: float, poll_s: float = 0.05) -> dict[str, Any] | None:
        """The first snapshot (newer than this call) for which `predicate` holds, or None."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            snapshot = self.latest
            if snapshot and snapshot["received"] >= start and predicate(snapshot):
                return snapshot
            time.sleep(poll_s)
        return None


# -- tools run inside a namespace -------------------------------------------------------------


def _probe(args: argparse.Namespace) -> int:
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import JointState

    from gr00t_description import load_stack
    from gr00t_interfaces.msg import ActionChunk, ControllerStatus, GoalTokens

    stack = load_stack(args.stack or None)
    rclpy.init()
    node = rclpy.create_node("netns_probe")
    lock = threading.Lock()
    state: dict[str, Any] = {
        "goals": 0,
        "goal_instruction": None,
        "chunks": 0,
        "commands": 0,
        "state": None,
        "reason": "",
        "faults": [],
        "chunks_executed": 0,
        "system2_instruction": None,
        "system2_seen": False,
    }
    command_times: deque[float] = deque(maxlen=1000)

    def on_goal(msg) -> None:
        with lock:
            state["goals"] += 1
            state["goal_instruction"] = msg.instruction

    def on_chunk(_msg) -> None:
        with lock:
            state["chunks"] += 1

    def on_command(_msg) -> None:
        with lock:
            state["commands"] += 1
            command_times.append(time.monotonic())

    def on_status(msg) -> None:
        with lock:
            state.update(
                state=int(msg.state),
                reason=msg.reason,
                faults=list(msg.active_faults),
                chunks_executed=int(msg.chunks_executed),
            )

    def on_diagnostics(msg) -> None:
        for status in msg.status:
            if status.hardware_id == "gr00t_system2":
                values = {kv.key: kv.value for kv in status.values}
                with lock:
                    state["system2_seen"] = True
                    state["system2_instruction"] = values.get("instruction")

    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    reliable = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
    node.create_subscription(GoalTokens, stack.topics["goal_tokens"], on_goal, reliable)
    node.create_subscription(ActionChunk, stack.topics["action_chunk"], on_chunk, reliable)
    node.create_subscription(JointState, stack.topics["joint_command"], on_command, 50)
    node.create_subscription(ControllerStatus, stack.topics["controller_status"], on_status, latched)
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)

    start = time.monotonic()
    next_print = start
    try:
        while rclpy.ok() and (args.duration_s <= 0 or time.monotonic() - start < args.duration_s):
            rclpy.spin_once(node, timeout_sec=0.01)
            now = time.monotonic()
            if now < next_print:
                continue
            next_print = now + args.period_s
            with lock:
                recent = [t for t in command_times if t >= now - 1.0]
                gaps = [b - a for a, b in zip(recent, recent[1:])]
                snapshot = dict(
                    state, t=now, command_rate_1s=float(len(recent)), max_command_gap_1s=max(gaps) if gaps else None
                )
            print(json.dumps(snapshot), flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


def _operator(args: argparse.Namespace) -> int:
    import rclpy
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    from gr00t_description import load_stack
    from gr00t_interfaces.msg import Instruction
    from gr00t_interfaces.srv import SetInstruction

    stack = load_stack(args.stack or None)
    rclpy.init()
    node = rclpy.create_node("netns_operator")
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    publisher = node.create_publisher(Instruction, stack.topics["instruction"], latched)
    client = node.create_client(SetInstruction, stack.services["set_instruction"])
    result: dict[str, Any] = {"matched_subscribers": 0, "service_available": False, "accepted": None, "answer_id": None}
    message = Instruction(text=args.text, id=uuid.uuid4().hex)
    future = None
    start = time.monotonic()
    next_publish = start
    while time.monotonic() - start < args.window_s:
        rclpy.spin_once(node, timeout_sec=0.05)
        now = time.monotonic()
        if now >= next_publish:
            message.header.stamp = node.get_clock().now().to_msg()
            publisher.publish(message)
            next_publish = now + 0.5
        result["matched_subscribers"] = max(result["matched_subscribers"], publisher.get_subscription_count())
        if future is None and client.service_is_ready():
            result["service_available"] = True
            future = client.call_async(SetInstruction.Request(text=args.text, id=message.id))
        if future is not None and future.done():
            response = future.result()
            result["accepted"], result["answer_id"] = bool(response.accepted), response.id
            if args.stop_when_answered:
                break
    result["elapsed_s"] = round(time.monotonic() - start, 2)
    print(json.dumps(result), flush=True)
    node.destroy_node()
    rclpy.shutdown()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python netns_support.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="tool", required=True)
    probe = sub.add_parser("probe", help="print JSON snapshots of the stack's outputs")
    probe.add_argument("--stack", default="", help="stack YAML (default: gr1t2_sim)")
    probe.add_argument("--period-s", type=float, default=0.1)
    probe.add_argument("--duration-s", type=float, default=0.0, help="0 = until interrupted")
    operator = sub.add_parser("operator", help="publish an instruction and call set_instruction")
    operator.add_argument("--stack", default="")
    operator.add_argument("--text", required=True)
    operator.add_argument("--window-s", type=float, default=8.0)
    operator.add_argument("--stop-when-answered", action="store_true")
    args = parser.parse_args(argv)
    return _probe(args) if args.tool == "probe" else _operator(args)


if __name__ == "__main__":
    sys.exit(main())
