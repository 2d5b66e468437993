"""Two hosts over DDS, emulated with Linux network namespaces joined by a veth pair
(`netns_support.py`): System 2 on the "workstation" (namespace a, 10.77.0.1), System 1 and the
simulator on the "robot computer" (namespace b, 10.77.0.2); cutting the cable must make System 1 hold
on stale goal tokens, plugging it back in must resume it. Then the operator interfaces: what keeps a
participant on another host from setting System 2's instruction when DDS security is unavailable.

Needs root (CAP_NET_ADMIN + CAP_SYS_ADMIN for `ip netns`); skipped otherwise. Every namespace and
process is removed at the end, also when a test fails.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("rclpy")
from netns_support import NetnsUnavailable, ProbeReader, TwoHosts  # noqa: E402

from gr00t_bringup.graph import GraphOptions, build_graph  # noqa: E402
from gr00t_description import load_stack  # noqa: E402
from gr00t_interfaces.msg import ControllerStatus  # noqa: E402

pytestmark = pytest.mark.slow

RAMPING, RUNNING, HOLDING = (
    ControllerStatus.STATE_RAMPING,
    ControllerStatus.STATE_RUNNING,
    ControllerStatus.STATE_HOLDING,
)
STARTUP_TIMEOUT_S = 180.0  # node start-up (torch import, model load) on a loaded 2-core machine
INITIAL_INSTRUCTION = "keep the arm still"


def _create_hosts() -> TwoHosts:
    try:
        return TwoHosts.create()
    except NetnsUnavailable as exc:
        pytest.skip(f"network namespaces unavailable ({exc})")


def _close_hosts(hosts: TwoHosts) -> None:
    hosts.close()
    assert not hosts.exists(), "network namespaces left behind"
    leftovers = [p.name for p in hosts.a.procs + hosts.b.procs if p.poll() is None]
    assert not leftovers, f"processes left running: {leftovers}"


@pytest.fixture
def hosts():
    hosts = _create_hosts()
    try:
        yield hosts
    finally:
        _close_hosts(hosts)


def _domain_ids(count: int) -> list[int]:
    """Distinct domain ids (namespaces isolate the traffic anyway; distinct ids keep it readable)."""
    return random.sample(range(1, 100), count)


def _tails(*procs) -> str:
    return "\n".join(f"--- {p.name} (exit {p.poll()}):\n" + "\n".join(list(p.lines)[-15:]) for p in procs)


# -- multi-host ------------------------------------------------------------------------------------


def test_system2_on_one_host_drives_system1_on_another_and_a_cut_link_holds(hosts):
    stack = load_stack()
    goal_timeout = float(stack.nodes["system1"]["goal_timeout_s"])
    (domain,) = _domain_ids(1)
    specs = {s.name: s for s in build_graph(stack, "sim", GraphOptions(instruction="pick up the red cube"))}
    # Discovery across the cable: SUBNET range plus the other host as a static (unicast) peer.
    env_a = hosts.a.ros_env(domain, "SUBNET", static_peer=True)
    env_b = hosts.b.ros_env(domain, "SUBNET", static_peer=True)
    started = [
        hosts.b.start_node(specs["gr00t_sim"], env_b),
        hosts.b.start_node(specs["gr00t_system1"], env_b),
        hosts.a.start_node(specs["gr00t_system2"], env_a),
    ]
    probe = ProbeReader()
    started.append(hosts.b.tool("probe", ["probe"], env_b, on_line=probe.feed))
    t0 = time.monotonic()

    # Goal tokens computed on host a (from camera frames that crossed the link from host b) arrive on
    # host b; System 1 runs on them: chunks, the 120 Hz command stream, RAMPING / RUNNING. (On a
    # loaded machine the simulator can lag the commands and System 1 pauses on `tracking_error`
    # holds in between; that is the safety layer, not the link.)
    first_goal = probe.wait_for(lambda s: s["goals"] > 0, STARTUP_TIMEOUT_S)
    assert first_goal is not None, f"no goal tokens crossed the link: {probe.latest}\n{_tails(*started)}"
    first_goal_s = time.monotonic() - t0
    running = probe.wait_for(
        lambda s: s["state"] in (RAMPING, RUNNING) and s["goals"] > 5 and s["chunks"] > 5 and s["command_rate_1s"] > 60,
        60.0,
    )
    assert running is not None, f"System 1 not driven across the link: {probe.latest}\n{_tails(*started)}"
    assert running["goal_instruction"] == "pick up the red cube"
    startup_s = time.monotonic() - t0

    # Cut the cable: no more goal tokens -> hold on stale goal tokens within the goal timeout, while
    # the command stream goes on (holding).
    before_cut = probe.latest
    cut_at = time.monotonic()
    hosts.set_link(False)
    assert not hosts.link_is_up()
    held = probe.wait_for(lambda s: s["state"] == HOLDING and "stale_goal_tokens" in s["faults"], goal_timeout + 5.0)
    assert held is not None, f"no stale_goal_tokens hold after the cut: {probe.latest}"
    hold_after_s = held["received"] - cut_at
    assert hold_after_s <= goal_timeout + 2.5, hold_after_s  # timeout + status period + a loaded machine
    time.sleep(1.5)
    holding = probe.latest
    assert holding["state"] == HOLDING, holding
    assert holding["command_rate_1s"] > 60, holding  # the 120 Hz stream went on, holding the pose
    assert holding["max_command_gap_1s"] is not None and holding["max_command_gap_1s"] < 0.25, holding
    assert holding["goals"] - before_cut["goals"] <= 3, (before_cut, holding)  # at most what was in flight
    goals_during_cut = holding["goals"]

    # Plug it back in: goal tokens flow again, the stale-goal fault clears, System 1 re-ramps / runs
    # and chunks flow.
    restored_at = time.monotonic()
    hosts.set_link(True)
    chunks_at_restore = probe.latest["chunks"]
    resumed = probe.wait_for(
        lambda s: (
            s["goals"] > goals_during_cut + 2
            and s["chunks"] > chunks_at_restore + 2
            and s["state"] in (RAMPING, RUNNING)
            and "stale_goal_tokens" not in s["faults"]
        ),
        45.0,
    )
    assert resumed is not None, f"did not resume after the link came back: {probe.latest}\n{_tails(*started)}"
    resume_after_s = resumed["received"] - restored_at
    states_after_restore = sorted({s["state"] for s in probe.history if s["received"] >= restored_at})
    tracking_holds = sum(1 for s in probe.history if any(f.startswith("tracking_error") for f in s["faults"]))
    running_again = probe.wait_for(lambda s: s["state"] == RUNNING, 15.0)  # reported, not required
    running_after = f"after {running_again['received'] - restored_at:.1f} s" if running_again else "not within 15 s"
    exited = {p.name: p.poll() for p in started if p.poll() is not None}
    assert not exited, f"a node exited: {exited}\n{_tails(*started)}"
    print(
        f"\nmulti-host: first goal across the link {first_goal_s:.1f} s after start, System 1 driven at "
        f"{startup_s:.1f} s; cut -> HOLDING "
        f"(stale_goal_tokens) in {hold_after_s:.2f} s (goal_timeout_s {goal_timeout}); holding at "
        f"{holding['command_rate_1s']:.0f} Hz, max gap {holding['max_command_gap_1s'] * 1000:.0f} ms; "
        f"restored -> resumed in {resume_after_s:.2f} s, RUNNING {running_after} (states seen "
        f"{states_after_restore}; "
        f"{tracking_holds} probe snapshots with a tracking_error hold)"
    )


# -- DDS security ------------------------------------------------------------------------------


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, f"openssl {' '.join(args)}: {result.stderr}"


def _make_keystore(root: Path, enclave: str) -> Path:
    """A keystore in the layout `ros2 security` writes (sros2 is not on PyPI): one CA for identity
    and permissions, one enclave with its key, certificate and signed governance/permissions."""
    work = root / "private"
    work.mkdir(parents=True)
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key.pem", cwd=work)
    _openssl(
        "req",
        "-x509",
        "-new",
        "-key",
        "ca.key.pem",
        "-subj",
        "/CN=gr00t_keystore_ca",
        "-days",
        "2",
        "-out",
        "ca.cert.pem",
        cwd=work,
    )
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "key.pem", cwd=work)
    subject = "/CN=" + enclave.replace("/", "\\/")  # slashes in a -subj value are escaped
    _openssl("req", "-new", "-key", "key.pem", "-subj", subject, "-out", "req.pem", cwd=work)
    _openssl(
        "x509",
        "-req",
        "-in",
        "req.pem",
        "-CA",
        "ca.cert.pem",
        "-CAkey",
        "ca.key.pem",
        "-CAcreateserial",
        "-days",
        "2",
        "-out",
        "cert.pem",
        cwd=work,
    )
    (work / "governance.xml").write_text(
        textwrap.dedent("""\
        <?xml version="1.0" encoding="UTF-8"?>
        <dds xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><domain_access_rules><domain_rule>
          <domains><id_range><min>0</min><max>232</max></id_range></domains>
          <allow_unauthenticated_participants>false</allow_unauthenticated_participants>
          <enable_join_access_control>true</enable_join_access_control>
          <discovery_protection_kind>ENCRYPT</discovery_protection_kind>
          <liveliness_protection_kind>ENCRYPT</liveliness_protection_kind>
          <rtps_protection_kind>SIGN</rtps_protection_kind>
          <topic_access_rules><topic_rule><topic_expression>*</topic_expression>
            <enable_discovery_protection>true</enable_discovery_protection>
            <enable_liveliness_protection>true</enable_liveliness_protection>
            <enable_read_access_control>true</enable_read_access_control>
            <enable_write_access_control>true</enable_write_access_control>
            <metadata_protection_kind>ENCRYPT</metadata_protection_kind>
            <data_protection_kind>ENCRYPT</data_protection_kind>
          </topic_rule></topic_access_rules>
        </domain_rule></domain_access_rules></dds>
        """)
    )
    (work / "permissions.xml").write_text(
        textwrap.dedent(f"""\
        <?xml version="1.0" encoding="UTF-8"?>
        <dds xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><permissions>
          <grant name="{enclave}"><subject_name>CN={enclave}</subject_name>
            <validity><not_before>2020-01-01T00:00:00</not_before><not_after>2100-01-01T00:00:00</not_after></validity>
            <allow_rule><domains><id_range><min>0</min><max>232</max></id_range></domains>
              <publish><topics><topic>rt/gr00t/instruction</topic></topics></publish>
            </allow_rule><default>DENY</default></grant>
        </permissions></dds>
        """)
    )
    for name in ("governance", "permissions"):
        _openssl(
            "smime",
            "-sign",
            "-text",
            "-in",
            f"{name}.xml",
            "-out",
            f"{name}.p7s",
            "-signer",
            "ca.cert.pem",
            "-inkey",
            "ca.key.pem",
            cwd=work,
        )
    enclave_dir = root / "enclaves" / enclave.strip("/")
    enclave_dir.mkdir(parents=True)
    for source, target in (
        ("ca.cert.pem", "identity_ca.cert.pem"),
        ("ca.cert.pem", "permissions_ca.cert.pem"),
        ("cert.pem", "cert.pem"),
        ("key.pem", "key.pem"),
        ("governance.p7s", "governance.p7s"),
        ("permissions.p7s", "permissions.p7s"),
        ("permissions.xml", "permissions.xml"),
    ):
        shutil.copy(work / source, enclave_dir / target)
    return root


_SECURE_NODE = """
import rclpy
rclpy.init(args=["--ros-args", "--enclave", "/gr00t/operator"])
node = rclpy.create_node("secure_operator")
print("NODE CREATED", flush=True)
node.destroy_node()
rclpy.shutdown()
"""


@pytest.mark.parametrize("strategy", ["Enforce", "Permissive"])
def test_dds_security_is_not_in_this_middleware_build(tmp_path, strategy):
    """SROS2 enclaves need a Fast DDS built with -DSECURITY=ON (and rmw_fastrtps with it). Record what
    this build does with a complete keystore: it refuses to create the node."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (needed to make a keystore without sros2)")
    keystore = _make_keystore(tmp_path / "keystore", "/gr00t/operator")
    env = dict(
        os.environ,
        ROS_SECURITY_KEYSTORE=str(keystore),
        ROS_SECURITY_ENABLE="true",
        ROS_SECURITY_STRATEGY=strategy,
        ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
    )
    result = subprocess.run([sys.executable, "-c", _SECURE_NODE], env=env, capture_output=True, text=True, timeout=120)
    if result.returncode == 0 and "NODE CREATED" in result.stdout:
        pytest.skip(f"this middleware build has DDS security ({strategy} created a node): test enclaves instead")
    assert result.returncode != 0
    assert "This Fast DDS version doesn't have the security libraries" in result.stderr, result.stderr[-2000:]
    assert "-DSECURITY=ON" in result.stderr


