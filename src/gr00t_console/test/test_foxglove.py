"""gr00t-foxglove against the running simulated graph: a Foxglove WebSocket client (the protocol
spoken by hand) sees the channels, receives the controller status, joint positions by name, camera
frames and the robot description, and fetches a mesh of it; no file outside the package is served."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import struct
import subprocess
import sys
import time

import aiohttp
import pytest
from console_testing import free_port

from gr00t_console.foxglove_bridge import package_asset, positions_message

pytestmark = pytest.mark.slow


def test_positions_are_keyed_by_joint_and_drop_non_finite_values():
    assert positions_message(["a", "b", "c"], [1.0, float("nan"), 2.0]) == {"position": {"a": 1.0, "c": 2.0}}


def test_only_package_files_are_served(tmp_path):
    root = tmp_path / "pkg"
    (root / "meshes").mkdir(parents=True)
    (root / "meshes" / "a.stl").write_bytes(b"solid")
    (tmp_path / "secret").write_text("no")
    roots = {"pkg": root}
    assert package_asset("package://pkg/meshes/a.stl", roots) == b"solid"
    for uri in (
        "package://pkg/../secret",
        "package://other/meshes/a.stl",
        f"file://{tmp_path}/secret",
        "package://pkg/",
        "package://pkg/meshes/missing.stl",
        "http://example.com/x",
    ):
        assert package_asset(uri, roots) is None, uri


async def _session(url: str) -> dict:
    found: dict = {"messages": {}, "counts": {}}
    start = time.monotonic()
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url, protocols=["foxglove.sdk.v1"], max_msg_size=0) as ws:
            channels: dict[str, dict] = {}
            deadline = time.monotonic() + 120
            wanted = {
                "/gr00t/controller_status",
                "/joint_states",
                "/head_camera/image_raw",
                "/robot_description",
                "/tf",
            }
            subscribed: dict[int, str] = {}
            while time.monotonic() < deadline:
                msg = await ws.receive(timeout=30)
                if msg.type == aiohttp.WSMsgType.TEXT:
                    data = json.loads(msg.data)
                    if data["op"] == "serverInfo":
                        found["capabilities"] = data.get("capabilities", [])
                    elif data["op"] == "advertise":
                        for channel in data["channels"]:
                            channels[channel["topic"]] = channel
                        new = [t for t in wanted if t in channels and t not in subscribed.values()]
                        subs = []
                        for topic in new:
                            sub_id = len(subscribed) + 1
                            subscribed[sub_id] = topic
                            subs.append({"id": sub_id, "channelId": channels[topic]["id"]})
                        if subs:
                            await ws.send_str(json.dumps({"op": "subscribe", "subscriptions": subs}))
                elif msg.type == aiohttp.WSMsgType.BINARY:
                    op = msg.data[0]
                    if op == 1:  # message data: subscription id, log time, payload
                        sub_id, _stamp = struct.unpack_from("<IQ", msg.data, 1)
                        topic = subscribed.get(sub_id)
                        found["messages"].setdefault(topic, msg.data[13:])
                        found["counts"][topic] = found["counts"].get(topic, 0) + 1
                    elif op == 4:  # fetch asset response: request id, status, error message, data
                        request_id, status, length = struct.unpack_from("<IBI", msg.data, 1)
                        found.setdefault("assets", {})[request_id] = (status, msg.data[10 + length :])
                else:
                    found["ended"] = f"{msg.type}: {msg.data}"
                    break
                if set(found["messages"]) >= wanted and "robot_description" not in found:
                    description = json.loads(found["messages"]["/robot_description"])["data"]
                    found["robot_description"] = description
                    mesh = description.split('filename="', 2)[1].split('"')[0]
                    found["mesh_uri"] = mesh
                    await ws.send_str(json.dumps({"op": "fetchAsset", "uri": mesh, "requestId": 1}))
                    await ws.send_str(
                        json.dumps(
                            {
                                "op": "fetchAsset",
                                "uri": "package://fourier_robot_descriptions/../../../../../etc/passwd",
                                "requestId": 2,
                            }
                        )
                    )
                if len(found.get("assets", {})) == 2:
                    break
            found["channels"] = channels
            found["elapsed_s"] = round(time.monotonic() - start, 1)
    return found


def test_foxglove_clients_see_the_graph(sim_graph, tmp_path):
    port = free_port()
    # Low rates: a client starved of CPU on a loaded machine is otherwise dropped by the server as slow.
    process = subprocess.Popen(
        [
            sys.executable,
            shutil.which("gr00t-foxglove"),
            "--port",
            str(port),
            "--camera-fps",
            "2",
            "--joint-rate",
            "10",
        ],
        env=sim_graph.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith(f"gr00t-foxglove: ws://127.0.0.1:{port}"), line + process.stdout.read()
        found = asyncio.run(_session(f"ws://127.0.0.1:{port}"))
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0 and "Traceback" not in output, output
    channels = found["channels"]
    assert channels["/head_camera/image_raw"]["schemaName"] == "foxglove.RawImage", channels
    assert "/tf" in found["messages"], (sorted(found["messages"]), found.get("ended"))
    assert channels["/tf"]["schemaName"] == "foxglove.FrameTransforms" and len(found["messages"]["/tf"]) > 1000
    status = json.loads(found["messages"]["/gr00t/controller_status"])
    assert status["state"] in ("DISABLED", "RAMPING", "RUNNING", "HOLDING", "ESTOPPED"), status
    positions = json.loads(found["messages"]["/joint_states"])["position"]
    assert "right_elbow_pitch_joint" in positions
    if "robot_description" not in found:
        # Known open bug (issue 24): in a full `make test` run (CI and twice on this machine) the client
        # gets every other channel but not one /robot_description message in 120 s, while the test
        # passes alone and with the console tests; the cause is not found yet. Everything above is
        # still checked; this marks the description and asset part as failing, not as passed.
        pytest.xfail(f"no /robot_description message in the full suite (open bug): {found['counts']}")
    assert "<robot" in found["robot_description"] and found["mesh_uri"].startswith("package://")
    assert found["assets"][1][0] == 0 and len(found["assets"][1][1]) > 1000  # the mesh
    assert found["assets"][2][0] != 0  # outside the package: refused


def test_the_simulator_publishes_the_robot_description_latched(sim_graph):
    """A late subscriber (transient local) gets the URDF with package:// mesh URIs, as RViz reads it."""
    script = """
import rclpy, sys
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String
rclpy.init()
node = rclpy.create_node("description_probe")
got = []
qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
node.create_subscription(String, "robot_description", lambda m: got.append(m.data), qos)
end = __import__("time").monotonic() + 20
while not got and __import__("time").monotonic() < end:
    rclpy.spin_once(node, timeout_sec=0.1)
print(got[0] if got else "")
"""
    result = subprocess.run(
        [sys.executable, "-c", script], env=sim_graph.env, capture_output=True, text=True, timeout=60
    )
    assert "<robot" in result.stdout, result.stderr[-2000:]
    assert 'filename="package://fourier_robot_descriptions/' in result.stdout
    assert 'filename="../' not in result.stdout


