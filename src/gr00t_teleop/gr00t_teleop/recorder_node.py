"""Recorder node: one rosbag2 MCAP bag per demonstration episode (thin wrapper of `EpisodeRecorder`).

Services (all private, `~/…`):
  start         gr00t_interfaces/srv/SetInstruction  text = the task instruction of the episode;
                                                     response id = episode name, message = why not
  stop_success  std_srvs/Trigger   end the episode, labelled successful
  stop_failure  std_srvs/Trigger   end the episode, labelled failed (kept, skipped by gr00t-convert)
  cancel        std_srvs/Trigger   end the episode and delete it
Topics out: `~/status` (std_msgs/String, JSON, latched, on change and every `status_period_s`),
`/diagnostics`.
A refused request (instruction empty, over MAX_TASK_BYTES, invalid UTF-8 or control characters;
start while recording; stop while idle) changes nothing — an episode being recorded goes on — and
is logged at most once per REJECTION_LOG_PERIOD_S and counted in /diagnostics (`requests_refused`).

Recorded topics: the stack YAML's `topics.<key>` for each key in the `topic_keys` parameter
(`cameras` = every camera's image and camera_info). An episode stopped as a success with no message
on a `required_topic_keys` topic (joint_states, joint_command: what training needs) is kept
as interrupted, with the reason, so gr00t-convert skips it. QoS, on purpose:
  sensors (joint states, images, camera info): BEST_EFFORT, depth 10 — matches best-effort drivers
      and reliable publishers alike; a little deeper than SensorDataQoS so an executor hiccup does
      not drop frames;
  streams (joint commands, action chunks, goal tokens): RELIABLE, depth 100 — the command actually
      sent is the training target, so none may be lost on the wire (System 1 publishes reliable);
  latched (instruction, controller status): LATCHED_QOS (RELIABLE + TRANSIENT_LOCAL, depth 1) — the
      last value is cached and written at the start of every episode, as `ros2 bag record` gets it
      on subscribe.
Subscriptions are `raw=True`: callbacks get the CDR bytes as received (no deserialise/serialise
round trip) and hand them to the writer thread; log time = the node clock on receipt (sim time
under `use_sim_time`), publish time = the publisher's source timestamp.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger

from gr00t_description.ros.diagnostics import DiagnosticsPublisher, InputLog
from gr00t_description.ros.parameters import declare_config, declare_stack, parameter
from gr00t_description.ros.qos import LATCHED_QOS
from gr00t_interfaces.msg import ActionChunk, ControllerStatus, GoalTokens, Instruction
from gr00t_interfaces.srv import SetInstruction
from gr00t_teleop.recording import (
    BagWriterConfig,
    EpisodeOutcome,
    EpisodeRecorder,
    QosProfile,
    RecorderConfig,
    RecorderStateError,
    TopicInfo,
    WriterQueueConfig,
    disk_free_bytes,
)
from gr00t_teleop.recording.async_writer import FreeBytesFn

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
DIAG_OK, DIAG_WARN, DIAG_ERROR = 0, 1, 2  # diagnostic_msgs/DiagnosticStatus levels
REJECTION_LOG_PERIOD_S = 2.0


def type_name_of(msg_class: type) -> str:
    """'sensor_msgs/msg/JointState' from the generated class (its module is `sensor_msgs.msg._joint_state`)."""
    package = msg_class.__module__.split(".")[0]
    return f"{package}/msg/{msg_class.__name__}"


def _duration_pair(duration: Duration) -> tuple[int, int]:
    """rmw durations as (sec, nsec); "infinite"/unset become (0, 0), the value every rosbag2 reads as default."""
    nanoseconds = duration.nanoseconds
    if nanoseconds <= 0 or nanoseconds >= (1 << 62):
        return 0, 0
    return divmod(nanoseconds, 1_000_000_000)


def qos_profile_of(profile: QoSProfile) -> QosProfile:
    return QosProfile(
        history=int(profile.history),
        depth=int(profile.depth),
        reliability=int(profile.reliability),
        durability=int(profile.durability),
        liveliness=int(profile.liveliness),
        deadline=_duration_pair(profile.deadline),
        lifespan=_duration_pair(profile.lifespan),
        liveliness_lease_duration=_duration_pair(profile.liveliness_lease_duration),
        avoid_ros_namespace_conventions=bool(profile.avoid_ros_namespace_conventions),
    )


@dataclass
class _RecordedTopic:
    name: str  # resolved, absolute
    type_name: str
    qos_class: str
    subscription_qos: QoSProfile
    latest: tuple[bytes, int] | None = None  # last message of a latched topic: (data, receive time)


class _TopicTap:
    """The raw subscription callback of one topic (a class, so rclpy sees the two-argument form)."""

    def __init__(self, node: RecorderNode, topic: _RecordedTopic) -> None:
        self._node = node
        self._topic = topic

    def __call__(self, data: bytes, info: dict[str, Any]) -> None:
        now_ns = self._node.get_clock().now().nanoseconds
        if self._topic.qos_class == LATCHED:
            self._topic.latest = (data, now_ns)
        self._node.recorder.record(self._topic.name, data, now_ns, info.get("source_timestamp") or None)


STACK_SECTION = "recorder"
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


class RecorderNode(Node):
    def __init__(self, free_bytes: FreeBytesFn = disk_free_bytes, **node_kwargs: Any) -> None:
        super().__init__("gr00t_recorder", **node_kwargs)
        self.stack = declare_stack(self)
        params = declare_config(self, self.stack, STACK_SECTION, RecorderNodeConfig)
        output_dir = Path(params.output_dir).expanduser()
        topic_keys = list(params.topic_keys)
        # A "successful" episode without these is useless for training: it is kept as interrupted.
        required_keys = list(params.required_topic_keys)
        if unknown := sorted(set(required_keys) - set(RECORDABLE_TOPICS)):
            raise ValueError(f"required_topic_keys: unknown key(s) {unknown}; choose from {sorted(RECORDABLE_TOPICS)}")
        queue = WriterQueueConfig(
            max_queue_messages=params.max_queue_messages,
            max_queue_bytes=int(params.max_queue_mb * MIB),
            flush_period_s=params.flush_period_s,
            fsync_period_s=params.fsync_period_s,
            disk_check_period_s=params.disk_check_period_s,
            min_free_bytes=int(params.min_free_disk_mb * MIB),
        )
        config = RecorderConfig(
            output_dir=output_dir,
            robot=self.stack.robot.name,
            embodiment_tag=self.stack.embodiment_tag,
            data_config=self.stack.data_config,
            operator=params.operator,
            calibration=params.calibration,
            min_free_bytes_to_start=int(params.min_free_disk_mb_to_start * MIB),
            bag=BagWriterConfig(chunk_size_bytes=params.chunk_size_bytes, compression=params.compression),
            queue=queue,
        )
        status_period_s = params.status_period_s
        self._free_bytes = free_bytes
        self._refused = InputLog(self.get_logger(), REJECTION_LOG_PERIOD_S)

        # Subscriptions may run in parallel with each other and with a (blocking) stop service.
        self._topic_group = ReentrantCallbackGroup()
        self._service_group = MutuallyExclusiveCallbackGroup()
        self.topics: list[_RecordedTopic] = []
        required_specs = {self.stack.topics[k] for k in required_keys if k in topic_keys}
        required: list[str] = []
        for spec_name, msg_class, qos_class in self._resolve_topic_keys(topic_keys):
            qos = SUBSCRIPTION_QOS[qos_class]
            entry = _RecordedTopic("", type_name_of(msg_class), qos_class, qos)
            subscription = self.create_subscription(
                msg_class, spec_name, _TopicTap(self, entry), qos, callback_group=self._topic_group, raw=True
            )
            entry.name = subscription.topic_name
            self.topics.append(entry)
            if spec_name in required_specs:
                required.append(entry.name)
        self.recorder = EpisodeRecorder(replace(config, required_topics=tuple(required)), free_bytes=free_bytes)

        self.status_publisher = self.create_publisher(String, "~/status", LATCHED_QOS)
        self.create_service(SetInstruction, "~/start", self._on_start, callback_group=self._service_group)
        self.create_service(
            Trigger, "~/stop_success", lambda q, r: self._on_stop(r, "stop_success"), callback_group=self._service_group
        )
        self.create_service(
            Trigger, "~/stop_failure", lambda q, r: self._on_stop(r, "stop_failure"), callback_group=self._service_group
        )
        self.create_service(
            Trigger, "~/cancel", lambda q, r: self._on_stop(r, "cancel"), callback_group=self._service_group
        )
        self.create_timer(status_period_s, self._on_status_timer, callback_group=self._service_group)
        self.diagnostics = DiagnosticsPublisher(self, "gr00t_recorder", self._diagnostics)
        self._shutdown_lock = threading.Lock()
        self.get_logger().info(
            f"recorder ready: {len(self.topics)} topics ({', '.join(t.name for t in self.topics)}) -> {output_dir}, "
            f"{config.bag.compression} chunks of {config.bag.chunk_size_bytes} B, "
            f"queue {queue.max_queue_bytes // MIB} MiB"
        )
        self._publish_status()

    def _resolve_topic_keys(self, keys: list[str]) -> list[tuple[str, type, str]]:
        topics = self.stack.topics
        resolved: list[tuple[str, type, str]] = []
        for key in keys:
            if key == "cameras":
                for camera in self.stack.camera_topics().values():
                    resolved.append((camera["image"], Image, SENSOR))
                    if camera.get("camera_info"):
                        resolved.append((camera["camera_info"], CameraInfo, SENSOR))
            elif key in RECORDABLE_TOPICS:
                if key not in topics:
                    raise ValueError(f"topic_keys names {key!r}, which is not under topics: in {self.stack.path}")
                msg_class, qos_class = RECORDABLE_TOPICS[key]
                resolved.append((topics[key], msg_class, qos_class))
            else:
                choices = sorted([*RECORDABLE_TOPICS, "cameras"])
                raise ValueError(f"topic_keys: unknown key {key!r}; recordable keys: {choices} (set in nodes.recorder)")
        return resolved

    # ------------------------------------------------------------------ services
    def _topic_infos(self) -> list[TopicInfo]:
        """Topics with the QoS their publishers offer now (what `ros2 bag record` stores), or our
        subscription's profile when no publisher is up yet."""
        infos = []
        for topic in self.topics:
            offered = tuple(qos_profile_of(i.qos_profile) for i in self.get_publishers_info_by_topic(topic.name))
            infos.append(TopicInfo(topic.name, topic.type_name, offered or (qos_profile_of(topic.subscription_qos),)))
        return infos

    def _on_start(self, request: SetInstruction.Request, response: SetInstruction.Response) -> SetInstruction.Response:
        now_ns = self.get_clock().now().nanoseconds
        latched = [(t.name, t.latest[0], now_ns) for t in self.topics if t.latest is not None]
        try:
            episode = self.recorder.start(request.text, self._topic_infos(), now_ns, initial_messages=latched)
        except (RecorderStateError, ValueError, OSError) as exc:
            response.accepted, response.message = False, str(exc)
            self._refused.error("requests", f"start refused: {exc}")
        else:
            response.accepted, response.id = True, episode.name
            response.message = f"recording {episode.name}: {episode.task!r}"
            self.get_logger().info(response.message)
        self._publish_status()
        return response

    def _on_stop(self, response: Trigger.Response, action: str) -> Trigger.Response:
        now_ns = self.get_clock().now().nanoseconds
        try:
            if action == "cancel":
                summary = self.recorder.cancel(now_ns)
            else:
                summary = self.recorder.stop(success=action == "stop_success", now_ns=now_ns)
        except RecorderStateError as exc:
            response.success, response.message = False, str(exc)
            self._refused.error("requests", f"{action} refused: {exc}")
        else:
            response.success = summary.outcome is not EpisodeOutcome.INTERRUPTED and summary.close_error is None
            response.message = summary.describe()
            self.get_logger().info(response.message)
        self._publish_status()
        return response

    # ------------------------------------------------------------------ status
    def _on_status_timer(self) -> None:
        summary = self.recorder.poll(self.get_clock().now().nanoseconds)
        if summary is not None:
            self.get_logger().error(f"recording stopped by itself: {summary.describe()}")
        self._publish_status()

    def _publish_status(self) -> None:
        status = self.recorder.status(self.get_clock().now().nanoseconds)
        self.status_publisher.publish(String(data=json.dumps(status, sort_keys=True)))

    def _diagnostics(self) -> tuple[int, str, dict[str, Any]]:
        status = self.recorder.status(self.get_clock().now().nanoseconds)
        try:
            free_mib = self._free_bytes(self.recorder.config.output_dir) / MIB
        except OSError:
            free_mib = -1.0
        values: dict[str, Any] = {
            "state": status["state"],
            "episode": status.get("episode", ""),
            "messages": sum(status.get("messages", {}).values()),
            "dropped": sum(status.get("dropped", {}).values()),
            "queued_bytes": status.get("queued_bytes", 0),
            "free_disk_mib": free_mib,
            "last_episode": status.get("last_episode", ""),
            "requests_refused": self._refused.count("requests"),
        }
        if status.get("writer_failure"):
            return DIAG_ERROR, status["writer_failure"], values
        last = self.recorder.last_summary
        if values["dropped"] or (last is not None and last.outcome is EpisodeOutcome.INTERRUPTED):
            return DIAG_WARN, "messages dropped or last episode interrupted", values
        return DIAG_OK, status["state"], values

    def shutdown(self) -> None:
        """Finish an episode in progress (kept, marked interrupted) before the node goes away."""
        with self._shutdown_lock:
            try:
                summary = self.recorder.shutdown(self.get_clock().now().nanoseconds)
            except RecorderStateError:  # a stop service call got there first and closes the bag
                summary = None
            if summary is not None:
                self.get_logger().warning(f"shut down mid-episode: {summary.describe()}")


def main(args: list[str] | None = None) -> None:
    from gr00t_description import ConfigError
    from gr00t_description.ros.node_main import run_node

    # On SIGINT/SIGTERM `shutdown()` closes the bag of an episode in progress: nothing is lost.
    run_node(RecorderNode, num_threads=3, args=args, startup_errors=(ConfigError, ValueError))


if __name__ == "__main__":
    main()
