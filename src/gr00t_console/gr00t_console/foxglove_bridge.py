"""gr00t-foxglove: a Foxglove live connection to the running graph for machines without a ROS install.

    gr00t-foxglove                      # ws://127.0.0.1:8765: open it in Foxglove (Open connection)
    gr00t-foxglove --host 0.0.0.0 --port 8765 --namespace robot1

Foxglove (app.foxglove.dev or the desktop app) connects to a Foxglove WebSocket server; this tool is
one (the Foxglove SDK's, `foxglove-sdk` on PyPI) fed from the graph's topics by an rclpy node:

  <camera image topic>          foxglove.RawImage (every camera of the stack, at most --camera-fps)
  /joint_states, /joint_command JSON {"position": {joint: rad}} at most --joint-rate (plots by name:
                                `/joint_states.position.right_elbow_pitch_joint`)
  /gr00t/controller_status      JSON {state, reason, faults, chunks_executed, command_rate, dry_run}
  /gr00t/action_chunk_times     JSON {t}: one message per action chunk (chunk boundaries)
  /robot_description            JSON {"data": URDF}, sent when a client subscribes (the protocol has no
                                latching) and every 10 s; its meshes (`package://...`) are served by
                                the server's asset handler
  /tf                           foxglove.FrameTransforms: every URDF joint's parent -> child link
                                transform at the measured joint positions (the 3-D robot moves)

`docs/foxglove_layout.json` is a layout with the camera, joint plots, the controller status and
the 3-D panel. Read-only: nothing from Foxglove reaches the robot. On a machine with ROS 2,
Foxglove's own `foxglove_bridge` package serves the topics directly instead.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

JSON_POSITION_SCHEMA = {"type": "object", "properties": {"position": {"type": "object"}}}
JSON_STATUS_SCHEMA = {
    "type": "object",
    "properties": {
        "state": {"type": "string"},
        "reason": {"type": "string"},
        "faults": {"type": "array", "items": {"type": "string"}},
        "chunks_executed": {"type": "integer"},
        "command_rate": {"type": "number"},
        "dry_run": {"type": "boolean"},
    },
}
JSON_STRING_SCHEMA = {"type": "object", "properties": {"data": {"type": "string"}}}
DESCRIPTION_TOPIC = "/robot_description"
# A subscription to the description is answered by the next check; the periodic resend only covers
# a message dropped for a client that fell behind (the server drops its oldest queued messages).
DESCRIPTION_CHECK_PERIOD_S = 0.2
DESCRIPTION_RESEND_PERIOD_S = 10.0


class DescriptionSubscriptions:
    """Foxglove server listener: notes that a client subscribed to the robot description.

    The node sends it from its own timer, not from this callback, which runs on the server's thread."""

    def __init__(self) -> None:
        self.wanted = threading.Event()

    def on_subscribe(self, _client: Any, channel: Any) -> None:
        if channel.topic == DESCRIPTION_TOPIC:
            self.wanted.set()


STATE_NAMES = {0: "DISABLED", 1: "RAMPING", 2: "RUNNING", 3: "HOLDING", 4: "ESTOPPED"}
MAX_ASSET_BYTES = 64 << 20


def positions_message(names: list[str], positions: list[float]) -> dict[str, Any]:
    """{"position": {name: value}} for Foxglove's plots (non-finite values left out)."""
    import math

    return {"position": {str(n): float(p) for n, p in zip(names, positions) if math.isfinite(p)}}


def package_asset(uri: str, package_roots: dict[str, Path]) -> bytes | None:
    """The file a `package://pkg/path` URI names under that package's root; None for anything else
    (other schemes, unknown packages, paths leaving the package, missing or oversize files)."""
    if not uri.startswith("package://"):
        return None
    package, _, relative = uri[len("package://") :].partition("/")
    root = package_roots.get(package)
    if root is None or not relative:
        return None
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()) or not path.is_file() or path.stat().st_size > MAX_ASSET_BYTES:
        return None
    return path.read_bytes()


