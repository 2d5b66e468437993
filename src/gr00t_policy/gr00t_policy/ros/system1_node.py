"""System 1 node: joint states + goal tokens -> action chunks -> 120 Hz joint-position commands.

Wiring only: the rules live in ``gr00t_policy.runtime.system1.System1Runtime`` (ROS-free), the
ExecuteInstruction action in ``instruction_action``; parameters: ``System1Config``.

Threads, on purpose:
- an inference thread runs the action head (and, in `fused` mode, the backbone) off the control
  path, so a slow model never stalls the command stream;
- the command loop samples the current chunk by its timestamps, passes the result through the
  safety supervisor (limits, ramp, watchdogs, e-stop) and publishes it on joint_command, or, with
  ``command_output: joint_trajectory``, publishes a JointTrajectory (the supervisor's forecast of
  that stream) on joint_trajectory whenever the forecast changes (``runtime.trajectory_output``);
- subscriptions, services and the ExecuteInstruction action run on the remaining executor threads.
"""

from __future__ import annotations

import threading
from typing import Any

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from gr00t_description.ros.diagnostics import DiagnosticsPublisher, InputLog, now_seconds, ros_log_callback
from gr00t_description.ros.node_main import run_node
from gr00t_description.ros.parameters import declare_config, declare_stack
from gr00t_description.ros.qos import LATCHED_QOS, LATEST_RELIABLE_QOS, SENSOR_QOS
from gr00t_interfaces.msg import ActionChunk, ControllerStatus, GoalTokens, Instruction
from gr00t_interfaces.srv import SetEnabled
from gr00t_policy.backends import BackendUnavailable
from gr00t_policy.ros.image_conversion import ImageConverter
from gr00t_policy.ros.instruction_action import InstructionActionServer
from gr00t_policy.ros.messages import (
    GoalDecodeError,
    action_chunk_message,
    cdr_header_stamp,
    controller_status_message,
    decode_goal_tokens,
    seconds_to_time,
    time_to_seconds,
    trajectory_message,
)
from gr00t_policy.ros.policy_loading import load_node_policy
from gr00t_policy.runtime.config import System1Config
from gr00t_policy.runtime.loops import configure_threads, run_periodic, run_until_stopped
from gr00t_policy.runtime.system1 import PlannedChunk, System1Runtime, create_system1_backend
from gr00t_policy.safety.input_checks import truncate_text


