"""Configuration of the simulated GR1T2 tabletop scene (pure Python, no ROS, no MuJoCo).

`SimConfig` groups everything that shapes the scene (meshes, table, objects, cameras, actuator
gains) and the run-time settings (physics rate, render size, seed). `SimConfig.from_stack` fills it
from the stack YAML (`nodes.sim.*`) so nodes, tools and tests read one file.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

ObjectShape = Literal["box", "cylinder"]


@dataclass(frozen=True)
class SceneObjectSpec:
    """A free rigid object placed on the table at every reset.

    `size` follows MuJoCo's geom convention: box = 3 half-extents, cylinder = (radius, half-height),
    in metres.
    """

    name: str
    shape: ObjectShape
    size: tuple[float, ...]
    rgba: tuple[float, float, float, float]
    mass_kg: float = 0.05

    def __post_init__(self) -> None:
        expected = {"box": 3, "cylinder": 2}
        if self.shape not in expected:
            raise ValueError(f"object {self.name!r}: shape must be one of {sorted(expected)}, got {self.shape!r}")
        if len(self.size) != expected[self.shape] or min(self.size) <= 0:
            raise ValueError(
                f"object {self.name!r}: a {self.shape} needs {expected[self.shape]} positive sizes, got {self.size}"
            )
        if self.mass_kg <= 0:
            raise ValueError(f"object {self.name!r}: mass_kg must be > 0, got {self.mass_kg}")

    @property
    def half_height_m(self) -> float:
        """Half of the vertical extent when resting upright, used to place it on the table top."""
        return self.size[2] if self.shape == "box" else self.size[1]

    @property
    def footprint_radius_m(self) -> float:
        """Radius of the circle the object covers on the table, used to keep objects apart."""
        return math.hypot(self.size[0], self.size[1]) if self.shape == "box" else self.size[0]


# Small graspable objects in the colours the demo instructions name ("pick up the red cube").
# 5 cm cubes and a 6 cm x 10 cm can fit the Fourier 6-DoF hand's grasp.
DEFAULT_OBJECTS: tuple[SceneObjectSpec, ...] = (
    SceneObjectSpec("red_cube", "box", (0.025, 0.025, 0.025), (0.85, 0.1, 0.1, 1.0)),
    SceneObjectSpec("green_cube", "box", (0.025, 0.025, 0.025), (0.1, 0.7, 0.2, 1.0)),
    SceneObjectSpec("blue_cube", "box", (0.025, 0.025, 0.025), (0.1, 0.25, 0.85, 1.0)),
    SceneObjectSpec("yellow_cylinder", "cylinder", (0.03, 0.05), (0.95, 0.8, 0.1, 1.0), mass_kg=0.1),
)


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/gr00t_sim` (or `~/.cache/gr00t_sim`): where built models are kept."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gr00t_sim"


@dataclass(frozen=True)
class SimConfig:
    """Scene and run-time settings of `GR1TabletopSim`. Lengths in metres, angles in degrees.

    Fields marked *run time* do not change the built model and so do not invalidate the cache.
    """

    # --- physics (run time) ---
    physics_hz: float = 500.0  # MuJoCo timestep = 1 / physics_hz (the reference scene: 500 Hz)

    # --- meshes ---
    # Fraction of each visual/collision mesh's faces kept. Rendering on a CPU is bound by face
    # count: 10x decimation (684 k -> 68 k faces) lifts 224x224 head-camera rendering from 35 to
    # 167 fps as measured on this project's CPU machine; 0.03 is faster again but
    # the torso and head visibly lose their shape.
    mesh_keep_ratio: float = 0.1
    mesh_min_faces: int = 200  # never decimate a mesh below this (small meshes would collapse)

    # --- table (world frame = robot frame: x forward, y left, z up, robot base above x = y = 0) ---
    # Top at 85 cm, just below the pelvis (0.92 m with straight legs): the home-pose wrists are
    # ~0.3 m above it and the objects within the arms' reach from the shoulders (~1.19 m).
    table_top_height_m: float = 0.85
    table_size_m: tuple[float, float] = (0.6, 1.0)  # depth (x) and width (y) of the top
    table_front_edge_x_m: float = 0.2  # distance from the base to the table's near edge
    table_thickness_m: float = 0.03

    # --- objects: placed uniformly at random in this region of the table top at every reset ---
    objects: tuple[SceneObjectSpec, ...] = DEFAULT_OBJECTS
    object_region_x_m: tuple[float, float] = (0.28, 0.45)
    object_region_y_m: tuple[float, float] = (-0.25, 0.25)
    object_min_gap_m: float = 0.03  # free space kept between object footprints
    seed: int = 0  # seed of the placement stream (run time); reset(seed) restarts it

    # --- cameras ---
    head_camera_fovy_deg: float = 70.0
    # The head camera looks forward and down by this angle so the table fills the frame at the
    # home head pose (GR00T's GR-1 "ego_view" sees the hands and the table top).
    head_camera_pitch_deg: float = 50.0
    # Head camera in head_yaw_link: in front of the face, outside the head's visual mesh.
    head_camera_pos_m: tuple[float, float, float] = (0.14, 0.0, 0.10)
    render_width: int = 224  # default image size of render() (run time)
    render_height: int = 224
    # Offscreen multisample anti-aliasing (run time). On llvmpipe 4x MSAA drops 224x224 rendering
    # from ~66 to ~40 fps and 640x480 from ~52 to ~22 fps; 0 keeps the camera at 30 Hz cheap.
    render_msaa_samples: int = 0

    # --- position actuators ---
    # kp = effort / stiffness_error: a joint reaches its full effort at this position error, so
    # strong joints get stiff servos and the 5 N*m wrists/head soft ones, like the real drives.
    stiffness_error_rad: float = 0.05
    damping_ratio: float = 1.0  # critical damping, computed by MuJoCo from the mass matrix
    # Reflected rotor inertia. The URDF has none; without it the 20 g finger links would need a
    # timestep far below 2 ms to stay stable under position control.
    arm_armature_kgm2: float = 0.01
    hand_armature_kgm2: float = 0.001
    # The URDF gives every hand joint effort 0 (a placeholder): the Fourier 6-DoF hand's ~10 N
    # fingertip force at a ~0.05-0.1 m lever is about 1 N*m.
    hand_effort_nm: float = 1.0
    # Gravity compensation through the actuators (counted against their force limits), so that
    # position targets are tracked without a static sag, as on a robot whose drives compensate.
    gravity_compensation: bool = True

    # --- cache (run time) ---
    cache_dir: Path | None = None  # None = default_cache_dir()
    use_cache: bool = True

    def __post_init__(self) -> None:
        if not self.physics_hz > 0:
            raise ValueError(f"physics_hz must be > 0, got {self.physics_hz}")
        if not 0 < self.mesh_keep_ratio <= 1:
            raise ValueError(f"mesh_keep_ratio must be in (0, 1], got {self.mesh_keep_ratio}")
        if self.render_width <= 0 or self.render_height <= 0:
            raise ValueError(f"render size must be positive, got {self.render_width}x{self.render_height}")
        if self.render_msaa_samples < 0:
            raise ValueError(f"render_msaa_samples must be >= 0, got {self.render_msaa_samples}")
        if not 0 < self.head_camera_fovy_deg < 180:
            raise ValueError(f"head_camera_fovy_deg must be in (0, 180), got {self.head_camera_fovy_deg}")
        names = [o.name for o in self.objects]
        if len(set(names)) != len(names):
            raise ValueError(f"object names must be unique, got {names}")
        for lo_hi, what in (
            (self.object_region_x_m, "object_region_x_m"),
            (self.object_region_y_m, "object_region_y_m"),
        ):
            if not lo_hi[0] < lo_hi[1]:
                raise ValueError(f"{what} must be (low, high) with low < high, got {lo_hi}")
        near, far = self.table_front_edge_x_m, self.table_front_edge_x_m + self.table_size_m[0]
        if not (near <= self.object_region_x_m[0] and self.object_region_x_m[1] <= far):
            raise ValueError(f"object_region_x_m {self.object_region_x_m} is not on the table [{near}, {far}]")

    @property
    def timestep_s(self) -> float:
        return 1.0 / self.physics_hz

    @property
    def resolved_cache_dir(self) -> Path:
        return Path(self.cache_dir) if self.cache_dir is not None else default_cache_dir()

    def build_fields(self) -> dict[str, Any]:
        """The fields that shape the built model (the cache key); run-time fields are left out."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _RUN_TIME_FIELDS}

    @classmethod
    def from_stack(cls, rates: Mapping[str, float], sim_params: Mapping[str, Any], **overrides: Any) -> SimConfig:
        """Build from a stack file's `nodes.sim` section (`sim_params`); `overrides` win.

        `rates` is not read any more (the sim's rates moved to `nodes.sim`); it stays so existing
        callers keep working: prefer `from_node_parameters`.
        """
        del rates
        return cls.from_node_parameters(sim_params, **overrides)

    @classmethod
    def from_node_parameters(cls, sim_params: Mapping[str, Any], **overrides: Any) -> SimConfig:
        """Build from the sim node's parameters (`nodes.sim` of a stack YAML); `overrides` win.

        Keys of `sim_params` that are not scene settings (e.g. `realtime_factor`, `camera_hz`)
        belong to the node and are ignored here.
        """
        values: dict[str, Any] = {}
        for key, name, cast in _STACK_PARAMS:
            if key in sim_params:
                values[name] = cast(sim_params[key])
        values.update(overrides)
        return replace(cls(), **values)


_RUN_TIME_FIELDS = frozenset(
    {"physics_hz", "seed", "render_width", "render_height", "render_msaa_samples", "cache_dir", "use_cache"}
)

# `nodes.sim` key in the stack YAML -> SimConfig field.
_STACK_PARAMS: tuple[tuple[str, str, Any], ...] = (
    ("physics_hz", "physics_hz", float),
    ("render_width", "render_width", int),
    ("render_height", "render_height", int),
    ("decimate_meshes", "mesh_keep_ratio", float),
    ("seed", "seed", int),
)

__all__ = ["DEFAULT_OBJECTS", "SceneObjectSpec", "SimConfig", "default_cache_dir"]
