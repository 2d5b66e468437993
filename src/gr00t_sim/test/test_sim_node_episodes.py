"""The sim node's evaluation interfaces in-process: ~/reset_episode and ~/scene_state."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import rclpy
from gr00t_interfaces.srv import SetInstruction
from gr00t_sim.sim_node import NODE_NAME, SCENE_STATE_HZ, SimNode, parse_scene_state
from gr00t_sim.tasks import get_task
from gr00t_sim.tasks.sim_binding import layout_of
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState

WAIT_S = 20.0


class Harness:
    def __init__(self, context: rclpy.Context) -> None:
        overrides = [Parameter("realtime_factor", value=0.0), Parameter("camera_hz", value=2.0)]
        self.sim = SimNode(context=context, parameter_overrides=overrides)
        self.probe = Node("probe", context=context)
        self.scene: list[JointState] = []
        self.probe.create_subscription(JointState, f"/{NODE_NAME}/scene_state", self.scene.append, 10)
        self.client = self.probe.create_client(SetInstruction, f"/{NODE_NAME}/reset_episode")
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.sim)
        self.executor.add_node(self.probe)

    def spin_until(self, condition: Callable[[], bool], timeout_s: float = WAIT_S) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if condition():
                return True
            self.executor.spin_once(timeout_sec=0.02)
        return condition()

    def reset_episode(self, text: str) -> SetInstruction.Response:
        assert self.client.wait_for_service(timeout_sec=WAIT_S)
        future = self.client.call_async(SetInstruction.Request(text=text))
        assert self.spin_until(future.done)
        return future.result()

    def close(self) -> None:
        self.executor.shutdown()
        self.sim.destroy_node()
        self.probe.destroy_node()


@pytest.fixture(scope="module")
def harness(ros_context) -> Iterator[Harness]:
    # One node for the module: building the sim model dominates the run time.
    h = Harness(ros_context)
    yield h
    h.close()


def _stamp_s(msg: Any) -> float:
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


def test_scene_state_lists_every_object_and_both_palms(harness: Harness) -> None:
    h = harness
    assert h.spin_until(lambda: len(h.scene) >= 10)
    msg = h.scene[-1]
    objects, hands = parse_scene_state(list(msg.name), list(msg.position))
    assert set(objects) == set(h.sim._sim.object_names)
    assert set(hands) == {"left", "right"}
    assert list(msg.name[-6:]) == [f"{side}_palm_{axis}" for side in ("left", "right") for axis in "xyz"]
    assert hands["left"][1] > hands["right"][1]  # y is to the robot's left
    stamps = [_stamp_s(m) for m in h.scene]
    assert np.median(np.diff(stamps)) == pytest.approx(1.0 / SCENE_STATE_HZ, abs=0.003)  # sim time


@pytest.mark.parametrize("task", ["reach", "touch_one_of_two"])
def test_reset_episode_places_the_objects_and_returns_the_instruction(harness: Harness, task: str) -> None:
    h = harness
    seed = 10_003
    expected = get_task(task).sample(seed, layout_of(h.sim._sim))
    response = h.reset_episode(json.dumps({"task": task, "seed": seed}))
    assert response.accepted, response.message
    assert response.id == f"{task}/{seed}"
    body = json.loads(response.message)
    assert body["instruction"] == expected.instruction
    assert body["spec"]["target_object"] == expected.target_object and body["spec"]["seed"] == seed
    # The scene state comes to show the target where the episode put it. Waiting for "some messages
    # after the reply" is not enough: on a loaded machine those can still be pre-reset ones in flight.
    placed = np.asarray(expected.placements[expected.target_object].position)

    def target_offset() -> float:
        if not h.scene:
            return float("inf")
        objects, _ = parse_scene_state(list(h.scene[-1].name), list(h.scene[-1].position))
        return float(np.linalg.norm(objects[expected.target_object][:2] - placed[:2]))

    assert h.spin_until(lambda: target_offset() < 0.01), f"target {target_offset():.3f} m from its placement"


@pytest.mark.parametrize(
    "text",
    ["not json", json.dumps({"task": "stack_cubes", "seed": 10_000}), json.dumps({"task": "reach"}),
     json.dumps({"task": "reach", "seed": -1}), json.dumps({"task": "reach", "seed": "1"}), json.dumps([1])],
    ids=["not_json", "unknown_task", "no_seed", "negative_seed", "string_seed", "not_an_object"],
)
def test_reset_episode_rejects_bad_requests(harness: Harness, text: str) -> None:
    response = harness.reset_episode(text)
    assert not response.accepted and response.message.startswith("rejected:")
