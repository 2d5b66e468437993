"""Task suite: seeded episodes, instructions, touch geometry and success criteria (pure, no sim)."""

from __future__ import annotations

import numpy as np
import pytest

from gr00t_sim import SimConfig
from gr00t_sim.tasks import (
    EVAL_SEED_START,
    TASKS,
    EpisodeSpec,
    SceneObservation,
    TableLayout,
    display_name,
    eval_seeds,
    get_task,
    train_seeds,
)

LAYOUT = TableLayout.from_sim_config(SimConfig())
FAR_AWAY = np.array([0.0, 0.0, 2.0])


def observation(spec: EpisodeSpec, hands: dict[str, np.ndarray] | None = None, **moved: np.ndarray) -> SceneObservation:
    objects = {name: np.array(p.position) for name, p in spec.placements.items()}
    objects.update(moved)
    return SceneObservation(0.0, objects, hands or {"left": FAR_AWAY, "right": FAR_AWAY})


def above(spec: EpisodeSpec, name: str, height: float = 0.015) -> np.ndarray:
    position = np.array(spec.placements[name].position)
    return position + [0.0, 0.0, LAYOUT.object(name).half_height_m + height]


def test_eval_and_train_seeds_are_disjoint() -> None:
    assert eval_seeds(3) == [EVAL_SEED_START, EVAL_SEED_START + 1, EVAL_SEED_START + 2]
    assert max(train_seeds(100)) < EVAL_SEED_START
    with pytest.raises(ValueError):
        eval_seeds(5, start=0)
    with pytest.raises(ValueError):
        train_seeds(10, start=EVAL_SEED_START - 5)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_episodes_are_deterministic_per_seed_and_differ_across_seeds(name: str) -> None:
    task = get_task(name)
    first, again = task.sample(EVAL_SEED_START, LAYOUT), task.sample(EVAL_SEED_START, LAYOUT)
    assert first == again
    specs = [task.sample(seed, LAYOUT) for seed in eval_seeds(30)]
    assert len({s.instruction for s in specs}) > 3
    assert len({s.target_object for s in specs}) == len(LAYOUT.objects)  # every colour is a target
    assert {s.hand for s in specs} == {"left", "right"}
    assert all(s.is_eval for s in specs)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_object_is_placed_on_the_table_or_parked_and_apart(name: str) -> None:
    task = get_task(name)
    for seed in train_seeds(40):
        spec = task.sample(seed, LAYOUT)
        assert set(spec.placements) == {o.name for o in LAYOUT.objects}
        assert display_name(spec.target_object) in spec.instruction
        on_table = {n: np.array(p.position) for n, p in spec.placements.items() if p.position[2] > 0.5}
        assert spec.target_object in on_table
        for a in on_table:
            for b in on_table:
                if a < b:
                    gap = np.linalg.norm(on_table[a][:2] - on_table[b][:2])
                    assert gap > LAYOUT.object(a).footprint_radius_m + LAYOUT.object(b).footprint_radius_m, (seed, a, b)


def test_reach_succeeds_only_with_the_named_hand_on_the_named_object() -> None:
    task = get_task("reach")
    spec = task.sample(EVAL_SEED_START, LAYOUT)
    other_hand = "right" if spec.hand == "left" else "left"
    tracker = task.tracker(spec, LAYOUT)
    assert not tracker.update(observation(spec))
    assert not tracker.update(observation(spec, {spec.hand: FAR_AWAY, other_hand: above(spec, spec.target_object)}))
    touched = observation(spec, {spec.hand: above(spec, spec.target_object), other_hand: FAR_AWAY})
    assert tracker.update(SceneObservation(1.5, touched.object_positions, touched.hand_positions))
    outcome = tracker.outcome()
    assert outcome.success and outcome.time_to_success_s == pytest.approx(1.5)
    assert outcome.first_touched_object == spec.target_object


def test_a_hand_hovering_10_cm_above_does_not_touch() -> None:
    task = get_task("reach")
    spec = task.sample(EVAL_SEED_START + 1, LAYOUT)
    tracker = task.tracker(spec, LAYOUT)
    assert tracker.outcome().closest_hand_distance_m is None  # nothing observed yet
    assert not tracker.update(observation(spec))
    assert not tracker.update(observation(spec, {spec.hand: above(spec, spec.target_object, 0.10)}))
    assert not tracker.update(observation(spec))
    outcome = tracker.outcome()
    assert outcome.touched_objects == []
    assert outcome.closest_hand_distance_m == pytest.approx(0.10)  # the closest moment, not the last


def test_push_succeeds_when_the_object_is_in_the_named_region_and_on_the_table() -> None:
    task = get_task("push_to_region")
    spec = task.sample(EVAL_SEED_START, LAYOUT)
    assert spec.region is not None and spec.region.name in spec.instruction
    start = np.array(spec.placements[spec.target_object].position)
    tracker = task.tracker(spec, LAYOUT)
    assert not tracker.update(observation(spec))
    sign = 1.0 if spec.region.name == "left" else -1.0
    inside = start.copy()
    inside[1] = sign * (task.region_inner_edge_m + 0.02)  # type: ignore[attr-defined]
    fallen = inside.copy()
    fallen[2] = 0.03  # on the floor below the region
    assert not tracker.update(observation(spec, **{spec.target_object: fallen}))
    assert tracker.update(observation(spec, **{spec.target_object: inside}))


def test_touch_one_of_two_fails_after_the_wrong_object_was_touched_first() -> None:
    task = get_task("touch_one_of_two")
    spec = task.sample(EVAL_SEED_START, LAYOUT)
    assert spec.other_object is not None and spec.other_object != spec.target_object
    wrong_first = task.tracker(spec, LAYOUT)
    wrong_first.update(observation(spec, {"left": above(spec, spec.other_object)}))
    assert not wrong_first.update(observation(spec, {"left": above(spec, spec.target_object)}))
    outcome = wrong_first.outcome()
    assert outcome.wrong_object_touched and outcome.first_touched_object == spec.other_object

    right_first = task.tracker(spec, LAYOUT)
    assert right_first.update(observation(spec, {"right": above(spec, spec.target_object)}))
    assert right_first.outcome().first_touched_object == spec.target_object


@pytest.mark.parametrize("first", [EVAL_SEED_START, 0, 36])
def test_touch_one_of_two_seed_pairs_share_the_scene_and_name_the_other_object(first: int) -> None:
    task = get_task("touch_one_of_two")
    a, b = task.sample(first, LAYOUT), task.sample(first + 1, LAYOUT)
    assert a.placements == b.placements
    assert (b.target_object, b.other_object) == (a.other_object, a.target_object)
    assert b.hand != a.hand  # the named object lies on the other side
    assert a.instruction.replace(display_name(a.target_object), display_name(b.target_object)) == b.instruction
    # The next pair is a different scene.
    assert task.sample(first + 2, LAYOUT).placements != a.placements


def test_unknown_task_names_the_available_ones() -> None:
    with pytest.raises(ValueError, match="Did you mean 'reach'"):
        get_task("reech")
