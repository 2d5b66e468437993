"""System 1 node: joint states + goal tokens -> action chunks -> 120 Hz joint-position commands.

Threads, on purpose:
- an inference thread runs the action head (and, in `fused` mode, the backbone) off the control
  path, so a slow model never stalls the command stream;
- the command timer (own callback group) samples the current chunk by its timestamps, passes the
  result through the safety supervisor (limits, ramp, watchdogs, e-stop) and publishes;
- subscriptions, services and the ExecuteInstruction action run on the remaining executor threads.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from gr00t_interfaces.action import ExecuteInstruction
from gr00t_interfaces.msg import ActionChunk, ControllerStatus, GoalTokens, Instruction
from gr00t_interfaces.srv import SetEnabled, SetInstruction
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState
from std_srvs.srv import Trigger

from gr00t_policy.backends import BackendUnavailable, create_backend
from gr00t_policy.execution import (
    Chunk,
    ChunkExecutor,
    ChunkRejected,
    ExecutorConfig,
    InferenceDelayEstimator,
    ReplanConfig,
    ReplanScheduler,
)
from gr00t_policy.instructions import InstructionRejected, new_instruction_id, normalize_instruction
from gr00t_policy.metrics import LatencyStats, RateMeter
from gr00t_description.ros.diagnostics import DiagnosticsPublisher, InputLog, now_seconds, ros_log_callback
from gr00t_description.ros.node_main import run_node
from gr00t_description.ros.parameters import declare_config, declare_from_stack, declare_stack, parameter
from gr00t_description.ros.qos import LATCHED_QOS, LATEST_RELIABLE_QOS, SENSOR_QOS
from gr00t_policy.ros.policy_loading import load_node_policy
from gr00t_policy.ros.image_conversion import ImageConversionError, ImageConverter
from gr00t_policy.joint_states import JointStateBuffer, JointStateError, group_positions, ungroup_chunk
from gr00t_policy.ros.messages import (
    GoalDecodeError,
    cdr_header_stamp,
    decode_goal_tokens,
    seconds_to_duration,
    seconds_to_time,
    time_to_seconds,
)
from gr00t_policy.safety.input_checks import PositionBounds, StampWindow, truncate_text
from gr00t_policy.safety.limits import JointLimiter
from gr00t_policy.safety.supervisor import SafetySupervisor, SupervisorConfig, SupervisorState

MODES = ("dual_rate", "fused")
_CLOCK_WAIT_S = 5.0  # an action arriving before the first /clock (use_sim_time) waits this long for it
# At shutdown: how long a running action may take to notice and end (its loop polls every 0.1 s,
# but it may be inside a set_instruction call), and the time its result then needs to go out.
_SHUTDOWN_ACTION_WAIT_S = 3.0
_RESULT_SEND_GRACE_S = 0.3


@dataclass(frozen=True)
class System1InputChecks:
    """What System 1 accepts from its inputs (values: ``nodes.system1`` of the stack YAML)."""

    max_stamp_skew_s: float = field(metadata=parameter(
        "how far a stamp (joint states, camera frames, goal tokens, chunks) may lie ahead of this node's "
        "clock, and behind it beyond the input's own age limit: clock offset between hosts plus delivery "
        "delay. Implausibly stamped inputs are rejected and counted in /diagnostics",
        0.001, 60.0,
    ))
    joint_state_limit_margin_rad: float = field(metadata=parameter(
        "joint states further than this outside a joint's URDF range are rejected as implausible "
        "(a sensor, driver or publisher fault, not a pose)",
        0.0, 3.2,
    ))
    max_image_bytes: int = field(metadata=parameter(
        "camera frames larger than this (step x height) are rejected before they are copied "
        "(fused mode converts frames)",
        1, 2**31 - 1,
    ))


class System1Node(Node):
    def __init__(self, policy: Any = None, **node_kwargs: Any) -> None:
        super().__init__("gr00t_system1", **node_kwargs)
        self.stack = declare_stack(self)
        p = lambda name, default: declare_from_stack(self, self.stack, "system1", name, default)  # noqa: E731
        model_path = p("model_path", "")
        backend_name = p("backend", "torch")
        device = p("device", "cpu")
        dtype = p("dtype", "float32")
        num_threads = p("num_threads", 1)
        self.mode = p("mode", "dual_rate")
        self.command_rate_hz = p("command_rate_hz", self.stack.rates["command_hz"])
        self.replan_every_steps = p("replan_every_steps", 0)
        self.replan_min_interval_s = p("replan_min_interval_s", 0.0)
        self.step_period_s = p("step_period_s", 0.05)
        self.goal_timeout_s = p("goal_timeout_s", 1.0)
        self.goal_lag_timeout_s = p("goal_lag_timeout_s", 1.0)
        self.joint_state_timeout_s = p("joint_state_timeout_s", 0.1)
        self.startup_ramp_s = p("startup_ramp_s", 1.0)
        self.ramp_max_velocity = p("ramp_max_velocity_rad_s", 0.5)
        self.chunk_switch = p("chunk_switch", "blend")
        self.blend_duration_s = p("blend_duration_s", 0.2)
        self.execution_horizon_steps = p("execution_horizon_steps", 0)
        self.chunk_timeout_s = p("chunk_timeout_s", 1.0)
        self.inference_timeout_s = p("inference_timeout_s", 1.0)
        self.disable_after_s = p("disable_after_s", 5.0)
        self.restart_threshold_rad = p("restart_position_threshold_rad", 0.3)
        self.tracking_error_timeout_s = p("tracking_error_timeout_s", 0.5)
        self.dry_run = p("dry_run", False)
        enable_on_start = p("enable_on_start", False)
        self.enable_on_goal = p("enable_on_goal", False)
        self.default_action_timeout_s = p("default_action_timeout_s", 30.0)
        self.max_instruction_bytes = p("max_instruction_bytes", 2048)
        status_period_s = p("status_period_s", 0.5)
        self.input_checks = declare_config(self, self.stack, "system1", System1InputChecks, reject_unknown=False)
        skew = self.input_checks.max_stamp_skew_s
        # Behind the clock, each input may be as old as its own watchdog lets it be, plus the skew;
        # goal tokens carry their camera frame's stamp, which may lag the newest frame that long.
        self._frame_stamps = StampWindow(skew, skew + self.goal_lag_timeout_s)
        self._goal_stamps = StampWindow(skew, skew + self.goal_lag_timeout_s + self.goal_timeout_s)
        self._input_log = InputLog(self.get_logger())
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")

        if num_threads > 0:
            torch.set_num_threads(num_threads)
        # The inference thread re-takes the GIL between torch ops; with the default 5 ms switch
        # interval, busy callback threads stretch a 4 ms chunk into hundreds of milliseconds.
        sys.setswitchinterval(p("gil_switch_interval_s", 0.0005))
        self.policy = policy if policy is not None else load_node_policy(self, self.stack, model_path, device, dtype)
        self.backend = create_backend(backend_name, self.policy, **self._backend_options(backend_name, num_threads))
        data_config = self.policy.data_config
        self.state_groups = [(g, d) for g, d in data_config.state_groups]
        self.action_groups = [(g, d) for g, d in data_config.action_groups]
        robot = self.stack.robot
        self.action_joints = robot.group_joints([g for g, _ in self.action_groups])
        state_joints = robot.group_joints([g for g, _ in self.state_groups])
        buffered_joints = sorted(set(state_joints) | set(self.action_joints))
        self.joint_buffer = JointStateBuffer(
            buffered_joints,
            stamp_window=StampWindow(skew, skew + self.joint_state_timeout_s),
            position_bounds=PositionBounds.from_robot(
                robot, buffered_joints, self.input_checks.joint_state_limit_margin_rad
            ),
        )

        # The executor and the supervisor are not thread-safe: `_control_lock` guards both.
        self._control_lock = threading.Lock()
        if self.chunk_switch not in ("blend", "replace", "rtc"):
            raise ValueError(f"chunk_switch must be blend, replace or rtc, got {self.chunk_switch!r}")
        if self.chunk_switch == "rtc" and self.backend.name != "torch":
            raise BackendUnavailable(f"chunk_switch rtc (guided sampling) needs backend torch, not {self.backend.name}")
        self.chunk_executor = ChunkExecutor(
            ExecutorConfig(
                joint_names=tuple(self.action_joints),
                # With RTC the new chunk already continues the old one: switch at once.
                switch_mode="replace" if self.chunk_switch == "rtc" else self.chunk_switch,
                blend_duration_s=self.blend_duration_s,
                execution_horizon_steps=self.execution_horizon_steps,
                max_start_ahead_s=skew,
            )
        )
        self.supervisor = SafetySupervisor(
            SupervisorConfig(
                ramp_duration_s=self.startup_ramp_s,
                ramp_max_velocity_rad_s=self.ramp_max_velocity,
                joint_state_timeout_s=self.joint_state_timeout_s,
                goal_timeout_s=self.goal_timeout_s,
                chunk_timeout_s=self.chunk_timeout_s,
                inference_timeout_s=self.inference_timeout_s,
                disable_after_s=self.disable_after_s,
                restart_position_threshold_rad=self.restart_threshold_rad,
                tracking_error_timeout_s=self.tracking_error_timeout_s,
                dry_run=self.dry_run,
            ),
            JointLimiter.from_robot(robot, self.action_joints),
            log=ros_log_callback(self.get_logger()),
        )
        self.replanner = ReplanScheduler(
            ReplanConfig(
                replan_every_steps=self.replan_every_steps,
                min_interval_s=self.replan_min_interval_s,
                execution_horizon_steps=self.execution_horizon_steps,
            )
        )
        self.delay_estimator = InferenceDelayEstimator()

        self._lock = threading.Lock()
        self._goal: Any = None  # backend goal cache
        self._goal_meta = None  # DecodedGoal of the current goal
        self._goal_received_at = -1.0
        self._pending_goal = None
        self._newest_frame_stamp = -1.0
        self._fused_frames: dict[str, np.ndarray] = {}
        self._fused_instruction = ""
        self._ended_instruction_ids: set[str] = set()
        # The instruction of the newest ExecuteInstruction action; the lock orders its set and clear
        # requests to System 2, so an ending action never clears the one that replaced it.
        self._instruction_lock = threading.Lock()
        self._current_instruction_id = ""
        self._chunks_executed = 0
        self._last_faults: tuple[str, ...] = ()
        self._chunk_latency = LatencyStats()
        self._command_rate = RateMeter()
        self._running = True
        self._converter = ImageConverter(max_bytes=self.input_checks.max_image_bytes)
        self._active_goal_handle = None
        self._executing = 0  # ExecuteInstruction callbacks running (under `_lock`)
        self._goals_being_accepted = 0  # accepted, their accepted-callback still to run (under `_lock`)

        topics = self.stack.topics
        self.create_subscription(JointState, topics["joint_states"], self._on_joint_state, SENSOR_QOS)
        self.create_subscription(GoalTokens, topics["goal_tokens"], self._on_goal_tokens, LATEST_RELIABLE_QOS)
        for key, camera in self.stack.camera_topics().items():
            if self.mode == "fused":
                self.create_subscription(Image, camera["image"], lambda m, k=key: self._on_image(k, m), SENSOR_QOS)
            else:
                # Only the stamp matters here (System 2 lag watchdog): take the serialized message
                # and read the header, instead of deserializing every frame in this control process.
                self.create_subscription(Image, camera["image"], self._on_image_stamp, SENSOR_QOS, raw=True)
        if self.mode == "fused":
            self.create_subscription(Instruction, topics["instruction"], self._on_instruction, LATCHED_QOS)
        self.chunk_publisher = self.create_publisher(ActionChunk, topics["action_chunk"], LATEST_RELIABLE_QOS)
        self.command_publisher = self.create_publisher(JointState, topics["joint_command"], LATEST_RELIABLE_QOS)
        self.status_publisher = self.create_publisher(ControllerStatus, topics["controller_status"], LATCHED_QOS)

        services = self.stack.services
        self.create_service(SetEnabled, services["set_enabled"], self._on_set_enabled)
        self.create_service(Trigger, services["estop"], self._on_estop)
        self.create_service(Trigger, services["reset_estop"], self._on_reset_estop)
        self._action_group = ReentrantCallbackGroup()
        self.instruction_client = self.create_client(
            SetInstruction, services["set_instruction"], callback_group=self._action_group
        )
        self.action_server = ActionServer(
            self,
            ExecuteInstruction,
            self.stack.actions["execute_instruction"],
            execute_callback=self._execute_counted,
            goal_callback=self._on_goal_request,
            handle_accepted_callback=self._on_goal_accepted,
            cancel_callback=lambda _goal: CancelResponse.ACCEPT,
            callback_group=self._action_group,
        )

        self._command_thread = None
        if self.get_parameter("use_sim_time").value:
            # Sim time advances with /clock, so the stream follows the ROS clock's timer.
            self._command_group = MutuallyExclusiveCallbackGroup()
            self.create_timer(1.0 / self.command_rate_hz, self._on_command_tick, callback_group=self._command_group)
        else:
            # A dedicated thread sleeping to absolute deadlines: its ticks don't queue behind
            # subscription and service callbacks in the executor (measured: lower period jitter).
            self._command_thread = threading.Thread(target=self._command_loop, name="gr00t_system1_commands", daemon=True)
            self._command_thread.start()
        self.create_timer(status_period_s, self._publish_status)
        DiagnosticsPublisher(self, "gr00t_system1", self._diagnostics)
        if enable_on_start:
            with self._control_lock:
                self.supervisor.enable(now_seconds(self), "enable_on_start")
        self._inference_thread = threading.Thread(target=self._inference_loop, name="gr00t_system1_inference", daemon=True)
        self._inference_thread.start()
        self.get_logger().info(
            f"System 1 ready: model {self.policy.model_id}, backend {self.backend.name}, mode {self.mode}, "
            f"{len(self.action_joints)} joints at {self.command_rate_hz:.0f} Hz, dry_run={self.dry_run}"
        )

    def _backend_options(self, backend: str, num_threads: int) -> dict[str, Any]:
        """Backend-specific parameters (declared for every backend so the YAML can hold them all)."""
        p = lambda name, default: declare_from_stack(self, self.stack, "system1", name, default)  # noqa: E731
        cache_dir = p("compiled_cache_dir", "") or None  # '' = $XDG_CACHE_HOME/gr00t/...
        cuda_graph = p("cuda_graph", False)
        precision = p("tensorrt_precision", "fp16")
        if backend == "torch":
            return {"cuda_graph": cuda_graph}
        if backend == "onnxruntime":
            return {"cache_dir": cache_dir, "intra_op_threads": num_threads if num_threads > 0 else None}
        if backend == "tensorrt":
            return {"cache_dir": cache_dir, "precision": precision}
        return {}

    # -- inputs -------------------------------------------------------------------------------
    def _on_joint_state(self, msg: JointState) -> None:
        now = now_seconds(self)
        try:
            self.joint_buffer.update(msg.name, msg.position, time_to_seconds(msg.header.stamp), now)
        except JointStateError as exc:
            self._input_log.error("rejected_joint_states", f"joint_states rejected: {exc}")
            return
        if self.joint_buffer.positions_of(self.action_joints, now, self.joint_state_timeout_s) is not None:
            with self._control_lock:
                self.supervisor.on_joint_state(now)

    def _on_goal_tokens(self, msg: GoalTokens) -> None:
        if msg.instruction_id in self._ended_instruction_ids:
            return  # tokens of an instruction whose action already ended
        if self.mode == "fused":
            return
        try:
            decoded = decode_goal_tokens(msg, expected_width=self.policy.goal_dim)
        except GoalDecodeError as exc:
            self._input_log.error("rejected_goal_tokens", f"goal tokens rejected: {exc}")
            return
        now = now_seconds(self)
        stamp_problem = self._goal_stamps.problem(decoded.stamp, now)
        if stamp_problem:
            self._input_log.error("rejected_goal_tokens", f"goal tokens rejected: {stamp_problem}")
            return
        with self._lock:
            lag = self._newest_frame_stamp - decoded.stamp if self._newest_frame_stamp >= 0 else 0.0
        if lag > self.goal_lag_timeout_s:
            # System 2 is publishing, but from frames far older than the camera's: it is stuck.
            # Such goals do not count as fresh, so the goal watchdog holds the robot.
            self._input_log.error(
                "lagging_goal_tokens",
                f"goal tokens lag the newest camera frame by {lag:.2f} s (> {self.goal_lag_timeout_s:.2f} s)",
            )
            return
        with self._lock:
            self._pending_goal = decoded
            self._goal_received_at = now
        with self._control_lock:
            self.supervisor.on_goal_tokens(now)

    def _on_image_stamp(self, serialized: bytes) -> None:
        try:
            stamp = cdr_header_stamp(serialized)
        except ValueError as exc:
            self._input_log.error("rejected_camera_frames", f"camera frame without a readable header: {exc}")
            return
        self._note_frame_stamp("camera", stamp)

    def _note_frame_stamp(self, key: str, stamp: float) -> bool:
        """Take a camera frame's stamp for the goal-lag watchdog, if plausible (judged first, so
        the newest stamp can never run ahead of the clock by more than the skew)."""
        problem = self._frame_stamps.problem(stamp, now_seconds(self))
        if problem:
            self._input_log.error("rejected_camera_frames", f"{key}: dropped frame: {problem}")
            return False
        with self._lock:
            self._newest_frame_stamp = max(self._newest_frame_stamp, stamp)
        return True

    def _on_image(self, key: str, msg: Image) -> None:
        if not self._note_frame_stamp(f"camera {key}", time_to_seconds(msg.header.stamp)):
            return
        try:
            rgb = self._converter.to_rgb(msg)
        except ImageConversionError as exc:
            self._input_log.error("rejected_camera_frames", f"camera {key}: dropped frame: {exc}")
            return
        with self._lock:
            self._fused_frames[key] = rgb

    def _on_instruction(self, msg: Instruction) -> None:
        try:
            text = normalize_instruction(msg.text, self.max_instruction_bytes)
        except InstructionRejected as exc:
            self._input_log.error("rejected_instructions", f"instruction rejected: {exc}")
            return
        with self._lock:
            self._fused_instruction = text

    # -- inference ----------------------------------------------------------------------------
    def _inference_loop(self) -> None:
        while self._running and self.context.ok():
            try:
                if not self._infer_once():
                    time.sleep(0.005)
            except Exception as exc:  # noqa: BLE001 - keep the thread alive; the supervisor holds
                if not self._running:
                    return  # stopping: a late join may meet the context going away
                self.get_logger().error(f"inference failed: {exc!r}", throttle_duration_sec=2.0)
                time.sleep(0.05)

    def _current_goal(self) -> Any:
        """The newest goal prepared for the backend; None before the first one and after its
        instruction's action ended (the next action must not start from the previous one's goal)."""
        with self._lock:
            pending, self._pending_goal = self._pending_goal, None
        prepared = None if pending is None else self.backend.prepare_goal(pending.tokens, pending.mask)
        with self._lock:
            if pending is not None and pending.instruction_id not in self._ended_instruction_ids:
                self._goal, self._goal_meta = prepared, pending
            return self._goal

    def _goal_ended(self, goal: Any) -> bool:
        """True when `goal` was dropped meanwhile because its instruction's action ended (only this
        thread replaces the goal; `_end_instruction` clears it)."""
        with self._lock:
            return self.mode == "dual_rate" and goal is not self._goal

    def _fused_goal(self) -> Any:
        with self._lock:
            instruction = self._fused_instruction
            frames = dict(self._fused_frames)
        keys = list(self.stack.camera_topics())
        if not instruction or any(k not in frames for k in keys):
            return None
        with torch.inference_mode():
            tokens = self.policy.encode_goal([frames[k] for k in keys], instruction)
        now = now_seconds(self)
        self._goal_received_at = now
        with self._control_lock:
            self.supervisor.on_goal_tokens(now)
        return self.backend.prepare_goal(tokens.tokens, tokens.mask)

    def _infer_once(self) -> bool:
        now = now_seconds(self)
        with self._control_lock:
            if not self.supervisor.enabled:
                return False
            if not self.replanner.should_request(now, self.chunk_executor.status(now), False):
                return False
        snapshot = self.joint_buffer.snapshot(now, self.joint_state_timeout_s)
        if snapshot is None:
            return False
        positions, state_stamp = snapshot
        start = time.perf_counter()
        with self._control_lock:
            self.replanner.mark_requested(now)
            self.supervisor.on_inference_started(now)
        try:
            goal = self._fused_goal() if self.mode == "fused" else self._current_goal()
            if goal is None:
                return False
            guidance = self._rtc_guidance(state_stamp) if self.chunk_switch == "rtc" else {}
            state = group_positions(self.stack.robot.groups, positions, self.state_groups)
            actions = self.backend.predict_chunk(state, goal, **guidance)
        finally:
            with self._control_lock:
                self.supervisor.on_inference_finished(now_seconds(self))
        latency = time.perf_counter() - start
        chunk = Chunk(
            start_time=state_stamp,
            step_period=self.step_period_s,
            joint_names=tuple(self.action_joints),
            positions=ungroup_chunk(actions, self.action_groups),
            sequence=self._chunks_executed,
        )
        try:
            with self._control_lock:  # an ending action clears its goal, then resets the executor under this lock
                if self._goal_ended(goal):  # planned for an action that ended during the inference
                    return True
                acceptance = self.chunk_executor.submit(chunk, now_seconds(self))
        except ChunkRejected as exc:
            self.get_logger().error(str(exc), throttle_duration_sec=2.0)
            return True
        self.delay_estimator.add(acceptance.latency_s)
        self._chunks_executed += 1
        self._chunk_latency.add(latency)
        self._publish_chunk(chunk, latency)
        return True

    def _rtc_guidance(self, start_time: float) -> dict[str, Any]:
        """Real-time chunking: steer the new chunk's first steps onto what the executor will
        command while this inference runs (prefix in policy groups, per-step weights)."""
        with self._control_lock:
            guidance = self.chunk_executor.rtc_guidance(
                start_time, self.step_period_s, self.policy.action_horizon, self.delay_estimator.estimate_s()
            )
        if guidance is None:
            return {}
        column = {name: i for i, name in enumerate(guidance.joint_names)}
        robot = self.stack.robot
        prefix = {
            group: guidance.prefix_positions[:, [column[n] for n in robot.groups[group]]]
            for group, _ in self.action_groups
        }
        return {"prefix": prefix, "prefix_weights": guidance.guidance_weights}

    def _publish_chunk(self, chunk: Chunk, latency: float) -> None:
        msg = ActionChunk()
        msg.header.stamp = seconds_to_time(chunk.start_time)
        msg.step_period = seconds_to_duration(chunk.step_period)
        msg.joint_names = list(chunk.joint_names)
        msg.horizon = int(chunk.positions.shape[0])
        msg.positions = chunk.positions.reshape(-1).tolist()
        meta = self._goal_meta
        if meta is not None and self.mode == "dual_rate":
            msg.goal_sequence = meta.sequence
            msg.goal_stamp = seconds_to_time(meta.stamp)
        msg.model_id = self.policy.model_id
        msg.backend = self.backend.name
        msg.inference_latency = float(latency)
        self.chunk_publisher.publish(msg)

    # -- 120 Hz command stream ----------------------------------------------------------------
    def _command_loop(self) -> None:
        period = 1.0 / self.command_rate_hz
        next_tick = time.monotonic()
        while self._running and self.context.ok():
            next_tick += period
            try:
                self._on_command_tick()
            except Exception as exc:  # noqa: BLE001 - the stream must survive; the supervisor holds
                if not self._running:
                    return  # stopping: a late join may meet the context going away
                self.get_logger().error(f"command tick failed: {exc!r}", throttle_duration_sec=2.0)
            delay = next_tick - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:  # late: skip the missed ticks instead of bursting to catch up (as rcl timers do)
                next_tick += -delay // period * period

    def _on_command_tick(self) -> None:
        now = now_seconds(self)
        measured = self.joint_buffer.positions_of(self.action_joints, now, float("inf"))
        with self._control_lock:
            policy_command = self.chunk_executor.sample(now)
            output = self.supervisor.tick(now, measured, policy_command, self.chunk_executor.status(now))
        faults_changed = output.active_faults != self._last_faults
        self._last_faults = output.active_faults
        if output.state_changed:
            self._on_state_change(output)
        if output.state_changed or faults_changed:
            # At once, not at the next heartbeat: a new fault while already holding changes no state.
            self._publish_status()
        if output.command is None:
            return
        msg = JointState()
        # Stamped with the tick time the limiter used, so consumers can check rates against it.
        msg.header.stamp = seconds_to_time(now)
        msg.name = self.action_joints
        msg.position = output.command.tolist()
        self.command_publisher.publish(msg)
        self._command_rate.tick(now)

    def _on_state_change(self, output) -> None:
        # The supervisor has logged the change itself (through this node's logger).
        if output.state in (SupervisorState.DISABLED, SupervisorState.ESTOPPED):
            with self._control_lock:
                self.chunk_executor.reset()

    # -- services -----------------------------------------------------------------------------
    def _on_set_enabled(self, request: SetEnabled.Request, response: SetEnabled.Response):
        with self._control_lock:
            if request.enable:
                result = self.supervisor.enable(now_seconds(self), request.reason)
            else:
                result = self.supervisor.disable(request.reason or "disabled on request")
                self.chunk_executor.reset()
        self._input_log.info(
            "set_enabled_calls", f"set_enabled({request.enable}, {truncate_text(request.reason)!r}): {result.message}"
        )
        response.success, response.message, response.state = result.success, result.message, int(result.state)
        self._publish_status()
        return response

    def _on_estop(self, _request: Trigger.Request, response: Trigger.Response):
        with self._control_lock:
            result = self.supervisor.estop("e-stop service called")
            self.chunk_executor.reset()
        self._input_log.error("estop_calls", "E-STOP latched: commands stopped until reset_estop")
        response.success, response.message = result.success, result.message
        self._publish_status()
        return response

    def _on_reset_estop(self, _request: Trigger.Request, response: Trigger.Response):
        with self._control_lock:
            result = self.supervisor.reset_estop()
        response.success, response.message = result.success, result.message
        self._input_log.warning("reset_estop_calls", f"reset_estop: {response.message}")
        self._publish_status()
        return response

    # -- ExecuteInstruction action ------------------------------------------------------------
    def _on_goal_request(self, goal: ExecuteInstruction.Goal) -> GoalResponse:
        try:
            text = normalize_instruction(goal.instruction, self.max_instruction_bytes)
        except InstructionRejected as exc:
            self._input_log.error("rejected_execute_instruction_goals", f"ExecuteInstruction rejected: {exc}")
            return GoalResponse.REJECT
        if not text:
            self._input_log.error("rejected_execute_instruction_goals", "ExecuteInstruction rejected: empty instruction")
            return GoalResponse.REJECT
        if self.supervisor.state == ControllerStatus.STATE_ESTOPPED:
            self._input_log.error("rejected_execute_instruction_goals", "ExecuteInstruction rejected: e-stop latched")
            return GoalResponse.REJECT
        with self._lock:  # `shutdown` sets `_running` under this lock: it sees this goal, or it is refused
            if not self._running:
                return GoalResponse.REJECT
            self._goals_being_accepted += 1
        return GoalResponse.ACCEPT

    def _on_goal_accepted(self, goal_handle) -> None:
        with self._lock:
            previous, self._active_goal_handle = self._active_goal_handle, goal_handle
            self._goals_being_accepted -= 1
        if previous is not None and previous.is_active:
            previous.preempted = True  # read by its execute loop
        goal_handle.execute()

    def _action_in_progress(self) -> bool:
        """A goal is being accepted, an execute callback is running, or the newest goal was accepted
        and has not ended yet (the client already holds an accepted goal: it must get a result)."""
        handle = self._active_goal_handle
        return self._goals_being_accepted > 0 or self._executing > 0 or (handle is not None and handle.is_active)

    def _execute_counted(self, goal_handle) -> ExecuteInstruction.Result:
        """The execute callback, counted so that `shutdown` can wait for running actions to end."""
        with self._lock:
            self._executing += 1
        try:
            return self._execute_instruction(goal_handle)
        finally:
            with self._lock:
                self._executing -= 1

    def _execute_instruction(self, goal_handle) -> ExecuteInstruction.Result:
        request = goal_handle.request
        timeout = request.timeout.sec + request.timeout.nanosec * 1e-9 or self.default_action_timeout_s
        instruction = normalize_instruction(request.instruction, self.max_instruction_bytes)
        start = self._valid_clock_seconds(_CLOCK_WAIT_S)
        if start is None:  # nothing sent to System 2 or the supervisor yet: refuse without clean-up
            reason = f"no clock: use_sim_time is set and no /clock arrived within {_CLOCK_WAIT_S:.0f} s"
            self.get_logger().error(f"ExecuteInstruction {instruction!r} refused: {reason}")
            goal_handle.abort()
            return ExecuteInstruction.Result(outcome=ExecuteInstruction.Result.OUTCOME_REJECTED, reason=reason)
        instruction_id = new_instruction_id()
        chunks_at_start = self._chunks_executed
        result = ExecuteInstruction.Result()

        def finish(outcome: int, reason: str) -> ExecuteInstruction.Result:
            self._end_instruction(instruction_id)
            result.outcome, result.reason = outcome, reason
            result.chunks_executed = self._chunks_executed - chunks_at_start
            result.elapsed = seconds_to_duration(now_seconds(self) - start)
            self._input_log.info("execute_instruction_results", f"ExecuteInstruction {instruction!r}: {reason}")
            return result

        if self.enable_on_goal:
            with self._control_lock:
                if self.supervisor.state == SupervisorState.DISABLED:
                    self.supervisor.enable(now_seconds(self), "ExecuteInstruction goal")
        ok, reason = self._send_instruction(instruction, instruction_id)
        if not ok:
            goal_handle.abort()
            stopped = ExecuteInstruction.Result.OUTCOME_ABORTED  # the node stopped, not the request
            return finish(ExecuteInstruction.Result.OUTCOME_REJECTED if self._running else stopped, reason)
        feedback = ExecuteInstruction.Feedback()
        while self._running and self.context.ok():
            elapsed = now_seconds(self) - start
            if getattr(goal_handle, "preempted", False):
                goal_handle.abort()
                return finish(ExecuteInstruction.Result.OUTCOME_PREEMPTED, "preempted by a newer instruction")
            if goal_handle.is_cancel_requested:
                goal_handle.canceled()
                return finish(ExecuteInstruction.Result.OUTCOME_CANCELED, "canceled; holding position")
            state = self.supervisor.state
            if state in (ControllerStatus.STATE_ESTOPPED, ControllerStatus.STATE_DISABLED):
                goal_handle.abort()
                return finish(
                    ExecuteInstruction.Result.OUTCOME_ABORTED,
                    f"controller {SupervisorState(state).name.lower()}: {self.supervisor.reason}",
                )
            if elapsed >= timeout:
                goal_handle.succeed()
                return finish(ExecuteInstruction.Result.OUTCOME_TIMEOUT_REACHED, f"ran for {timeout:.1f} s")
            feedback.elapsed = seconds_to_duration(elapsed)
            feedback.chunks_executed = self._chunks_executed - chunks_at_start
            feedback.controller_state = int(state)
            feedback.state_text = SupervisorState(state).name.lower()
            goal_handle.publish_feedback(feedback)
            time.sleep(0.1)
        goal_handle.abort()
        return finish(ExecuteInstruction.Result.OUTCOME_ABORTED, "node shutting down")

    def _valid_clock_seconds(self, timeout_s: float) -> float | None:
        """ROS time now, once it is set: under use_sim_time it reads 0 until the first /clock
        message, and an action timed from 0 would end the moment the clock arrived."""
        deadline = time.monotonic() + timeout_s
        while (now := now_seconds(self)) == 0.0:
            if time.monotonic() > deadline or not self._running or not self.context.ok():
                return None
            time.sleep(0.05)
        return now

    def _send_instruction(self, text: str, instruction_id: str) -> tuple[bool, str]:
        if self.mode == "fused":
            with self._instruction_lock, self._lock:
                self._fused_instruction = text
                self._current_instruction_id = instruction_id
            return True, "ok"
        # Waits in slices: at shutdown the action must end at once (System 2 is stopping too), or
        # its result would be computed after the executor that sends it has stopped.
        deadline = time.monotonic() + 5.0
        while not self.instruction_client.wait_for_service(timeout_sec=0.1):
            if not self._running:
                return False, "node shutting down"
            if time.monotonic() > deadline:
                return False, "System 2 set_instruction service not available"
        with self._instruction_lock:
            self._current_instruction_id = instruction_id
            future = self.instruction_client.call_async(SetInstruction.Request(text=text, id=instruction_id))
        deadline = time.monotonic() + 5.0
        while not future.done() and time.monotonic() < deadline and self._running:
            time.sleep(0.01)
        if not future.done():
            return False, "System 2 did not answer set_instruction" if self._running else "node shutting down"
        response = future.result()
        return response.accepted, response.message

    def _end_instruction(self, instruction_id: str) -> None:
        """Stop acting on an instruction whose action ended: drop its goal and hold position.

        When a newer action already took over (a preempting goal, or a new goal sent right after a
        cancel), only the ended instruction's goal tokens are dropped: the newer instruction, its
        chunks and System 2's instruction stay.
        """
        with self._lock:
            self._ended_instruction_ids.add(instruction_id)
            if self._goal_meta is not None and self._goal_meta.instruction_id == instruction_id:
                self._goal_received_at = -1.0
                self._goal, self._goal_meta = None, None
            if self._pending_goal is not None and self._pending_goal.instruction_id == instruction_id:
                self._pending_goal = None
        with self._instruction_lock:
            if instruction_id != self._current_instruction_id:
                return
            self._current_instruction_id = ""
            if self.mode == "fused":
                with self._lock:
                    self._fused_instruction = ""
            elif self.instruction_client.service_is_ready():
                self.instruction_client.call_async(SetInstruction.Request(text="", id=instruction_id))
            with self._control_lock:  # under the instruction lock: no newer action can start in between
                self.chunk_executor.reset()

    # -- status -------------------------------------------------------------------------------
    def _publish_status(self) -> None:
        now = now_seconds(self)
        msg = ControllerStatus()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.state = int(self.supervisor.state)
        msg.dry_run = bool(self.dry_run)
        msg.reason = self.supervisor.reason
        msg.active_faults = list(self._last_faults)
        msg.chunks_executed = self._chunks_executed
        msg.command_rate = float(self._command_rate.rate(now))
        self.status_publisher.publish(msg)

    def _diagnostics(self) -> tuple[int, str, dict]:
        now = now_seconds(self)
        latency = self._chunk_latency.summary_ms()
        state = self.supervisor.state
        level = {ControllerStatus.STATE_RUNNING: 0, ControllerStatus.STATE_RAMPING: 0}.get(state, 1)
        if state == ControllerStatus.STATE_ESTOPPED:
            level = 2
        return level, f"{SupervisorState(state).name.lower()}: {self.supervisor.reason}", {
            "command_rate_hz": self._command_rate.rate(now),
            "target_command_rate_hz": self.command_rate_hz,
            "chunk_latency_p50_ms": latency.get("p50", float("nan")),
            "chunk_latency_p99_ms": latency.get("p99", float("nan")),
            "chunks": self._chunks_executed,
            "active_faults": ",".join(self._last_faults),
            "limiter_interventions": self.supervisor.limiter.limited_ticks,
            "chunk_rejections": ",".join(f"{k}={v}" for k, v in dict(self.chunk_executor.rejections_by_reason).items()),
            **self._input_log.snapshot(),
            "backend": self.backend.name,
            "mode": self.mode,
            "dry_run": self.dry_run,
        }

    def shutdown(self) -> None:
        """Stop while the executor still spins and the context is valid (see `run_node`): a running
        ExecuteInstruction ends as aborted ("node shutting down") and its client gets the result,
        then the command and inference threads end."""
        with self._lock:
            self._running = False
        deadline = time.monotonic() + _SHUTDOWN_ACTION_WAIT_S
        had_action = self._action_in_progress()
        while self._action_in_progress() and time.monotonic() < deadline:
            time.sleep(0.02)
        if had_action:
            # The result goes out from executor tasks: the one scheduled when the callback returned,
            # and the answer to a result request that may still be queued (a goal just accepted).
            time.sleep(_RESULT_SEND_GRACE_S)
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
