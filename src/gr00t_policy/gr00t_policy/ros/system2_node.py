"""System 2 node: camera image(s) + instruction -> GR00T backbone at 10 Hz -> GoalTokens.

Inference runs in its own timer on a separate callback group, so image and instruction callbacks
keep being served while the backbone runs. Bad input (unsupported encodings, stale or missing
frames, over-long instructions) is logged and skipped; no goal is published without a valid
instruction and fresh frames, which makes System 1 hold position.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from gr00t_interfaces.msg import GoalTokens, Instruction
from gr00t_interfaces.srv import SetInstruction
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import Image

from gr00t_policy.instructions import (
    InstructionRejected,
    check_instruction_id,
    new_instruction_id,
    normalize_instruction,
)
from gr00t_policy.metrics import LatencyStats, RateMeter
from gr00t_description.ros.diagnostics import DiagnosticsPublisher, InputLog, now_seconds
from gr00t_description.ros.node_main import run_node
from gr00t_description.ros.parameters import declare_config, declare_from_stack, declare_stack, parameter
from gr00t_description.ros.qos import LATCHED_QOS, LATEST_RELIABLE_QOS, SENSOR_QOS
from gr00t_policy.ros.policy_loading import load_node_policy
from gr00t_policy.ros.image_conversion import ImageConversionError, ImageConverter
from gr00t_policy.ros.messages import (
    TOKEN_DTYPES,
    encode_goal_tokens,
    seconds_to_time,
    time_to_seconds,
)
from gr00t_policy.safety.input_checks import StampWindow


@dataclass(frozen=True)
class System2InputChecks:
    """What System 2 accepts from its inputs (values: ``nodes.system2`` of the stack YAML)."""

    max_stamp_skew_s: float = field(metadata=parameter(
        "how far a camera frame's stamp may lie ahead of this node's clock, and behind it beyond "
        "max_image_age_s: clock offset between hosts plus delivery delay. Implausibly stamped frames are "
        "rejected (before conversion) and counted in /diagnostics",
        0.001, 60.0,
    ))
    max_image_bytes: int = field(metadata=parameter(
        "camera frames larger than this (step x height) are rejected before they are copied",
        1, 2**31 - 1,
    ))


class System2Node(Node):
    def __init__(self, policy: Any = None, **node_kwargs: Any) -> None:
        super().__init__("gr00t_system2", **node_kwargs)
        self.stack = declare_stack(self)
        section = "system2"
        self.rate_hz = declare_from_stack(self, self.stack, section, "rate_hz", self.stack.rates["system2_hz"])
        model_path = declare_from_stack(self, self.stack, section, "model_path", "")
        tokenizer_dir = declare_from_stack(self, self.stack, section, "tokenizer_dir", "")
        device = declare_from_stack(self, self.stack, section, "device", "cpu")
        dtype = declare_from_stack(self, self.stack, section, "dtype", "float32")
        num_threads = declare_from_stack(self, self.stack, section, "num_threads", 1)
        self.max_instruction_bytes = declare_from_stack(self, self.stack, section, "max_instruction_bytes", 2048)
        self.max_image_age_s = declare_from_stack(self, self.stack, section, "max_image_age_s", 0.5)
        self.token_dtype = declare_from_stack(self, self.stack, section, "token_dtype", "float16")
        initial_instruction = declare_from_stack(self, self.stack, section, "instruction", "")
        self.input_checks = declare_config(self, self.stack, section, System2InputChecks, reject_unknown=False)
        skew = self.input_checks.max_stamp_skew_s
        # A frame older than max_image_age_s is never used: reject it before converting it.
        self._frame_stamps = StampWindow(skew, skew + self.max_image_age_s)
        self._input_log = InputLog(self.get_logger())
        if self.token_dtype not in TOKEN_DTYPES:
            raise ValueError(f"token_dtype must be one of {sorted(TOKEN_DTYPES)}, got {self.token_dtype!r}")

        if num_threads > 0:
            torch.set_num_threads(num_threads)
        self.policy = (
            policy if policy is not None
            else load_node_policy(self, self.stack, model_path, device, dtype, tokenizer_dir)
        )

        self.camera_keys = list(self.stack.camera_topics())
        self._frames: dict[str, tuple[np.ndarray, float]] = {}
        self._lock = threading.Lock()
        self._instruction = ""
        self._instruction_id = ""
        self._sequence = 0
        self._converter = ImageConverter(max_bytes=self.input_checks.max_image_bytes)
        self._latency = LatencyStats()
        self._rate = RateMeter()
        self._skip_reason = "starting"

        for key, topics in self.stack.camera_topics().items():
            self.create_subscription(
                Image, topics["image"], lambda msg, key=key: self._on_image(key, msg), SENSOR_QOS
            )
        self.create_subscription(Instruction, self.stack.topics["instruction"], self._on_instruction, LATCHED_QOS)
        self.create_service(SetInstruction, self.stack.services["set_instruction"], self._on_set_instruction)
        self.goal_publisher = self.create_publisher(GoalTokens, self.stack.topics["goal_tokens"], LATEST_RELIABLE_QOS)
        self._inference_group = MutuallyExclusiveCallbackGroup()
        self.create_timer(1.0 / self.rate_hz, self._on_tick, callback_group=self._inference_group)
        DiagnosticsPublisher(self, "gr00t_system2", self._diagnostics)
        if initial_instruction:
            self.set_instruction(initial_instruction, "", source="instruction_parameter")
        self.get_logger().info(
            f"System 2 ready: model {self.policy.model_id}, {self.rate_hz:.1f} Hz, cameras {self.camera_keys}, "
            f"image conversion via {self._converter.backend}"
        )

    # -- inputs -------------------------------------------------------------------------------
    def _on_image(self, key: str, msg: Image) -> None:
        stamp = time_to_seconds(msg.header.stamp)
        problem = self._frame_stamps.problem(stamp, now_seconds(self))
        if problem:
            self._input_log.error(f"rejected_frames_{key}", f"camera {key}: dropped frame: {problem}")
            return
        try:
            rgb = self._converter.to_rgb(msg)
        except ImageConversionError as exc:
            self._input_log.error(f"rejected_frames_{key}", f"camera {key}: dropped frame: {exc}")
            return
        with self._lock:
            self._frames[key] = (rgb, stamp)

    def _on_instruction(self, msg: Instruction) -> None:
        self.set_instruction(msg.text, msg.id, source="instruction_topic")

    def _on_set_instruction(self, request: SetInstruction.Request, response: SetInstruction.Response):
        response.accepted, response.message, response.id = self.set_instruction(
            request.text, request.id, source="set_instruction_service"
        )
        return response

    def set_instruction(self, text: str, instruction_id: str, source: str = "set_instruction") -> tuple[bool, str, str]:
        """Set (or, with empty text, clear) the instruction; returns (accepted, message, id in effect).

        A clear that names an instruction id clears only that instruction: the end of an action
        that a newer one already replaced must not clear the newer instruction. Log lines are
        throttled per ``source`` (topic, service) and kind, so a flood cannot flood the log.
        """
        try:
            check_instruction_id(instruction_id)
            normalized = normalize_instruction(text, self.max_instruction_bytes)
        except InstructionRejected as exc:
            self._input_log.error(f"rejected_{source}", f"instruction rejected ({source}): {exc}")
            return False, str(exc), self._instruction_id
        with self._lock:
            if not normalized and instruction_id and instruction_id != self._instruction_id:
                current_id = self._instruction_id
                self._input_log.info(
                    f"ignored_clears_{source}",
                    f"clear of [{instruction_id[:8]}] ignored: [{current_id[:8]}] is in effect",
                )
                return True, f"instruction {instruction_id} is no longer in effect", current_id
            self._instruction = normalized
            self._instruction_id = (instruction_id or new_instruction_id()) if normalized else ""
            current_id = self._instruction_id
        if normalized:
            self._input_log.info(f"accepted_{source}", f"instruction [{current_id[:8]}]: {normalized!r}")
            return True, "ok", current_id
        self._input_log.warning(
            f"clears_{source}", "instruction cleared: no goal tokens until a new one (System 1 holds)"
        )
        return True, "instruction cleared", ""

    # -- inference ----------------------------------------------------------------------------
    def _on_tick(self) -> None:
        now = now_seconds(self)
        with self._lock:
            instruction, instruction_id = self._instruction, self._instruction_id
            frames = dict(self._frames)
        missing = [k for k in self.camera_keys if k not in frames]
        if not instruction:
            return self._skip("no instruction")
        if missing:
            return self._skip(f"waiting for camera(s) {missing}")
        newest_stamp = max(stamp for _, stamp in frames.values())
        stale = [k for k in self.camera_keys if now - frames[k][1] > self.max_image_age_s]
        if stale:
            return self._skip(f"camera(s) {stale} older than {self.max_image_age_s:.2f} s")
        images = [frames[k][0] for k in self.camera_keys]
        start = time.perf_counter()
        try:
            with torch.inference_mode():
                goal = self.policy.encode_goal(images, instruction)
        except Exception as exc:  # noqa: BLE001 - a model failure must not kill the node
            self.get_logger().error(f"backbone failed: {exc!r}", throttle_duration_sec=2.0)
            return self._skip("backbone error")
        latency = time.perf_counter() - start
        msg = GoalTokens()
        msg.header.stamp = seconds_to_time(newest_stamp)
        msg.sequence = self._sequence
        msg.model_id = self.policy.model_id
        msg.embodiment = self.stack.embodiment_tag
        msg.instruction = instruction
        msg.instruction_id = instruction_id
        msg.inference_latency = float(latency)
        encode_goal_tokens(msg, goal.tokens, goal.mask, self.token_dtype)
        self.goal_publisher.publish(msg)
        self._sequence += 1
        self._latency.add(latency)
        self._rate.tick(now)
        self._skip_reason = ""
        if latency > 1.0 / self.rate_hz:
            self.get_logger().warning(
                f"backbone took {latency * 1e3:.1f} ms, over the {1e3 / self.rate_hz:.0f} ms period",
                throttle_duration_sec=5.0,
            )

    def _skip(self, reason: str) -> None:
        if reason != self._skip_reason:
            self.get_logger().warning(f"not publishing goal tokens: {reason}")
            self._skip_reason = reason

    def _diagnostics(self) -> tuple[int, str, dict]:
        now = now_seconds(self)
        rate = self._rate.rate(now)
        latency = self._latency.summary_ms()
        level = 0 if not self._skip_reason and rate > 0.5 * self.rate_hz else 1
        message = "publishing goal tokens" if level == 0 else (self._skip_reason or "rate low")
        return level, message, {
            "rate_hz": rate,
            "target_rate_hz": self.rate_hz,
            "latency_p50_ms": latency.get("p50", float("nan")),
            "latency_p99_ms": latency.get("p99", float("nan")),
            "goals_published": self._sequence,
            **self._input_log.snapshot(),
            "instruction": self._instruction,
            "model_id": self.policy.model_id,
        }


def main(args: list[str] | None = None) -> None:
    from gr00t_description import ConfigError
    from gr00t_policy.model.checkpoint import CheckpointError

    run_node(
        System2Node,
        num_threads=2,
        args=args,
        startup_errors=(ConfigError, CheckpointError, FileNotFoundError, ValueError),
    )

if __name__ == "__main__":
    main()
