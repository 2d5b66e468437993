"""The GR-1 tabletop task suite: reach, push to a region, and touch one of two (language compliance).

Each task turns a seed into an `EpisodeSpec` (placements, instruction, goal) and judges success
from `SceneObservation`s. Pure Python + NumPy; `tasks.sim_binding` applies a spec to the simulator.

Placements are drawn inside the arms' comfortable workspace (measured with the scripted
demonstrator's IK): x 0.30-0.42 m in front of the base, |y| <= 0.22 m, so a failure is the
policy's, not an unreachable scene. Objects a task does not use are parked on the floor behind
the robot, out of the head camera's view.
"""

from __future__ import annotations

import difflib
import math
import zlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gr00t_sim.configuration_sim import SceneObjectSpec, SimConfig
from gr00t_sim.tasks.core import (
    HANDS,
    EpisodeSpec,
    EpisodeTracker,
    Hand,
    ObjectPlacement,
    SceneObservation,
    TableRegion,
    TouchGeometry,
    display_name,
)

_MAX_PLACEMENT_TRIES = 200
_DROP_CLEARANCE_M = 0.001  # objects start this far above their support, never in penetration


@dataclass(frozen=True)
class TableLayout:
    """The parts of the scene a task needs: table top height and extent, the objects."""

    table_top_height_m: float
    table_x_m: tuple[float, float]
    table_y_m: tuple[float, float]
    objects: tuple[SceneObjectSpec, ...]
    object_min_gap_m: float

    @classmethod
    def from_sim_config(cls, config: SimConfig) -> TableLayout:
        near = config.table_front_edge_x_m
        depth, width = config.table_size_m
        return cls(
            table_top_height_m=config.table_top_height_m,
            table_x_m=(near, near + depth),
            table_y_m=(-width / 2, width / 2),
            objects=config.objects,
            object_min_gap_m=config.object_min_gap_m,
        )

    def object(self, name: str) -> SceneObjectSpec:
        for obj in self.objects:
            if obj.name == name:
                return obj
        raise ValueError(f"unknown object {name!r}; available: {[o.name for o in self.objects]}")

    def on_table(self, name: str, x: float, y: float) -> tuple[float, float, float]:
        return (x, y, self.table_top_height_m + self.object(name).half_height_m + _DROP_CLEARANCE_M)

    def parked(self, name: str, index: int) -> tuple[float, float, float]:
        """A spot on the floor behind the robot (out of the camera's view), one per index."""
        return (-0.5, -0.45 + 0.3 * index, self.object(name).half_height_m + _DROP_CLEARANCE_M)


@dataclass(frozen=True)
class WorkspaceBox:
    """Where a task may put the objects it uses (object centres, metres)."""

    x_m: tuple[float, float] = (0.30, 0.42)
    abs_y_m: tuple[float, float] = (0.04, 0.22)  # distance from the midline, on one side


class TabletopTask(ABC):
    """A task: `sample` a seeded episode, `is_success` from scene state."""

    name: str
    description: str
    max_duration_s: float
    templates: tuple[str, ...]

    def __init__(self, touch_distance_m: float = 0.04) -> None:
        self.touch_distance_m = touch_distance_m

    def rng(self, seed: int) -> np.random.Generator:
        """The episode's random stream: depends on the task too, so seed s differs across tasks."""
        return np.random.default_rng([zlib.crc32(self.name.encode()), seed])

    def geometry(self, layout: TableLayout) -> TouchGeometry:
        return TouchGeometry({o.name: o for o in layout.objects}, self.touch_distance_m)

    def tracker(self, spec: EpisodeSpec, layout: TableLayout) -> EpisodeTracker:
        if spec.task != self.name:
            raise ValueError(f"episode of task {spec.task!r} given to task {self.name!r}")
        return EpisodeTracker(spec, self.is_success, self.geometry(layout))

    @abstractmethod
    def sample(self, seed: int, layout: TableLayout) -> EpisodeSpec:
        """The episode for `seed`: equal seeds give equal episodes."""

    @abstractmethod
    def is_success(self, spec: EpisodeSpec, observation: SceneObservation, tracker: EpisodeTracker) -> bool:
        """Whether the goal holds in `observation` (the tracker holds the touch history)."""

    # ------------------------------------------------------------- helpers
    def _instruction(self, rng: np.random.Generator, **names: str) -> str:
        return self.templates[int(rng.integers(len(self.templates)))].format(**names)

    @staticmethod
    def _side_xy(rng: np.random.Generator, box: WorkspaceBox, side: Hand) -> tuple[float, float]:
        sign = 1.0 if side == "left" else -1.0
        return float(rng.uniform(*box.x_m)), sign * float(rng.uniform(*box.abs_y_m))

    @staticmethod
    def _park_rest(layout: TableLayout, used: Sequence[str], placements: dict[str, ObjectPlacement]) -> None:
        for index, obj in enumerate(o for o in layout.objects if o.name not in used):
            placements[obj.name] = ObjectPlacement(layout.parked(obj.name, index))


