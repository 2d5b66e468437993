"""JointLimiter: position, velocity and acceleration limits on the command stream, never exceeded.

The last stage before the controller. Every command passes through ``limit(command, now)``, which
returns the closest command that respects, per joint, with ``h = min(now - t_prev, max_dt_s)``:

    lower <= q <= upper                         (robot config: URDF ∩ operating window)
    |q - q_prev| <= max_velocity * h
    |(q - q_prev)/h - v_prev| <= max_acceleration * h     (v_prev: velocity of the last command)

and never outputs NaN. Three details make the guarantee hold for *any* input sequence:

* Braking distance. With bounded acceleration a joint moving toward a position limit needs
  ``v^2 / (2 a)`` to stop, so each velocity is also capped by what still lets it stop inside the
  limits (``v h + v^2/(2a) <= distance to the limit``). Without this a clamp at the limit would
  demand an infinite deceleration, i.e. either the acceleration or the position limit breaks.
  The continuous bound is conservative for any later tick lengths, so the three limits remain
  jointly feasible tick after tick.
* Tracking without overshoot. When the target cannot be reached in one tick (a jump from a chunk
  switch, a wild policy output) the limiter follows it with the target's own velocity plus a
  correction that brakes in time to arrive (time-optimal approach), instead of chasing it at full
  speed and oscillating around it. When the target *is* reachable within all limits the output is
  exactly the target, so a feasible trajectory passes through unchanged.
* Late ticks. ``h`` is capped at ``max_dt_s``: after a stalled timer the limiter moves as if one
  normal tick had passed rather than allowing a huge step in a single command.

Bad input (NaN / inf anywhere in the vector) means the whole vector is ignored: the target becomes
the previous command, so the joints stop as fast as the acceleration limit allows (an exact hold
if they were at rest) and the tick is flagged. Pure numpy; time is an argument.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - typing only; any object with these attributes works
    from gr00t_description.config import JointSpec, RobotConfig

# Limit kinds counted per joint, in the order of `LimiterCounts` columns.
LIMIT_POSITION = "position"  # target outside [lower, upper], clamped
LIMIT_VELOCITY = "velocity"  # reaching the target needed more than max_velocity
LIMIT_ACCELERATION = "acceleration"  # ... needed more than max_acceleration
LIMIT_BRAKING = "braking"  # ... would not leave room to stop before a position limit
LIMIT_KINDS = (LIMIT_POSITION, LIMIT_VELOCITY, LIMIT_ACCELERATION, LIMIT_BRAKING)


@dataclass(frozen=True)
class LimiterConfig:
    """Attributes:
    max_dt_s: tick lengths are capped at this for limiting (a late tick does not permit a
        bigger step); 2-3 command periods, e.g. 0.025 s at 120 Hz.
    velocity_scale / acceleration_scale: fractions (0, 1] of the configured per-joint limits,
        e.g. 0.5 for the first runs on hardware.
    """

    max_dt_s: float = 0.025
    velocity_scale: float = 1.0
    acceleration_scale: float = 1.0

    def __post_init__(self) -> None:
        if not (self.max_dt_s > 0.0 and math.isfinite(self.max_dt_s)):
            raise ValueError(f"max_dt_s must be a positive finite number, got {self.max_dt_s}")
        for name in ("velocity_scale", "acceleration_scale"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {value}")


@dataclass(frozen=True, eq=False)
class JointLimits:
    """Per-joint limits as arrays in the limiter's joint order (radians, rad/s, rad/s²)."""

    joint_names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    max_velocity: np.ndarray
    max_acceleration: np.ndarray

    @classmethod
    def from_specs(cls, specs: Sequence[JointSpec]) -> JointLimits:
        limits = cls(
            joint_names=tuple(s.name for s in specs),
            lower=np.array([s.lower for s in specs], dtype=np.float64),
            upper=np.array([s.upper for s in specs], dtype=np.float64),
            max_velocity=np.array([s.max_velocity for s in specs], dtype=np.float64),
            max_acceleration=np.array([s.max_acceleration for s in specs], dtype=np.float64),
        )
        limits.validate()
        return limits

    @classmethod
    def from_robot(cls, robot: RobotConfig, joint_names: Sequence[str]) -> JointLimits:
        unknown = [n for n in joint_names if n not in robot.joints]
        if unknown:
            raise ValueError(f"joints {unknown} are not in robot config {robot.name!r} (see robot.joints)")
        return cls.from_specs([robot.joints[n] for n in joint_names])

    def validate(self) -> None:
        n = len(self.joint_names)
        if n == 0 or len(set(self.joint_names)) != n:
            raise ValueError(f"joint names must be non-empty and unique, got {self.joint_names}")
        for field_name in ("lower", "upper", "max_velocity", "max_acceleration"):
            values = getattr(self, field_name)
            if values.shape != (n,) or not np.isfinite(values).all():
                raise ValueError(f"{field_name} must be {n} finite values, got {values}")
        bad = [name for name, lo, hi in zip(self.joint_names, self.lower, self.upper) if lo > hi]
        if bad:
            raise ValueError(f"lower > upper for joints {bad}")
        if (self.max_velocity <= 0).any() or (self.max_acceleration <= 0).any():
            # A zero limit (the GR-1 URDF's hand joints) would freeze the joint silently.
            raise ValueError("max_velocity and max_acceleration must be > 0 for every joint")


