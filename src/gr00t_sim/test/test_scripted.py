"""Scripted demonstrator on the simulator: IK within limits, and success rates over fixed seeds.

Success rates are measured on the first 20 evaluation seeds of each task (about 15 s in all); the
thresholds sit below the measured rates (docs/benchmarks/eval_scripted.json) so only a real
regression fails them.
"""

from __future__ import annotations

import numpy as np
import pytest

from gr00t_description import StackConfig
from gr00t_sim import GR1TabletopSim
from gr00t_sim.scripted import ArmIK, ScriptedDemonstrator, ScriptedDemonstratorConfig, rollout
from gr00t_sim.tasks import eval_seeds, get_task
from gr00t_sim.tasks.sim_binding import apply_episode, layout_of, observe

SEEDS = eval_seeds(20)
MIN_SUCCESS = {"reach": 0.9, "touch_one_of_two": 0.9, "push_to_region": 0.6}


def test_ik_brings_the_palm_to_a_reachable_point_within_operating_limits(
    sim: GR1TabletopSim, stack: StackConfig
) -> None:
    ik = ArmIK(sim.model, stack.robot, "left", sim.palm_geom_id("left"))
    ik.reset(sim.data.qpos.copy())
    target = np.array([0.36, 0.15, 0.95])
    for _ in range(80):
        q = ik.step_towards(target)
    assert np.linalg.norm(ik.palm_position() - target) < 0.005
    assert np.all(q >= ik.lower - 1e-9) and np.all(q <= ik.upper + 1e-9)
    limits = [(stack.robot.joints[n].lower, stack.robot.joints[n].upper) for n in ik.joint_names]
    assert all(lo <= v <= hi for v, (lo, hi) in zip(q, limits))


def test_ik_steps_are_bounded(sim: GR1TabletopSim, stack: StackConfig) -> None:
    ik = ArmIK(sim.model, stack.robot, "right", sim.palm_geom_id("right"))
    ik.reset(sim.data.qpos.copy())
    before_q, before_palm = ik.q.copy(), ik.palm_position()
    q = ik.step_towards(np.array([0.35, -0.2, 0.9]))  # 0.3 m away
    assert np.max(np.abs(q - before_q)) <= ik.config.max_joint_step_rad + 1e-9
    assert np.linalg.norm(ik.palm_position() - before_palm) < 2 * ik.config.max_cartesian_step_m


def test_demonstrator_commands_stay_within_operating_position_and_velocity_limits(
    sim: GR1TabletopSim, stack: StackConfig
) -> None:
    task = get_task("reach")
    demonstrator = ScriptedDemonstrator.for_sim(sim)
    result = rollout(sim, task, task.sample(SEEDS[0], layout_of(sim)), demonstrator)
    names = result.joint_names
    assert set(names) == {
        n for g in ("left_arm", "right_arm", "left_hand", "right_hand") for n in stack.robot.groups[g]
    }
    lower = np.array([stack.robot.joints[n].lower for n in names])
    upper = np.array([stack.robot.joints[n].upper for n in names])
    max_velocity = np.array([stack.robot.joints[n].max_velocity for n in names])
    assert np.all(result.commands >= lower) and np.all(result.commands <= upper)
    velocity = np.abs(np.diff(result.commands, axis=0)) / demonstrator.config.policy_period_s
    assert np.all(velocity <= max_velocity)


def test_set_object_pose_and_hand_positions(sim: GR1TabletopSim) -> None:
    sim.set_object_pose("red_cube", (0.4, 0.1, 0.876), yaw=0.5)
    np.testing.assert_allclose(sim.object_positions()["red_cube"], [0.4, 0.1, 0.876])
    assert sim.object_yaws()["red_cube"] == pytest.approx(0.5)
    hands = sim.hand_positions()
    assert hands["left"][1] > 0.1 > -0.1 > hands["right"][1]  # the left palm is on the left (+y)
    with pytest.raises(ValueError, match="unknown object"):
        sim.set_object_pose("purple_cube", (0.4, 0.1, 0.9))