class ReachTask(TabletopTask):
    """(a) Touch a named object with the named hand; distractors on the table.

    The target lies on the named hand's side of the table (reaching across the body with the
    7-DoF arm is outside the GR-1's comfortable workspace); distractors are kept far enough from
    it that touching the target never counts as touching them.
    """

    name = "reach"
    description = "touch the named object with the named hand"
    max_duration_s = 6.0
    templates = (
        "touch the {object} with your {hand} hand",
        "reach for the {object} with your {hand} hand",
        "use your {hand} hand to touch the {object}",
        "put your {hand} hand on the {object}",
    )

    def __init__(self, touch_distance_m: float = 0.04, distractors: int = 2, distractor_clearance_m: float = 0.16):
        super().__init__(touch_distance_m)
        self.distractors = distractors
        self.distractor_clearance_m = distractor_clearance_m  # target centre to distractor centre

    def sample(self, seed: int, layout: TableLayout) -> EpisodeSpec:
        rng = self.rng(seed)
        hand: Hand = HANDS[int(rng.integers(2))]
        names = [o.name for o in layout.objects]
        order = rng.permutation(len(names))
        target, others = names[order[0]], [names[i] for i in order[1 : 1 + self.distractors]]
        x, y = self._side_xy(rng, WorkspaceBox(), hand)
        placements = {target: ObjectPlacement(layout.on_table(target, x, y), float(rng.uniform(-math.pi, math.pi)))}
        kept: list[str] = [target]
        for other in others:
            spot = self._free_spot(rng, layout, other, placements)
            if spot is not None:
                placements[other] = ObjectPlacement(
                    layout.on_table(other, *spot), float(rng.uniform(-math.pi, math.pi))
                )
                kept.append(other)
        self._park_rest(layout, kept, placements)
        return EpisodeSpec(
            task=self.name,
            seed=seed,
            instruction=self._instruction(rng, object=display_name(target), hand=hand),
            target_object=target,
            hand=hand,
            placements=placements,
            max_duration_s=self.max_duration_s,
        )

    def _free_spot(
        self, rng: np.random.Generator, layout: TableLayout, name: str, placed: dict[str, ObjectPlacement]
    ) -> tuple[float, float] | None:
        """A table spot clear of the placed objects, or None (the object is then parked)."""
        box = WorkspaceBox()
        radius = layout.object(name).footprint_radius_m
        target_xy = None
        for _ in range(_MAX_PLACEMENT_TRIES):
            xy = np.array([rng.uniform(*box.x_m), rng.uniform(-box.abs_y_m[1], box.abs_y_m[1])])
            clear = True
            for other, placement in placed.items():
                other_xy = np.asarray(placement.position[:2])
                needed = radius + layout.object(other).footprint_radius_m + layout.object_min_gap_m
                if target_xy is None:
                    target_xy = other_xy  # the first placement is the target
                if other_xy is target_xy:
                    needed = max(needed, self.distractor_clearance_m)
                if np.linalg.norm(xy - other_xy) < needed:
                    clear = False
                    break
            if clear:
                return float(xy[0]), float(xy[1])
        return None

    def is_success(self, spec: EpisodeSpec, observation: SceneObservation, tracker: EpisodeTracker) -> bool:
        return (spec.hand, spec.target_object) in tracker.geometry.touching(observation)


