"""System 2 node: camera image(s) + instruction -> GR00T backbone at 10 Hz -> GoalTokens.

Wiring only: frames, instructions and the backbone run in ``gr00t_policy.runtime.goal_encoding.
GoalEncoder`` (ROS-free; System 1's fused mode runs the same object); parameters: ``System2Config``.
Inference runs in its own timer on a separate callback group, so image and instruction callbacks
keep being served while the backbone runs. Bad input (unsupported encodings, stale or missing
frames, over-long instructions) is logged and skipped; no goal is published without a valid
instruction and fresh frames, which makes System 1 hold position.
"""

from __future__ import annotations

from typing import Any

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import Image

from gr00t_description.ros.diagnostics import DiagnosticsPublisher, InputLog, now_seconds
from gr00t_description.ros.node_main import run_node
from gr00t_description.ros.parameters import declare_config, declare_stack
from gr00t_description.ros.qos import LATCHED_QOS, LATEST_RELIABLE_QOS, SENSOR_QOS
from gr00t_interfaces.msg import GoalTokens, Instruction
from gr00t_interfaces.srv import SetInstruction
from gr00t_policy.metrics import LatencyStats, RateMeter
from gr00t_policy.ros.image_conversion import ImageConverter
from gr00t_policy.ros.messages import encode_goal_tokens, seconds_to_time, time_to_seconds
from gr00t_policy.ros.policy_loading import load_node_policy
from gr00t_policy.runtime.config import System2Config
from gr00t_policy.runtime.goal_encoding import EncodedGoal, GoalEncoder
from gr00t_policy.runtime.loops import configure_threads
from gr00t_policy.safety.input_checks import StampWindow


class System2Node(Node):
    def __init__(self, policy: Any = None, **node_kwargs: Any) -> None:
        super().__init__("gr00t_system2", **node_kwargs)
        self.stack = declare_stack(self)
        self.config = config = declare_config(self, self.stack, "system2", System2Config)
        self.rate_hz = self.stack.rates["system2_hz"]
        self.input_log = InputLog(self.get_logger())
        configure_threads(config.num_threads)
        self.policy = (
            policy
            if policy is not None
            else load_node_policy(
                self, self.stack, config.model_path, config.device, config.dtype, config.tokenizer_dir
            )
        )
        skew = config.max_stamp_skew_s
        self.goal_encoder = GoalEncoder(
            self.policy,
            list(self.stack.camera_topics()),
            # A frame older than max_image_age_s is never used: reject it before converting it.
            StampWindow(skew, skew + config.max_image_age_s),
            config.max_image_age_s,
            config.max_instruction_bytes,
            self.input_log,
        )
        self._converter = ImageConverter(max_bytes=config.max_image_bytes)
        self._sequence = 0
        self._latency = LatencyStats()
        self._rate = RateMeter()
        self._skip_reason = "starting"

        for key, topics in self.stack.camera_topics().items():
            self.create_subscription(Image, topics["image"], lambda msg, key=key: self.on_image(key, msg), SENSOR_QOS)
        self.create_subscription(Instruction, self.stack.topics["instruction"], self.on_instruction, LATCHED_QOS)
        self.create_service(SetInstruction, self.stack.services["set_instruction"], self._on_set_instruction)
        self.goal_publisher = self.create_publisher(GoalTokens, self.stack.topics["goal_tokens"], LATEST_RELIABLE_QOS)
        self.create_timer(1.0 / self.rate_hz, self._on_tick, callback_group=MutuallyExclusiveCallbackGroup())
        DiagnosticsPublisher(self, "gr00t_system2", self._diagnostics)
        if config.instruction:
            self.set_instruction(config.instruction, "", source="instruction_parameter")
        self.get_logger().info(
            f"System 2 ready: model {self.policy.model_id}, {self.rate_hz:.1f} Hz, cameras "
            f"{self.goal_encoder.camera_keys}, image conversion via {self._converter.backend}"
        )

    # -- inputs -------------------------------------------------------------------------------
    def on_image(self, key: str, msg: Image) -> None:
        stamp = time_to_seconds(msg.header.stamp)
        self.goal_encoder.add_frame(key, stamp, now_seconds(self), lambda: self._converter.to_rgb(msg))

    def on_instruction(self, msg: Instruction) -> None:
        self.set_instruction(msg.text, msg.id, source="instruction_topic")

    def _on_set_instruction(self, request: SetInstruction.Request, response: SetInstruction.Response):
        response.accepted, response.message, response.id = self.set_instruction(
            request.text, request.id, source="set_instruction_service"
        )
        return response

    def set_instruction(self, text: str, instruction_id: str, source: str = "set_instruction") -> tuple[bool, str, str]:
        """Set (or, with empty text, clear) the instruction; see ``GoalEncoder.set_instruction``."""
        return self.goal_encoder.set_instruction(text, instruction_id, source)

    # -- inference ----------------------------------------------------------------------------
    def _on_tick(self) -> None:
        now = now_seconds(self)
        try:
            goal = self.goal_encoder.encode(now)
        except Exception as exc:  # noqa: BLE001 - a model failure must not kill the node
            self.get_logger().error(f"backbone failed: {exc!r}", throttle_duration_sec=2.0)
            return self._skip("backbone error")
        if not isinstance(goal, EncodedGoal):
            return self._skip(goal)
        msg = GoalTokens()
        msg.header.stamp = seconds_to_time(goal.stamp)
        msg.sequence = self._sequence
        msg.model_id = self.policy.model_id
        msg.embodiment = self.stack.embodiment_tag
        msg.instruction = goal.instruction
        msg.instruction_id = goal.instruction_id
        msg.inference_latency = float(goal.latency_s)
        encode_goal_tokens(msg, goal.tokens, goal.mask, self.config.token_dtype)
        self.goal_publisher.publish(msg)
        self._sequence += 1
        self._latency.add(goal.latency_s)
        self._rate.tick(now)
        self._skip_reason = ""
        if goal.latency_s > 1.0 / self.rate_hz:
            self.get_logger().warning(
                f"backbone took {goal.latency_s * 1e3:.1f} ms, over the {1e3 / self.rate_hz:.0f} ms period",
                throttle_duration_sec=5.0,
            )

    def _skip(self, reason: str) -> None:
        if reason != self._skip_reason:
            self.get_logger().warning(f"not publishing goal tokens: {reason}")
            self._skip_reason = reason

    def _diagnostics(self) -> tuple[int, str, dict]:
        rate = self._rate.rate(now_seconds(self))
        latency = self._latency.summary_ms()
        level = 0 if not self._skip_reason and rate > 0.5 * self.rate_hz else 1
        message = "publishing goal tokens" if level == 0 else (self._skip_reason or "rate low")
        return (
            level,
            message,
            {
                "rate_hz": rate,
                "target_rate_hz": self.rate_hz,
                "latency_p50_ms": latency.get("p50", float("nan")),
                "latency_p99_ms": latency.get("p99", float("nan")),
                "goals_published": self._sequence,
                **self.input_log.snapshot(),
                "instruction": self.goal_encoder.instruction,
                "model_id": self.policy.model_id,
            },
        )


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
