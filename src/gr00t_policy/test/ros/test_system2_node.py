"""System 2 node alone, in-process: goal tokens from images + instruction, and bad inputs."""

from __future__ import annotations

import time

import numpy as np
import pytest
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image

from gr00t_description.ros.qos import LATEST_RELIABLE_QOS, SENSOR_QOS
from gr00t_interfaces.msg import GoalTokens
from gr00t_interfaces.srv import SetInstruction
from gr00t_policy.ros.image_conversion import rgb_to_image_fields
from gr00t_policy.ros.messages import decode_goal_tokens
from gr00t_policy.ros.system2_node import System2Node


@pytest.fixture
def system2(ros, demo_policy):
    node = ros.add(System2Node(policy=demo_policy, context=ros.context))
    client = ros.node("system2_test_client")
    goals: list[GoalTokens] = []
    client.create_subscription(GoalTokens, node.stack.topics["goal_tokens"], goals.append, LATEST_RELIABLE_QOS)
    camera = client.create_publisher(Image, node.stack.camera_topics()["ego_view"]["image"], SENSOR_QOS)
    service = client.create_client(SetInstruction, node.stack.services["set_instruction"])
    assert service.wait_for_service(timeout_sec=5.0)
    return node, client, camera, service, goals


def _image(client, encoding="rgb8", age_s=0.0, size=(224, 224)):
    rgb = np.random.default_rng(0).integers(0, 255, size=size + (3,), dtype=np.uint8)
    msg = Image(**rgb_to_image_fields(rgb))
    msg.encoding = encoding
    msg.header.stamp = (client.get_clock().now() - rclpy_duration(age_s)).to_msg()
    return msg


def rclpy_duration(seconds: float):
    from rclpy.duration import Duration

    return Duration(nanoseconds=int(seconds * 1e9))


def _call(ros, service, text, instruction_id=""):
    future = service.call_async(SetInstruction.Request(text=text, id=instruction_id))
    assert ros.wait_for(future.done, 5.0)
    return future.result()


def _stream(ros, client, camera, seconds, **kwargs):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        camera.publish(_image(client, **kwargs))
        time.sleep(0.03)


def test_publishes_goal_tokens_for_fresh_images_and_an_instruction(ros, system2, demo_policy):
    node, client, camera, service, goals = system2
    response = _call(ros, service, "pick up the red cube")
    assert response.accepted and response.id
    _stream(ros, client, camera, 1.0)
    assert ros.wait_for(lambda: len(goals) >= 3, 10.0)
    goal = decode_goal_tokens(goals[-1])
    assert goal.tokens.shape[0] == 1 and goal.tokens.shape[2] == demo_policy.goal_dim
    assert goals[-1].instruction == "pick up the red cube" and goals[-1].instruction_id == response.id
    assert goals[-1].model_id == demo_policy.model_id
    assert [g.sequence for g in goals] == list(range(goals[0].sequence, goals[0].sequence + len(goals)))


def test_no_goal_without_instruction_or_with_bad_images(ros, system2):
    node, client, camera, service, goals = system2
    _stream(ros, client, camera, 0.5)  # fresh frames but no instruction yet
    assert goals == []
    time.sleep(node.config.max_image_age_s)  # let those frames age out
    assert _call(ros, service, "wave").accepted
    _stream(ros, client, camera, 0.5, encoding="yuv422")  # unsupported encoding: dropped
    _stream(ros, client, camera, 0.5, age_s=5.0)  # stale frames
    time.sleep(0.2)
    assert goals == []
    _stream(ros, client, camera, 0.5)  # and the node still works
    assert ros.wait_for(lambda: len(goals) > 0, 5.0)


def test_oversized_instruction_is_rejected_and_empty_clears(ros, system2):
    node, client, camera, service, goals = system2
    assert _call(ros, service, "reach the blue cube").accepted
    rejected = _call(ros, service, "x" * 10_000)
    assert not rejected.accepted and "limit" in rejected.message
    _stream(ros, client, camera, 0.6)
    assert ros.wait_for(lambda: len(goals) > 0, 5.0)
    assert goals[-1].instruction == "reach the blue cube"  # the previous one stays in effect
    cleared = _call(ros, service, "")
    assert cleared.accepted and cleared.id == ""
    time.sleep(0.2)
    count = len(goals)
    _stream(ros, client, camera, 0.5)
    assert len(goals) == count


def test_a_clear_naming_an_older_instruction_keeps_the_current_one(ros, system2):
    node, client, camera, service, goals = system2
    assert _call(ros, service, "reach the blue cube", "first").id == "first"
    assert _call(ros, service, "reach the red cube", "second").id == "second"
    late_clear = _call(ros, service, "", "first")  # the first action's end, arriving late
    assert late_clear.accepted and late_clear.id == "second"
    _stream(ros, client, camera, 0.6)
    assert ros.wait_for(lambda: len(goals) > 0, 5.0)
    assert goals[-1].instruction == "reach the red cube" and goals[-1].instruction_id == "second"
    cleared = _call(ros, service, "", "second")
    assert cleared.accepted and cleared.id == ""
    time.sleep(0.2)
    count = len(goals)
    _stream(ros, client, camera, 0.5)
    assert len(goals) == count


