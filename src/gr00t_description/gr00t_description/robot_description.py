"""The robot description (URDF) as RViz and Foxglove read it: mesh files as `package://` URIs.

Fourier's URDF names its meshes by relative paths (`../meshes/gr1t2/base_link.STL`), which a viewer
on another machine cannot resolve; `package://fourier_robot_descriptions/assets/meshes/...` it can
(RViz through the ament index or a ROS package path, Foxglove through its asset handler).
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any


def robot_description(robot: Any) -> tuple[str, dict[str, Path]]:
    """(URDF text with package:// mesh URIs, {package name: package root}) of a RobotConfig."""
    urdf_path = Path(robot.urdf_path())
    package = robot.urdf_package
    root = urdf_path.parents[len(Path(robot.urdf_relative_path).parts) - 1]
    base = urdf_path.parent.relative_to(root)

    def to_package(match: re.Match) -> str:
        name = match.group(1)
        if "://" in name or name.startswith("/"):
            return match.group(0)
        return f'filename="package://{package}/{posixpath.normpath((base / name).as_posix())}"'

    return re.sub(r'filename="([^"]+)"', to_package, urdf_path.read_text()), {package: root}
