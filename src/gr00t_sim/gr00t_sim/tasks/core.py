"""What every tabletop task shares: episode specs, scene observations, touch geometry, the tracker.

Pure Python + NumPy (no MuJoCo, no ROS): an observation can come from `GR1TabletopSim`
(`tasks.sim_binding.observe`) or from a ROS topic, and success is judged the same way.
World frame = robot base frame: x forward, y left, z up (metres).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from gr00t_sim.configuration_sim import SceneObjectSpec

Hand = Literal["left", "right"]
HANDS: tuple[Hand, ...] = ("left", "right")

# Training and evaluation episodes come from disjoint seed ranges, so a policy trained on
# demonstrations of seeds [0, EVAL_SEED_START) is never evaluated on a scene it has seen.
EVAL_SEED_START = 10_000


def eval_seeds(count: int, start: int = EVAL_SEED_START) -> list[int]:
    """The fixed evaluation seeds: `count` consecutive seeds from `start` (>= EVAL_SEED_START)."""
    if start < EVAL_SEED_START:
        raise ValueError(f"evaluation seeds start at {EVAL_SEED_START} or above, got start={start}")
    return list(range(start, start + count))


def train_seeds(count: int, start: int = 0) -> list[int]:
    """`count` training seeds from `start`; all of them below EVAL_SEED_START."""
    if start < 0 or start + count > EVAL_SEED_START:
        raise ValueError(f"training seeds must lie in [0, {EVAL_SEED_START}), got [{start}, {start + count})")
    return list(range(start, start + count))


def display_name(object_name: str) -> str:
    """How instructions name an object: 'red_cube' -> 'red cube'."""
    return object_name.replace("_", " ")


@dataclass(frozen=True)
class ObjectPlacement:
    """Where an object starts: centre position (m) and heading (rad)."""

    position: tuple[float, float, float]
    yaw: float = 0.0


@dataclass(frozen=True)
class TableRegion:
    """An axis-aligned rectangle of the table top: an object is in it when its centre is inside the
    rectangle and above `min_z_m` (the table top; a centre below it means the object fell off)."""

    name: str
    x_m: tuple[float, float]
    y_m: tuple[float, float]
    min_z_m: float

    def contains(self, position: np.ndarray) -> bool:
        x, y, z = (float(v) for v in position[:3])
        return self.x_m[0] <= x <= self.x_m[1] and self.y_m[0] <= y <= self.y_m[1] and z > self.min_z_m


@dataclass(frozen=True)
class EpisodeSpec:
    """One episode of a task, fully determined by (task, seed): scene, instruction and goal.

    `hand` is the hand the instruction names, or, when it names none (two-object task), the one
    the scripted demonstrator uses. `region` is set for region tasks only.
    """

    task: str
    seed: int
    instruction: str
    target_object: str
    hand: Hand
    placements: Mapping[str, ObjectPlacement]
    max_duration_s: float
    other_object: str | None = None  # the distractor the instruction must not pick (two-object task)
    region: TableRegion | None = None

    @property
    def is_eval(self) -> bool:
        return self.seed >= EVAL_SEED_START


@dataclass(frozen=True)
class SceneObservation:
    """Privileged scene state at one instant (from the simulator; a real robot would need tracking)."""

    time_s: float
    object_positions: Mapping[str, np.ndarray]
    hand_positions: Mapping[str, np.ndarray]


@dataclass(frozen=True)
class TouchGeometry:
    """When a hand counts as touching an object.

    The palm centre must be within `touch_distance_m` of the object's bounding vertical cylinder.
    The palm plate of the Fourier hand is ~5 cm thick and ~8 cm wide, so a palm resting on or
    against an object has its centre 2.5-4 cm from the object's surface; 4 cm accepts both while a
    hand hovering one object's width away does not count.
    """

    objects: Mapping[str, SceneObjectSpec]
    touch_distance_m: float = 0.04

    def __post_init__(self) -> None:
        if self.touch_distance_m <= 0:
            raise ValueError(f"touch_distance_m must be > 0, got {self.touch_distance_m}")

    def distance(self, point: np.ndarray, object_name: str, object_position: np.ndarray) -> float:
        """Distance (m) from `point` to the object's bounding cylinder (0 inside)."""
        spec = self.objects[object_name]
        offset = np.asarray(point, dtype=np.float64) - np.asarray(object_position, dtype=np.float64)
        radial = max(0.0, math.hypot(offset[0], offset[1]) - spec.footprint_radius_m)
        vertical = max(0.0, abs(offset[2]) - spec.half_height_m)
        return math.hypot(radial, vertical)

    def touching(self, observation: SceneObservation) -> set[tuple[str, str]]:
        """(hand, object) pairs in touch in `observation`."""
        pairs = set()
        for hand, point in observation.hand_positions.items():
            for name, position in observation.object_positions.items():
                if self.distance(point, name, position) <= self.touch_distance_m:
                    pairs.add((hand, name))
        return pairs