class JointLimiter:
    """Stateful limiter for one ordered joint list; see the module docstring for the guarantee.

    Lifecycle: ``reset(measured, now)`` whenever the command stream (re)starts from a measured
    pose (enable, controller restart), then ``limit(target, now)`` once per tick. After each tick
    ``last_clamped`` (kind -> (N,) bool, reused buffers: copy to keep) tells which joints were
    limited, and ``counts`` (kind -> (N,) int) accumulates them for diagnostics.
    """

    def __init__(self, limits: JointLimits, config: LimiterConfig | None = None) -> None:
        limits.validate()
        self.limits = limits
        self.config = config or LimiterConfig()
        self.joint_names = limits.joint_names
        n = len(self.joint_names)
        self._lower = limits.lower
        self._upper = limits.upper
        self._vmax = limits.max_velocity * self.config.velocity_scale
        self._amax = limits.max_acceleration * self.config.acceleration_scale
        self._q = np.zeros(n)  # last command
        self._v = np.zeros(n)  # its velocity (rad/s over the capped tick length)
        self._target = np.zeros(n)  # last (position-clamped) target, for the target velocity
        self._time = math.nan
        self._initialised = False
        self.last_clamped: dict[str, np.ndarray] = {k: np.zeros(n, dtype=bool) for k in LIMIT_KINDS}
        self.counts: dict[str, np.ndarray] = {k: np.zeros(n, dtype=np.int64) for k in LIMIT_KINDS}
        self.last_non_finite = False
        self.non_finite_inputs = 0
        self.non_monotonic_ticks = 0
        self.ticks = 0
        self.limited_ticks = 0

    @classmethod
    def from_robot(
        cls, robot: RobotConfig, joint_names: Sequence[str], config: LimiterConfig | None = None
    ) -> JointLimiter:
        return cls(JointLimits.from_robot(robot, joint_names), config)

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def initialised(self) -> bool:
        return self._initialised

    @property
    def last_command(self) -> np.ndarray:
        """The last output (read-only view)."""
        view = self._q.view()
        view.setflags(write=False)
        return view

    @property
    def last_velocity(self) -> np.ndarray:
        view = self._v.view()
        view.setflags(write=False)
        return view

    def reset(self, positions: np.ndarray, now: float, velocities: np.ndarray | None = None) -> None:
        """Restart from ``positions`` (normally the measured pose; may lie outside the limits, in
        which case the limiter walks it back in at the allowed rates, never jumps)."""
        positions = np.asarray(positions, dtype=np.float64)
        if positions.shape != (self.num_joints,) or not np.isfinite(positions).all():
            raise ValueError(f"reset needs {self.num_joints} finite positions, got shape {positions.shape}")
        self._q[:] = positions
        self._target[:] = positions
        if velocities is None:
            self._v[:] = 0.0
        else:
            # Clip to the velocity limit so the three limits stay jointly feasible.
            np.clip(np.asarray(velocities, dtype=np.float64), -self._vmax, self._vmax, out=self._v)
        self._time = float(now)
        self._initialised = True

    def limit(self, command: np.ndarray, now: float, out: np.ndarray | None = None) -> np.ndarray:
        """Limit ``command`` (N,) radians at time ``now``; returns the command to send.

        A tick with ``now`` not after the previous one (duplicate or backwards time) repeats the
        previous command and changes no state.
        """
        if not self._initialised:
            raise RuntimeError("JointLimiter.limit called before reset(measured_positions, now)")
        command = np.asarray(command, dtype=np.float64)
        if command.shape != (self.num_joints,):
            raise ValueError(f"command must have shape ({self.num_joints},), got {command.shape}")
        if out is None:
            out = np.empty(self.num_joints)
        for flags in self.last_clamped.values():
            flags[:] = False
        self.last_non_finite = False
        dt = now - self._time
        if not (dt > 0.0 and math.isfinite(dt)):
            self.non_monotonic_ticks += 1
            out[:] = self._q
            return out
        self.ticks += 1
        h = min(dt, self.config.max_dt_s)
        q_prev, v_prev, a, vmax = self._q, self._v, self._amax, self._vmax

        if np.isfinite(command).all():
            target = np.clip(command, self._lower, self._upper)
            np.not_equal(target, command, out=self.last_clamped[LIMIT_POSITION])
            target_velocity = np.clip((target - self._target) / h, -vmax, vmax)
        else:
            # Garbage in: stop where we are (braking within the acceleration limit).
            self.last_non_finite = True
            self.non_finite_inputs += 1
            target = q_prev.copy()
            target_velocity = np.zeros_like(q_prev)

        ah = a * h
        # Fastest velocity from which the joint can still stop inside [lower, upper]:
        # v h + v^2 / (2a) <= distance  <=>  v <= -a h + sqrt((a h)^2 + 2 a distance).
        room_up = self._upper - q_prev
        room_down = q_prev - self._lower
        brake_hi = np.where(room_up >= 0.0, -ah + np.sqrt(ah * ah + 2.0 * a * np.maximum(room_up, 0.0)), 0.0)
        brake_lo = np.where(room_down >= 0.0, ah - np.sqrt(ah * ah + 2.0 * a * np.maximum(room_down, 0.0)), 0.0)
        hard_lo = np.maximum(-vmax, brake_lo)
        hard_hi = np.minimum(vmax, brake_hi)
        lo = np.maximum(hard_lo, v_prev - ah)
        hi = np.minimum(hard_hi, v_prev + ah)
        # Only reachable through float rounding or an inconsistent reset: keep position and
        # velocity limits, give up the acceleration limit for that joint.
        infeasible = lo > hi
        if infeasible.any():
            lo = np.where(infeasible, hard_lo, lo)
            hi = np.where(infeasible, hard_hi, hi)

        error = target - q_prev
        exact_velocity = error / h
        # Landing on the target is accepted only if the joint can also match the target's
        # velocity on the next tick; otherwise it would arrive too fast and overshoot. A feasible
        # trajectory that is already tracked exactly has exact == target velocity and passes.
        reachable = (exact_velocity >= lo) & (exact_velocity <= hi) & (np.abs(exact_velocity - target_velocity) <= ah)
        # Not reachable this tick: follow the target's velocity plus a correction that still
        # brakes in time to arrive at the target without overshoot.
        correction = np.sign(error) * (-ah + np.sqrt(ah * ah + 2.0 * a * np.abs(error)))
        velocity = np.where(reachable, exact_velocity, target_velocity + correction)
        np.clip(velocity, lo, hi, out=velocity)

        np.multiply(velocity, h, out=out)
        out += q_prev
        out[:] = np.where(reachable, target, out)  # bit-exact pass-through of feasible targets
        # Rounding guard: never leave the limits (or move further out when starting outside).
        np.clip(out, np.minimum(self._lower, q_prev), np.maximum(self._upper, q_prev), out=out)

        limited = ~reachable
        if limited.any():
            self.limited_ticks += 1
            # Attribute each limited joint to the bound that is active on its velocity; a joint
            # approaching its target below every bound is braking for the acceleration limit.
            at_hi = limited & (velocity >= hi)
            at_lo = limited & (velocity <= lo) & ~at_hi
            self.last_clamped[LIMIT_VELOCITY][:] = (at_hi & (hi >= vmax)) | (at_lo & (lo <= -vmax))
            self.last_clamped[LIMIT_BRAKING][:] = (at_hi & (hi >= brake_hi)) | (at_lo & (lo <= brake_lo))
            self.last_clamped[LIMIT_ACCELERATION][:] = limited & ~(
                self.last_clamped[LIMIT_VELOCITY] | self.last_clamped[LIMIT_BRAKING]
            )
        for kind in LIMIT_KINDS:
            self.counts[kind] += self.last_clamped[kind]

        self._v[:] = (out - q_prev) / h
        self._q[:] = out
        self._target[:] = target
        self._time = float(now)
        return out

    @property
    def last_any_clamped(self) -> bool:
        return self.last_non_finite or any(flags.any() for flags in self.last_clamped.values())

    def clamp_summary(self) -> dict[str, dict[str, int]]:
        """kind -> {joint: count} for joints limited at least once (for /diagnostics)."""
        return {
            kind: {name: int(c) for name, c in zip(self.joint_names, counts) if c}
            for kind, counts in self.counts.items()
        }

    def diagnostics(self) -> Mapping[str, Any]:
        return {
            "ticks": self.ticks,
            "limited_ticks": self.limited_ticks,
            "non_finite_inputs": self.non_finite_inputs,
            "non_monotonic_ticks": self.non_monotonic_ticks,
            "clamped": self.clamp_summary(),
        }