# -- operator interfaces without DDS security -----------------------------------------------

# Fast DDS with its UDP transport bound to the loopback interface only (plus shared memory): what
# docs/deployment.md recommends for a single-host stack when security is unavailable.
LOOPBACK_ONLY_PROFILE = """\
<?xml version="1.0" encoding="UTF-8" ?>
<dds xmlns="http://www.eprosima.com">
  <profiles>
    <transport_descriptors>
      <transport_descriptor>
        <transport_id>udp_loopback</transport_id>
        <type>UDPv4</type>
        <interfaceWhiteList><address>127.0.0.1</address></interfaceWhiteList>
      </transport_descriptor>
      <transport_descriptor>
        <transport_id>shm</transport_id>
        <type>SHM</type>
      </transport_descriptor>
    </transport_descriptors>
    <participant profile_name="gr00t_loopback_only" is_default_profile="true">
      <rtps>
        <userTransports>
          <transport_id>shm</transport_id>
          <transport_id>udp_loopback</transport_id>
        </userTransports>
        <useBuiltinTransports>false</useBuiltinTransports>
      </rtps>
    </participant>
  </profiles>
</dds>
"""


class RobotStacks:
    """Host b runs two System 2 nodes, each isolated a different way, with a probe next to each:
    `localhost` (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST, domain `domain`) and `loopback_xml`
    (the loopback-only Fast DDS profile, domain `xml_domain`). Host a plays the unauthorised
    participant."""

    def __init__(self, hosts: TwoHosts, tmp: Path) -> None:
        self.hosts = hosts
        self.domain, self.xml_domain, self.other_domain = _domain_ids(3)
        self.profile = tmp / "loopback_only.xml"
        self.profile.write_text(LOOPBACK_ONLY_PROFILE)
        self.xml = {"FASTDDS_DEFAULT_PROFILES_FILE": str(self.profile)}
        stack = load_stack()
        (system2,) = [
            s
            for s in build_graph(stack, "sim", GraphOptions(instruction=INITIAL_INSTRUCTION))
            if s.name == "gr00t_system2"
        ]
        self.env = {
            "localhost": hosts.b.ros_env(self.domain, "LOCALHOST", static_peer=False),
            "loopback_xml": hosts.b.ros_env(self.xml_domain, "SUBNET", static_peer=False, extra=self.xml),
        }
        self.procs = {}
        self.probes = {}
        for key, env in self.env.items():
            self.procs[key] = hosts.b.start_node(system2, env)
            self.probes[key] = ProbeReader()
            hosts.b.tool(f"probe_{key}", ["probe", "--period-s", "0.25"], env, on_line=self.probes[key].feed)
        for key, probe in self.probes.items():
            seen = probe.wait_for(
                lambda s: s["system2_seen"] and s["system2_instruction"] == INITIAL_INSTRUCTION, STARTUP_TIMEOUT_S
            )
            assert seen is not None, f"System 2 ({key}) not up: {probe.latest}\n{_tails(self.procs[key])}"

    def operator(self, host, text: str, env: dict[str, str], window_s: float, stop_when_answered: bool = False):
        args = ["operator", "--text", text, "--window-s", str(window_s)]
        if stop_when_answered:
            args.append("--stop-when-answered")
        return host.tool(f"operator@{host.netns[-1]}", args, env)

    @staticmethod
    def result(proc, timeout: float = 90.0) -> dict:
        proc.wait(timeout=timeout)
        lines = [line for line in proc.lines if line.startswith("{")]
        assert lines, f"operator printed no result:\n{proc.output()}"
        return json.loads(lines[-1])

    def instruction(self, key: str, settle_s: float = 2.5) -> str | None:
        time.sleep(settle_s)  # /diagnostics is 1 Hz
        return self.probes[key].latest["system2_instruction"]