class PushToRegionTask(TabletopTask):
    """(b) Push a named object to the named side ('left' / 'right') of the table; a distractor waits
    on the other side.

    The object starts on the region's side, near the robot, and must be pushed outwards until its
    centre is in the region (|y| >= 0.24 m on that side, on the table top). Why outwards only and
    near: with the waist fixed (the `gr1_arms_only` data config commands arms and hands), a GR-1
    palm gets no further than ~4 cm across the midline, and within 5 cm of the table top only at
    x <= ~0.34 m and |y| >= ~0.03 m on its own side (measured with `ArmIK`), so a push across the
    body is out of reach; the hand on the region's side pushes from the object's inner side. The
    distractor makes the named object, not just "the object", the thing to push.
    """

    name = "push_to_region"
    description = "push the named object outwards to the named side of the table"
    max_duration_s = 10.0
    templates = (
        "push the {object} to the {region} side of the table",
        "move the {object} to the {region}",
        "slide the {object} over to the {region} side",
    )
    region_inner_edge_m = 0.24  # |y| of the region's inner edge (object centre)
    start_box = WorkspaceBox(x_m=(0.30, 0.36), abs_y_m=(0.11, 0.15))
    distractor_box = WorkspaceBox(x_m=(0.30, 0.42), abs_y_m=(0.10, 0.20))

    def regions(self, layout: TableLayout) -> dict[str, TableRegion]:
        x = layout.table_x_m
        return {
            "left": TableRegion("left", x, (self.region_inner_edge_m, layout.table_y_m[1]), layout.table_top_height_m),
            "right": TableRegion(
                "right", x, (layout.table_y_m[0], -self.region_inner_edge_m), layout.table_top_height_m
            ),
        }

    def sample(self, seed: int, layout: TableLayout) -> EpisodeSpec:
        rng = self.rng(seed)
        side: Hand = HANDS[int(rng.integers(2))]
        other_side: Hand = "right" if side == "left" else "left"
        order = rng.permutation(len(layout.objects))
        target, distractor = layout.objects[order[0]].name, layout.objects[order[1]].name
        # Square to the push direction (small yaw), so the palm's edge meets a face, not a corner.
        placements = {
            target: ObjectPlacement(
                layout.on_table(target, *self._side_xy(rng, self.start_box, side)), float(rng.uniform(-0.2, 0.2))
            ),
            distractor: ObjectPlacement(
                layout.on_table(distractor, *self._side_xy(rng, self.distractor_box, other_side)),
                float(rng.uniform(-math.pi, math.pi)),
            ),
        }
        self._park_rest(layout, [target, distractor], placements)
        return EpisodeSpec(
            task=self.name,
            seed=seed,
            instruction=self._instruction(rng, object=display_name(target), region=side),
            target_object=target,
            hand=side,
            placements=placements,
            max_duration_s=self.max_duration_s,
            other_object=distractor,
            region=self.regions(layout)[side],
        )

    def is_success(self, spec: EpisodeSpec, observation: SceneObservation, tracker: EpisodeTracker) -> bool:
        if spec.region is None:
            raise ValueError(f"{self.name} episode {spec.seed} has no region")
        return spec.region.contains(np.asarray(observation.object_positions[spec.target_object]))


class TouchOneOfTwoTask(TabletopTask):
    """(c) Two objects, one on each side; the instruction names one (language compliance).

    The scene alone does not say which object to touch, so touching the named one (and not the
    other) measures whether the policy follows the language. Success: the named object touched
    (with either hand) before the other one was ever touched.

    Seeds come in pairs (2k, 2k + 1): the same scene, the other object named. Across a pair the
    images are identical and only the instruction differs, so a policy that decides by the scene
    complies in at most one of the two (one that picks at random, in both about a quarter of the
    time), and demonstrations recorded on both seeds teach the instruction, not the scene, to decide
    the target.
    """

    name = "touch_one_of_two"
    description = "two objects on the table, touch the one the instruction names"
    max_duration_s = 6.0
    templates = (
        "touch the {object}",
        "reach for the {object}",
        "put a hand on the {object}",
    )

    def sample(self, seed: int, layout: TableLayout) -> EpisodeSpec:
        rng = self.rng(seed // 2)  # one scene per seed pair
        order = rng.permutation(len(layout.objects))
        target, other = layout.objects[order[0]].name, layout.objects[order[1]].name
        target_side: Hand = HANDS[int(rng.integers(2))]
        other_side: Hand = "right" if target_side == "left" else "left"
        box = WorkspaceBox(abs_y_m=(0.07, 0.2))
        placements = {
            target: ObjectPlacement(
                layout.on_table(target, *self._side_xy(rng, box, target_side)), float(rng.uniform(-math.pi, math.pi))
            ),
            other: ObjectPlacement(
                layout.on_table(other, *self._side_xy(rng, box, other_side)), float(rng.uniform(-math.pi, math.pi))
            ),
        }
        self._park_rest(layout, [target, other], placements)
        if seed % 2:
            target, other, target_side = other, target, other_side
        return EpisodeSpec(
            task=self.name,
            seed=seed,
            instruction=self._instruction(rng, object=display_name(target)),
            target_object=target,
            hand=target_side,
            placements=placements,
            max_duration_s=self.max_duration_s,
            other_object=other,
        )

    def is_success(self, spec: EpisodeSpec, observation: SceneObservation, tracker: EpisodeTracker) -> bool:
        touched_now = {name for _hand, name in tracker.geometry.touching(observation)}
        return spec.target_object in touched_now and spec.other_object not in tracker.touched_objects


TASKS: dict[str, TabletopTask] = {task.name: task for task in (ReachTask(), PushToRegionTask(), TouchOneOfTwoTask())}


def get_task(name: str) -> TabletopTask:
    """The registered task `name`; an unknown name lists the available ones."""
    if name in TASKS:
        return TASKS[name]
    close = difflib.get_close_matches(name, TASKS, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown task {name!r}; available: {sorted(TASKS)}.{hint}")
