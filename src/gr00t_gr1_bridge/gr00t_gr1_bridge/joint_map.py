"""Fourier motor vector <-> joints by name, radians <-> degrees. Pure numpy.

fourier-grx-client 0.1.5 speaks one 32-vector in *motor index order* and in *degrees*: legs 0-11,
waist 12-14, head pitch/roll/yaw 15-17, left arm 18-24, right arm 25-31 (its `ControlGroup`). gr00t-ros
speaks radians by joint name. The head order differs from the URDF's (roll, pitch, yaw), so nothing
here maps by index: the order comes from a name table (`nodes.gr1_bridge.motor_order` in the stack
YAML) and every conversion goes through it. Units change here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

FOURIER_VECTOR_SIZE = 32


@dataclass(frozen=True, eq=False)
class FourierJointMap:
    """`motor_order[i]` is the URDF name of motor index i; `controlled` the joints we may command.

    `controlled` = the joints both in the motor table and in the robot config (the safety layer's
    limits exist only for those): on the GR1T2 the waist, head and arms. Legs are in the motor table
    but never commanded; hand joints are in the robot config but not on this client (separate hand
    driver), so they are ignored here.
    """

    motor_order: tuple[str, ...]
    controlled: tuple[str, ...]
    controlled_motor_index: np.ndarray  # (len(controlled),) motor index of each controlled joint

    @classmethod
    def create(cls, motor_order: Sequence[str], robot_joint_names: Sequence[str]) -> FourierJointMap:
        motor_order = tuple(str(n) for n in motor_order)
        if len(motor_order) != FOURIER_VECTOR_SIZE:
            raise ValueError(
                f"gr1_bridge.motor_order must name {FOURIER_VECTOR_SIZE} joints (fourier-grx-client's vector), "
                f"got {len(motor_order)}; see nodes.gr1_bridge.motor_order in the stack YAML"
            )
        duplicates = sorted({n for n in motor_order if motor_order.count(n) > 1})
        if duplicates:
            raise ValueError(f"gr1_bridge.motor_order names joints twice: {duplicates}")
        index = {name: i for i, name in enumerate(motor_order)}
        controlled = tuple(n for n in robot_joint_names if n in index)
        if not controlled:
            raise ValueError("no joint of the robot config is in gr1_bridge.motor_order: nothing to command")
        return cls(
            motor_order=motor_order,
            controlled=controlled,
            controlled_motor_index=np.array([index[n] for n in controlled], dtype=np.intp),
        )

    def motor_index(self, name: str) -> int:
        return self.motor_order.index(name)

    def controlled_from_motor_deg(self, motor_deg: np.ndarray) -> np.ndarray:
        """(32,) degrees in motor order -> (len(controlled),) radians in `controlled` order."""
        return np.deg2rad(np.asarray(motor_deg, dtype=np.float64)[self.controlled_motor_index])

    def motor_deg_command(self, controlled_rad: np.ndarray, fill_motor_deg: np.ndarray) -> np.ndarray:
        """Full (32,) degree command: `fill_motor_deg` everywhere, the controlled joints replaced.

        The client publishes whatever vector it gets, and the server drives all 32 motors to it: a
        partial or zero-filled vector would command the legs to 0 degrees. Hence always a full vector.
        """
        command = np.array(fill_motor_deg, dtype=np.float64, copy=True)
        if command.shape != (FOURIER_VECTOR_SIZE,):
            raise ValueError(f"fill vector must have shape ({FOURIER_VECTOR_SIZE},), got {command.shape}")
        command[self.controlled_motor_index] = np.rad2deg(controlled_rad)
        return command
