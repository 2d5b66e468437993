"""Differential inverse kinematics of one GR-1 arm: damped least squares on the palm position.

Kinematics run on a private `MjData` holding the *commanded* arm configuration, not the measured
one: the demonstrator integrates its own targets, so contact with an object (which makes the
measured pose lag) never makes the command jump, and the demonstrations stay smooth.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from gr00t_description import RobotConfig

POSITION_DIM = 3


@dataclass(frozen=True)
class DifferentialIKConfig:
    """Gains and limits of one IK step (one policy step)."""

    # Damped least squares: dq = J^T (J J^T + damping^2 I)^-1 dx. 0.05 m keeps the step bounded
    # near singular poses (straight elbow) at the cost of a slower approach there.
    damping_m: float = 0.05
    # Cartesian step per policy step: 0.02 m at 20 Hz = 0.4 m/s, a calm human reaching speed.
    max_cartesian_step_m: float = 0.02
    # Joint step per policy step: 0.1 rad at 20 Hz = 2 rad/s, below the arms' 3 rad/s operating limit.
    max_joint_step_rad: float = 0.1
    # Null-space pull towards the home posture (fraction of the gap per step): keeps the 7-DoF
    # arm's redundant elbow/wrist from drifting into odd postures over an episode.
    posture_gain: float = 0.05
    # Stay this far inside the operating limits, so the safety layer never needs to clamp.
    limit_margin_rad: float = 0.02
    # Re-solves per step with joints at a limit removed from the Jacobian (clamping IK).
    limit_passes: int = 3

    def __post_init__(self) -> None:
        for name in ("damping_m", "max_cartesian_step_m", "max_joint_step_rad"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0 <= self.posture_gain <= 1:
            raise ValueError(f"posture_gain must be in [0, 1], got {self.posture_gain}")
        if self.limit_margin_rad < 0 or self.limit_passes < 1:
            raise ValueError(
                f"limit_margin_rad must be >= 0 and limit_passes >= 1, got {self.limit_margin_rad}, {self.limit_passes}"
            )


class ArmIK:
    """Palm-position IK of the `side` arm ('left' / 'right'), within the robot's operating limits."""

    def __init__(
        self,
        model: mujoco.MjModel,
        robot: RobotConfig,
        side: str,
        palm_geom_id: int,
        config: DifferentialIKConfig | None = None,
    ) -> None:
        self.model = model
        self.config = config if config is not None else DifferentialIKConfig()
        self.joint_names: tuple[str, ...] = tuple(robot.groups[f"{side}_arm"])
        joint_ids = [model.joint(n).id for n in self.joint_names]
        self._qpos_adr = model.jnt_qposadr[joint_ids].astype(np.intp)
        self._dof_adr = model.jnt_dofadr[joint_ids].astype(np.intp)
        margin = self.config.limit_margin_rad
        self.lower = np.array([robot.joints[n].lower for n in self.joint_names]) + margin
        self.upper = np.array([robot.joints[n].upper for n in self.joint_names]) - margin
        self.home = np.clip([robot.joints[n].home for n in self.joint_names], self.lower, self.upper)
        self._palm_geom = palm_geom_id
        self._palm_body = int(model.geom_bodyid[palm_geom_id])
        self._data = mujoco.MjData(model)
        self._jacp = np.zeros((POSITION_DIM, model.nv))
        self._jacr = np.zeros((POSITION_DIM, model.nv))
        self.q = self.home.copy()

    def reset(self, qpos: np.ndarray) -> None:
        """Start from a full configuration (e.g. the sim's `data.qpos` after a reset)."""
        self._data.qpos[:] = qpos
        self.q = np.clip(qpos[self._qpos_adr], self.lower, self.upper)
        self._forward()

    def palm_position(self) -> np.ndarray:
        """World position of the palm at the commanded configuration."""
        return self._data.geom_xpos[self._palm_geom].copy()

    def step_towards(self, target: np.ndarray) -> np.ndarray:
        """One bounded IK step of the palm towards `target`; returns the new commanded arm joints."""
        cfg = self.config
        error = np.asarray(target, dtype=np.float64) - self.palm_position()
        distance = float(np.linalg.norm(error))
        if distance > cfg.max_cartesian_step_m:
            error *= cfg.max_cartesian_step_m / distance
        mujoco.mj_jac(self.model, self._data, self._jacp, self._jacr, self.palm_position(), self._palm_body)
        jacobian = self._jacp[:, self._dof_adr]
        posture = cfg.posture_gain * (self.home - self.q)
        free = np.ones(len(self.q), dtype=bool)
        dq = np.zeros_like(self.q)
        for _ in range(cfg.limit_passes):
            active_jacobian = jacobian * free
            gram = active_jacobian @ active_jacobian.T + cfg.damping_m**2 * np.eye(POSITION_DIM)
            dq = active_jacobian.T @ np.linalg.solve(gram, error)
            null_space = np.eye(len(self.q)) - np.linalg.pinv(active_jacobian) @ active_jacobian
            dq += null_space @ (posture * free)
            # A joint at a limit that the step pushes further out is frozen and the rest re-solved,
            # so the other joints take over its share instead of the step being clipped away.
            blocked = ((self.q <= self.lower + 1e-6) & (dq < 0)) | ((self.q >= self.upper - 1e-6) & (dq > 0))
            if not (blocked & free).any():
                break
            free &= ~blocked
        dq = np.clip(dq * free, -cfg.max_joint_step_rad, cfg.max_joint_step_rad)
        self.q = np.clip(self.q + dq, self.lower, self.upper)
        self._forward()
        return self.q.copy()

    def _forward(self) -> None:
        self._data.qpos[self._qpos_adr] = self.q
        mujoco.mj_kinematics(self.model, self._data)
        mujoco.mj_comPos(self.model, self._data)  # mj_jac needs the subtree centres of mass
