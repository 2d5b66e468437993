"""Scripted demonstrator: solves every tabletop task from privileged scene state with arm IK.

Each task is a short sequence of palm waypoints, recomputed every policy step from the objects'
current positions (closed loop, so a nudged object is still reached). Optionally an episode first
misses the target and then corrects (`recovery_probability`), so a policy learns the way back.
The output is what the policy outputs under the `gr1_arms_only` data config: position targets for
both arms and hands, once per policy step. The idle arm and both hands hold their home pose (hands open).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import mujoco
import numpy as np

from gr00t_description import RobotConfig
from gr00t_sim.scripted.ik import ArmIK, DifferentialIKConfig
from gr00t_sim.tasks.core import HANDS, EpisodeSpec, SceneObservation

COMMANDED_GROUPS: tuple[str, ...] = ("left_arm", "right_arm", "left_hand", "right_hand")
_MISS_MIN_SIDE_Y_M = 0.02  # a miss point keeps this far on the hand's side of the midline (no cross-body reach)


@dataclass(frozen=True)
class Waypoint:
    """A palm target. `until_goal`: left only once the task's goal holds (a push sweep follows the
    object and is never "reached"), not when the palm gets there or stalls."""

    palm_target: np.ndarray
    until_goal: bool = False


@dataclass(frozen=True)
class ScriptedDemonstratorConfig:
    """Waypoint geometry (metres, palm centre) and timing of the scripted demonstrations."""

    policy_period_s: float = 0.05  # one target per policy step (System 1's step_period_s, 20 Hz)
    # Reach: first hover this high above the object's top, then come straight down onto it, so
    # the hand never sweeps into the object from the side.
    hover_height_m: float = 0.10
    # Palm centre above the object's top when touching: half the palm plate's thickness (2.5 cm)
    # less 1 cm of press, so the palm rests on the object.
    touch_height_m: float = 0.015
    waypoint_tolerance_m: float = 0.015  # commanded palm this close to a waypoint -> next waypoint
    # A waypoint at the edge of the workspace may never be reached exactly: when the commanded palm
    # is within `stall_tolerance_m` and moved less than `stall_step_m` in one step, move on.
    stall_tolerance_m: float = 0.04
    stall_step_m: float = 0.001
    # Push: the palm centre starts this far (y) beside the object's centre, on the side away from
    # the region: object half width (<= 3.5 cm) + palm half width (4 cm) + 1 cm clearance.
    push_standoff_m: float = 0.085
    # Palm centre above the table top while pushing. The palm is tilted at these low, inward poses:
    # its lower edge touches the table when the centre is ~7 cm above it, so 6.5 cm keeps the edge
    # at table level (pushing cubes at their base) without the servos pressing the hand into the
    # table (at 3.5 cm they drove objects through the thin table top).
    push_height_m: float = 0.065
    push_overshoot_m: float = 0.03  # push the object's centre this far past the region's edge
    # While sweeping, the palm aims this far short of the object's centre (y), i.e. well inside the
    # object, so the hand keeps pressing; it follows the object's current x so an object sliding
    # along the hand's angled edge stays in front of the palm. Measured over 20 seeds: 0.055 -> 1,
    # 0.04 -> 6, 0.02 -> 16, 0.0 -> 2 successes (at 0 the palm rides over the object).
    push_press_offset_m: float = 0.02
    # Recovery demonstrations (reach / touch): with this probability an episode first misses, the
    # way a learned policy does when it mislocates the object: it comes down beside the target (a
    # random xy offset of `miss_offset_m`, `miss_height_m` above the target's top, at least
    # `miss_clearance_m` from every other object, within `miss_x_m` and on the hand's side of the
    # table), then lifts over the target and touches it. Demonstrations that only ever succeed never
    # show the way back from such a state. Drawn from the episode's seed, so a recording is
    # reproducible.
    recovery_probability: float = 0.0
    miss_offset_m: tuple[float, float] = (0.08, 0.13)
    miss_height_m: float = 0.04
    miss_clearance_m: float = 0.12
    miss_x_m: tuple[float, float] = (0.27, 0.45)  # the task workspace's x (0.30-0.42) +- 3 cm
    ik: DifferentialIKConfig = DifferentialIKConfig()

    def __post_init__(self) -> None:
        if self.policy_period_s <= 0:
            raise ValueError(f"policy_period_s must be > 0, got {self.policy_period_s}")
        if self.waypoint_tolerance_m <= 0:
            raise ValueError(f"waypoint_tolerance_m must be > 0, got {self.waypoint_tolerance_m}")
        if not 0.0 <= self.recovery_probability <= 1.0:
            raise ValueError(f"recovery_probability must be in [0, 1], got {self.recovery_probability}")
        low, high = self.miss_offset_m
        if not 0.0 < low <= high:
            raise ValueError(f"miss_offset_m must be (low, high) with 0 < low <= high, got {self.miss_offset_m}")


class ScriptedDemonstrator:
    """Privileged-state controller for the task suite: `reset(spec, qpos)`, then `act(observation)`.

    `model` is the simulator's MjModel (for the kinematics); `palm_geoms` maps 'left'/'right' to
    the palm geom ids (`GR1TabletopSim.palm_geom_id`).
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        robot: RobotConfig,
        palm_geoms: dict[str, int],
        table_top_height_m: float,
        object_half_heights: dict[str, float],
        config: ScriptedDemonstratorConfig | None = None,
    ) -> None:
        self.config = config if config is not None else ScriptedDemonstratorConfig()
        self.arms = {side: ArmIK(model, robot, side, palm_geoms[side], self.config.ik) for side in HANDS}
        self.joint_names: tuple[str, ...] = tuple(n for g in COMMANDED_GROUPS for n in robot.groups[g])
        self._home = np.array([robot.joints[n].home for n in self.joint_names])
        self._arm_slices = {side: self._slice(robot.groups[f"{side}_arm"]) for side in HANDS}
        self._table_top = table_top_height_m
        self._half_heights = dict(object_half_heights)
        self._spec: EpisodeSpec | None = None
        self._phase = 0
        self._last_palm: np.ndarray | None = None
        self._rng = np.random.default_rng()
        self._recovering = False
        self._miss_offset: np.ndarray | None = None  # xy from the target, chosen at the first step

    @classmethod
    def for_sim(cls, sim: object, config: ScriptedDemonstratorConfig | None = None) -> ScriptedDemonstrator:
        """Build for a `GR1TabletopSim` (typed loosely to keep this module free of the sim import)."""
        return cls(
            sim.model,  # type: ignore[attr-defined]
            sim.robot,  # type: ignore[attr-defined]
            {side: sim.palm_geom_id(side) for side in HANDS},  # type: ignore[attr-defined]
            sim.config.table_top_height_m,  # type: ignore[attr-defined]
            {o.name: o.half_height_m for o in sim.config.objects},  # type: ignore[attr-defined]
            config,
        )

    @property
    def phase(self) -> int:
        """Index of the current waypoint (0 = first)."""
        return self._phase

    @property
    def miss_offset(self) -> np.ndarray | None:
        """xy (m) from the target where this episode first comes down; None: no miss."""
        return self._miss_offset

    def reset(self, spec: EpisodeSpec, qpos: np.ndarray) -> None:
        """Start an episode from the full configuration `qpos` (the sim's after `apply_episode`)."""
        self._spec = spec
        self._phase = 0
        self._last_palm = None
        # Its own stream per (task, seed): the same episode misses the same way in every recording.
        self._rng = np.random.default_rng([spec.seed, zlib.crc32(spec.task.encode())])
        self._recovering = spec.region is None and self._rng.random() < self.config.recovery_probability
        self._miss_offset = None
        for arm in self.arms.values():
            arm.reset(qpos)

    def act(self, observation: SceneObservation) -> tuple[tuple[str, ...], np.ndarray]:
        """Joint-position targets (names, rad) for this policy step."""
        if self._spec is None:
            raise RuntimeError("call reset(spec, qpos) before act()")
        waypoints = self.waypoints(observation)
        arm = self.arms[self._spec.hand]
        palm = arm.palm_position()
        # Advance past waypoints already reached (the last one is held).
        while self._phase < len(waypoints) - 1 and self._waypoint_done(waypoints[self._phase], palm, observation):
            self._phase += 1
        self._last_palm = palm
        q_arm = arm.step_towards(waypoints[self._phase].palm_target)
        positions = self._home.copy()
        for side, active_arm in self.arms.items():
            positions[self._arm_slices[side]] = q_arm if side == self._spec.hand else active_arm.q
        return self.joint_names, positions

    def _waypoint_done(self, waypoint: Waypoint, palm: np.ndarray, observation: SceneObservation) -> bool:
        if waypoint.until_goal:
            return self._push_goal_reached(observation)
        distance = float(np.linalg.norm(palm - waypoint.palm_target))
        stalled = (
            self._last_palm is not None
            and float(np.linalg.norm(palm - self._last_palm)) < self.config.stall_step_m
            and distance < self.config.stall_tolerance_m
        )
        return stalled or distance < self.config.waypoint_tolerance_m

    def _push_goal_reached(self, observation: SceneObservation) -> bool:
        """The pushed object's centre is `push_overshoot_m` inside its region."""
        assert self._spec is not None and self._spec.region is not None
        y = float(observation.object_positions[self._spec.target_object][1])
        region = self._spec.region
        if region.y_m[0] > 0:
            return y >= region.y_m[0] + self.config.push_overshoot_m
        return y <= region.y_m[1] - self.config.push_overshoot_m

    def waypoints(self, observation: SceneObservation) -> list[Waypoint]:
        """The palm waypoints of the current episode, from the objects' current positions."""
        assert self._spec is not None
        spec, cfg = self._spec, self.config
        target = np.asarray(observation.object_positions[spec.target_object], dtype=np.float64)
        top = target[2] + self._half_heights[spec.target_object]
        if spec.region is None:  # reach / touch one of two: hover above, then down onto the top
            approach = [
                Waypoint(np.array([target[0], target[1], top + cfg.hover_height_m])),
                Waypoint(np.array([target[0], target[1], top + cfg.touch_height_m])),
            ]
            if self._recovering and self._miss_offset is None:
                self._miss_offset = self._choose_miss_offset(observation, target)
                self._recovering = self._miss_offset is not None
            if not self._recovering:
                return approach
            miss = target[:2] + self._miss_offset
            return [
                Waypoint(np.array([miss[0], miss[1], top + cfg.hover_height_m])),
                Waypoint(np.array([miss[0], miss[1], top + cfg.miss_height_m])),
                *approach,
            ]
        # Push: beside the object on the side away from the region, down, sweep outwards behind the
        # object until it is inside the region, then lift clear. The approach uses the object's
        # starting x (a nudge while descending must not pull the hand along).
        x = spec.placements[spec.target_object].position[0]
        direction = 1.0 if spec.region.y_m[0] > 0 else -1.0
        start_y = target[1] - direction * cfg.push_standoff_m
        low = self._table_top + cfg.push_height_m
        palm_y = float(self.arms[spec.hand].palm_position()[1])
        return [
            Waypoint(np.array([x, start_y, top + cfg.hover_height_m])),
            Waypoint(np.array([x, start_y, low])),
            Waypoint(np.array([target[0], target[1] - direction * cfg.push_press_offset_m, low]), until_goal=True),
            Waypoint(np.array([x, palm_y, top + cfg.hover_height_m])),
        ]

    def _choose_miss_offset(self, observation: SceneObservation, target: np.ndarray) -> np.ndarray | None:
        """A random xy offset from the target that keeps clear of the other objects and stays on the
        hand's side of the table; None when 32 draws find none (the episode then does not miss)."""
        assert self._spec is not None
        side = 1.0 if self._spec.hand == "left" else -1.0
        others = [
            np.asarray(p[:2]) for name, p in observation.object_positions.items() if name != self._spec.target_object
        ]
        for _ in range(32):
            angle = self._rng.uniform(0.0, 2.0 * np.pi)
            offset = self._rng.uniform(*self.config.miss_offset_m) * np.array([np.cos(angle), np.sin(angle)])
            miss = target[:2] + offset
            on_side = side * miss[1] >= _MISS_MIN_SIDE_Y_M
            in_reach = self.config.miss_x_m[0] <= miss[0] <= self.config.miss_x_m[1]
            if on_side and in_reach and all(np.linalg.norm(miss - o) >= self.config.miss_clearance_m for o in others):
                return offset
        return None

    def _slice(self, names: Sequence[str]) -> slice:
        start = self.joint_names.index(names[0])
        return slice(start, start + len(names))