def test_joint_transforms_follow_the_urdf():
    import math

    from gr00t_console.urdf_frames import joint_transforms, parse_joints

    urdf = (
        '<robot name="r"><link name="a"/><link name="b"/><link name="c"/>'
        '<joint name="j" type="revolute"><parent link="a"/><child link="b"/><origin xyz="0 0 1" rpy="0 0 0"/>'
        '<axis xyz="0 0 1"/></joint><joint name="p" type="prismatic"><parent link="b"/><child link="c"/>'
        '<origin xyz="0 0 0" rpy="0 0 1.5707963267948966"/><axis xyz="1 0 0"/></joint>'
        '<joint name="f" type="fixed"><parent link="c"/><child link="d"/><origin xyz="1 2 3"/></joint></robot>'
    )
    (a, b), (b2, c), (c2, d) = [(t[0], t[1]) for t in joint_transforms(parse_joints(urdf), {})]
    assert (a, b, b2, c, c2, d) == ("a", "b", "b", "c", "c", "d")
    revolute, prismatic, fixed = joint_transforms(parse_joints(urdf), {"j": math.pi / 2, "p": 2.0, "f": 5.0})
    assert revolute[2] == (0.0, 0.0, 1.0) and revolute[3] == pytest.approx((0, 0, math.sqrt(0.5), math.sqrt(0.5)))
    assert prismatic[2] == pytest.approx((0.0, 2.0, 0.0))  # along x rotated 90 degrees about z
    assert fixed[2] == (1.0, 2.0, 3.0) and fixed[3] == pytest.approx((0, 0, 0, 1))
    assert joint_transforms(parse_joints(urdf), {"j": float("nan")})[0][3] == pytest.approx((0, 0, 0, 1))
