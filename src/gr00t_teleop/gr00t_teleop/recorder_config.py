"""The recorder node's parameters and what it may record: the config dataclass (values: ``nodes.recorder``
of the stack YAML), the recordable stack topic keys with their QoS class, and the library configs built
from the parameters."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState

from gr00t_description.ros.parameters import parameter
from gr00t_description.ros.qos import LATCHED_QOS
from gr00t_interfaces.msg import ActionChunk, ControllerStatus, GoalTokens, Instruction
from gr00t_teleop.recording import BagWriterConfig, RecorderConfig, WriterQueueConfig

SENSOR = "sensor"
STREAM = "stream"
LATCHED = "latched"

SUBSCRIPTION_QOS = {
    SENSOR: QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.BEST_EFFORT),
    STREAM: QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE),
    LATCHED: LATCHED_QOS,
}

# Stack topic key -> (message class, QoS class). `cameras` expands to every camera's topics.
RECORDABLE_TOPICS: dict[str, tuple[type, str]] = {
    "joint_states": (JointState, SENSOR),
    "joint_command": (JointState, STREAM),
    "action_chunk": (ActionChunk, STREAM),
    "goal_tokens": (GoalTokens, STREAM),
    "instruction": (Instruction, LATCHED),
    "controller_status": (ControllerStatus, LATCHED),
}
MIB = 1 << 20
_MB = "MiB"


@dataclass(frozen=True)
class RecorderNodeConfig:
    """The recorder node's parameters (values: ``nodes.recorder`` of the stack YAML)."""

    output_dir: str = field(metadata=parameter("directory of the episode bags (~ is expanded)"))
    topic_keys: list[str] = field(
        metadata=parameter(
            "stack topic keys to record: "
            + ", ".join([*RECORDABLE_TOPICS, "cameras"])
            + " (cameras = every camera's image and camera_info)"
        )
    )
    required_topic_keys: list[str] = field(
        metadata=parameter(
            "topic keys a successful episode needs at least one message of (else it is kept as interrupted): "
            "what training needs"
        )
    )
    operator: str = field(metadata=parameter("operator written into every episode's metadata"))
    calibration: str = field(metadata=parameter("calibration id or file of the robot, written into the metadata"))
    compression: str = field(metadata=parameter("compression of each MCAP chunk", choices=("zstd", "lz4", "none")))
    chunk_size_bytes: int = field(
        metadata=parameter(
            "uncompressed size at which an MCAP chunk is written (a crash loses at most the chunk in progress), bytes",
            1024,
            1 << 30,
        )
    )
    flush_period_s: float = field(metadata=parameter("the open chunk is written at least this often, s", 0.01, 60.0))
    fsync_period_s: float = field(
        metadata=parameter(
            "data forced to the device this often (0 = never: then only a process crash is covered, not power loss), s",
            0.0,
            600.0,
        )
    )
    max_queue_mb: float = field(
        metadata=parameter(
            f"writer back-pressure: beyond this much queued data incoming messages are dropped and counted, {_MB}",
            1.0,
            65536.0,
        )
    )
    max_queue_messages: int = field(
        metadata=parameter(
            "writer back-pressure: beyond this many queued messages incoming ones are dropped and counted",
            1,
            10_000_000,
        )
    )
    min_free_disk_mb_to_start: float = field(
        metadata=parameter(f"an episode is refused below this much free disk space, {_MB}", 0.0, 1e7)
    )
    min_free_disk_mb: float = field(
        metadata=parameter(
            f"below this much free disk space while recording: stop, keep the bag, mark it interrupted, {_MB}", 0.0, 1e7
        )
    )
    disk_check_period_s: float = field(metadata=parameter("free disk space checked this often, s", 0.05, 60.0))
    status_period_s: float = field(
        metadata=parameter("~/status published this often (and on every change), s", 0.01, 60.0)
    )

    def check_required_keys(self) -> None:
        # A "successful" episode without these is useless for training: it is kept as interrupted.
        if unknown := sorted(set(self.required_topic_keys) - set(RECORDABLE_TOPICS)):
            raise ValueError(f"required_topic_keys: unknown key(s) {unknown}; choose from {sorted(RECORDABLE_TOPICS)}")

    def recorder_config(self, robot: str, embodiment_tag: str, data_config: str) -> RecorderConfig:
        """The episode recorder's configuration (its required topics are filled in once they are resolved)."""
        queue = WriterQueueConfig(
            max_queue_messages=self.max_queue_messages,
            max_queue_bytes=int(self.max_queue_mb * MIB),
            flush_period_s=self.flush_period_s,
            fsync_period_s=self.fsync_period_s,
            disk_check_period_s=self.disk_check_period_s,
            min_free_bytes=int(self.min_free_disk_mb * MIB),
        )
        return RecorderConfig(
            output_dir=Path(self.output_dir).expanduser(),
            robot=robot,
            embodiment_tag=embodiment_tag,
            data_config=data_config,
            operator=self.operator,
            calibration=self.calibration,
            min_free_bytes_to_start=int(self.min_free_disk_mb_to_start * MIB),
            bag=BagWriterConfig(chunk_size_bytes=self.chunk_size_bytes, compression=self.compression),
            queue=queue,
        )