@pytest.fixture(scope="module")
def robot_stacks(tmp_path_factory):
    hosts = _create_hosts()
    try:
        yield RobotStacks(hosts, tmp_path_factory.mktemp("multi_host"))
    finally:
        _close_hosts(hosts)


def test_remote_participant_cannot_reach_a_localhost_stack_by_discovery_or_another_domain(robot_stacks):
    stacks, a = robot_stacks, robot_stacks.hosts.a
    # (1) Host a in the same domain, automatic discovery (multicast) on its subnet: the LOCALHOST
    #     stack neither listens to multicast nor announces itself beyond 127.0.0.1.
    multicast = stacks.operator(a, "multicast operator", a.ros_env(stacks.domain, "SUBNET", static_peer=False), 8.0)
    # (2) Host a with robot b as a static peer, but in another domain: other ports, never matched.
    other_domain = stacks.operator(
        a, "other domain operator", a.ros_env(stacks.other_domain, "SUBNET", static_peer=True), 8.0
    )
    for proc in (multicast, other_domain):
        result = stacks.result(proc)
        assert result["matched_subscribers"] == 0, (proc.name, result)
        assert result["service_available"] is False and result["accepted"] is None, (proc.name, result)
    assert stacks.instruction("localhost") == INITIAL_INSTRUCTION


