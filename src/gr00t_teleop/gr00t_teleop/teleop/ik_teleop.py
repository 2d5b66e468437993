"""Cartesian (palm) teleop of the GR-1: Joy commands -> palm targets -> arm joints by differential IK,
plus hand open/close (pure; MuJoCo kinematics, no ROS).

One arm is driven at a time. Each tick integrates the commanded palm velocity into the active
arm's palm target (inside a workspace box, never more than `max_target_lead_m` ahead of the
commanded palm) and takes one bounded `ArmIK` step towards it (the scripted demonstrator's IK, on
the same MuJoCo model as the simulator). The output is a joint-position target for both arms and
both hands, by name, for the leader teleop node, whose safety layer (limits, ramps, watchdogs,
e-stop) stands between it and the robot. The IK integrates its own commanded configuration, not
the measured one: a palm pressed against the table never makes the target jump.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import mujoco
import numpy as np

from gr00t_description import RobotConfig
from gr00t_sim.scripted.ik import ArmIK, DifferentialIKConfig
from gr00t_teleop.teleop.joy_mapping import JoyCommand

LOG = logging.getLogger(__name__)

SIDES: tuple[str, str] = ("left", "right")
# What the teleop commands, in this order (as the policy's gr1_arms_only data config does).
COMMANDED_GROUPS: tuple[str, ...] = ("left_arm", "right_arm", "left_hand", "right_hand")


class IKTeleopError(ValueError):
    """The teleop cannot start from the given joint positions, or its configuration is unusable."""


@dataclass(frozen=True)
class IKTeleopConfig:
    """Rates, workspace and IK gains of the palm teleop. Lengths in metres, robot frame
    (x forward, y left, z up, origin under the base).

    The fields without a default are the joy teleop node's parameters: their values live in the
    stack YAML (``nodes.joy_teleop``, with the reasons for them); the gains below are the IK's own.
    """

    period_s: float  # one `step` per tick of the node's timer
    start_side: str  # the arm driven first
    # Box the palm target stays in (the operator can press on an object, not drive the hand through
    # the table).
    workspace_min_m: tuple[float, float, float]
    workspace_max_m: tuple[float, float, float]
    # The target stops this far ahead of the commanded palm: at the edge of the arm's reach it would
    # otherwise run on, and reversing the stick would do nothing for a while.
    max_target_lead_m: float
    home_speed_m_s: float  # palm speed while homing
    hand_speed_per_s: float  # hand speed as a fraction of the open->closed range per second
    max_joint_speed_rad_s: float  # IK joint speed bound (keep it below the arms' operating limit)
    # IK gains per second, scaled to one tick (the demonstrator's are per 20 Hz policy step: 0.02 m,
    # 0.1 rad and 0.05 of the posture gap per step are 0.4 m/s, 2 rad/s and 1 /s).
    tracking_speed_m_s: float = 0.4  # fastest catch-up of the palm towards its target
    posture_gain_per_s: float = 1.0  # null-space pull towards the home posture
    damping_m: float = 0.05
    # Arm and hand targets stay this far inside the operating limits, so the safety layer never clamps.
    limit_margin_rad: float = 0.02

    def __post_init__(self) -> None:
        if self.start_side not in SIDES:
            raise IKTeleopError(f"start_side must be one of {SIDES}, got {self.start_side!r}")
        positive = (
            "period_s",
            "max_target_lead_m",
            "home_speed_m_s",
            "hand_speed_per_s",
            "tracking_speed_m_s",
            "max_joint_speed_rad_s",
            "damping_m",
        )
        for name in positive:
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise IKTeleopError(f"{name} must be > 0, got {value}")
        if len(self.workspace_min_m) != 3 or len(self.workspace_max_m) != 3:
            raise IKTeleopError(
                f"workspace_min_m / workspace_max_m need 3 values (x, y, z), got {list(self.workspace_min_m)}, "
                f"{list(self.workspace_max_m)}"
            )
        if not all(lo < hi for lo, hi in zip(self.workspace_min_m, self.workspace_max_m, strict=True)):
            raise IKTeleopError(
                f"workspace_min_m {list(self.workspace_min_m)} must be below workspace_max_m "
                f"{list(self.workspace_max_m)}"
            )
        if self.posture_gain_per_s < 0 or self.limit_margin_rad < 0:
            raise IKTeleopError(
                f"posture_gain_per_s and limit_margin_rad must be >= 0, got {self.posture_gain_per_s}, "
                f"{self.limit_margin_rad}"
            )

    def ik_config(self) -> DifferentialIKConfig:
        """The per-step IK limits of one tick."""
        return DifferentialIKConfig(
            damping_m=self.damping_m,
            max_cartesian_step_m=self.tracking_speed_m_s * self.period_s,
            max_joint_step_rad=self.max_joint_speed_rad_s * self.period_s,
            posture_gain=min(1.0, self.posture_gain_per_s * self.period_s),
            limit_margin_rad=self.limit_margin_rad,
        )


class IKTeleop:
    """`reset(measured)` from the robot's joint positions, then `step(command)` once per tick.

    `model` is the simulator's MjModel (`GR1TabletopSim.model`); `palm_geoms` maps 'left'/'right'
    to the palm geom ids (`GR1TabletopSim.palm_geom_id`).
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        robot: RobotConfig,
        palm_geoms: Mapping[str, int],
        config: IKTeleopConfig,
    ) -> None:
        self.config = config
        cfg = self.config
        self.arms = {side: ArmIK(model, robot, side, palm_geoms[side], cfg.ik_config()) for side in SIDES}
        self.joint_names: tuple[str, ...] = tuple(n for g in COMMANDED_GROUPS for n in robot.groups[g])
        self._arm_slices = {side: self._slice(robot.groups[f"{side}_arm"]) for side in SIDES}
        self._hand_slices = {side: self._slice(robot.groups[f"{side}_hand"]) for side in SIDES}
        self._qpos_adr = {name: int(model.jnt_qposadr[model.joint(name).id]) for name in robot.joint_names}
        self._home_qpos = model.qpos0.copy()
        for name, adr in self._qpos_adr.items():
            self._home_qpos[adr] = robot.joints[name].home

        # Hands: open = the home pose (Fourier's hands rest open), closed = the limit farther from it.
        margin = cfg.limit_margin_rad
        hand_names = [n for side in SIDES for n in robot.groups[f"{side}_hand"]]
        lower = np.array([robot.joints[n].lower for n in hand_names]) + margin
        upper = np.array([robot.joints[n].upper for n in hand_names]) - margin
        self._hand_open = np.clip([robot.joints[n].home for n in hand_names], lower, upper)
        self._hand_closed = np.where(upper - self._hand_open >= self._hand_open - lower, upper, lower)
        self._hand_step = cfg.hand_speed_per_s * cfg.period_s * np.abs(self._hand_closed - self._hand_open)
        self._hands_offset = self._hand_slices["left"].start  # hand arrays are indexed from the left hand

        self._lower = np.asarray(cfg.workspace_min_m, dtype=np.float64)
        self._upper = np.asarray(cfg.workspace_max_m, dtype=np.float64)
        self.home_palms: dict[str, np.ndarray] = {}
        for side, arm in self.arms.items():
            arm.reset(self._home_qpos)
            self.home_palms[side] = np.clip(arm.palm_position(), self._lower, self._upper)

        self._positions = np.array([robot.joints[n].home for n in self.joint_names], dtype=np.float64)
        self._targets = {side: self.home_palms[side].copy() for side in SIDES}
        self.active_side = cfg.start_side
        self.homing = False
        self.initialized = False
        self._previous = JoyCommand.idle()

    @classmethod
    def for_sim(cls, sim: object, config: IKTeleopConfig) -> IKTeleop:
        """Build for a `GR1TabletopSim` (typed loosely to keep this module free of the sim import)."""
        return cls(
            sim.model,  # type: ignore[attr-defined]
            sim.robot,  # type: ignore[attr-defined]
            {side: sim.palm_geom_id(side) for side in SIDES},  # type: ignore[attr-defined]
            config,
        )

    # ------------------------------------------------------------------ state
    def palm_target(self, side: str) -> np.ndarray:
        return self._targets[side].copy()

    def palm_position(self, side: str) -> np.ndarray:
        """World position of the `side` palm at the commanded configuration."""
        return self.arms[side].palm_position()

    def hand_closure(self, side: str) -> float:
        """0 = open, 1 = closed: the mean fraction of each hand joint's open->closed range."""
        s = self._hand_slices[side]
        h = slice(s.start - self._hands_offset, s.stop - self._hands_offset)
        span = self._hand_closed[h] - self._hand_open[h]
        return float(np.mean((self._positions[s] - self._hand_open[h]) / span))

    def positions(self) -> np.ndarray:
        """The current joint targets (rad) in `joint_names` order."""
        return self._positions.copy()

    # ------------------------------------------------------------------ control
    def reset(self, measured: Mapping[str, float]) -> None:
        """Start from the robot's measured joint positions (name -> rad): the first `step`
        commands where the robot is, so taking over never moves it.

        Raises IKTeleopError if an arm or hand joint is missing or non-finite; joints the teleop
        does not command (waist, neck) are taken from `measured` when present, else their home.
        """
        missing = [n for n in self.joint_names if n not in measured]
        if missing:
            raise IKTeleopError(f"measured joint positions lack {missing[:4]}{'...' if len(missing) > 4 else ''}")
        bad = [n for n in self._qpos_adr if n in measured and not math.isfinite(float(measured[n]))]
        if bad:
            raise IKTeleopError(f"measured joint positions are non-finite for {bad[:4]}")
        qpos = self._home_qpos.copy()
        for name, adr in self._qpos_adr.items():
            if name in measured:
                qpos[adr] = float(measured[name])
        for side, arm in self.arms.items():
            arm.reset(qpos)  # clips into the operating limits (less the margin)
            self._positions[self._arm_slices[side]] = arm.q
            self._targets[side] = arm.palm_position()
        hands = slice(self._hands_offset, len(self.joint_names))
        measured_hands = np.array([float(measured[n]) for n in self.joint_names[hands]])
        low = np.minimum(self._hand_open, self._hand_closed)
        high = np.maximum(self._hand_open, self._hand_closed)
        self._positions[hands] = np.clip(measured_hands, low, high)
        self.homing = False
        self.initialized = True
        self._previous = JoyCommand.idle()
        LOG.info(
            "palm teleop starts at %s (left), %s (right)",
            self._targets["left"].round(3),
            self._targets["right"].round(3),
        )

    def step(self, command: JoyCommand | None) -> np.ndarray:
        """Advance one tick; returns the joint targets (rad) in `joint_names` order.

        `command` None means no fresh input (stale or rejected Joy): everything stops where it is
        commanded now, homing included, and the palm targets snap to the palms so nothing moves on.
        Button presses act on their rising edge (switch arm, home); hand buttons act while held.
        """
        if not self.initialized:
            raise IKTeleopError("call reset(measured) before step()")
        if command is None:
            self.homing = False
            for side in SIDES:
                self._targets[side] = self.arms[side].palm_position()
            return self._positions.copy()
        previous, self._previous = self._previous, command
        if command.switch_arm and not previous.switch_arm:
            self._targets[self.active_side] = self.arms[self.active_side].palm_position()
            self.active_side = "left" if self.active_side == "right" else "right"
            LOG.info("palm teleop drives the %s arm", self.active_side)
        if command.home and not previous.home:
            self.homing = True
        if command.moving or command.open_hand or command.close_hand:
            self.homing = False  # any manual input takes over
        if self.homing:
            self._step_homing()
        else:
            self._step_active(command)
        return self._positions.copy()

    def _step_active(self, command: JoyCommand) -> None:
        cfg = self.config
        side = self.active_side
        arm = self.arms[side]
        palm = arm.palm_position()
        target = self._targets[side].copy()
        # Reversing an axis starts from the palm, not from a target left ahead of it (at the end of
        # the arm's reach, up to `max_target_lead_m`): the palm turns round at once.
        reversed_axes = command.velocity_m_s * (target - palm) < 0
        target[reversed_axes] = palm[reversed_axes]
        # The box stops motion out of it; a target that starts outside (the measured pose at reset)
        # may still move back in.
        lower = np.minimum(self._lower, target)
        upper = np.maximum(self._upper, target)
        moved = np.clip(target + command.velocity_m_s * cfg.period_s, lower, upper)
        # At the end of the arm's reach the target stops `max_target_lead_m` ahead of the palm, axis
        # by axis: the other axes still move, and the target does not follow the palm's drift.
        for axis in range(3):
            candidate = target.copy()
            candidate[axis] = moved[axis]
            lead = float(np.linalg.norm(candidate - palm))
            if lead <= cfg.max_target_lead_m or lead <= float(np.linalg.norm(target - palm)):
                target = candidate
        self._targets[side] = target
        self._positions[self._arm_slices[side]] = arm.step_towards(target)
        if command.close_hand != command.open_hand:
            self._move_hand(side, self._hand_closed if command.close_hand else self._hand_open)

    def _step_homing(self) -> None:
        step = self.config.home_speed_m_s * self.config.period_s
        for side, arm in self.arms.items():
            gap = self.home_palms[side] - self._targets[side]
            distance = float(np.linalg.norm(gap))
            if distance <= step:
                self._targets[side] = self.home_palms[side].copy()
            else:
                self._targets[side] = self._targets[side] + gap * (step / distance)
            self._positions[self._arm_slices[side]] = arm.step_towards(self._targets[side])
            self._move_hand(side, self._hand_open)
        # Done when the palms are home; the IK's posture pull keeps straightening the arms after.
        if all(np.linalg.norm(self.arms[s].palm_position() - self.home_palms[s]) < 1e-3 for s in SIDES):
            self.homing = False
            LOG.info("palm teleop is home")

    def _move_hand(self, side: str, goal: np.ndarray) -> None:
        s = self._hand_slices[side]
        h = slice(s.start - self._hands_offset, s.stop - self._hands_offset)
        current = self._positions[s]
        self._positions[s] = current + np.clip(goal[h] - current, -self._hand_step[h], self._hand_step[h])

    def _slice(self, names: Sequence[str]) -> slice:
        start = self.joint_names.index(names[0])
        return slice(start, start + len(names))