@dataclass
class EpisodeOutcome:
    """What happened in one episode (JSON-friendly once passed through `dataclasses.asdict`)."""

    task: str
    seed: int
    instruction: str
    target_object: str
    success: bool
    time_to_success_s: float | None
    duration_s: float
    first_touched_object: str | None
    touched_objects: list[str]
    wrong_object_touched: bool
    final_target_position: list[float]
    # Smallest distance (m) of either palm centre to the target's bounding cylinder over the
    # episode: tells a near miss (a few cm beyond the touch distance) from a hand that never went.
    closest_hand_distance_m: float | None = None
    safety_interventions: int = 0  # filled in by whoever runs the episode through a safety layer
    extra: dict[str, float] = field(default_factory=dict)


class EpisodeTracker:
    """Follows one episode observation by observation and decides its outcome.

    Success latches at the first observation where the task's criterion holds (the time to
    success is measured from the first observation). Touches are recorded all episode long, so
    "touched the wrong object first" is known even when the right one is touched later.
    """

    def __init__(self, spec: EpisodeSpec, success_fn: SuccessFn, geometry: TouchGeometry) -> None:
        self.spec = spec
        self._success_fn = success_fn
        self.geometry = geometry
        self._start_time: float | None = None
        self._last_time = 0.0
        self.success_time_s: float | None = None
        self.touched_objects: list[str] = []  # in order of first touch
        self._last_target_position = np.asarray(spec.placements[spec.target_object].position, dtype=np.float64)
        self.closest_hand_distance_m = math.inf

    @property
    def succeeded(self) -> bool:
        return self.success_time_s is not None

    @property
    def elapsed_s(self) -> float:
        return 0.0 if self._start_time is None else self._last_time - self._start_time

    def update(self, observation: SceneObservation) -> bool:
        """Take one observation; returns whether the episode has succeeded (now or before)."""
        if self._start_time is None:
            self._start_time = observation.time_s
        self._last_time = observation.time_s
        self._last_target_position = np.asarray(observation.object_positions[self.spec.target_object])
        for point in observation.hand_positions.values():
            distance = self.geometry.distance(point, self.spec.target_object, self._last_target_position)
            self.closest_hand_distance_m = min(self.closest_hand_distance_m, distance)
        for _hand, name in sorted(self.geometry.touching(observation)):
            if name not in self.touched_objects:
                self.touched_objects.append(name)
        if not self.succeeded and self._success_fn(self.spec, observation, self):
            self.success_time_s = self.elapsed_s
        return self.succeeded

    def outcome(self) -> EpisodeOutcome:
        wrong = [name for name in self.touched_objects if name != self.spec.target_object]
        return EpisodeOutcome(
            task=self.spec.task,
            seed=self.spec.seed,
            instruction=self.spec.instruction,
            target_object=self.spec.target_object,
            success=self.succeeded,
            time_to_success_s=self.success_time_s,
            duration_s=self.elapsed_s,
            first_touched_object=self.touched_objects[0] if self.touched_objects else None,
            touched_objects=list(self.touched_objects),
            wrong_object_touched=bool(wrong),
            final_target_position=[float(v) for v in self._last_target_position],
            closest_hand_distance_m=(
                float(self.closest_hand_distance_m) if math.isfinite(self.closest_hand_distance_m) else None
            ),
        )


# success_fn(spec, observation, tracker) -> bool; the tracker gives access to the touch history.
SuccessFn = Callable[[EpisodeSpec, SceneObservation, EpisodeTracker], bool]
