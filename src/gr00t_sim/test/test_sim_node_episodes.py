"""The sim node's evaluation interfaces in-process: ~/reset_episode and ~/scene_state, used through
`gr00t_sim.sim_interfaces` (the clients' module) from a probe in the same namespace, so the relative
names are exercised under a namespace as a namespaced graph uses them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter

from gr00t_description import load_stack
from gr00t_sim import SimConfig
from gr00t_sim.runtime import SCENE_STATE_HZ
from gr00t_sim.sim_interfaces import MAX_TASK_NAME_BYTES, ResetEpisodeClient, subscribe_scene_state
from gr00t_sim.sim_node import SimNode
from gr00t_sim.tasks import SceneObservation, TableLayout, get_task

WAIT_S = 20.0
NAMESPACE = "/cell_2"
SIM_CONFIG = SimConfig.from_node_parameters(load_stack().nodes["sim"])


class Harness:
    def __init__(self, context: rclpy.Context) -> None:
        overrides = [Parameter("realtime_factor", value=0.0), Parameter("camera_hz", value=2.0)]
        self.sim = SimNode(context=context, parameter_overrides=overrides, namespace=NAMESPACE)
        self.probe = Node("probe", context=context, namespace=NAMESPACE)
        self.scene: list[SceneObservation] = []
        subscribe_scene_state(self.probe, self.scene.append)
        self.client = ResetEpisodeClient(self.probe, self._wait)
        self.diagnostics: list[DiagnosticArray] = []
        self.probe.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 10)
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

    def _wait(self, future, timeout_s: float, what: str):
        assert self.spin_until(future.done, timeout_s), what
        return future.result()

    def reset_episode(self, task: str, seed: int):
        """The response; RuntimeError (with the sim's reason) when refused."""
        assert self.client.wait_for_service(WAIT_S)
        return self.client.reset(task, seed)

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


def test_scene_state_lists_every_object_and_both_palms(harness: Harness) -> None:
    h = harness
    assert h.client.srv_name == f"{NAMESPACE}/gr00t_sim/reset_episode"
    assert h.spin_until(lambda: len(h.scene) >= 10)
    observation = h.scene[-1]
    assert set(observation.object_positions) == {o.name for o in SIM_CONFIG.objects}
    assert set(observation.hand_positions) == {"left", "right"}
    hands = observation.hand_positions
    assert hands["left"][1] > hands["right"][1]  # y is to the robot's left
    stamps = [o.time_s for o in h.scene]
    assert np.median(np.diff(stamps)) == pytest.approx(1.0 / SCENE_STATE_HZ, abs=0.003)  # sim time


@pytest.mark.parametrize("task", ["reach", "touch_one_of_two"])
def test_reset_episode_places_the_objects_and_returns_the_instruction(harness: Harness, task: str) -> None:
    h = harness
    seed = 10_003
    expected = get_task(task).sample(seed, TableLayout.from_sim_config(SIM_CONFIG))
    response = h.reset_episode(task, seed)
    assert response.success, response.message
    assert response.id == f"{task}/{seed}"
    assert response.instruction == expected.instruction
    assert response.target_object == expected.target_object and response.hand == expected.hand
    assert response.other_object == (expected.other_object or "")
    assert response.max_duration_s == pytest.approx(expected.max_duration_s)
    placements = {p.name: (list(p.position), p.yaw) for p in response.placements}
    assert placements == {
        name: (pytest.approx(list(p.position)), pytest.approx(p.yaw)) for name, p in expected.placements.items()
    }
    # The scene state comes to show the target where the episode put it. Waiting for "some messages
    # after the reply" is not enough: on a loaded machine those can still be pre-reset ones in flight.
    placed = np.asarray(expected.placements[expected.target_object].position)

    def target_offset() -> float:
        if not h.scene:
            return float("inf")
        objects = h.scene[-1].object_positions
        return float(np.linalg.norm(objects[expected.target_object][:2] - placed[:2]))

    assert h.spin_until(lambda: target_offset() < 0.01), f"target {target_offset():.3f} m from its placement"


@pytest.mark.parametrize(
    "task",
    ["stack_cubes", "", "reach\ufffd", "x" * (MAX_TASK_NAME_BYTES + 1), "[" * 100_000, "r" * 1_000_000],
    ids=["unknown_task", "empty", "invalid_utf8", "just_too_long", "deeply_nested_json", "one_megabyte"],
)
def test_reset_episode_refuses_bad_requests_and_counts_them(harness: Harness, task: str) -> None:
    h = harness
    assert h.spin_until(lambda: _diagnostic_value(h.diagnostics, "reset_episode_rejected") is not None)
    before = int(_diagnostic_value(h.diagnostics, "reset_episode_rejected"))
    started = time.monotonic()
    with pytest.raises(RuntimeError) as refused:
        h.reset_episode(task, 10_000)
    reason = str(refused.value).partition(": ")[2]
    assert reason.startswith("rejected:")
    assert len(reason) < 500  # the reason, not an echo of the request
    assert time.monotonic() - started < 5.0  # no quadratic close-match search over a huge name
    # The refusal is counted (once) in /diagnostics, and the node keeps serving good requests.
    h.diagnostics.clear()
    assert h.spin_until(lambda: _diagnostic_value(h.diagnostics, "reset_episode_rejected") == str(before + 1))
    assert h.reset_episode("reach", 10_001).success


def _diagnostic_value(arrays: list[DiagnosticArray], key: str) -> str | None:
    values = [v.value for a in arrays for s in a.status for v in s.values if v.key == key]
    return values[-1] if values else None
