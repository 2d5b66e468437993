"""The sim's client-side interfaces without a running node: the SceneState message both ways, its
refusal of malformed states, and the ResetEpisode client's handling of answers and refusals."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from builtin_interfaces.msg import Time

from gr00t_interfaces.msg import ObjectPlacement, SceneState
from gr00t_interfaces.srv import ResetEpisode
from gr00t_sim.sim_interfaces import (
    RESET_EPISODE_SERVICE,
    SCENE_STATE_FRAME_ID,
    ResetEpisodeClient,
    scene_observation,
    scene_state_message,
)


def _scene() -> SceneState:
    return scene_state_message(
        Time(sec=12, nanosec=500_000_000),
        {"red_cube": np.array([0.3, 0.1, 0.875]), "blue_cube": np.array([0.4, -0.1, 0.875])},
        {"red_cube": 0.25, "blue_cube": -1.0},
        {"left": np.array([0.2, 0.25, 1.0]), "right": np.array([0.2, -0.25, 1.0])},
    )


def test_scene_state_round_trips_to_the_task_observation() -> None:
    msg = _scene()
    assert msg.header.frame_id == SCENE_STATE_FRAME_ID
    assert [(o.name, o.yaw) for o in msg.objects] == [("red_cube", 0.25), ("blue_cube", -1.0)]
    observation = scene_observation(msg)
    assert observation.time_s == pytest.approx(12.5)
    np.testing.assert_allclose(observation.object_positions["blue_cube"], [0.4, -0.1, 0.875])
    np.testing.assert_allclose(observation.hand_positions["left"], [0.2, 0.25, 1.0])
    np.testing.assert_allclose(observation.hand_positions["right"], [0.2, -0.25, 1.0])


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda m: m.objects.append(ObjectPlacement(name="red_cube", position=[0.0, 0.0, 1.0])),
        lambda m: m.objects.append(ObjectPlacement(name="", position=[0.0, 0.0, 1.0])),
        lambda m: m.objects[0].position.__setitem__(0, math.nan),
        lambda m: m.right_palm.__setitem__(2, math.inf),
    ],
    ids=["repeated_name", "empty_name", "nan_object", "inf_palm"],
)
def test_malformed_scene_states_are_refused(corrupt) -> None:
    msg = _scene()
    corrupt(msg)
    with pytest.raises(ValueError):
        scene_observation(msg)


def test_positions_beyond_the_given_distance_are_refused() -> None:
    msg = _scene()
    msg.objects[1].position[0] = 1e6
    assert scene_observation(msg).object_positions["blue_cube"][0] == 1e6  # no limit asked for
    with pytest.raises(ValueError, match="beyond 5 m"):
        scene_observation(msg, max_distance_m=5.0)


class _Future:
    def __init__(self, result: Any) -> None:
        self._result = result

    def done(self) -> bool:
        return True

    def result(self) -> Any:
        return self._result


class _FakeNode:
    """Answers every ResetEpisode request with `response`; records the names and requests."""

    def __init__(self, response: ResetEpisode.Response) -> None:
        self.response = response
        self.requests: list[ResetEpisode.Request] = []
        self.client_names: list[str] = []

    def resolve_service_name(self, name: str) -> str:
        return f"/cell_2/{name}"

    def create_client(self, _srv_type: Any, name: str) -> Any:
        self.client_names.append(name)
        node = self

        class Client:
            def call_async(self, request: ResetEpisode.Request) -> _Future:
                node.requests.append(request)
                return _Future(node.response)

            def wait_for_service(self, timeout_sec: float) -> bool:
                return True

        return Client()


def _wait(future: _Future, timeout_s: float, what: str) -> Any:
    assert timeout_s == 7.0 and "reach/10003" in what
    return future.result()


def test_the_reset_client_uses_the_relative_name_and_returns_the_episode() -> None:
    node = _FakeNode(ResetEpisode.Response(success=True, id="reach/10003", instruction="touch the red cube"))
    client = ResetEpisodeClient(node, _wait, timeout_s=7.0)
    assert node.client_names == [RESET_EPISODE_SERVICE] and not RESET_EPISODE_SERVICE.startswith("/")
    assert client.srv_name == f"/cell_2/{RESET_EPISODE_SERVICE}"
    assert client.reset("reach", 10_003).instruction == "touch the red cube"
    assert (node.requests[0].task, node.requests[0].seed) == ("reach", 10_003)


def test_a_refused_episode_raises_with_the_sims_reason_and_a_bounded_message() -> None:
    node = _FakeNode(ResetEpisode.Response(success=False, message="rejected: unknown task"))
    client = ResetEpisodeClient(node, lambda future, _timeout, _what: future.result())
    with pytest.raises(RuntimeError, match="refused episode reach/10003: rejected: unknown task"):
        client.reset("reach", 10_003)
    with pytest.raises(RuntimeError) as refused:
        client.reset("r" * 1_000_000, 1)
    assert len(str(refused.value)) < 300  # a huge task name is not echoed whole
