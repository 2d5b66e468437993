"""Map a `sensor_msgs/Joy` sample onto a palm-velocity teleop command (pure; no ROS).

The default layout is an Xbox-style pad as the ROS `joy` driver reports it (joy_linux):
axes 0/1 = left stick left(+)/up(+), 3/4 = right stick left(+)/up(+), 2/5 = triggers (rest at +1,
so never bound by default), 6/7 = d-pad; buttons 0 A, 1 B, 2 X, 3 Y, 4 LB, 5 RB, 6 back, 7 start.
Robot frame: x forward, y left, z up. So the left stick drives the palm in the horizontal plane
(up = forward, left = left), the right stick's vertical axis drives it up and down.
`keyboard_joy` publishes the same layout from a terminal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np


class JoyMappingError(ValueError):
    """A Joy sample or the mapping configuration is unusable."""


@dataclass(frozen=True)
class JoyMappingConfig:
    """Which Joy axes and buttons do what. Indices are 0-based positions in `Joy.axes` / `Joy.buttons`.

    No defaults: the values are the stack YAML's `nodes.joy_teleop` (`from_dict`), the Xbox layout
    in the shipped stacks."""

    # Axes driving the palm's x (forward), y (left), z (up) velocity.
    axes: tuple[int, int, int]
    # Palm speed (m/s) at full deflection, per axis; a negative scale inverts that axis. 0.15 m/s
    # crosses the 0.3 m between the home pose and the table in 2 s: slow enough to stop on an object.
    axis_scales_m_s: tuple[float, float, float]
    # Deflections below this (of full scale) are zero; above, the speed rises from zero, so the
    # command is continuous at the deadzone's edge. Sticks rarely rest at exactly 0.
    deadzone: float
    button_switch_arm: int  # toggle the arm being driven (left / right)
    button_open_hand: int  # open the active hand while held
    button_close_hand: int  # close the active hand while held
    button_home: int  # both arms and hands back to the home pose

    def __post_init__(self) -> None:
        if len(self.axes) != 3 or len(self.axis_scales_m_s) != 3:
            raise JoyMappingError(
                f"axes and axis_scales_m_s need 3 entries (x, y, z), "
                f"got {list(self.axes)} and {list(self.axis_scales_m_s)}"
            )
        indices = {"axes": list(self.axes), "buttons": list(self.buttons)}
        for what, values in indices.items():
            if any(int(v) != v or v < 0 for v in values):
                raise JoyMappingError(f"{what} indices must be integers >= 0, got {values}")
            if len(set(values)) != len(values):
                raise JoyMappingError(f"{what} indices must be distinct, got {values}")
        if not all(math.isfinite(s) for s in self.axis_scales_m_s):
            raise JoyMappingError(f"axis_scales_m_s must be finite, got {list(self.axis_scales_m_s)}")
        if not 0.0 <= self.deadzone < 1.0:
            raise JoyMappingError(f"deadzone must be in [0, 1), got {self.deadzone}")

    @property
    def buttons(self) -> tuple[int, int, int, int]:
        return (self.button_switch_arm, self.button_open_hand, self.button_close_hand, self.button_home)

    @property
    def min_axes(self) -> int:
        return max(self.axes) + 1

    @property
    def min_buttons(self) -> int:
        return max(self.buttons) + 1

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> JoyMappingConfig:
        """From a parameter / YAML mapping (`nodes.joy_teleop`); keys that are not fields of this class
        are ignored, a missing field is an error."""
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in values:
                raise JoyMappingError(f"the joy mapping needs {f.name!r} (nodes.joy_teleop of the stack YAML)")
            value = values[f.name]
            if f.name == "axes":
                kwargs[f.name] = tuple(int(v) for v in value)
            elif f.name == "axis_scales_m_s":
                kwargs[f.name] = tuple(float(v) for v in value)
            elif f.name == "deadzone":
                kwargs[f.name] = float(value)
            else:
                kwargs[f.name] = int(value)
        return cls(**kwargs)


@dataclass(frozen=True)
class JoyCommand:
    """One Joy sample as a teleop command. Buttons are levels (held or not), not presses."""

    velocity_m_s: np.ndarray  # (3,) palm velocity in the robot frame (x forward, y left, z up)
    switch_arm: bool = False
    open_hand: bool = False
    close_hand: bool = False
    home: bool = False

    @classmethod
    def idle(cls) -> JoyCommand:
        return cls(np.zeros(3))

    @property
    def moving(self) -> bool:
        return bool(np.any(self.velocity_m_s != 0.0))


def apply_deadzone(value: float, deadzone: float) -> float:
    """`value` in [-1, 1] with |value| <= deadzone set to 0 and the rest rescaled onto (0, 1]."""
    magnitude = abs(value)
    if magnitude <= deadzone:
        return 0.0
    return math.copysign((min(magnitude, 1.0) - deadzone) / (1.0 - deadzone), value)


class JoyMapping:
    def __init__(self, config: JoyMappingConfig) -> None:
        self.config = config

    def map(self, axes: Sequence[float], buttons: Sequence[int]) -> JoyCommand:
        """The command of one Joy sample.

        Raises JoyMappingError when the sample has fewer axes or buttons than the mapping uses (a
        different device, or a driver that lost one) or non-finite axes or axes outside [-1, 1]
        (sensor_msgs/Joy's range: anything else is not a gamepad): such a sample must never move
        the arm. Extra axes and buttons are ignored.
        """
        cfg = self.config
        if len(axes) < cfg.min_axes or len(buttons) < cfg.min_buttons:
            raise JoyMappingError(
                f"Joy sample has {len(axes)} axes and {len(buttons)} buttons; the mapping needs at least "
                f"{cfg.min_axes} and {cfg.min_buttons} (see nodes.joy_teleop axes / button_* in the stack YAML)"
            )
        used = [float(axes[i]) for i in cfg.axes]
        if not all(math.isfinite(v) for v in used):
            raise JoyMappingError(f"Joy sample has non-finite axes {used}")
        if any(abs(v) > 1.0 for v in used):
            raise JoyMappingError(f"Joy sample has axes outside [-1, 1]: {used}")
        velocity = np.array([apply_deadzone(v, cfg.deadzone) * s for v, s in zip(used, cfg.axis_scales_m_s)])
        return JoyCommand(
            velocity,
            switch_arm=bool(buttons[cfg.button_switch_arm]),
            open_hand=bool(buttons[cfg.button_open_hand]),
            close_hand=bool(buttons[cfg.button_close_hand]),
            home=bool(buttons[cfg.button_home]),
        )