def test_localhost_range_does_not_stop_a_participant_that_knows_the_address(robot_stacks):
    """The gap: rmw_fastrtps's LOCALHOST range only changes where *this* participant announces
    itself (127.0.0.1, no multicast); its unicast discovery port still listens on every interface,
    so a participant on another host with this host as a static peer and the same domain id is
    discovered and can set the instruction. LOCALHOST is not an access control."""
    stacks, a = robot_stacks, robot_stacks.hosts.a
    text = f"unauthorised instruction {random.randint(0, 10**6)}"
    proc = stacks.operator(a, text, a.ros_env(stacks.domain, "SUBNET", static_peer=True), 30.0, stop_when_answered=True)
    result = stacks.result(proc)
    assert result["matched_subscribers"] >= 1 and result["accepted"] is True, result
    assert stacks.instruction("localhost") == text


def test_loopback_only_transport_blocks_a_participant_that_knows_the_address(robot_stacks):
    stacks, a, b = robot_stacks, robot_stacks.hosts.a, robot_stacks.hosts.b
    # Host a with robot b as a static peer, same domain: the loopback-bound stack never answers.
    remote = stacks.operator(a, "remote operator", a.ros_env(stacks.xml_domain, "SUBNET", static_peer=True), 10.0)
    # Positive control on the robot itself (same profile): the interface works locally.
    local_text = f"local operator {random.randint(0, 10**6)}"
    local = stacks.operator(
        b,
        local_text,
        b.ros_env(stacks.xml_domain, "SUBNET", static_peer=False, extra=stacks.xml),
        30.0,
        stop_when_answered=True,
    )
    remote_result = stacks.result(remote)
    local_result = stacks.result(local)
    assert remote_result["matched_subscribers"] == 0, remote_result
    assert remote_result["service_available"] is False and remote_result["accepted"] is None, remote_result
    assert local_result["accepted"] is True, local_result
    assert stacks.instruction("loopback_xml") == local_text
