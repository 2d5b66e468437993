"""Console node: serves the operator's browser console (thin ROS wiring of `server`, `state` and
`graph_requests`).

Subscribes to the graph (camera, joint states and commands, action chunks, controller status,
instruction, the recorder's status), feeds `ConsoleState`, and carries out the console's
validated requests with the graph's own interfaces (`graph_requests`): the ExecuteInstruction action,
System 1's set_enabled / estop / reset_estop, System 2's set_instruction (stop), the recorder's services.
The web server runs its asyncio loop on a thread of its own (`web_thread`); ROS callbacks never block on it.

Security: listens on `host`:`port` only (127.0.0.1 unless configured); anything but e-stop needs
the token (from `token_file`, or generated at start and printed on stdout; the log line gives the
URL without it). A port already in use is an error in the log and /diagnostics, not an exit: the
console is a convenience, it never takes the control graph down with it.
"""

from __future__ import annotations

from gr00t_description.ros.node_main import install_stop_handlers

# SIGINT/SIGTERM while the imports below run (rclpy, aiohttp: about a second on a loaded machine) end
# the process with 0 at main(), not with a KeyboardInterrupt traceback.
_EARLY_STOP = install_stop_handlers()

import sys  # noqa: E402
import threading
from typing import Any

from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import Image, JointState

from gr00t_console.camera_frames import encode_jpeg
from gr00t_console.console_config import ConsoleConfig
from gr00t_console.graph_requests import LEADER_NODE, RECORDER_NODE, GraphRequests
from gr00t_console.protocol import Request
from gr00t_console.recorder_view import recorder_view
from gr00t_console.server import ConsoleServer, Counters
from gr00t_console.state import ConsoleState, StateConfig
from gr00t_console.token_file import load_token
from gr00t_console.web_thread import WebThread
from gr00t_description.ros.diagnostics import DiagnosticsPublisher, InputLog
from gr00t_description.ros.parameters import declare_config, declare_stack
from gr00t_description.ros.qos import LATCHED_QOS, LATEST_RELIABLE_QOS, SENSOR_QOS
from gr00t_interfaces.msg import ActionChunk, ControllerStatus, GoalTokens, RecorderStatus

STACK_SECTION = "console"


