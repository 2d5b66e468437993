"""Recorder node: one rosbag2 MCAP bag per demonstration episode (thin wrapper of `EpisodeRecorder`).

Services (all private, `~/…`):
  start         gr00t_interfaces/srv/SetInstruction  text = the task instruction of the episode;
                                                     response id = episode name, message = why not
  stop_success  std_srvs/Trigger   end the episode, labelled successful
  stop_failure  std_srvs/Trigger   end the episode, labelled failed (kept, skipped by gr00t-convert)
  cancel        std_srvs/Trigger   end the episode and delete it
Topics out: `~/status` (gr00t_interfaces/RecorderStatus, latched, on change and every `status_period_s`),
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

import threading
from dataclasses import replace
from typing import Any

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from std_srvs.srv import Trigger

from gr00t_description.ros.diagnostics import DiagnosticsPublisher, InputLog
from gr00t_description.ros.parameters import declare_config, declare_stack
from gr00t_description.ros.qos import LATCHED_QOS
from gr00t_interfaces.msg import RecorderStatus
from gr00t_interfaces.srv import SetInstruction
from gr00t_teleop.recorded_topics import RecordedTopic, TopicTap, qos_profile_of, resolve_topic_keys, type_name_of
from gr00t_teleop.recorder_config import MIB, SUBSCRIPTION_QOS, RecorderNodeConfig
from gr00t_teleop.recorder_status import status_message
from gr00t_teleop.recording import (
    EpisodeOutcome,
    EpisodeRecorder,
    RecorderStateError,
    TopicInfo,
    disk_free_bytes,
)
from gr00t_teleop.recording.async_writer import FreeBytesFn

DIAG_OK, DIAG_WARN, DIAG_ERROR = 0, 1, 2  # diagnostic_msgs/DiagnosticStatus levels
REJECTION_LOG_PERIOD_S = 2.0
STACK_SECTION = "recorder"


class RecorderNode(Node):
    def __init__(self, free_bytes: FreeBytesFn = disk_free_bytes, **node_kwargs: Any) -> None:
        super().__init__("gr00t_recorder", **node_kwargs)
        self.stack = declare_stack(self)
        params = declare_config(self, self.stack, STACK_SECTION, RecorderNodeConfig)
        params.check_required_keys()
        config = params.recorder_config(self.stack.robot.name, self.stack.embodiment_tag, self.stack.data_config)
        self._free_bytes = free_bytes
        self._refused = InputLog(self.get_logger(), REJECTION_LOG_PERIOD_S)

        # Subscriptions may run in parallel with each other and with a (blocking) stop service.
        self._topic_group = ReentrantCallbackGroup()
        self._service_group = MutuallyExclusiveCallbackGroup()
        self.topics: list[RecordedTopic] = []
        topic_keys = list(params.topic_keys)
        required_specs = {self.stack.topics[k] for k in params.required_topic_keys if k in topic_keys}
        required: list[str] = []
        for spec_name, msg_class, qos_class in resolve_topic_keys(self.stack, topic_keys):
            qos = SUBSCRIPTION_QOS[qos_class]
            entry = RecordedTopic("", type_name_of(msg_class), qos_class, qos)
            tap = TopicTap(entry, lambda: self.get_clock().now().nanoseconds, lambda: self.recorder)
            subscription = self.create_subscription(
                msg_class, spec_name, tap, qos, callback_group=self._topic_group, raw=True
            )
            entry.name = subscription.topic_name
            self.topics.append(entry)
            if spec_name in required_specs:
                required.append(entry.name)
        self.recorder = EpisodeRecorder(replace(config, required_topics=tuple(required)), free_bytes=free_bytes)

        self.status_publisher = self.create_publisher(RecorderStatus, "~/status", LATCHED_QOS)
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
        self.create_timer(params.status_period_s, self._on_status_timer, callback_group=self._service_group)
        self.diagnostics = DiagnosticsPublisher(self, "gr00t_recorder", self._diagnostics)
        self._shutdown_lock = threading.Lock()
        self.get_logger().info(
            f"recorder ready: {len(self.topics)} topics ({', '.join(t.name for t in self.topics)}) -> "
            f"{config.output_dir}, {config.bag.compression} chunks of {config.bag.chunk_size_bytes} B, "
            f"queue {config.queue.max_queue_bytes // MIB} MiB"
        )
        self._publish_status()

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
        now = self.get_clock().now()
        last = self.recorder.last_summary
        status = self.recorder.status(now.nanoseconds)
        self.status_publisher.publish(status_message(status, last, self._free_disk_bytes(), now.to_msg()))

    def _free_disk_bytes(self) -> int | None:
        try:
            return self._free_bytes(self.recorder.config.output_dir)
        except OSError:
            return None

    def _diagnostics(self) -> tuple[int, str, dict[str, Any]]:
        status = self.recorder.status(self.get_clock().now().nanoseconds)
        free = self._free_disk_bytes()
        free_mib = -1.0 if free is None else free / MIB
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
