"""Per-joint transforms (parent link -> child link) from a URDF and joint positions, the way
robot_state_publisher computes `/tf`; pure Python, for gr00t-foxglove's 3-D panel."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass

Quat = tuple[float, float, float, float]  # x, y, z, w


@dataclass(frozen=True)
class UrdfJoint:
    name: str
    type: str  # revolute | continuous | prismatic | fixed | ...
    parent: str
    child: str
    xyz: tuple[float, float, float]
    rpy: tuple[float, float, float]
    axis: tuple[float, float, float]


def parse_joints(urdf: str) -> list[UrdfJoint]:
    joints = []
    for joint in ET.fromstring(urdf).iter("joint"):
        origin = joint.find("origin")
        axis = joint.find("axis")
        xyz = _floats(origin.get("xyz") if origin is not None else None, (0.0, 0.0, 0.0))
        rpy = _floats(origin.get("rpy") if origin is not None else None, (0.0, 0.0, 0.0))
        joints.append(
            UrdfJoint(
                joint.get("name", ""),
                joint.get("type", "fixed"),
                joint.find("parent").get("link"),
                joint.find("child").get("link"),
                xyz,
                rpy,
                _floats(axis.get("xyz") if axis is not None else None, (1.0, 0.0, 0.0)),
            )
        )
    return joints


def _floats(text: str | None, default: tuple[float, float, float]) -> tuple[float, float, float]:
    if not text:
        return default
    values = [float(v) for v in text.split()]
    return (values[0], values[1], values[2])


def quat_from_rpy(roll: float, pitch: float, yaw: float) -> Quat:
    cr, sr = math.cos(roll / 2), math.sin(roll / 2)
    cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
    cy, sy = math.cos(yaw / 2), math.sin(yaw / 2)
    return (
        sr * cp * cy - cr * sp * sy,
        cr * sp * cy + sr * cp * sy,
        cr * cp * sy - sr * sp * cy,
        cr * cp * cy + sr * sp * sy,
    )


def quat_from_axis_angle(axis: tuple[float, float, float], angle: float) -> Quat:
    norm = math.sqrt(sum(a * a for a in axis)) or 1.0
    s = math.sin(angle / 2) / norm
    return (axis[0] * s, axis[1] * s, axis[2] * s, math.cos(angle / 2))


def quat_multiply(a: Quat, b: Quat) -> Quat:
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return (
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
        aw * bw - ax * bx - ay * by - az * bz,
    )


def joint_transforms(
    joints: list[UrdfJoint], positions: dict[str, float]
) -> list[tuple[str, str, tuple[float, float, float], Quat]]:
    """(parent, child, translation, rotation) of every joint at `positions` (missing joints at 0)."""
    result = []
    for joint in joints:
        q = positions.get(joint.name, 0.0)
        q = q if math.isfinite(q) else 0.0
        rotation = quat_from_rpy(*joint.rpy)
        translation = joint.xyz
        if joint.type in ("revolute", "continuous"):
            rotation = quat_multiply(rotation, quat_from_axis_angle(joint.axis, q))
        elif joint.type == "prismatic":
            offset = _rotate(rotation, tuple(a * q for a in joint.axis))
            translation = tuple(t + o for t, o in zip(translation, offset))
        result.append((joint.parent, joint.child, translation, rotation))
    return result


def _rotate(q: Quat, v: tuple[float, ...]) -> tuple[float, float, float]:
    x, y, z, _w = quat_multiply(quat_multiply(q, (v[0], v[1], v[2], 0.0)), (-q[0], -q[1], -q[2], q[3]))
    return (x, y, z)