class System1Node(Node):
    def __init__(self, policy: Any = None, **node_kwargs: Any) -> None:
        super().__init__("gr00t_system1", **node_kwargs)
        self.stack = declare_stack(self)
        self.config = config = declare_config(self, self.stack, "system1", System1Config)
        self.input_log = InputLog(self.get_logger())
        configure_threads(config.num_threads, config.gil_switch_interval_s)
        self.policy = (
            policy
            if policy is not None
            else load_node_policy(self, self.stack, config.model_path, config.device, config.dtype)
        )
        self.backend = create_system1_backend(config, self.policy)
        self.runtime = System1Runtime(
            config,
            self.stack.robot,
            list(self.stack.camera_topics()),
            self.stack.rates["command_hz"],
            self.policy,
            self.backend,
            self.input_log,
            log=ros_log_callback(self.get_logger()),
        )
        self._converter = ImageConverter(max_bytes=config.max_image_bytes)
        self._running = True

        topics, services = self.stack.topics, self.stack.services
        self.create_subscription(JointState, topics["joint_states"], self._on_joint_state, SENSOR_QOS)
        self.create_subscription(GoalTokens, topics["goal_tokens"], self._on_goal_tokens, LATEST_RELIABLE_QOS)
        for key, camera in self.stack.camera_topics().items():
            if config.mode == "fused":
                self.create_subscription(Image, camera["image"], lambda m, k=key: self._on_image(k, m), SENSOR_QOS)
            else:
                # Only the stamp matters here (System 2 lag watchdog): take the serialized message
                # and read the header, instead of deserializing every frame in this control process.
                self.create_subscription(Image, camera["image"], self._on_image_stamp, SENSOR_QOS, raw=True)
        if config.mode == "fused":
            self.create_subscription(Instruction, topics["instruction"], self._on_instruction, LATCHED_QOS)
        self.chunk_publisher = self.create_publisher(ActionChunk, topics["action_chunk"], LATEST_RELIABLE_QOS)
        # One command source only: two would fight over the robot (the sim lets the newest win).
        self.command_publisher = None
        self.trajectory_publisher = None
        if config.command_output == "joint_trajectory":
            # Reliable depth 10, as a JointTrajectoryController subscribes.
            self.trajectory_publisher = self.create_publisher(JointTrajectory, topics["joint_trajectory"], 10)
        else:
            self.command_publisher = self.create_publisher(JointState, topics["joint_command"], LATEST_RELIABLE_QOS)
        self.status_publisher = self.create_publisher(ControllerStatus, topics["controller_status"], LATCHED_QOS)
        self.create_service(SetEnabled, services["set_enabled"], self._on_set_enabled)
        self.create_service(Trigger, services["estop"], self._on_estop)
        self.create_service(Trigger, services["reset_estop"], self._on_reset_estop)
        self.instruction_action = InstructionActionServer(self, self.runtime, self.input_log)

        period_s = 1.0 / self.runtime.command_rate_hz
        self._command_thread = None
        if self.get_parameter("use_sim_time").value:
            # Sim time advances with /clock, so the stream follows the ROS clock's timer.
            self.create_timer(period_s, self._on_command_tick, callback_group=MutuallyExclusiveCallbackGroup())
        else:
            # A dedicated thread sleeping to absolute deadlines: its ticks don't queue behind
            # subscription and service callbacks in the executor (measured: lower period jitter).
            self._command_thread = self._start_thread(
                "commands", run_periodic, period_s, self._on_command_tick, self._active, self._log_error("command tick")
            )
        self.create_timer(config.status_period_s, self.publish_status)
        DiagnosticsPublisher(self, "gr00t_system1", lambda: self.runtime.diagnostics(now_seconds(self)))
        if config.enable_on_start:
            self.runtime.enable(now_seconds(self), "enable_on_start")
        self._inference_thread = self._start_thread(
            "inference", run_until_stopped, self._infer_once, self._active, self._log_error("inference")
        )
        self.get_logger().info(
            f"System 1 ready: model {self.policy.model_id}, backend {self.backend.name}, mode {config.mode}, "
            f"{len(self.runtime.action_joints)} joints at {self.runtime.command_rate_hz:.0f} Hz, "
            f"dry_run={config.dry_run}"
        )

    def _start_thread(self, name: str, loop: Any, *args: Any) -> threading.Thread:
        thread = threading.Thread(target=loop, args=args, name=f"gr00t_system1_{name}", daemon=True)
        thread.start()
        return thread

    def _active(self) -> bool:
        return self._running and self.context.ok()

    def _log_error(self, what: str) -> Any:
        return lambda exc: self.get_logger().error(f"{what} failed: {exc!r}", throttle_duration_sec=2.0)

    # -- inputs -------------------------------------------------------------------------------
    def _on_joint_state(self, msg: JointState) -> None:
        self.runtime.on_joint_state(msg.name, msg.position, time_to_seconds(msg.header.stamp), now_seconds(self))

    def _on_goal_tokens(self, msg: GoalTokens) -> None:
        if self.config.mode == "fused" or self.runtime.instruction_ended(msg.instruction_id):
            return  # no System 2 in fused mode; tokens of an instruction whose action already ended
        try:
            decoded = decode_goal_tokens(msg, expected_width=self.policy.goal_dim)
        except GoalDecodeError as exc:
            self.input_log.error("rejected_goal_tokens", f"goal tokens rejected: {exc}")
            return
        self.runtime.on_goal_tokens(decoded, now_seconds(self))

    def _on_image_stamp(self, serialized: bytes) -> None:
        try:
            stamp = cdr_header_stamp(serialized)
        except ValueError as exc:
            self.input_log.error("rejected_camera_frames", f"camera frame without a readable header: {exc}")
            return
        self.runtime.on_frame_stamp("camera", stamp, now_seconds(self))

    def _on_image(self, key: str, msg: Image) -> None:
        stamp = time_to_seconds(msg.header.stamp)
        self.runtime.on_camera_frame(key, stamp, now_seconds(self), lambda: self._converter.to_rgb(msg))

    def _on_instruction(self, msg: Instruction) -> None:
        self.runtime.goal_encoder.set_instruction(msg.text, msg.id, "instruction_topic")

    # -- inference and the command stream -----------------------------------------------------
    def _infer_once(self) -> bool:
        planned = self.runtime.infer_once(lambda: now_seconds(self))
        if isinstance(planned, PlannedChunk):
            self._publish_chunk(planned)
        return bool(planned)

    def _publish_chunk(self, planned: PlannedChunk) -> None:
        self.chunk_publisher.publish(action_chunk_message(planned, self.policy.model_id, self.backend.name))

    def _on_command_tick(self) -> None:
        now = now_seconds(self)
        tick = self.runtime.tick(now)
        if tick.publish_status:
            self.publish_status()
        if tick.trajectory is not None and self.trajectory_publisher is not None:
            self.trajectory_publisher.publish(trajectory_message(tick.trajectory))
        if tick.command is None or self.command_publisher is None:
            return
        msg = JointState()
        # Stamped with the tick time the limiter used, so consumers can check rates against it.
        msg.header.stamp = seconds_to_time(now)
        msg.name = self.runtime.action_joints
        msg.position = tick.command.tolist()
        self.command_publisher.publish(msg)

    # -- services -----------------------------------------------------------------------------
    def _on_set_enabled(self, request: SetEnabled.Request, response: SetEnabled.Response):
        if request.enable:
            result = self.runtime.enable(now_seconds(self), request.reason)
        else:
            result = self.runtime.disable(request.reason or "disabled on request")
        self.input_log.info(
            "set_enabled_calls", f"set_enabled({request.enable}, {truncate_text(request.reason)!r}): {result.message}"
        )
        response.success, response.message, response.state = result.success, result.message, int(result.state)
        self.publish_status()
        return response

    def _on_estop(self, _request: Trigger.Request, response: Trigger.Response):
        result = self.runtime.estop("e-stop service called")
        self.input_log.error("estop_calls", "E-STOP latched: commands stopped until reset_estop")
        response.success, response.message = result.success, result.message
        self.publish_status()
        return response

    def _on_reset_estop(self, _request: Trigger.Request, response: Trigger.Response):
        result = self.runtime.reset_estop()
        response.success, response.message = result.success, result.message
        self.input_log.warning("reset_estop_calls", f"reset_estop: {response.message}")
        self.publish_status()
        return response

    # -- status -------------------------------------------------------------------------------
    def publish_status(self) -> None:
        snapshot = self.runtime.snapshot(now_seconds(self))
        self.status_publisher.publish(controller_status_message(snapshot, self.get_clock().now().to_msg()))

    def shutdown(self) -> None:
        """Stop while the executor still spins and the context is valid (see `run_node`): a running
        ExecuteInstruction ends as aborted ("node shutting down") and its client gets the result,
        then the command and inference threads end."""
        self._running = False  # the command stream and the inference stop at once
        self.instruction_action.shutdown()
        if self._command_thread is not None and self._command_thread.is_alive():
            self._command_thread.join(timeout=2.0)
        if self._inference_thread.is_alive():
            self._inference_thread.join(timeout=5.0)


def main(args: list[str] | None = None) -> None:
    from gr00t_description import ConfigError
    from gr00t_policy.model.checkpoint import CheckpointError

    run_node(
        System1Node,
        num_threads=4,
        args=args,
        startup_errors=(BackendUnavailable, ConfigError, CheckpointError, FileNotFoundError, ValueError),
    )


if __name__ == "__main__":
    main()