class ConsoleNode(Node):
    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("gr00t_console", **node_kwargs)
        self.stack = declare_stack(self)
        self.config = declare_config(self, self.stack, STACK_SECTION, ConsoleConfig)
        robot = self.stack.robot
        if self.config.default_group not in robot.groups:
            from gr00t_description import ConfigError

            raise ConfigError(f"default_group {self.config.default_group!r}: one of {sorted(robot.groups)}")
        self.inputs = InputLog(self.get_logger(), 2.0)
        self.counters = Counters(lambda kind, message: self.inputs.warning(f"request:{kind}", f"console: {message}"))
        token, generated = load_token(self.config.token_file)
        self.state = ConsoleState(
            StateConfig(robot.joint_names, dict(robot.groups), self.config.plot_rate_hz, self.config.plot_window_s)
        )
        self.server = ConsoleServer(self.config.server_config(token), self.state, self, self.counters)
        self.state.on_urgent = self.server.notify_urgent

        group = ReentrantCallbackGroup()
        topics = self.stack.topics
        self._last_encode: dict[str, float] = {}
        # The streams arrive raw (CDR bytes): a message is deserialised only when it is used (camera
        # frames while someone watches, joint states and commands at the plot's rate, goal tokens once
        # a second), so 200 Hz joint states cost the console little.
        self._raw_lock = threading.Lock()
        self._latest_command: bytes | None = None
        self._last_goal_decode = -1.0
        for key, camera in self.stack.camera_topics().items():
            self.create_subscription(
                Image,
                camera["image"],
                lambda m, k=key: self._on_image(k, m),
                SENSOR_QOS,
                callback_group=group,
                raw=True,
            )
        self.create_subscription(
            JointState, topics["joint_states"], self._on_joint_state, SENSOR_QOS, callback_group=group, raw=True
        )
        self.create_subscription(
            JointState,
            topics["joint_command"],
            self._on_joint_command,
            LATEST_RELIABLE_QOS,
            callback_group=group,
            raw=True,
        )
        self.create_subscription(
            ActionChunk,
            topics["action_chunk"],
            lambda _m: self.state.on_chunk(),
            LATEST_RELIABLE_QOS,
            callback_group=group,
            raw=True,
        )
        # The instruction in effect: System 2 stamps it on every goal (nobody publishes the instruction topic back).
        self.create_subscription(
            GoalTokens, topics["goal_tokens"], self._on_goal_tokens, LATEST_RELIABLE_QOS, callback_group=group, raw=True
        )
        self.create_subscription(
            RecorderStatus,
            f"{RECORDER_NODE}/status",
            lambda m: self.state.on_recorder_status(recorder_view(m)),
            LATCHED_QOS,
            callback_group=group,
        )

        # The e-stop path on a node and executor thread of its own: the e-stop call and the controller
        # status it changes never wait behind the streams above in a busy executor (measured: the
        # click-to-ESTOPPED time in the browser went from up to ~340 ms to the bound below).
        # use_global_arguments=False: a launcher's `-r __node:=gr00t_console` would rename it too.
        self._urgent = Node(
            "gr00t_console_estop",
            namespace=self.get_namespace(),
            context=self.context,
            start_parameter_services=False,
            use_global_arguments=False,
        )
        self._urgent.create_subscription(
            ControllerStatus,
            topics["controller_status"],
            lambda m: self._on_controller_status(m, "gr00t_system1"),
            LATCHED_QOS,
        )
        self._urgent.create_subscription(
            ControllerStatus, f"{LEADER_NODE}/status", lambda m: self._on_controller_status(m, LEADER_NODE), LATCHED_QOS
        )
        self._urgent_executor = SingleThreadedExecutor(context=self.context)
        self._urgent_executor.add_node(self._urgent)
        self._urgent_running = threading.Event()
        self._urgent_running.set()
        self._urgent_thread = threading.Thread(target=self._spin_urgent, name="gr00t_console_estop", daemon=True)
        self._urgent_thread.start()

        self.requests = GraphRequests(self, self._urgent, self.stack, self.state, group)

        self.web = WebThread(self.server, self.config.host, self.config.port)
        self.web.start()
        DiagnosticsPublisher(self, "gr00t_console", self._diagnostics)
        if self.web.bind_error:
            self.get_logger().error(f"console not served: {self.web.bind_error}")
        else:
            self.get_logger().info(
                f"console at {self.web.url} (anything but e-stop needs the token"
                + (
                    ": printed on stdout)"
                    if generated and not self.config.token_file
                    else f" in {self.config.token_file})"
                )
            )
            if generated and not self.config.token_file:
                print(f"gr00t console: {self.web.url}#token={token}", flush=True)

    def _spin_urgent(self) -> None:
        while self._urgent_running.is_set() and self.context.ok():
            self._urgent_executor.spin_once(timeout_sec=0.2)

    def shutdown(self) -> None:
        """Close the clients' connections and the server, stop the web thread (run_node calls this)."""
        self.web.stop()
        self._urgent_running.clear()
        self._urgent_executor.wake()
        self._urgent_thread.join(timeout=5.0)
        self._urgent_executor.shutdown()
        self._urgent.destroy_node()

    async def execute(self, request: Request) -> dict[str, Any]:
        """The web server's backend (its asyncio thread)."""
        return await self.requests.execute(request)

    # ------------------------------------------------------------------ inputs
    def _decode(self, raw: bytes, msg_type: type, source: str) -> Any:
        if len(raw) > self.config.max_image_bytes + 4096:
            self.inputs.warning(source, f"{source}: {len(raw)}-byte message ignored (over max_image_bytes)")
            return None
        try:
            return deserialize_message(raw, msg_type)
        except Exception as exc:  # noqa: BLE001 - malformed CDR: counted, never raised
            self.inputs.warning(source, f"{source}: undecodable message ignored ({type(exc).__name__})")
            return None

    def _on_image(self, camera: str, raw: bytes) -> None:
        jpeg = None
        now = self.state.now()
        if self.server.watching and now - self._last_encode.get(camera, -1.0) >= 1.0 / self.config.camera_max_fps:
            self._last_encode[camera] = now
            msg = self._decode(raw, Image, f"camera:{camera}")
            if msg is not None:
                try:
                    jpeg = encode_jpeg(msg, self.config.jpeg_quality, self.config.max_image_bytes)
                except (ValueError, OSError) as exc:
                    self.inputs.warning(f"camera:{camera}", f"camera {camera}: frame not shown: {exc}")
        self.state.on_camera_frame(camera, jpeg)

    def _on_joint_state(self, raw: bytes) -> None:
        if not self.state.sample_due():
            self.state.on_joint_state([], [])  # counted for the rate
            return
        with self._raw_lock:
            command, self._latest_command = self._latest_command, None
        if command is not None:
            cmd = self._decode(command, JointState, "joint_command")
            if cmd is not None and len(cmd.name) == len(cmd.position) <= 256:
                self.state.on_joint_command(list(cmd.name), list(cmd.position))
        msg = self._decode(raw, JointState, "joint_states")
        if msg is None:
            return
        if len(msg.name) == len(msg.position) <= 256:
            self.state.on_joint_state(list(msg.name), list(msg.position))
        else:
            self.inputs.warning("joint_states", "joint states with names and positions of different lengths ignored")

    def _on_joint_command(self, raw: bytes) -> None:
        with self._raw_lock:  # decoded when the plot samples it
            self._latest_command = raw

    def _on_goal_tokens(self, raw: bytes) -> None:
        now = self.state.now()
        if now - self._last_goal_decode < 1.0:
            return
        self._last_goal_decode = now
        msg = self._decode(raw, GoalTokens, "goal_tokens")
        if msg is not None:
            self.state.on_instruction(msg.instruction)

    def _on_controller_status(self, msg: ControllerStatus, source: str) -> None:
        self.state.on_controller_status(
            msg.state, msg.reason, list(msg.active_faults), msg.chunks_executed, msg.command_rate, msg.dry_run, source
        )

    # ------------------------------------------------------------------ diagnostics
    def _diagnostics(self) -> tuple[int, str, dict[str, Any]]:
        values: dict[str, Any] = {"url": self.web.url, "clients": len(self.server._clients)}
        values.update({f"refused_{k}": v for k, v in sorted(self.counters.counts.items())})
        values.update({f"rejected_{k}": v for k, v in sorted(self.inputs.snapshot().items())})
        if self.web.bind_error:
            return 2, self.web.bind_error, values
        return (1, "requests refused", values) if self.counters.counts else (0, f"serving {self.web.url}", values)


def main(args: list[str] | None = None) -> None:
    from gr00t_description import ConfigError
    from gr00t_description.ros.node_main import run_node

    # The web thread and the e-stop thread must get the interpreter quickly while the stream
    # callbacks run: a 1 ms switch interval instead of 5 ms, and one executor thread for the streams.
    sys.setswitchinterval(0.001)
    if _EARLY_STOP.is_set():
        return
    run_node(ConsoleNode, num_threads=1, args=args, startup_errors=(ConfigError, ValueError, OSError))


if __name__ == "__main__":
    main()
