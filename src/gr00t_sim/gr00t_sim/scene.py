"""Build the tabletop MuJoCo scene around Fourier's GR1T2 URDF (pure MuJoCo, no ROS).

Steps (MuJoCo's URDF import, measured on a CPU-only machine):
1. Load the URDF with a `<mujoco><compiler discardvisual="false"/>` element added: MuJoCo's URDF
   import otherwise drops every visual mesh (setting it on the MjSpec afterwards is too late).
2. Decimate the meshes (rendering on a CPU is bound by face count).
3. Weld every joint the robot config does not control (the legs), keep the URDF's `<mimic>` finger
   joints (imported as joint equality constraints), add one position actuator per controlled joint.
4. Stand the pelvis on the floor, add the table, the objects, the head and overview cameras.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path

import mujoco
import numpy as np

from gr00t_description import RobotConfig
from gr00t_sim.configuration_sim import SceneObjectSpec, SimConfig
from gr00t_sim.meshes import MeshFormatError, decimate, read_binary_stl

LOG = logging.getLogger(__name__)

HEAD_CAMERA = "head"
OVERVIEW_CAMERA = "overview"
HEAD_CAMERA_BODY = "head_yaw_link"
TABLE_BODY = "table"
# Offscreen framebuffer of the compiled model; `GR1TabletopSim.render` grows it for larger images.
MIN_OFFSCREEN_SIZE = (640, 480)

# Geom groups: the renderer shows 0-2 by default, so collision proxies go to 3 (hidden).
VISUAL_GROUP = 1
COLLISION_GROUP = 3
# Contact filtering: a pair collides if (contype_a & conaffinity_b) or (contype_b & conaffinity_a).
# The robot's links touch the table and the objects but not each other: its proxies are coarse
# cylinders that overlap at the joints and would lock the arms.
ENVIRONMENT_BIT = 1
ROBOT_BIT = 2

_URDF_COMPILER_ELEMENT = (
    '<mujoco><compiler discardvisual="false" strippath="false" fusestatic="false" balanceinertia="true"/></mujoco>'
)


class SceneBuildError(ValueError):
    """The URDF and the robot config do not fit together, or the scene cannot be built."""


def build_tabletop_spec(robot: RobotConfig, config: SimConfig) -> mujoco.MjSpec:
    """The whole scene as an MjSpec (compile it with `.compile()`)."""
    spec = load_urdf_spec(robot.urdf_path())
    robot_bodies = [b for b in spec.bodies if b.name != "world"]
    decimate_meshes(spec, config.mesh_keep_ratio, config.mesh_min_faces)
    followers = mimic_followers(spec)
    weld_uncontrolled_joints(spec, robot, followers)
    configure_robot_collisions(spec)
    configure_controlled_joints(spec, robot, config)
    if config.gravity_compensation:
        for body in robot_bodies:
            body.gravcomp = 1.0
    stand_on_floor(spec)
    add_environment(spec, config)
    for obj in config.objects:
        add_free_object(spec, obj)
    add_cameras(spec, config)
    spec.option.timestep = config.timestep_s
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST  # stable with stiff servos
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC  # better grasp friction than pyramidal
    spec.visual.global_.offwidth, spec.visual.global_.offheight = MIN_OFFSCREEN_SIZE
    return spec


def load_urdf_spec(urdf_path: Path) -> mujoco.MjSpec:
    """Parse the URDF with visual meshes kept; mesh paths are made absolute so the text can be
    parsed from memory (no patched copy written next to the installed package)."""
    text = urdf_path.read_text()
    robot_tag = re.search(r"<robot\b[^>]*>", text)
    if robot_tag is None:
        raise SceneBuildError(f"{urdf_path}: no <robot> element")
    text = text[: robot_tag.end()] + _URDF_COMPILER_ELEMENT + text[robot_tag.end() :]

    def absolute(match: re.Match[str]) -> str:
        return f'filename="{(urdf_path.parent / match.group(1)).resolve()}"'

    text = re.sub(r'filename="(?!/)(?!package://)([^"]+)"', absolute, text)
    return mujoco.MjSpec.from_string(text)


def decimate_meshes(spec: mujoco.MjSpec, keep_ratio: float, min_faces: int) -> None:
    """Replace each STL mesh by a decimated copy held in the spec (no files written)."""
    if keep_ratio >= 1.0:
        return
    faces_before = faces_after = 0
    for mesh in spec.meshes:
        try:
            vertices, faces = read_binary_stl(Path(mesh.file))
        except (MeshFormatError, OSError) as exc:
            LOG.warning("mesh %s kept as is: %s", mesh.name, exc)
            continue
        new_vertices, new_faces = decimate(vertices, faces, keep_ratio, min_faces)
        faces_before += len(faces)
        faces_after += len(new_faces)
        mesh.file = ""
        mesh.uservert = (new_vertices * np.asarray(mesh.scale)).ravel().tolist()
        mesh.userface = new_faces.ravel().tolist()
        mesh.scale = [1.0, 1.0, 1.0]
    LOG.info("decimated %d meshes: %d -> %d faces", len(spec.meshes), faces_before, faces_after)


def mimic_followers(spec: mujoco.MjSpec) -> dict[str, str]:
    """Follower joint -> leader joint for the URDF `<mimic>` joints (imported as joint equalities)."""
    return {eq.name1: eq.name2 for eq in spec.equalities if eq.type == mujoco.mjtEq.mjEQ_JOINT and eq.name2}


def weld_uncontrolled_joints(spec: mujoco.MjSpec, robot: RobotConfig, followers: dict[str, str]) -> None:
    """Delete every joint that is neither controlled nor a mimic follower: its child link is then
    rigidly attached at the joint's zero position (straight legs for the GR-1)."""
    urdf_joints = {j.name for j in spec.joints}
    missing = [name for name in robot.joint_names if name not in urdf_joints]
    if missing:
        raise SceneBuildError(
            f"robot config {robot.name!r} names joints the URDF {robot.urdf_path().name} lacks: {missing}"
        )
    for follower, leader in followers.items():
        if leader not in robot.joints:
            raise SceneBuildError(
                f"mimic joint {follower!r} follows {leader!r}, which robot config {robot.name!r} does not control"
            )
    for joint in list(spec.joints):
        if joint.name not in robot.joints and joint.name not in followers:
            spec.delete(joint)


