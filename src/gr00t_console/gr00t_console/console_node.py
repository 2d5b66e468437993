"""Console node: serves the operator's browser console (thin ROS wiring of `server` and `state`).

Subscribes to the graph (camera, joint states and commands, action chunks, controller status,
instruction, the recorder's status), feeds `ConsoleState`, and carries out the console's
validated requests with the graph's own interfaces: the ExecuteInstruction action, System 1's
set_enabled / estop / reset_estop, System 2's set_instruction (stop), the recorder's services.
The web server runs its asyncio loop on a thread of its own; ROS callbacks never block on it.

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

import asyncio  # noqa: E402
import io
import os
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from action_msgs.srv import CancelGoal
from rclpy.action import ActionClient
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import Image, JointState
from std_srvs.srv import Trigger

from gr00t_console.protocol import Request, generate_token
from gr00t_console.recorder_view import recorder_view
from gr00t_console.server import ConsoleServer, Counters, ServerConfig, bound_addresses, start_server
from gr00t_console.state import OUTCOME_NAMES, STATE_NAMES, ConsoleState, StateConfig
from gr00t_description.ros.diagnostics import DiagnosticsPublisher, InputLog
from gr00t_description.ros.parameters import declare_config, declare_stack, parameter
from gr00t_description.ros.qos import LATCHED_QOS, LATEST_RELIABLE_QOS, SENSOR_QOS
from gr00t_interfaces.action import ExecuteInstruction
from gr00t_interfaces.msg import ActionChunk, ControllerStatus, GoalTokens, RecorderStatus
from gr00t_interfaces.srv import SetEnabled, SetInstruction

STACK_SECTION = "console"
RECORDER_NODE = "gr00t_recorder"
LEADER_NODE = "gr00t_leader_teleop"
SERVICE_TIMEOUT_S = 5.0
ENCODINGS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}


@dataclass(frozen=True)
class ConsoleConfig:
    """The console node's parameters (values: `nodes.console` of the stack YAML)."""

    host: str = field(
        metadata=parameter(
            "address the web server listens on (127.0.0.1 = this machine only; 0.0.0.0 = every interface)"
        )
    )
    port: int = field(metadata=parameter("TCP port of the web server (0 = any free port, logged)", 0, 65535))
    token_file: str = field(
        metadata=parameter(
            "file holding the token that commands need; '' = generate one at "
            "start and print it; a named file that does not exist is created "
            "(0600) with a generated token"
        )
    )
    max_clients: int = field(metadata=parameter("WebSocket connections at once", 1, 64))
    max_request_bytes: int = field(metadata=parameter("largest request (HTTP body or WebSocket message)", 256, 65536))
    max_instruction_bytes: int = field(metadata=parameter("longest instruction or task text (UTF-8 bytes)", 16, 8192))
    requests_per_s: float = field(metadata=parameter("requests per second a WebSocket client may sustain", 1.0, 1000.0))
    push_rate_hz: float = field(
        metadata=parameter(
            "state pushes per second to each client (controller state changes are pushed at once)", 1.0, 60.0
        )
    )
    camera_max_fps: float = field(metadata=parameter("camera frames per second sent to each client", 0.5, 60.0))
    jpeg_quality: int = field(metadata=parameter("JPEG quality of the camera frames", 10, 95))
    max_image_bytes: int = field(
        metadata=parameter("larger camera frames are ignored (not encoded), bytes", 1024, 100_000_000)
    )
    plot_rate_hz: float = field(metadata=parameter("samples per second of the commanded/measured plot", 1.0, 200.0))
    plot_window_s: float = field(metadata=parameter("seconds of history in the plot", 1.0, 120.0))
    default_group: str = field(metadata=parameter("joint group plotted first (a group of the robot YAML)"))


def load_token(token_file: str) -> tuple[str, bool]:
    """(token, generated): read `token_file`, or generate (and write it there when named)."""
    if not token_file:
        return generate_token(), True
    path = Path(token_file).expanduser()
    if path.exists():
        token = path.read_text().strip()
        if len(token) < 16:
            raise ValueError(f"token_file {path}: the token must have at least 16 characters")
        return token, False
    token = generate_token()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(token + "\n")
    return token, True


