"""The simulator node's interfaces as its clients use them: names, the scene state, the episode reset.

Evaluation (`gr00t-eval --policy node`), `gr00t-launch --episode`, `gr00t-record-demos`, the
scripted teleop and the fuzz profiles import this module, never `gr00t_sim.sim_node`: it holds no
node and starts no simulator.

Names are relative (`gr00t_sim/scene_state`, not `/gr00t_sim/scene_state`): a client node resolves
them against its own namespace, so a tool whose node runs in the graph's namespace finds the sim
there, and a graph started under a namespace keeps working.

The scene state travels as `gr00t_interfaces/SceneState` (objects as `ObjectPlacement`s, both palm
centres); `scene_state_message` builds one, `scene_observation` reads one back into the task
library's `SceneObservation` and refuses a malformed one (ValueError).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from gr00t_sim.tasks.core import EpisodeSpec, SceneObservation

SIM_NODE_NAME = "gr00t_sim"  # as in gr00t_bringup's graph
SCENE_STATE_TOPIC = f"{SIM_NODE_NAME}/scene_state"  # gr00t_interfaces/SceneState, reliable depth 10
RESET_EPISODE_SERVICE = f"{SIM_NODE_NAME}/reset_episode"  # gr00t_interfaces/ResetEpisode
RESET_SERVICE = f"{SIM_NODE_NAME}/reset"  # std_srvs/Trigger
SCENE_STATE_FRAME_ID = "world"
HAND_SIDES = ("left", "right")
MAX_TASK_NAME_BYTES = 64  # longer names are refused before the (quadratic) close-match hint is computed
# A subscriber's queue: a tool that follows an episode must not lose states while it is busy.
SCENE_STATE_QUEUE_DEPTH = 50


def checked_task_name(task: str) -> str:
    """`task` if it can name a task: ValueError for an oversize or undecodable name (the check that
    must come before the task library's lookup, whose close-match hint is quadratic in the length)."""
    size = len(task.encode("utf-8", errors="surrogatepass"))
    if size > MAX_TASK_NAME_BYTES:
        raise ValueError(f"task name of {size} bytes; task names have at most {MAX_TASK_NAME_BYTES}")
    if "\ufffd" in task:  # what invalid UTF-8 on the wire decodes to
        raise ValueError("task name is not valid UTF-8")
    return task


# ------------------------------------------------------------------------------------ scene state
def scene_state_message(
    stamp: Any,
    object_positions: Mapping[str, np.ndarray],
    object_yaws: Mapping[str, float],
    hand_positions: Mapping[str, np.ndarray],
) -> Any:
    """A `gr00t_interfaces/SceneState` of every object (position, yaw) and both palms."""
    from gr00t_interfaces.msg import ObjectPlacement, SceneState

    msg = SceneState(
        objects=[
            ObjectPlacement(name=name, position=[float(v) for v in position[:3]], yaw=float(object_yaws[name]))
            for name, position in object_positions.items()
        ],
        left_palm=[float(v) for v in hand_positions["left"][:3]],
        right_palm=[float(v) for v in hand_positions["right"][:3]],
    )
    msg.header.stamp = stamp
    msg.header.frame_id = SCENE_STATE_FRAME_ID
    return msg


def scene_observation(msg: Any, max_distance_m: float = math.inf) -> SceneObservation:
    """A SceneState as the task library's observation (time = its header stamp, s).

    ValueError for a message no simulator sends: an unnamed or repeated object, or a position that
    is not finite or lies further than `max_distance_m` from the origin (the robot's base).
    """
    names = [o.name for o in msg.objects]
    if any(not name for name in names) or len(set(names)) != len(names):
        raise ValueError(f"object names must be non-empty and unique, got {names[:8]}")
    objects = {o.name: np.asarray(o.position, dtype=np.float64) for o in msg.objects}
    hands = {"left": np.asarray(msg.left_palm, dtype=np.float64), "right": np.asarray(msg.right_palm, dtype=np.float64)}
    for name, position in (*objects.items(), *((f"{side}_palm", p) for side, p in hands.items())):
        if not (np.isfinite(position).all() and float(np.abs(position).max()) <= max_distance_m):
            raise ValueError(f"{name} at {position.tolist()}: not finite or beyond {max_distance_m:g} m")
    stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
    return SceneObservation(time_s=stamp, object_positions=objects, hand_positions=hands)


def subscribe_scene_state(
    node: Any,
    on_observation: Callable[[SceneObservation], None],
    *,
    on_error: Callable[[ValueError], None] | None = None,
    qos: Any = SCENE_STATE_QUEUE_DEPTH,
) -> Any:
    """Subscribe `node` to the sim's scene state (relative name); `on_observation` gets each state as
    a SceneObservation, `on_error` (default: raise) each malformed one."""
    from gr00t_interfaces.msg import SceneState

    def on_message(msg: SceneState) -> None:
        try:
            observation = scene_observation(msg)
        except ValueError as exc:
            if on_error is None:
                raise
            on_error(exc)
            return
        on_observation(observation)

    return node.create_subscription(SceneState, SCENE_STATE_TOPIC, on_message, qos)


# ----------------------------------------------------------------------------------- episode reset
def fill_episode_response(spec: EpisodeSpec, response: Any) -> None:
    """Copy the episode into a ResetEpisode response (id, instruction, objects, placements, region)."""
    from gr00t_interfaces.msg import ObjectPlacement

    response.id = f"{spec.task}/{spec.seed}"
    response.instruction = spec.instruction
    response.target_object = spec.target_object
    response.other_object = spec.other_object or ""
    response.hand = spec.hand
    response.max_duration_s = float(spec.max_duration_s)
    response.placements = [
        ObjectPlacement(name=name, position=[float(v) for v in p.position], yaw=float(p.yaw))
        for name, p in spec.placements.items()
    ]
    if spec.region is not None:
        response.region_name = spec.region.name
        response.region_x_m = [float(v) for v in spec.region.x_m]
        response.region_y_m = [float(v) for v in spec.region.y_m]
        response.region_min_z_m = float(spec.region.min_z_m)


class ResetEpisodeClient:
    """The one client of the sim's `~/reset_episode`, for every tool that sets up task episodes.

    `wait(future, timeout_s, what)` returns the future's result once it is done (the caller's
    executor spins it), e.g. `gr00t_bringup.processes.Graph.wait_for`, which also gives up when a
    node of the graph exits. The request is refused (RuntimeError) unless the sim says success.
    """

    def __init__(self, node: Any, wait: Callable[[Any, float, str], Any], timeout_s: float = 30.0) -> None:
        from gr00t_interfaces.srv import ResetEpisode

        self._request_type = ResetEpisode.Request
        self._client = node.create_client(ResetEpisode, RESET_EPISODE_SERVICE)
        self._wait = wait
        self.timeout_s = timeout_s
        # The resolved name (the client node's namespace applied), for messages.
        self.srv_name: str = node.resolve_service_name(RESET_EPISODE_SERVICE)

    def wait_for_service(self, timeout_s: float) -> bool:
        return self._client.wait_for_service(timeout_sec=timeout_s)

    def reset(self, task: str, seed: int) -> Any:
        """Place episode (task, seed); the ResetEpisode response (instruction, placements, ...)."""
        future = self._client.call_async(self._request_type(task=task, seed=seed))
        # A task name is short; a hostile or broken caller's is not echoed whole into messages.
        episode = f"{task if len(task) <= MAX_TASK_NAME_BYTES else task[:MAX_TASK_NAME_BYTES] + '...'}/{seed}"
        response = self._wait(future, self.timeout_s, f"{self.srv_name} {episode}")
        if not response.success:
            raise RuntimeError(f"{self.srv_name} refused episode {episode}: {response.message}")
        return response


__all__ = [
    "HAND_SIDES",
    "MAX_TASK_NAME_BYTES",
    "RESET_EPISODE_SERVICE",
    "RESET_SERVICE",
    "SCENE_STATE_FRAME_ID",
    "SCENE_STATE_QUEUE_DEPTH",
    "SCENE_STATE_TOPIC",
    "SIM_NODE_NAME",
    "ResetEpisodeClient",
    "checked_task_name",
    "fill_episode_response",
    "scene_observation",
    "scene_state_message",
    "subscribe_scene_state",
]