def configure_robot_collisions(spec: mujoco.MjSpec) -> None:
    """Hide the robot's collision proxies and let them touch only the environment."""
    for geom in spec.geoms:
        if geom.contype or geom.conaffinity:
            geom.group = COLLISION_GROUP
            geom.contype = ROBOT_BIT
            geom.conaffinity = 0
        else:
            geom.group = VISUAL_GROUP


def configure_controlled_joints(spec: mujoco.MjSpec, robot: RobotConfig, config: SimConfig) -> None:
    """One position actuator per controlled joint, named after the joint, with the URDF range."""
    for name, joint_spec in robot.joints.items():
        joint = spec.joint(name)
        _check_range_matches_config(name, joint.range, joint_spec.urdf_lower, joint_spec.urdf_upper)
        is_hand = joint_spec.effort <= 0.0  # the URDF's hand joints carry effort 0
        effort = config.hand_effort_nm if is_hand else joint_spec.effort
        joint.armature = config.hand_armature_kgm2 if is_hand else config.arm_armature_kgm2
        joint.actfrcrange = [-effort, effort]
        joint.actfrclimited = mujoco.mjtLimited.mjLIMITED_TRUE
        joint.actgravcomp = config.gravity_compensation
        actuator = spec.add_actuator(name=name, target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        actuator.set_to_position(kp=effort / config.stiffness_error_rad, dampratio=config.damping_ratio)
        actuator.ctrlrange = [joint_spec.urdf_lower, joint_spec.urdf_upper]
        actuator.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
        actuator.forcerange = [-effort, effort]
        actuator.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE


def _check_range_matches_config(name: str, urdf_range: Iterable[float], lower: float, upper: float) -> None:
    urdf_lower, urdf_upper = (float(v) for v in urdf_range)
    if abs(urdf_lower - lower) > 1e-3 or abs(urdf_upper - upper) > 1e-3:
        raise SceneBuildError(
            f"joint {name!r}: URDF range [{urdf_lower}, {urdf_upper}] differs from the robot config's "
            f"urdf [{lower}, {upper}]; fix the robot YAML or point it at the right URDF"
        )


def stand_on_floor(spec: mujoco.MjSpec) -> None:
    """Raise the root link so the lowest point of the (welded, straight) legs touches z = 0."""
    model = spec.compile()
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    lowest = np.inf
    for geom_id in np.flatnonzero(model.geom_type == mujoco.mjtGeom.mjGEOM_MESH):
        mesh_id = model.geom_dataid[geom_id]
        start, count = model.mesh_vertadr[mesh_id], model.mesh_vertnum[mesh_id]
        local = model.mesh_vert[start : start + count]
        world_z = data.geom_xpos[geom_id][2] + local @ data.geom_xmat[geom_id].reshape(3, 3)[2]
        lowest = min(lowest, float(world_z.min()))
    if not np.isfinite(lowest):
        raise SceneBuildError("the robot has no mesh geoms to stand on the floor")
    root = spec.worldbody.first_body()
    root.pos = [root.pos[0], root.pos[1], root.pos[2] - lowest]


def add_environment(spec: mujoco.MjSpec, config: SimConfig) -> None:
    """Floor, sky, lights and the table (in the robot base frame: x forward, z up)."""
    spec.visual.headlight.ambient = [0.35, 0.35, 0.35]
    spec.visual.headlight.diffuse = [0.5, 0.5, 0.5]
    spec.visual.headlight.specular = [0.0, 0.0, 0.0]
    _add_texture(
        spec,
        "sky",
        mujoco.mjtTexture.mjTEXTURE_SKYBOX,
        mujoco.mjtBuiltin.mjBUILTIN_GRADIENT,
        (0.55, 0.7, 0.85),
        (0.15, 0.2, 0.3),
    )
    _add_texture(
        spec,
        "floor",
        mujoco.mjtTexture.mjTEXTURE_2D,
        mujoco.mjtBuiltin.mjBUILTIN_CHECKER,
        (0.35, 0.37, 0.4),
        (0.25, 0.27, 0.3),
    )
    floor_material = spec.add_material(name="floor", texrepeat=[8, 8])
    floor_material.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = "floor"
    light = spec.worldbody.add_light(name="ceiling", pos=[0.5, 0.0, 3.0], dir=[0.0, 0.0, -1.0])
    light.type = mujoco.mjtLightType.mjLIGHT_DIRECTIONAL
    light.diffuse = [0.6, 0.6, 0.6]
    light.castshadow = False  # shadows cost 5-10x the render time on a CPU
    _add_static_geom(
        spec.worldbody, "floor", mujoco.mjtGeom.mjGEOM_PLANE, [0, 0, 0], [4.0, 4.0, 0.05], material="floor"
    )
    _add_table(spec, config)


def _add_texture(
    spec: mujoco.MjSpec,
    name: str,
    kind: mujoco.mjtTexture,
    builtin: mujoco.mjtBuiltin,
    rgb1: tuple[float, ...],
    rgb2: tuple[float, ...],
) -> None:
    spec.add_texture(name=name, type=kind, builtin=builtin, rgb1=list(rgb1), rgb2=list(rgb2), width=256, height=256)


def _add_static_geom(
    body: mujoco.MjsBody,
    name: str,
    kind: mujoco.mjtGeom,
    pos: list[float],
    size: list[float],
    rgba: list[float] | None = None,
    material: str = "",
) -> None:
    geom = body.add_geom(
        name=name,
        type=kind,
        pos=pos,
        size=size,
        contype=ENVIRONMENT_BIT,
        conaffinity=ENVIRONMENT_BIT | ROBOT_BIT,
        group=0,
    )
    if rgba is not None:
        geom.rgba = rgba
    if material:
        geom.material = material


def _add_table(spec: mujoco.MjSpec, config: SimConfig) -> None:
    depth, width = config.table_size_m
    top_z = config.table_top_height_m
    half_thickness = config.table_thickness_m / 2
    table = spec.worldbody.add_body(name=TABLE_BODY, pos=[config.table_front_edge_x_m + depth / 2, 0.0, 0.0])
    wood = [0.62, 0.45, 0.3, 1.0]
    _add_static_geom(
        table,
        "table_top",
        mujoco.mjtGeom.mjGEOM_BOX,
        [0, 0, top_z - half_thickness],
        [depth / 2, width / 2, half_thickness],
        rgba=wood,
    )
    leg_half_height = (top_z - config.table_thickness_m) / 2
    inset = 0.05
    for i, (sx, sy) in enumerate(((1, 1), (1, -1), (-1, 1), (-1, -1))):
        pos = [sx * (depth / 2 - inset), sy * (width / 2 - inset), leg_half_height]
        _add_static_geom(
            table,
            f"table_leg_{i}",
            mujoco.mjtGeom.mjGEOM_BOX,
            pos,
            [0.025, 0.025, leg_half_height],
            rgba=[0.45, 0.32, 0.2, 1.0],
        )


def add_free_object(spec: mujoco.MjSpec, obj: SceneObjectSpec) -> None:
    """A free body named after the object; its pose is set by `GR1TabletopSim.reset`."""
    body = spec.worldbody.add_body(name=obj.name)
    body.add_freejoint(name=f"{obj.name}_free")
    kind = mujoco.mjtGeom.mjGEOM_BOX if obj.shape == "box" else mujoco.mjtGeom.mjGEOM_CYLINDER
    geom = body.add_geom(
        name=obj.name,
        type=kind,
        size=list(obj.size) + [0.0] * (3 - len(obj.size)),
        rgba=list(obj.rgba),
        mass=obj.mass_kg,
        contype=ENVIRONMENT_BIT,
        conaffinity=ENVIRONMENT_BIT | ROBOT_BIT,
        group=0,
    )
    geom.condim = 4  # torsional friction keeps a pinched object from spinning out of the grasp
    geom.friction = [1.0, 0.01, 0.001]


def add_cameras(spec: mujoco.MjSpec, config: SimConfig) -> None:
    """Head camera (moves with head_yaw_link) pitched down at the table, and a fixed overview."""
    pitch = np.deg2rad(config.head_camera_pitch_deg)
    head_forward = np.array([np.cos(pitch), 0.0, -np.sin(pitch)])
    spec.body(HEAD_CAMERA_BODY).add_camera(
        name=HEAD_CAMERA,
        pos=list(config.head_camera_pos_m),
        quat=look_quaternion(head_forward).tolist(),
        fovy=config.head_camera_fovy_deg,
    )
    overview_pos = np.array([1.6, -1.3, 1.7])
    overview_target = np.array([0.3, 0.0, 0.9])
    spec.worldbody.add_camera(
        name=OVERVIEW_CAMERA,
        pos=overview_pos.tolist(),
        quat=look_quaternion(overview_target - overview_pos).tolist(),
        fovy=50.0,
    )


def look_quaternion(forward: np.ndarray, up: np.ndarray | None = None) -> np.ndarray:
    """Quaternion (w, x, y, z) of a MuJoCo camera looking along `forward` with `up` (default +z) up.

    MuJoCo cameras look along their -z axis with +y up and +x to the right of the image.
    """
    up = np.array([0.0, 0.0, 1.0]) if up is None else np.asarray(up, dtype=np.float64)
    forward = forward / np.linalg.norm(forward)
    right = np.cross(forward, up)
    if np.linalg.norm(right) < 1e-9:
        raise ValueError(f"camera forward {forward} is parallel to up {up}")
    right /= np.linalg.norm(right)
    back = -forward
    image_up = np.cross(back, right)
    rotation = np.column_stack([right, image_up, back])
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, rotation.ravel())
    return quat
