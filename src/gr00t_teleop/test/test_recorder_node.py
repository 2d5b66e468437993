"""Recorder node in-process (own rclpy Context): records published joint states, images and the
latched instruction into a bag rosbags reads; start/stop/cancel services and their refusals."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_typestore

rclpy = pytest.importorskip("rclpy")
from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import Image, JointState  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from gr00t_interfaces.msg import Instruction, RecorderStatus  # noqa: E402
from gr00t_interfaces.srv import SetInstruction  # noqa: E402
from gr00t_teleop.recorder_node import RecorderNode  # noqa: E402
from gr00t_teleop.recording import EpisodeOutcome, read_episode_metadata  # noqa: E402

LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


class Harness:
    def __init__(self) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.executor = MultiThreadedExecutor(num_threads=3, context=self.context)
        self.nodes = []
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while self.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception:  # noqa: BLE001 - shutting down
                if not self.context.ok():
                    return
                raise

    def add(self, node):
        self.nodes.append(node)
        self.executor.add_node(node)
        return node

    def call(self, client, request, timeout=10.0):
        assert client.wait_for_service(timeout_sec=timeout), f"service {client.srv_name} not available"
        future = client.call_async(request)
        deadline = time.monotonic() + timeout
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert future.done(), f"no answer from {client.srv_name}"
        return future.result()

    def close(self) -> None:
        for node in self.nodes:
            if hasattr(node, "shutdown"):
                node.shutdown()
        self.executor.shutdown(timeout_sec=2.0)
        for node in self.nodes:
            node.destroy_node()
        rclpy.shutdown(context=self.context)
        self._thread.join(timeout=2.0)


def wait_for(predicate, timeout=5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.fixture
def ros():
    harness = Harness()
    yield harness
    harness.close()


def test_recorder_node_records_an_episode_and_refuses_bad_requests(ros, tmp_path):
    out = tmp_path / "episodes"
    recorder = ros.add(
        RecorderNode(
            free_bytes=lambda _p: 1 << 40,
            context=ros.context,
            parameter_overrides=[
                Parameter("output_dir", value=str(out)),
                Parameter("topic_keys", value=["joint_states", "joint_command", "instruction", "cameras"]),
                Parameter("required_topic_keys", value=["joint_states"]),  # no joint commands published here
                Parameter("operator", value="bob"),
                Parameter("flush_period_s", value=0.05),
                Parameter("status_period_s", value=0.1),
            ],
        )
    )
    topics = recorder.stack.topics
    client = ros.add(rclpy.create_node("recorder_test_client", context=ros.context))
    joint_pub = client.create_publisher(JointState, topics["joint_states"], 50)
    image_pub = client.create_publisher(Image, topics["cameras"]["ego_view"]["image"], 10)
    instruction_pub = client.create_publisher(Instruction, topics["instruction"], LATCHED)
    statuses: list[RecorderStatus] = []
    client.create_subscription(RecorderStatus, "/gr00t_recorder/status", statuses.append, LATCHED)
    start = client.create_client(SetInstruction, "/gr00t_recorder/start")
    stop_success = client.create_client(Trigger, "/gr00t_recorder/stop_success")
    stop_failure = client.create_client(Trigger, "/gr00t_recorder/stop_failure")
    cancel = client.create_client(Trigger, "/gr00t_recorder/cancel")

    # Published before the episode: the latched instruction must still be in the bag.
    instruction_pub.publish(Instruction(id="i1", text="pick the pear"))
    assert wait_for(lambda: any(t.latest for t in recorder.topics))
    assert wait_for(lambda: joint_pub.get_subscription_count() > 0 and image_pub.get_subscription_count() > 0)

    refused = ros.call(stop_success, Trigger.Request())
    assert not refused.success and "no episode is being recorded" in refused.message
    empty = ros.call(start, SetInstruction.Request(text=""))
    assert not empty.accepted and "empty" in empty.message

    started = ros.call(start, SetInstruction.Request(text="pick the pear and place it in the plate"))
    assert started.accepted, started.message
    assert started.id.startswith("episode_000000_")
    twice = ros.call(start, SetInstruction.Request(text="again"))
    assert not twice.accepted and "already recording" in twice.message

    image = Image(height=4, width=6, encoding="rgb8", step=18)
    image.data = bytes(np.arange(72, dtype=np.uint8))
    for i in range(30):
        joint_pub.publish(JointState(name=["left_elbow_pitch_joint"], position=[0.01 * i]))
        if i % 6 == 0:
            image_pub.publish(image)
        time.sleep(0.005)
    assert wait_for(lambda: recorder.recorder.status()["messages"].get("/joint_states", 0) >= 30)
    assert wait_for(lambda: any(s.state == RecorderStatus.STATE_RECORDING for s in statuses))
    recording = next(s for s in statuses if s.state == RecorderStatus.STATE_RECORDING)
    assert recording.episode == started.id and recording.task == "pick the pear and place it in the plate"
    assert recording.path == str(out / started.id) and recording.output_dir == str(out)
    assert recording.free_disk_bytes == 1 << 40 and recording.writer_failure == ""
    assert "/joint_states" in recording.topics
    assert len(recording.topics) == len(recording.message_counts) == len(recording.dropped_counts)
    assert recording.last_outcome == RecorderStatus.OUTCOME_NONE and recording.last_summary == ""

    stopped = ros.call(stop_success, Trigger.Request())
    assert stopped.success, stopped.message
    bag_dir = out / started.id
    episode = read_episode_metadata(bag_dir)
    assert episode.outcome is EpisodeOutcome.SUCCESS and episode.operator == "bob"
    assert episode.task == "pick the pear and place it in the plate" and episode.robot == "gr1t2"

    with AnyReader([bag_dir], default_typestore=get_typestore(Stores.ROS2_KILTED)) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
        assert counts["/joint_states"] == 30 and counts["/head_camera/image_raw"] == 5
        assert counts["/gr00t/instruction"] == 1 and counts["/joint_command"] == 0
        messages = {c.topic: reader.deserialize(raw, c.msgtype) for c, _t, raw in reader.messages()}
        qos = {c.topic: c.ext.offered_qos_profiles for c in reader.connections}
    assert messages["/gr00t/instruction"].text == "pick the pear"
    assert bytes(messages["/head_camera/image_raw"].data) == bytes(image.data)
    assert qos["/gr00t/instruction"][0].durability.value == 1  # the publisher's TRANSIENT_LOCAL offer

    # A failed episode is kept and labelled; a cancelled one is deleted.
    assert ros.call(start, SetInstruction.Request(text="second")).accepted
    failed = ros.call(stop_failure, Trigger.Request())
    assert failed.success and "failure" in failed.message
    third = ros.call(start, SetInstruction.Request(text="third"))
    assert ros.call(cancel, Trigger.Request()).success
    assert not (out / third.id).exists()
    assert sorted(p.name.split("_")[1] for p in out.iterdir()) == ["000000", "000001"]
    assert wait_for(lambda: statuses and statuses[-1].last_episode == third.id)
    idle = statuses[-1]
    assert idle.state == RecorderStatus.STATE_IDLE
    assert idle.episode == "" and idle.topics == [] and idle.elapsed.sec == idle.elapsed.nanosec == 0
    assert idle.last_outcome == RecorderStatus.OUTCOME_DISCARDED and idle.last_episode == third.id
    assert idle.last_episode_path == "" and idle.last_summary.startswith(f"episode {third.id}: discarded")


@pytest.mark.parametrize(
    "text",
    ["pick the \ufffd pear", "pick the pear\x07", "x" * 1_000_000, "[" * 100_000],
    ids=["invalid_utf8", "control_character", "one_megabyte", "deeply_nested_json"],
)
def test_a_bad_start_during_an_episode_is_refused_counted_and_loses_nothing(ros, tmp_path, text):
    out = tmp_path / "episodes"
    recorder = ros.add(
        RecorderNode(
            free_bytes=lambda _p: 1 << 40,
            context=ros.context,
            parameter_overrides=[
                Parameter("output_dir", value=str(out)),
                Parameter("topic_keys", value=["joint_states"]),
                Parameter("required_topic_keys", value=["joint_states"]),
                Parameter("flush_period_s", value=0.05),
            ],
        )
    )
    client = ros.add(rclpy.create_node("recorder_test_client", context=ros.context))
    joint_pub = client.create_publisher(JointState, recorder.stack.topics["joint_states"], 50)
    start = client.create_client(SetInstruction, "/gr00t_recorder/start")
    stop_success = client.create_client(Trigger, "/gr00t_recorder/stop_success")
    assert wait_for(lambda: joint_pub.get_subscription_count() > 0)
    # Refused while idle: no episode directory is created.
    refused = ros.call(start, SetInstruction.Request(text=text))
    assert not refused.accepted and len(refused.message) < 500
    assert not out.exists() or not any(out.iterdir())
    started = ros.call(start, SetInstruction.Request(text="pick the pear"))
    assert started.accepted, started.message

    def publish(count: int) -> None:
        for i in range(count):
            joint_pub.publish(JointState(name=["left_elbow_pitch_joint"], position=[0.01 * i]))
            time.sleep(0.005)

    publish(10)
    assert not ros.call(start, SetInstruction.Request(text=text)).accepted  # refused mid-episode
    publish(10)
    assert wait_for(lambda: recorder.recorder.status()["messages"].get("/joint_states", 0) >= 20)
    assert recorder._refused.count("requests") == 2
    assert recorder._diagnostics()[2]["requests_refused"] == 2
    stopped = ros.call(stop_success, Trigger.Request())
    assert stopped.success, stopped.message
    episode = read_episode_metadata(out / started.id)
    assert episode.outcome is EpisodeOutcome.SUCCESS and episode.task == "pick the pear"
    with AnyReader([out / started.id], default_typestore=get_typestore(Stores.ROS2_KILTED)) as reader:
        assert {c.topic: c.msgcount for c in reader.connections}["/joint_states"] == 20
