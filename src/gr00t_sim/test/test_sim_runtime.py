"""The simulation runtime without ROS: commands, trajectories, resets, episodes, scene state, health
and shutdown, observed through its outputs (a recording stand-in for the node's publishers)."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from gr00t_description import StackConfig
from gr00t_sim.runtime import (
    MAX_TRAJECTORY_LEAD_S,
    SCENE_STATE_HZ,
    EpisodeRejected,
    SceneSnapshot,
    SimNodeConfig,
    SimRuntime,
)
from gr00t_sim.sim_interfaces import MAX_TASK_NAME_BYTES
from gr00t_sim.tasks import TableLayout, get_task

WAIT_S = 20.0


class Recorder:
    """SimOutputs that keep what the runtime hands out; stamps are the sim times themselves."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.joint_states: list[tuple[float, dict[str, float]]] = []
        self.scenes: list[tuple[float, SceneSnapshot]] = []
        self.frames: list[tuple[float, tuple[int, ...]]] = []
        self.clock_ticks = 0
        self.logs: list[tuple[int, str]] = []
        self.camera_on = True

    def stamp(self, sim_time: float) -> float:
        return sim_time

    def joint_state(self, stamp: float, names, positions, velocities, efforts) -> None:
        with self.lock:
            self.joint_states.append((stamp, dict(zip(names, positions.tolist()))))

    def clock(self, sim_time: float) -> None:
        self.clock_ticks += 1

    def scene_state(self, stamp: float, scene: SceneSnapshot) -> None:
        with self.lock:
            self.scenes.append((stamp, scene))

    def frame(self, stamp: float, rgb: np.ndarray) -> bool:
        with self.lock:
            self.frames.append((stamp, rgb.shape))
        return self.camera_on

    def log(self, level: int, message: str) -> None:
        self.logs.append((level, message))

    def joint(self, name: str) -> float:
        with self.lock:
            return self.joint_states[-1][1][name]


def wait_until(condition: Callable[[], bool], timeout_s: float = WAIT_S) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def make_config(stack: StackConfig, **overrides: Any) -> SimNodeConfig:
    # As fast as possible, few frames: rendering on a CPU dominates otherwise.
    return dataclasses.replace(
        SimNodeConfig(**stack.nodes["sim"]), **{"realtime_factor": 0.0, "camera_hz": 2.0, **overrides}
    )


@pytest.fixture(scope="module")
def running(stack: StackConfig) -> Iterator[tuple[SimRuntime, Recorder]]:
    recorder = Recorder()
    runtime = SimRuntime(stack.robot, make_config(stack), recorder, sim_stamps=True)
    runtime.start()
    yield runtime, recorder
    runtime.stop()


def test_publishes_joint_states_scene_states_frames_and_clock_ticks(running) -> None:
    runtime, out = running
    assert wait_until(lambda: len(out.joint_states) > 100 and len(out.scenes) > 5 and len(out.frames) >= 2)
    assert list(out.joint_states[-1][1]) == list(runtime.joint_names)
    stamps = [s for s, _ in out.scenes[-5:]]
    assert np.diff(stamps) == pytest.approx(1.0 / SCENE_STATE_HZ, abs=0.003)
    scene = out.scenes[-1][1]
    assert set(scene.object_positions) == set(scene.object_yaws) == {o.name for o in runtime.sim.config.objects}
    assert set(scene.hand_positions) == {"left", "right"}
    assert out.frames[-1][1] == (runtime.config.render_height, runtime.config.render_width, 3)
    assert out.clock_ticks > 0 and runtime.running


def test_command_moves_the_named_joint_and_bad_commands_change_nothing(running) -> None:
    runtime, out = running
    for names, positions in (
        (["no_such_joint"], [0.0]),
        (["left_elbow_pitch_joint"], [np.nan]),
        (["left_elbow_pitch_joint", "waist_yaw_joint"], [-1.0]),
    ):
        with pytest.raises(ValueError):
            runtime.command(names, positions)
    runtime.command(["left_elbow_pitch_joint"], [-1.0])
    assert wait_until(lambda: abs(out.joint("left_elbow_pitch_joint") + 1.0) < 0.02)


def test_trajectory_is_followed_and_one_far_from_the_clock_is_refused(running) -> None:
    runtime, out = running
    with pytest.raises(ValueError, match="ahead is accepted"):
        runtime.follow_trajectory(
            ["head_yaw_joint"], [0.5], [[0.3]], stamp_s=runtime.sim_time + MAX_TRAJECTORY_LEAD_S + 10, wall_now_s=0.0
        )
    with pytest.raises(ValueError):
        runtime.follow_trajectory(["head_yaw_joint", "waist_yaw_joint"], [0.5], [[0.3]], stamp_s=0.0, wall_now_s=0.0)
    runtime.follow_trajectory(["head_yaw_joint"], [0.3, 0.6], [[0.2], [0.4]], stamp_s=0.0, wall_now_s=0.0)
    assert wait_until(lambda: abs(out.joint("head_yaw_joint") - 0.4) < 0.02)


def test_reset_episode_places_the_scene_and_refuses_bad_requests(running, stack: StackConfig) -> None:
    runtime, out = running
    for task in ("stack_cubes", "", "reach\ufffd", "x" * (MAX_TASK_NAME_BYTES + 1)):
        with pytest.raises(EpisodeRejected):
            runtime.reset_episode(task, 10_000)
    spec = runtime.reset_episode("reach", 10_003)
    expected = get_task("reach").sample(10_003, TableLayout.from_sim_config(runtime.sim.config))
    assert spec.instruction == expected.instruction
    placed = np.asarray(expected.placements[expected.target_object].position)

    def target_offset() -> float:
        with out.lock:
            scene = out.scenes[-1][1]
        return float(np.linalg.norm(scene.object_positions[expected.target_object][:2] - placed[:2]))

    assert wait_until(lambda: target_offset() < 0.01)
    assert runtime.reset()  # home pose again


def test_health_reports_the_realtime_ratio_and_frames(running) -> None:
    runtime, _ = running
    runtime.health()
    time.sleep(0.5)
    lagging, values = runtime.health()
    assert not lagging  # as fast as possible: never behind
    assert float(values["sim_time_s"]) > 0 and float(values["realtime_ratio"]) > 0
    assert {"camera_fps", "camera_frames_skipped", "sim_time_dropped_s", "target_realtime_factor"} <= set(values)


def test_withheld_frames_are_not_counted_as_published(stack: StackConfig) -> None:
    out = Recorder()
    out.camera_on = False
    runtime = SimRuntime(stack.robot, make_config(stack, camera_hz=20.0), out, sim_stamps=True)
    runtime.start()
    try:
        assert wait_until(lambda: len(out.frames) >= 3)
        assert runtime.frames_published == 0
    finally:
        runtime.stop()


def test_stop_ends_both_threads(stack: StackConfig) -> None:
    out = Recorder()
    runtime = SimRuntime(stack.robot, make_config(stack), out, sim_stamps=True)
    runtime.start()
    assert wait_until(lambda: len(out.frames) >= 1) and runtime.running
    runtime.stop()
    assert not runtime.running
    count = len(out.joint_states)
    time.sleep(0.2)
    assert len(out.joint_states) == count  # nothing more after the stop
