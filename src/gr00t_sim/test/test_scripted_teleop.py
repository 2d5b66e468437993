"""The scripted teleoperator's logic without ROS: refusals, freshness of its inputs, and the targets
it produces per policy step (times are given, so staleness needs no waiting)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from gr00t_description import StackConfig
from gr00t_sim import SimConfig
from gr00t_sim.scripted_teleop import ScriptedTeleop, ScriptedTeleopConfig
from gr00t_sim.tasks import SceneObservation, get_task


@pytest.fixture(scope="module")
def teleop(stack: StackConfig) -> Iterator[ScriptedTeleop]:
    config = ScriptedTeleopConfig(**stack.nodes["scripted_teleop"])
    teleop = ScriptedTeleop(stack.robot, SimConfig.from_node_parameters(stack.nodes["sim"]), config)
    yield teleop
    teleop.close()


def _home(stack: StackConfig) -> tuple[list[str], list[float]]:
    names = list(stack.robot.joint_names)
    return names, [stack.robot.joints[n].home for n in names]


def _scene(teleop: ScriptedTeleop, seed: int, now: float) -> SceneObservation:
    spec = get_task("reach").sample(seed, teleop.layout)
    return SceneObservation(
        time_s=now,
        object_positions={name: np.asarray(p.position) for name, p in spec.placements.items()},
        hand_positions={"left": np.array([0.2, 0.2, 1.0]), "right": np.array([0.2, -0.2, 1.0])},
    )


def test_start_needs_fresh_measured_joints_and_a_known_task(teleop: ScriptedTeleop, stack: StackConfig) -> None:
    teleop.stop()
    for task in ("fly", "", "x" * 1000):
        with pytest.raises(ValueError):
            teleop.start(task, 1, now=0.0)
    names, home = _home(stack)
    teleop.observe_joints(names, home, now=100.0)
    too_late = 100.0 + teleop.config.joint_state_timeout_s + 0.1
    with pytest.raises(ValueError, match="no fresh joint_states"):
        teleop.start("reach", 3, now=too_late)


def test_targets_follow_a_fresh_scene_and_stop_on_a_stale_one(teleop: ScriptedTeleop, stack: StackConfig) -> None:
    names, home = _home(stack)
    teleop.observe_joints(names, home, now=200.0)
    spec = teleop.start("reach", 3, now=200.0)
    assert spec.task == "reach" and spec.seed == 3
    assert teleop.step(now=200.0) is None  # no scene state of this episode yet
    assert teleop.waiting_for_scene(200.0)
    teleop.observe_scene(_scene(teleop, 3, 200.0), now=200.0)
    targets = teleop.step(now=200.05)
    assert targets is not None and set(targets[0]) <= set(names) and np.isfinite(targets[1]).all()
    stale = 200.0 + teleop.config.scene_state_timeout_s + 0.01
    assert teleop.step(now=stale) is None and teleop.status(stale)["stale"]
    episode, steps = teleop.stop()
    assert episode == spec and steps == 1
    assert teleop.step(now=200.1) is None and teleop.status(200.1)["episode"] is None


def test_implausible_inputs_are_refused_and_change_nothing(teleop: ScriptedTeleop, stack: StackConfig) -> None:
    names, home = _home(stack)
    teleop.observe_joints(names, home, now=300.0)
    with pytest.raises(ValueError, match="joint range"):
        teleop.observe_joints([names[0]], [50.0], now=300.1)
    with pytest.raises(ValueError):
        teleop.observe_joints([names[0]], [float("nan")], now=300.1)
    assert teleop.joint_position(names[0]) == pytest.approx(home[0])
    far = _scene(teleop, 3, 300.0)
    far.object_positions["red_cube"] = np.array([1e6, 0.0, 1.0])
    with pytest.raises(ValueError, match="beyond"):
        teleop.observe_scene(far, now=300.0)
