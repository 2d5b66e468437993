"""The bridge's logic without ROS or zenoh: enable / dry-run / watchdogs around the shared limiter.

Per tick (the node calls `tick(now)` at `command_hz`):

    joint_command targets (radians, by name; partial messages keep the other joints' targets)
      -> held at the output of the onset if no command arrived for `command_timeout_s`
      -> JointLimiter (gr00t_policy.safety: robot-config position window, velocity and acceleration
         limits, scaled for first runs) -- the same limiter System 1 runs, so the command the robot
         gets is slew-limited even if the topic is fed by something other than System 1
      -> full 32-vector in degrees, non-controlled motors (legs) at the pose measured at enable
      -> sent, unless dry_run.

Why the legs get the pose measured *at enable* and not the newest reading: re-sending the live
reading every tick makes a position-controlled joint follow its own sag under load (each target
is where gravity already pushed it); a fixed pose holds them stiffly where they were.

State machine: DISABLED --enable (fresh, plausible joint state)--> ENABLED --disable--> DISABLED;
ENABLED --joint states stale for state_timeout_s--> FAULT (nothing sent; latched until disable or a
new enable with fresh state). Time is an argument (monotonic seconds), so tests drive it directly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from gr00t_gr1_bridge.joint_map import FOURIER_VECTOR_SIZE, FourierJointMap
from gr00t_gr1_bridge.robot_interface import MotorState
from gr00t_policy.safety import JointLimiter
from gr00t_policy.safety.input_checks import PositionBounds


class BridgeState(IntEnum):
    DISABLED = 0
    ENABLED = 1
    FAULT = 2


@dataclass(frozen=True)
class BridgeConfig:
    """dry_run: compute and limit commands but never send one (default: a real robot moves only
    after dry_run is switched off explicitly). Timeouts in seconds."""

    dry_run: bool = True
    command_timeout_s: float = 0.1
    state_timeout_s: float = 0.1

    def __post_init__(self) -> None:
        for name in ("command_timeout_s", "state_timeout_s"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive number of seconds, got {value}")


class BridgeCore:
    def __init__(
        self,
        joint_map: FourierJointMap,
        limiter: JointLimiter,
        config: BridgeConfig,
        ignored_joints: Sequence[str] = (),
        position_bounds: PositionBounds | None = None,
    ) -> None:
        """``position_bounds``: what the controlled joints can physically report; enabling from a
        reading outside them is refused (the limiter would start the stream *at* that reading)."""
        if tuple(limiter.joint_names) != joint_map.controlled:
            raise ValueError(
                f"limiter joints {limiter.joint_names} "
                f"differ from the bridge's controlled joints {joint_map.controlled}"
            )
        self.joint_map = joint_map
        self.limiter = limiter
        self.config = config
        self.position_bounds = position_bounds
        self._index = {name: i for i, name in enumerate(joint_map.controlled)}
        # Robot-config joints the client cannot drive (hands): accepted in joint_command, not sent.
        self._ignored = frozenset(ignored_joints) - set(self._index)
        n = len(joint_map.controlled)
        self._target = np.zeros(n)
        self._last_command_time = -math.inf
        self._fill_deg = np.zeros(FOURIER_VECTOR_SIZE)
        self._hold_target: np.ndarray | None = None
        self._state = BridgeState.DISABLED
        self._reason = "disabled at start"
        self.latest: MotorState | None = None
        self.last_command_deg: np.ndarray | None = None  # last output, sent or (dry run) not
        self.commands_sent = 0
        self.commands_rejected = 0
        self.stale_command_ticks = 0

    # --- status ------------------------------------------------------------------------------
    @property
    def state(self) -> BridgeState:
        return self._state

    @property
    def reason(self) -> str:
        return self._reason

    def _fresh_state(self, now: float) -> MotorState | None:
        latest = self.latest
        if latest is None or now - latest.received_monotonic_s > self.config.state_timeout_s:
            return None
        return latest

    # --- inputs --------------------------------------------------------------------------------
    def on_state(self, state: MotorState) -> None:
        self.latest = state

    def on_command(self, names: Sequence[str], positions: Sequence[float], now: float) -> str | None:
        """Take a joint_command message; returns why it was rejected (None = accepted).

        A rejected message changes nothing: the joints keep their previous targets (hold)."""
        if len(names) != len(positions):
            self.commands_rejected += 1
            return f"{len(names)} names but {len(positions)} positions"
        values = np.asarray(positions, dtype=np.float64)
        if not np.isfinite(values).all():
            self.commands_rejected += 1
            return "non-finite position"
        unknown = [n for n in names if n not in self._index and n not in self._ignored]
        if unknown:
            self.commands_rejected += 1
            return (
                f"joints {unknown} are not in the robot config (see robot.joints) or the GR-1 motor table "
                f"(nodes.gr1_bridge.motor_order)"
            )
        for name, value in zip(names, values):
            index = self._index.get(name)
            if index is not None:
                self._target[index] = value
        self._last_command_time = now
        return None

    # --- transitions -----------------------------------------------------------------------------
    def enable(self, now: float) -> tuple[bool, str]:
        measured = self._fresh_state(now)
        if measured is None:
            return False, (
                f"no joint state from the robot in the last {self.config.state_timeout_s} s: "
                "is the grx server running and reachable?"
            )
        controlled = self.joint_map.controlled_from_motor_deg(measured.positions_deg)
        if self.position_bounds is not None:
            problem = self.position_bounds.problem(dict(zip(self.joint_map.controlled, controlled.tolist())))
            if problem:
                return (
                    False,
                    f"the robot's joint state is implausible ({problem}): check the encoders and the grx server",
                )
        # Start from where the robot is: the limiter walks any out-of-window joint back in, and the
        # first targets are the measured pose, so enabling alone never moves anything.
        self.limiter.reset(controlled, now)
        self._target[:] = controlled
        self._last_command_time = -math.inf
        self._hold_target = None
        self._fill_deg[:] = measured.positions_deg
        self._state = BridgeState.ENABLED
        self._reason = "enabled (dry run: commands computed, not sent)" if self.config.dry_run else "enabled"
        return True, self._reason

    def disable(self, reason: str = "disabled on request") -> None:
        self._state = BridgeState.DISABLED
        self._reason = reason

    # --- the command tick ------------------------------------------------------------------------
    def tick(self, now: float) -> np.ndarray | None:
        """The (32,) degree vector to send now, or None (disabled, fault, or dry run)."""
        if self._state != BridgeState.ENABLED:
            return None
        if self._fresh_state(now) is None:
            self._state = BridgeState.FAULT
            self._reason = (
                f"no joint state from the robot for more than {self.config.state_timeout_s} s: "
                "stopped sending; disable and enable again once it is back"
            )
            return None
        if now - self._last_command_time > self.config.command_timeout_s:
            # No fresh commands: hold the pose commanded at the onset, not an old target. A snapshot,
            # not the limiter's running output: fed its own output back, the limiter would read the
            # joint's motion as the target's velocity and keep extrapolating it.
            self.stale_command_ticks += 1
            if self._hold_target is None:
                self._hold_target = self.limiter.last_command.copy()
            target = self._hold_target
        else:
            self._hold_target = None
            target = self._target
        limited = self.limiter.limit(target, now)
        command = self.joint_map.motor_deg_command(limited, self._fill_deg)
        self.last_command_deg = command
        if self.config.dry_run:
            return None
        self.commands_sent += 1
        return command