def test_apply_episode_places_objects_as_specified(sim: GR1TabletopSim) -> None:
    task = get_task("touch_one_of_two")
    spec = task.sample(SEEDS[3], layout_of(sim))
    apply_episode(sim, spec)
    for name, placement in spec.placements.items():
        np.testing.assert_allclose(sim.object_positions()[name], placement.position, atol=1e-9)


@pytest.mark.parametrize("task_name", sorted(MIN_SUCCESS))
def test_scripted_demonstrator_solves_most_seeds(sim: GR1TabletopSim, task_name: str) -> None:
    task = get_task(task_name)
    demonstrator = ScriptedDemonstrator.for_sim(sim)
    outcomes = [rollout(sim, task, task.sample(seed, layout_of(sim)), demonstrator).outcome for seed in SEEDS]
    rate = sum(o.success for o in outcomes) / len(outcomes)
    assert rate >= MIN_SUCCESS[task_name], [(o.seed, o.success) for o in outcomes]
    if task_name == "touch_one_of_two":  # the demonstrator knows the target: it never touches the other
        assert not any(o.wrong_object_touched for o in outcomes)


def test_recovery_demonstrations_come_down_beside_the_target_then_touch_it(sim: GR1TabletopSim) -> None:
    task = get_task("reach")
    config = ScriptedDemonstratorConfig(recovery_probability=1.0)
    demonstrator = ScriptedDemonstrator.for_sim(sim, config)
    spec = task.sample(SEEDS[1], layout_of(sim))
    apply_episode(sim, spec)
    demonstrator.reset(spec, sim.data.qpos.copy())
    palms, phases = [], []
    for _ in range(int(spec.max_duration_s / config.policy_period_s)):
        names, positions = demonstrator.act(observe(sim))
        sim.set_position_targets(names, positions)
        sim.step(round(config.policy_period_s / sim.timestep))
        palms.append(sim.hand_positions()[spec.hand].copy())
        phases.append(demonstrator.phase)
        if demonstrator.phase == 3:
            break
    offset = demonstrator.miss_offset
    assert offset is not None and config.miss_offset_m[0] <= np.linalg.norm(offset) <= config.miss_offset_m[1]
    target = sim.object_positions()[spec.target_object]
    miss = target[:2] + offset
    # It really came down at the miss point (the state a mislocating policy ends in) before moving on.
    assert min(np.linalg.norm(p[:2] - miss) for p in palms) < 0.03
    assert phases[-1] == 3 and sorted(set(phases)) == [0, 1, 2, 3]
    # ... and still solves the episode without touching anything else.
    outcome = rollout(sim, task, spec, demonstrator).outcome
    assert outcome.success and not outcome.wrong_object_touched
    # The same episode misses the same way; without recovery demonstrations it never misses.
    np.testing.assert_allclose(demonstrator.miss_offset, offset)
    plain = ScriptedDemonstrator.for_sim(sim)
    rollout(sim, task, spec, plain)
    assert plain.miss_offset is None


def test_recovery_demonstrations_solve_most_seeds(sim: GR1TabletopSim) -> None:
    demonstrator = ScriptedDemonstrator.for_sim(sim, ScriptedDemonstratorConfig(recovery_probability=1.0))
    outcomes = []
    for task_name in ("reach", "touch_one_of_two"):
        task = get_task(task_name)
        outcomes += [rollout(sim, task, task.sample(seed, layout_of(sim)), demonstrator).outcome for seed in SEEDS[:10]]
    assert sum(o.success for o in outcomes) >= 0.85 * len(outcomes), [(o.task, o.seed, o.success) for o in outcomes]
    assert not any(o.wrong_object_touched for o in outcomes)


def test_recovery_probability_is_validated() -> None:
    with pytest.raises(ValueError, match="recovery_probability"):
        ScriptedDemonstratorConfig(recovery_probability=1.5)
    with pytest.raises(ValueError, match="miss_offset_m"):
        ScriptedDemonstratorConfig(miss_offset_m=(0.1, 0.05))