def encode_jpeg(msg: Image, quality: int, max_bytes: int) -> bytes:
    """The frame as JPEG; ValueError for frames that are not what their header says."""
    import numpy as np
    from PIL import Image as PilImage

    channels = ENCODINGS.get(msg.encoding)
    if channels is None:
        raise ValueError(f"encoding {msg.encoding!r} not shown (one of {', '.join(ENCODINGS)})")
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    size = len(msg.data)
    if (
        not (0 < width <= 8192 and 0 < height <= 8192)
        or step < width * channels
        or size < height * step
        or size > max_bytes
    ):
        raise ValueError(f"inconsistent or oversize frame {width}x{height} step {step}, {size} bytes")
    pixels = np.frombuffer(msg.data, dtype=np.uint8, count=height * step).reshape(height, step)
    pixels = pixels[:, : width * channels].reshape(height, width, channels)
    if msg.encoding.startswith("bgr"):
        pixels = pixels[..., [2, 1, 0]]
    elif channels == 4:
        pixels = pixels[..., :3]
    image = PilImage.fromarray(np.ascontiguousarray(pixels.squeeze(-1) if channels == 1 else pixels))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


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
        server_config = ServerConfig(
            host=self.config.host,
            port=self.config.port,
            token=token,
            max_request_bytes=self.config.max_request_bytes,
            max_instruction_bytes=self.config.max_instruction_bytes,
            max_clients=self.config.max_clients,
            push_rate_hz=self.config.push_rate_hz,
            camera_max_fps=self.config.camera_max_fps,
            requests_per_s=self.config.requests_per_s,
            default_group=self.config.default_group,
        )
        self.server = ConsoleServer(server_config, self.state, self, self.counters)
        self.state.on_urgent = self.server.notify_urgent

        group = ReentrantCallbackGroup()
        topics = self.stack.topics
        self._camera_names: dict[str, str] = {}
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

        services = self.stack.services
        self.clients_ = {
            "set_enabled": self.create_client(SetEnabled, services["set_enabled"], callback_group=group),
            "reset_estop": self.create_client(Trigger, services["reset_estop"], callback_group=group),
            "set_instruction": self.create_client(SetInstruction, services["set_instruction"], callback_group=group),
            "record_start": self.create_client(SetInstruction, f"{RECORDER_NODE}/start", callback_group=group),
            "stop_success": self.create_client(Trigger, f"{RECORDER_NODE}/stop_success", callback_group=group),
            "stop_failure": self.create_client(Trigger, f"{RECORDER_NODE}/stop_failure", callback_group=group),
            "cancel": self.create_client(Trigger, f"{RECORDER_NODE}/cancel", callback_group=group),
        }
        action_name = self.stack.actions["execute_instruction"]
        self.action_client = ActionClient(self, ExecuteInstruction, action_name, callback_group=group)
        self.clients_["cancel_goals"] = self.create_client(
            CancelGoal, f"{action_name}/_action/cancel_goal", callback_group=group
        )
        self._goal_lock = threading.Lock()
        self._goal_handle = None

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
        # Controllers: System 1 (policy graphs) and the leader teleop (teleop graphs): the e-stop,
        # reset, enable and disable go to every one that is running.
        self.clients_["estop"] = self._urgent.create_client(Trigger, services["estop"])
        self.clients_["leader_estop"] = self._urgent.create_client(Trigger, f"{LEADER_NODE}/estop")
        self.clients_["leader_reset_estop"] = self.create_client(
            Trigger, f"{LEADER_NODE}/reset_estop", callback_group=group
        )
        self.clients_["leader_set_enabled"] = self.create_client(
            SetEnabled, f"{LEADER_NODE}/set_enabled", callback_group=group
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

        self.bind_error = ""
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._runner = None
        started = threading.Event()
        self._web_thread = threading.Thread(target=self._serve, args=(started,), name="gr00t_console_web", daemon=True)
        self._web_thread.start()
        started.wait(10.0)
        DiagnosticsPublisher(self, "gr00t_console", self._diagnostics)
        if self.bind_error:
            self.get_logger().error(f"console not served: {self.bind_error}")
        else:
            self.get_logger().info(
                f"console at {self.url} (anything but e-stop needs the token"
                + (
                    ": printed on stdout)"
                    if generated and not self.config.token_file
                    else f" in {self.config.token_file})"
                )
            )
            if generated and not self.config.token_file:
                print(f"gr00t console: {self.url}#token={token}", flush=True)

    # ------------------------------------------------------------------ web thread
    def _serve(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._runner = self._loop.run_until_complete(start_server(self.server))
            host, port = bound_addresses(self._runner)[0]
            shown = f"[{host}]" if ":" in host else host
            self.url = f"http://{shown}:{port}/"
        except OSError as exc:
            self.bind_error = f"cannot listen on {self.config.host}:{self.config.port}: {exc.strerror or exc}"
        finally:
            started.set()
        if self._runner is not None:
            self._loop.run_forever()
        self._loop.close()

    def _spin_urgent(self) -> None:
        while self._urgent_running.is_set() and self.context.ok():
            self._urgent_executor.spin_once(timeout_sec=0.2)

    def shutdown(self) -> None:
        """Close the clients' connections and the server, stop the web thread (run_node calls this)."""
        self._shutdown_web()
        self._urgent_running.clear()
        self._urgent_executor.wake()
        self._urgent_thread.join(timeout=5.0)
        self._urgent_executor.shutdown()
        self._urgent.destroy_node()

    def _shutdown_web(self) -> None:
        if self._runner is not None and self._loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
            try:
                future.result(timeout=5.0)
            except Exception:  # noqa: BLE001 - stopping anyway
                pass
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._web_thread.join(timeout=5.0)

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

    # ------------------------------------------------------------------ requests (web thread)
    async def execute(self, request: Request) -> dict[str, Any]:
        op = request.op
        if op == "estop":
            return await self._on_controllers(("estop", "leader_estop"), Trigger.Request)
        if op == "reset_estop":
            return await self._on_controllers(("reset_estop", "leader_reset_estop"), Trigger.Request)
        if op in ("enable", "disable"):
            return await self._on_controllers(
                ("set_enabled", "leader_set_enabled"),
                lambda: SetEnabled.Request(enable=op == "enable", reason="console"),
            )
        if op == "instruct":
            return await self._instruct(request.args["text"], request.args.get("timeout_s", 0.0))
        if op == "stop":
            return await self._stop()
        if op == "record_start":
            response = await self._call("record_start", SetInstruction.Request(text=request.args["text"]))
            if isinstance(response, dict):
                return response
            return {"ok": bool(response.accepted), "message": response.message, "episode": response.id}
        if op == "record_stop":
            service = {"success": "stop_success", "failure": "stop_failure", "discard": "cancel"}[
                request.args["outcome"]
            ]
            return await self._trigger(service)
        return {"ok": False, "message": f"{op}: not a robot operation"}

    async def _on_controllers(self, names: tuple[str, ...], make_request: Any) -> dict[str, Any]:
        """Call the service on every controller that runs (System 1, the leader teleop); ok when all
        of them said yes; "no controller is running" naming the services when none does."""
        ready = [name for name in names if self.clients_[name].service_is_ready()]
        if not ready:
            missing = " or ".join(self._resolved(self.clients_[name].srv_name) for name in names)
            return {"ok": False, "message": f"no controller is running (no service {missing})"}
        results = await asyncio.gather(*(self._call(name, make_request()) for name in ready))
        ok, parts = True, []
        for name, response in zip(ready, results):
            owner = LEADER_NODE if name.startswith("leader_") else "gr00t_system1"
            if isinstance(response, dict):
                ok, text = False, response["message"]
            else:
                ok = ok and bool(response.success)
                text = response.message
                if hasattr(response, "state"):
                    text = f"{text} (state {STATE_NAMES.get(response.state, str(response.state))})".strip()
            parts.append(f"{owner}: {text}" if len(ready) > 1 else text)
        return {"ok": ok, "message": "; ".join(parts)}

    async def _trigger(self, name: str) -> dict[str, Any]:
        response = await self._call(name, Trigger.Request())
        if isinstance(response, dict):
            return response
        return {"ok": bool(response.success), "message": response.message}

    async def _call(self, name: str, request: Any) -> Any:
        """The service's response, or {"ok": False, "message": why} (not running, no answer in time)."""
        client = self.clients_[name]
        if not client.service_is_ready():
            owner = (
                RECORDER_NODE
                if name in ("record_start", "stop_success", "stop_failure", "cancel")
                else ("gr00t_system2" if name == "set_instruction" else "gr00t_system1")
            )
            return {"ok": False, "message": f"{owner} is not running (no service {self._resolved(client.srv_name)})"}
        try:
            return await self._wait(client.call_async(request), SERVICE_TIMEOUT_S)
        except TimeoutError:
            return {
                "ok": False,
                "message": f"no answer from {self._resolved(client.srv_name)} within {SERVICE_TIMEOUT_S:g} s",
            }

    def _resolved(self, name: str) -> str:
        try:
            return self.resolve_service_name(name)
        except Exception:  # noqa: BLE001 - only for a message
            return name

    async def _wait(self, ros_future: Any, timeout: float) -> Any:
        loop = asyncio.get_running_loop()
        future = loop.create_future()

        def done(f: Any) -> None:
            def settle() -> None:
                if future.done():
                    return
                exc = f.exception()
                if exc is not None:
                    future.set_exception(exc)
                else:
                    future.set_result(f.result())

            loop.call_soon_threadsafe(settle)

        ros_future.add_done_callback(done)
        return await asyncio.wait_for(future, timeout)

    async def _instruct(self, text: str, timeout_s: float) -> dict[str, Any]:
        if not self.action_client.server_is_ready():
            name = self._resolved(self.stack.actions["execute_instruction"])
            return {"ok": False, "message": f"gr00t_system1 is not running (no action server {name})"}
        goal = ExecuteInstruction.Goal(instruction=text)
        goal.timeout.sec = int(timeout_s)
        goal.timeout.nanosec = int((timeout_s - int(timeout_s)) * 1e9)
        self.state.on_action({"instruction": text, "status": "sent"})

        def feedback(message: Any) -> None:
            fb = message.feedback
            self.state.on_action(
                {
                    "instruction": text,
                    "status": "running",
                    "elapsed_s": round(fb.elapsed.sec + fb.elapsed.nanosec * 1e-9, 2),
                    "chunks_executed": int(fb.chunks_executed),
                    "state_text": fb.state_text,
                }
            )

        try:
            handle = await self._wait(
                self.action_client.send_goal_async(goal, feedback_callback=feedback), SERVICE_TIMEOUT_S
            )
        except TimeoutError:
            self.state.on_action({"instruction": text, "status": "no answer"})
            return {"ok": False, "message": "the action server did not answer the goal"}
        if not handle.accepted:
            self.state.on_action({"instruction": text, "status": "rejected"})
            return {"ok": False, "message": "goal rejected"}
        with self._goal_lock:
            self._goal_handle = handle

        def result(future: Any) -> None:
            try:
                r = future.result().result
            except Exception as exc:  # noqa: BLE001 - shown, not raised
                self.state.on_action({"instruction": text, "status": "failed", "reason": str(exc)})
                return
            self.state.on_action(
                {
                    "instruction": text,
                    "status": "done",
                    "outcome": OUTCOME_NAMES.get(r.outcome, str(r.outcome)),
                    "reason": r.reason,
                    "chunks_executed": int(r.chunks_executed),
                    "elapsed_s": round(r.elapsed.sec + r.elapsed.nanosec * 1e-9, 2),
                }
            )

        handle.get_result_async().add_done_callback(result)
        return {"ok": True, "message": f"goal accepted: {text!r}"}

    async def _stop(self) -> dict[str, Any]:
        """Cancel every ExecuteInstruction goal (any client's) and clear the instruction (the policy holds)."""
        cancel = await self._call("cancel_goals", CancelGoal.Request())
        cleared = await self._call("set_instruction", SetInstruction.Request(text=""))
        messages = []
        if isinstance(cancel, dict):
            messages.append(cancel["message"])
        else:
            messages.append(f"{len(cancel.goals_canceling)} goal(s) canceling")
        if isinstance(cleared, dict):
            messages.append(cleared["message"])
        else:
            messages.append(
                "instruction cleared" if cleared.accepted else f"instruction not cleared: {cleared.message}"
            )
        ok = not isinstance(cancel, dict) or not isinstance(cleared, dict)
        return {"ok": ok, "message": "; ".join(messages)}

    # ------------------------------------------------------------------ diagnostics
    def _diagnostics(self) -> tuple[int, str, dict[str, Any]]:
        values: dict[str, Any] = {"url": self.url, "clients": len(self.server._clients)}
        values.update({f"refused_{k}": v for k, v in sorted(self.counters.counts.items())})
        values.update({f"rejected_{k}": v for k, v in sorted(self.inputs.snapshot().items())})
        if self.bind_error:
            return 2, self.bind_error, values
        return (1, "requests refused", values) if self.counters.counts else (0, f"serving {self.url}", values)


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