def robot_description(stack: Any) -> tuple[str, dict[str, Path]]:
    """(URDF text with meshes as package:// URIs, package name -> root), or ('', {}) without the URDF."""
    from gr00t_description.robot_description import robot_description as describe

    try:
        return describe(stack.robot)
    except Exception:  # noqa: BLE001 - the robot description package is optional here
        return "", {}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gr00t-foxglove", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine)")
    parser.add_argument("--port", type=int, default=8765, help="WebSocket port (default 8765, Foxglove's)")
    parser.add_argument("--namespace", default="", help="ROS namespace of the graph")
    parser.add_argument("--stack", default="", help="stack YAML of the graph ('' = the default stack)")
    parser.add_argument("--camera-fps", type=float, default=10.0, help="camera frames per second sent (default 10)")
    parser.add_argument("--joint-rate", type=float, default=50.0, help="joint messages per second sent (default 50)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0 <= args.port <= 65535 or args.camera_fps <= 0 or args.joint_rate <= 0:
        print("gr00t-foxglove: --port in [0, 65535], --camera-fps and --joint-rate > 0", file=sys.stderr)
        return 2
    import foxglove

    from gr00t_description import load_stack
    from gr00t_description.ros.node_main import run_node

    stack = load_stack(args.stack or None)
    urdf, roots = robot_description(stack)
    subscriptions = DescriptionSubscriptions()
    server = foxglove.start_server(
        name="gr00t-ros",
        host=args.host,
        port=args.port,
        server_listener=subscriptions,
        asset_handler=lambda uri: package_asset(uri, roots),
    )
    print(
        f"gr00t-foxglove: ws://{args.host}:{server.port} (Foxglove: Open connection -> Foxglove WebSocket)", flush=True
    )
    ros_args = ["--ros-args", "-r", f"__ns:=/{args.namespace.strip('/')}"] if args.namespace.strip("/") else None
    try:
        run_node(lambda: _bridge_node(stack, urdf, subscriptions, args), args=ros_args)
    finally:
        server.stop()
    return 0


def _bridge_node(stack: Any, urdf: str, subscriptions: DescriptionSubscriptions, args: argparse.Namespace) -> Any:
    import foxglove
    from foxglove.channels import FrameTransformsChannel, RawImageChannel
    from foxglove.messages import FrameTransform, FrameTransforms, Quaternion, RawImage, Timestamp, Vector3
    from rclpy.node import Node
    from sensor_msgs.msg import Image, JointState

    from gr00t_console.urdf_frames import joint_transforms, parse_joints
    from gr00t_description.ros.qos import LATCHED_QOS, LATEST_RELIABLE_QOS, SENSOR_QOS
    from gr00t_interfaces.msg import ActionChunk, ControllerStatus

    class FoxgloveBridge(Node):
        def __init__(self) -> None:
            super().__init__("gr00t_foxglove")
            self._last: dict[str, float] = {}
            topics = stack.topics
            self._description = foxglove.Channel(DESCRIPTION_TOPIC, schema=JSON_STRING_SCHEMA)
            self._status = foxglove.Channel("/gr00t/controller_status", schema=JSON_STATUS_SCHEMA)
            self._chunks = foxglove.Channel("/gr00t/action_chunk_times", schema={"type": "object"})
            self._joints = {
                key: foxglove.Channel(f"/{key}", schema=JSON_POSITION_SCHEMA)
                for key in ("joint_states", "joint_command")
            }
            self._urdf_joints = parse_joints(urdf) if urdf else []
            self._tf = FrameTransformsChannel("/tf")
            self._cameras = {}
            for camera in stack.camera_topics().values():
                name = "/" + self.resolve_topic_name(camera["image"]).lstrip("/")
                self._cameras[name] = RawImageChannel(name)
                self.create_subscription(Image, camera["image"], lambda m, n=name: self._on_image(n, m), SENSOR_QOS)
            self.create_subscription(
                JointState, topics["joint_states"], lambda m: self._on_joints("joint_states", m), SENSOR_QOS
            )
            self.create_subscription(
                JointState, topics["joint_command"], lambda m: self._on_joints("joint_command", m), LATEST_RELIABLE_QOS
            )
            self.create_subscription(ControllerStatus, topics["controller_status"], self._on_status, LATCHED_QOS)
            self.create_subscription(
                ActionChunk,
                topics["action_chunk"],
                lambda _m: self._chunks.log({"t": time.time()}),
                LATEST_RELIABLE_QOS,
            )
            if urdf:
                self._urdf = urdf
                self._description_sent = -float("inf")
                self.create_timer(DESCRIPTION_CHECK_PERIOD_S, self._send_description)

        def _send_description(self) -> None:
            now = time.monotonic()
            if subscriptions.wanted.is_set() or now - self._description_sent >= DESCRIPTION_RESEND_PERIOD_S:
                subscriptions.wanted.clear()
                self._description_sent = now
                self._description.log({"data": self._urdf})

        def _due(self, key: str, rate: float) -> bool:
            now = time.monotonic()
            if now - self._last.get(key, 0.0) < 1.0 / rate:
                return False
            self._last[key] = now
            return True

        def _on_image(self, name: str, msg: Any) -> None:
            if not self._due(name, args.camera_fps) or len(msg.data) != msg.height * msg.step:
                return
            stamp = Timestamp(sec=msg.header.stamp.sec, nsec=msg.header.stamp.nanosec)
            self._cameras[name].log(
                RawImage(
                    timestamp=stamp,
                    frame_id=msg.header.frame_id,
                    width=msg.width,
                    height=msg.height,
                    encoding=msg.encoding,
                    step=msg.step,
                    data=bytes(msg.data),
                )
            )

        def _on_joints(self, key: str, msg: Any) -> None:
            if self._due(key, args.joint_rate) and len(msg.name) == len(msg.position):
                message = positions_message(list(msg.name), list(msg.position))
                self._joints[key].log(message)
                if key == "joint_states" and self._urdf_joints:
                    stamp = Timestamp(sec=msg.header.stamp.sec, nsec=msg.header.stamp.nanosec)
                    self._tf.log(
                        FrameTransforms(
                            transforms=[
                                FrameTransform(
                                    timestamp=stamp,
                                    parent_frame_id=parent,
                                    child_frame_id=child,
                                    translation=Vector3(x=t[0], y=t[1], z=t[2]),
                                    rotation=Quaternion(x=r[0], y=r[1], z=r[2], w=r[3]),
                                )
                                for parent, child, t, r in joint_transforms(self._urdf_joints, message["position"])
                            ]
                        )
                    )

        def _on_status(self, msg: Any) -> None:
            self._status.log(
                {
                    "state": STATE_NAMES.get(msg.state, str(msg.state)),
                    "reason": msg.reason,
                    "faults": list(msg.active_faults),
                    "chunks_executed": int(msg.chunks_executed),
                    "command_rate": float(msg.command_rate),
                    "dry_run": bool(msg.dry_run),
                }
            )

    return FoxgloveBridge()


if __name__ == "__main__":
    sys.exit(main())