def test_dtype_parameter_runs_the_backbone_in_that_precision(ros, demo_policy):
    import torch

    node = ros.add(
        System2Node(
            context=ros.context,
            parameter_overrides=[Parameter("dtype", value="bfloat16")],
        )
    )
    assert {p.dtype for p in node.policy.model.parameters()} == {torch.bfloat16}
    client = ros.node("system2_dtype_client")
    goals: list[GoalTokens] = []
    client.create_subscription(GoalTokens, node.stack.topics["goal_tokens"], goals.append, LATEST_RELIABLE_QOS)
    camera = client.create_publisher(Image, node.stack.camera_topics()["ego_view"]["image"], SENSOR_QOS)
    node.set_instruction("pick up the red cube", "")
    _stream(ros, client, camera, 1.0)
    assert ros.wait_for(lambda: len(goals) >= 2, 10.0)
    goal = decode_goal_tokens(goals[-1])
    assert goal.tokens.shape[2] == demo_policy.goal_dim and torch.isfinite(goal.tokens).all()


# -- hostile input: one bad message must neither be used nor outlive itself; logs stay readable --
def _invalid_utf8_instruction() -> bytes:
    """A serialized Instruction whose text bytes are not UTF-8 (what a raw publisher can send)."""
    from rclpy.serialization import serialize_message

    from gr00t_interfaces.msg import Instruction

    raw = bytearray(serialize_message(Instruction(id="bad", text="hello")))
    start = raw.find(b"hello")
    raw[start : start + 2] = b"\xff\xfe"
    return bytes(raw)


def test_an_instruction_that_was_not_utf8_is_rejected(ros, system2):
    from gr00t_description.ros.qos import LATCHED_QOS
    from gr00t_interfaces.msg import Instruction

    node, client, camera, service, goals = system2
    publisher = client.create_publisher(Instruction, node.stack.topics["instruction"], LATCHED_QOS)
    publisher.publish(_invalid_utf8_instruction())
    assert ros.wait_for(lambda: node.input_log.snapshot().get("rejected_instruction_topic", 0) >= 1, 5.0)
    assert node.goal_encoder.instruction == ""
    # The service gets the same decoding: replacement characters instead of the sender's bytes.
    response = _call(ros, service, "\ufffd\ufffdllo")
    assert not response.accepted and "UTF-8" in response.message
    assert node.goal_encoder.instruction == ""
    # An id is echoed in every goal-token message: a 100 kB one is refused, not republished.
    response = _call(ros, service, "wave", "i" * 100_000)
    assert not response.accepted and "at most 64" in response.message
    assert node.goal_encoder.instruction == ""


def test_an_instruction_flood_logs_a_few_lines_and_counts_the_rest(ros, system2, capfd):
    from gr00t_interfaces.msg import Instruction

    node, client, camera, service, goals = system2
    capfd.readouterr()
    for i in range(500):  # the callbacks themselves, as a 1 kHz publisher would call them
        node.on_instruction(Instruction(id=f"good{i}", text=f"wave {i}"))
        node.on_instruction(Instruction(id=f"bad{i}", text="x" * 10_000))
    log = capfd.readouterr().err
    accepted = [line for line in log.splitlines() if "instruction [" in line]
    rejected = [line for line in log.splitlines() if "instruction rejected" in line]
    assert 1 <= len(accepted) <= 3 and 1 <= len(rejected) <= 3, log[-2000:]
    counts = node.input_log.snapshot()
    assert counts["accepted_instruction_topic"] == 500 and counts["rejected_instruction_topic"] == 500
    assert node.goal_encoder.instruction == "wave 499"  # throttled logging, not throttled handling


def _frame(stamp_s: float, size: int = 224) -> Image:
    from gr00t_policy.ros.messages import seconds_to_time

    msg = Image(height=size, width=size, encoding="rgb8", step=3 * size, data=bytes(3 * size * size))
    msg.header.stamp = seconds_to_time(stamp_s)
    return msg


def test_an_oversize_frame_is_rejected_before_any_copy(ros, system2):
    import tracemalloc

    from gr00t_description.ros.diagnostics import now_seconds

    node, client, camera, service, goals = system2
    frame = _frame(now_seconds(node), size=4000)  # 48 MB of rgb8, as rclpy hands it over (array.array)
    assert len(frame.data) == 48_000_000
    tracemalloc.start()
    try:
        node.on_image("ego_view", frame)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000, f"{peak} bytes allocated for a rejected frame"
    assert node.goal_encoder.frame_stamp("ego_view") is None
    assert node.input_log.snapshot()["rejected_frames_ego_view"] == 1


def test_a_frame_stamped_far_ahead_is_rejected_and_good_frames_still_count(ros, system2):
    from gr00t_description.ros.diagnostics import now_seconds

    node, client, camera, service, goals = system2
    node.on_image("ego_view", _frame(now_seconds(node) + 3600.0))
    # Kept, it would look fresh for an hour: goals from a frozen frame after the camera died.
    assert node.goal_encoder.frame_stamp("ego_view") is None
    node.on_image("ego_view", _frame(now_seconds(node)))
    assert node.goal_encoder.frame_stamp("ego_view") is not None
    assert node.input_log.snapshot()["rejected_frames_ego_view"] == 1
