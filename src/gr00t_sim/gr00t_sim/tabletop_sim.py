"""The simulated GR1T2 upper body at a table: stepping, named position targets, cameras.

Pure library (MuJoCo + NumPy, no ROS). Not thread-safe: call every method from one thread, or
serialise calls with a lock. Rendering uses an EGL/OSMesa context that `render` creates on first
use; MuJoCo binds it to the calling thread at every render, so keep rendering on one thread.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import mujoco
import numpy as np

from gr00t_description import RobotConfig
from gr00t_sim.configuration_sim import SceneObjectSpec, SimConfig
from gr00t_sim.joint_targets import JointTargetMap
from gr00t_sim.model_cache import LoadedModel, load_or_build_model
from gr00t_sim.scene import HEAD_CAMERA

LOG = logging.getLogger(__name__)

JointState = tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray]

# Objects are dropped this far above the table top so they never start in penetration.
_DROP_CLEARANCE_M = 0.001
_MAX_PLACEMENT_TRIES = 1000

# The palm of each Fourier 6-DoF hand: the hand base link, whose collision mesh is the palm plate.
# Its geom centre is the hand's "where is my hand" point for tasks and the scripted demonstrator.
PALM_BODIES: dict[str, str] = {"left": "L_hand_base_link", "right": "R_hand_base_link"}


class GR1TabletopSim:
    """Fixed-base GR1T2 with 6-DoF hands, 32 position actuators named after their joints.

    Joint order everywhere (`joint_names`, `joint_state`) is the robot config's; commands are
    accepted by name in any order and subset.
    """

    def __init__(self, robot: RobotConfig, config: SimConfig | None = None) -> None:
        self.robot = robot
        self.config = config if config is not None else SimConfig()
        self.build: LoadedModel = load_or_build_model(robot, self.config)
        self.model: mujoco.MjModel = self.build.model
        # The timestep is a run-time setting (not part of the cache key): apply it to the model.
        self.model.opt.timestep = self.config.timestep_s
        self.data = mujoco.MjData(self.model)
        self.joint_names: tuple[str, ...] = robot.joint_names
        joints = [robot.joints[n] for n in self.joint_names]
        # The sim is the robot: it clamps to the physical (URDF) range. The tighter operating
        # windows are the safety layer's business, upstream of any controller.
        self.target_map = JointTargetMap(
            self.joint_names, [j.urdf_lower for j in joints], [j.urdf_upper for j in joints]
        )
        self._actuator_ids = np.array([self.model.actuator(n).id for n in self.joint_names], dtype=np.intp)
        joint_ids = [self.model.joint(n).id for n in self.joint_names]
        self._qpos_adr = self.model.jnt_qposadr[joint_ids].astype(np.intp)
        self._dof_adr = self.model.jnt_dofadr[joint_ids].astype(np.intp)
        self._home = np.array([j.home for j in joints])
        self._mimics = self._find_mimic_joints()
        self._objects = {obj.name: obj for obj in self.config.objects}
        self._object_qpos_adr = {
            name: int(self.model.jnt_qposadr[self.model.joint(f"{name}_free").id]) for name in self._objects
        }
        self._object_dof_adr = {
            name: int(self.model.jnt_dofadr[self.model.joint(f"{name}_free").id]) for name in self._objects
        }
        self._palm_geoms = {side: self._palm_geom(body) for side, body in PALM_BODIES.items()}
        self._rng = np.random.default_rng(self.config.seed)
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}
        self.reset(self.config.seed)

    # ------------------------------------------------------------------ state
    @property
    def time(self) -> float:
        """Simulated seconds since the last reset."""
        return float(self.data.time)

    @property
    def timestep(self) -> float:
        return float(self.model.opt.timestep)

    @property
    def camera_names(self) -> tuple[str, ...]:
        return tuple(self.model.camera(i).name for i in range(self.model.ncam))

    @property
    def object_names(self) -> tuple[str, ...]:
        return tuple(self._objects)

    def joint_state(self) -> JointState:
        """(names, positions rad, velocities rad/s, efforts N*m) of the controlled joints.

        Effort is the total actuator torque at the joint, gravity compensation included.
        """
        return (
            self.joint_names,
            self.data.qpos[self._qpos_adr].copy(),
            self.data.qvel[self._dof_adr].copy(),
            self.data.qfrc_actuator[self._dof_adr].copy(),
        )

    def position_targets(self) -> np.ndarray:
        """Current position targets (rad) in `joint_names` order."""
        return self.data.ctrl[self._actuator_ids].copy()

    def object_positions(self) -> dict[str, np.ndarray]:
        """World position (m) of each object's centre, e.g. {'red_cube': array([x, y, z])}."""
        return {name: self.data.qpos[adr : adr + 3].copy() for name, adr in self._object_qpos_adr.items()}

    def object_yaws(self) -> dict[str, float]:
        """Heading (rad, about world z) of each object, from its free joint's quaternion."""
        yaws = {}
        for name, adr in self._object_qpos_adr.items():
            w, x, y, z = self.data.qpos[adr + 3 : adr + 7]
            yaws[name] = math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
        return yaws

    def hand_positions(self) -> dict[str, np.ndarray]:
        """World position (m) of each palm's centre: {'left': array([x, y, z]), 'right': ...}."""
        return {side: self.data.geom_xpos[geom].copy() for side, geom in self._palm_geoms.items()}

    def palm_geom_id(self, side: str) -> int:
        """MuJoCo geom id of the `side` ('left' / 'right') palm plate, whose centre `hand_positions` reports."""
        if side not in self._palm_geoms:
            raise ValueError(f"unknown hand {side!r}; available: {sorted(self._palm_geoms)}")
        return self._palm_geoms[side]

    def body_position(self, name: str) -> np.ndarray:
        """World position (m) of a body's frame origin, e.g. 'left_hand_yaw_link'."""
        return self.data.xpos[self.model.body(name).id].copy()

    # --------------------------------------------------------------- control
    def set_object_pose(self, name: str, position: Sequence[float], yaw: float = 0.0) -> None:
        """Put object `name` at `position` (its centre, world m) with heading `yaw` (rad), at rest.

        For task set-ups after `reset`; the caller keeps it clear of the robot and other objects.
        """
        if name not in self._object_qpos_adr:
            raise ValueError(f"unknown object {name!r}; available: {list(self._objects)}")
        xyz = np.asarray(position, dtype=np.float64)
        if xyz.shape != (3,) or not np.all(np.isfinite(xyz)):
            raise ValueError(f"object position must be 3 finite numbers, got {position}")
        adr, dof = self._object_qpos_adr[name], self._object_dof_adr[name]
        self.data.qpos[adr : adr + 3] = xyz
        self.data.qpos[adr + 3 : adr + 7] = (math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2))
        self.data.qvel[dof : dof + 6] = 0.0
        mujoco.mj_forward(self.model, self.data)

    def set_position_targets(self, names: Sequence[str], positions: Sequence[float]) -> None:
        """Set targets by joint name (any subset, any order), clamped to the URDF limits.

        Raises ValueError for unknown or repeated names, a size mismatch or NaN/inf; then no
        target changes.
        """
        idx, values = self.target_map.resolve(names, positions)
        self.set_position_targets_by_index(idx, values)

    def set_position_targets_by_index(self, idx: np.ndarray, values: np.ndarray) -> None:
        """Set targets already checked by `target_map.resolve` (indices into `joint_names`)."""
        self.data.ctrl[self._actuator_ids[idx]] = self.target_map.clamp(idx, np.asarray(values, np.float64))

    def step(self, n: int = 1) -> None:
        """Advance the physics by `n` timesteps (n / physics_hz seconds)."""
        if n < 0:
            raise ValueError(f"step count must be >= 0, got {n}")
        if n:
            mujoco.mj_step(self.model, self.data, nstep=n)

    def reset(self, seed: int | None = None) -> None:
        """Home pose, zero velocities, targets = home, objects re-placed at random.

        `seed` restarts the placement stream, so equal seeds give equal scenes; None draws the
        next placement from the running stream. `time` keeps running: a clock published from it
        (ROS /clock) must never jump back.
        """
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        sim_time = self.data.time
        mujoco.mj_resetData(self.model, self.data)
        self.data.time = sim_time
        self.data.qpos[self._qpos_adr] = self._home
        for follower_adr, leader_adr, offset, gain in self._mimics:
            self.data.qpos[follower_adr] = offset + gain * self.data.qpos[leader_adr]
        self.data.ctrl[self._actuator_ids] = self._home
        self._place_objects()
        mujoco.mj_forward(self.model, self.data)

    # ------------------------------------------------------------- rendering
    def render(
        self,
        camera: str = HEAD_CAMERA,
        width: int | None = None,
        height: int | None = None,
        state: mujoco.MjData | None = None,
    ) -> np.ndarray:
        """RGB image (height, width, 3) uint8 of `camera` ('head' or 'overview').

        Renders the current state, or `state` (a `snapshot()`), which lets another thread render
        while this one keeps stepping.
        """
        width = width or self.config.render_width
        height = height or self.config.render_height
        if camera not in self.camera_names:
            raise ValueError(f"unknown camera {camera!r}; available: {list(self.camera_names)}")
        renderer = self._renderer(width, height)
        renderer.update_scene(self.data if state is None else state, camera=camera)
        return renderer.render()

    def snapshot(self, into: mujoco.MjData | None = None) -> mujoco.MjData:
        """A copy of the simulation state (~20 us), reusing `into` when given."""
        target = into if into is not None else mujoco.MjData(self.model)
        mujoco.mj_copyData(target, self.model, self.data)
        return target

    def camera_intrinsics(self, camera: str, width: int, height: int) -> tuple[float, float, float, float]:
        """Pinhole (fx, fy, cx, cy) in pixels for an image of `width` x `height`.

        MuJoCo's `fovy` is the vertical field of view and pixels are square, so fx = fy. The
        principal point is the image centre in the convention where pixel centres are integers
        (ROS camera_info / OpenCV), hence (width - 1) / 2.
        """
        if camera not in self.camera_names:
            raise ValueError(f"unknown camera {camera!r}; available: {list(self.camera_names)}")
        fovy = math.radians(float(self.model.cam_fovy[self.model.camera(camera).id]))
        focal = (height / 2.0) / math.tan(fovy / 2.0)
        return focal, focal, (width - 1) / 2.0, (height - 1) / 2.0

    def close(self) -> None:
        """Free the rendering contexts (idempotent). Call from the thread that rendered."""
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers.clear()

    def __enter__(self) -> GR1TabletopSim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------- internals
    def _renderer(self, width: int, height: int) -> mujoco.Renderer:
        key = (width, height)
        if key not in self._renderers:
            visual = self.model.vis.global_
            # The offscreen framebuffer is sized from the model when a context is created.
            visual.offwidth, visual.offheight = max(visual.offwidth, width), max(visual.offheight, height)
            # Multisampling costs ~40% of the frame time on llvmpipe for little gain at 224x224.
            self.model.vis.quality.offsamples = self.config.render_msaa_samples
            renderer = mujoco.Renderer(self.model, height=height, width=width)
            # Shadows cost 5-10x the render time on a CPU (measured with EGL when the scene was built).
            renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = False
            renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False
            self._renderers[key] = renderer
        return self._renderers[key]

    def _palm_geom(self, body_name: str) -> int:
        body_id = self.model.body(body_name).id
        # The collision proxy (contype set), not the visual mesh: its centre is the palm plate's.
        geoms = [
            g for g in range(self.model.ngeom) if self.model.geom_bodyid[g] == body_id and self.model.geom_contype[g]
        ]
        if not geoms:
            raise RuntimeError(f"palm body {body_name!r} has no collision geom")
        return int(geoms[0])

    def _find_mimic_joints(self) -> list[tuple[int, int, float, float]]:
        """(follower qpos adr, leader qpos adr, offset, gain) of each URDF <mimic> joint equality."""
        mimics = []
        for eq in range(self.model.neq):
            if self.model.eq_type[eq] != mujoco.mjtEq.mjEQ_JOINT:
                continue
            follower, leader = self.model.eq_obj1id[eq], self.model.eq_obj2id[eq]
            offset, gain = self.model.eq_data[eq][:2]
            mimics.append(
                (int(self.model.jnt_qposadr[follower]), int(self.model.jnt_qposadr[leader]), float(offset), float(gain))
            )
        return mimics

    def _place_objects(self) -> None:
        """Uniform positions in the configured table region, random yaw, footprints kept apart."""
        placed: list[tuple[np.ndarray, float]] = []
        top_z = self.config.table_top_height_m
        for name, obj in self._objects.items():
            xy = self._sample_free_spot(obj, placed)
            placed.append((xy, obj.footprint_radius_m))
            yaw = self._rng.uniform(-math.pi, math.pi)
            adr = self._object_qpos_adr[name]
            self.data.qpos[adr : adr + 3] = (xy[0], xy[1], top_z + obj.half_height_m + _DROP_CLEARANCE_M)
            self.data.qpos[adr + 3 : adr + 7] = (math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2))

    def _sample_free_spot(self, obj: SceneObjectSpec, placed: list[tuple[np.ndarray, float]]) -> np.ndarray:
        (x_lo, x_hi), (y_lo, y_hi) = self.config.object_region_x_m, self.config.object_region_y_m
        gap = self.config.object_min_gap_m
        for _ in range(_MAX_PLACEMENT_TRIES):
            xy = np.array([self._rng.uniform(x_lo, x_hi), self._rng.uniform(y_lo, y_hi)])
            if all(np.linalg.norm(xy - other) >= radius + obj.footprint_radius_m + gap for other, radius in placed):
                return xy
        raise RuntimeError(
            f"could not place {obj.name!r} clear of the other objects in x {self.config.object_region_x_m}, "
            f"y {self.config.object_region_y_m}; enlarge the region or use fewer objects"
        )
