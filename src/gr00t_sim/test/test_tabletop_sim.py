"""GR1TabletopSim without ROS: model structure, position control, limits, resets, cameras, cache."""

from __future__ import annotations

import math
import time

import mujoco
import numpy as np
import pytest

from gr00t_description import StackConfig
from gr00t_sim import GR1TabletopSim, SimConfig
from gr00t_sim.model_cache import cache_key, load_or_build_model

SECOND_STEPS = 500  # physics steps per simulated second at the configured 500 Hz


def test_model_has_one_position_actuator_per_configured_joint(sim: GR1TabletopSim, stack: StackConfig) -> None:
    model = sim.model
    actuator_names = [model.actuator(i).name for i in range(model.nu)]
    assert actuator_names == list(stack.robot.joint_names)
    assert sim.joint_names == stack.robot.joint_names
    for i, name in enumerate(actuator_names):
        assert model.actuator_trntype[i] == mujoco.mjtTrn.mjTRN_JOINT
        assert model.joint(model.actuator_trnid[i, 0]).name == name
        assert model.actuator_gainprm[i, 0] > 0 and model.actuator_biasprm[i, 1] == -model.actuator_gainprm[i, 0]
        spec = stack.robot.joints[name]
        np.testing.assert_allclose(model.actuator_ctrlrange[i], [spec.urdf_lower, spec.urdf_upper])
        assert model.actuator_forcerange[i, 1] > 0  # hand joints too, although the URDF gives effort 0


def test_legs_are_welded_and_mimic_finger_joints_kept(sim: GR1TabletopSim) -> None:
    joint_names = {sim.model.joint(i).name for i in range(sim.model.njnt)}
    assert not {n for n in joint_names if any(leg in n for leg in ("hip", "knee", "ankle"))}
    assert "L_index_intermediate_joint" in joint_names  # follows L_index_proximal_joint
    assert sim.model.neq == 10  # the URDF's ten <mimic> joints


def test_physics_runs_at_the_configured_rate(sim: GR1TabletopSim) -> None:
    assert sim.timestep == pytest.approx(1.0 / 500.0)
    start = sim.time
    sim.step(250)
    assert sim.time - start == pytest.approx(0.5)


def test_reset_starts_at_the_home_pose_with_home_targets(sim: GR1TabletopSim, stack: StackConfig) -> None:
    names, positions, velocities, _ = sim.joint_state()
    home = np.array(stack.robot.home_positions(names))
    np.testing.assert_allclose(positions, home, atol=1e-9)
    np.testing.assert_allclose(velocities, 0.0)
    np.testing.assert_allclose(sim.position_targets(), home)


def test_position_targets_are_tracked(sim: GR1TabletopSim) -> None:
    commanded = {
        "left_elbow_pitch_joint": -1.1,
        "waist_yaw_joint": 0.2,
        "R_index_proximal_joint": -1.0,
        "head_pitch_joint": 0.3,
    }
    sim.set_position_targets(list(commanded), list(commanded.values()))
    sim.step(SECOND_STEPS)
    names, positions, _, _ = sim.joint_state()
    reached = dict(zip(names, positions))
    for name, target in commanded.items():
        assert reached[name] == pytest.approx(target, abs=0.02), name


def test_uncommanded_joints_hold_home(sim: GR1TabletopSim, stack: StackConfig) -> None:
    sim.set_position_targets(["left_shoulder_pitch_joint"], [-0.8])
    sim.step(SECOND_STEPS)
    names, positions, _, _ = sim.joint_state()
    for name, position in zip(names, positions):
        if name != "left_shoulder_pitch_joint":
            assert position == pytest.approx(stack.robot.joints[name].home, abs=0.03), name


def test_out_of_range_targets_are_clamped_to_the_urdf_limits(sim: GR1TabletopSim, stack: StackConfig) -> None:
    sim.set_position_targets(["waist_yaw_joint", "L_thumb_proximal_pitch_joint"], [5.0, -3.0])
    targets = dict(zip(sim.joint_names, sim.position_targets()))
    assert targets["waist_yaw_joint"] == stack.robot.joints["waist_yaw_joint"].urdf_upper
    assert targets["L_thumb_proximal_pitch_joint"] == stack.robot.joints["L_thumb_proximal_pitch_joint"].urdf_lower


@pytest.mark.parametrize(
    ("names", "positions", "message"),
    [
        (["left_elbow_pitch_joint"], [math.nan], "non-finite"),
        (["left_elbow_pitch_joint"], [math.inf], "non-finite"),
        (["no_such_joint"], [0.0], "unknown joint"),
        (["left_elbow_pitch_joint", "waist_yaw_joint"], [0.1], "2 joint names but 1 positions"),
        (["waist_yaw_joint", "waist_yaw_joint"], [0.1, 0.2], "repeated"),
    ],
)
def test_malformed_targets_are_rejected_whole(
    sim: GR1TabletopSim, names: list[str], positions: list[float], message: str
) -> None:
    before = sim.position_targets()
    with pytest.raises(ValueError, match=message):
        sim.set_position_targets(names, positions)
    np.testing.assert_array_equal(sim.position_targets(), before)


def test_reset_with_the_same_seed_places_objects_identically(sim: GR1TabletopSim) -> None:
    sim.reset(seed=7)
    first = sim.object_positions()
    sim.step(100)
    sim.reset(seed=7)
    again = sim.object_positions()
    sim.reset(seed=8)
    other = sim.object_positions()
    assert set(first) == {"red_cube", "green_cube", "blue_cube", "yellow_cylinder"}
    for name in first:
        np.testing.assert_array_equal(first[name], again[name])
    assert any(not np.allclose(first[n], other[n]) for n in first)


def test_reset_without_seed_draws_new_placements_and_keeps_time_running(sim: GR1TabletopSim) -> None:
    before = sim.object_positions()
    sim.step(10)
    time_before = sim.time
    sim.reset()
    assert sim.time == time_before  # a clock published from sim time must never jump back
    after = sim.object_positions()
    assert any(not np.allclose(before[n], after[n]) for n in before)


def test_objects_settle_on_the_table_apart_from_each_other(sim: GR1TabletopSim) -> None:
    sim.step(SECOND_STEPS // 2)
    config = sim.config
    positions = sim.object_positions()
    for obj in config.objects:
        x, y, z = positions[obj.name]
        assert config.object_region_x_m[0] - 0.01 <= x <= config.object_region_x_m[1] + 0.01
        assert config.object_region_y_m[0] - 0.01 <= y <= config.object_region_y_m[1] + 0.01
        assert z == pytest.approx(config.table_top_height_m + obj.half_height_m, abs=0.005), obj.name
    xy = np.array([p[:2] for p in positions.values()])
    distances = np.linalg.norm(xy[:, None] - xy[None], axis=-1) + np.eye(len(xy))
    assert distances.min() > 0.05


def test_head_camera_sees_the_table_and_the_red_cube(sim: GR1TabletopSim) -> None:
    image = sim.render("head")
    assert image.shape == (224, 224, 3) and image.dtype == np.uint8
    assert image.std() > 20  # not a blank frame
    red = (image[..., 0] > 150) & (image[..., 1] < 60) & (image[..., 2] < 60)
    assert red.sum() > 10
    # The lower half looks down at the (brown) table top.
    lower = image[112:].reshape(-1, 3).astype(int)
    table_like = (lower[:, 0] > lower[:, 2] + 40) & (lower[:, 0] > 100)
    assert table_like.mean() > 0.3


def test_render_returns_any_requested_size(sim: GR1TabletopSim) -> None:
    assert sim.render("overview", 640, 480).shape == (480, 640, 3)
    assert sim.render("head", 320, 240).shape == (240, 320, 3)


def test_render_of_a_snapshot_shows_the_snapshot_state(sim: GR1TabletopSim) -> None:
    snapshot = sim.snapshot()
    before = sim.render("head")
    sim.set_position_targets(["head_yaw_joint"], [0.8])
    sim.step(SECOND_STEPS)
    assert not np.array_equal(sim.render("head"), before)
    np.testing.assert_array_equal(sim.render("head", state=snapshot), before)


def test_unknown_camera_is_rejected(sim: GR1TabletopSim) -> None:
    with pytest.raises(ValueError, match="unknown camera 'left_wrist'"):
        sim.render("left_wrist")


def test_camera_intrinsics_follow_the_vertical_field_of_view(sim: GR1TabletopSim) -> None:
    fx, fy, cx, cy = sim.camera_intrinsics("head", 640, 480)
    fovy = math.radians(sim.config.head_camera_fovy_deg)
    assert fx == fy == pytest.approx(240.0 / math.tan(fovy / 2))
    assert (cx, cy) == (319.5, 239.5)


def test_cached_model_is_reused(stack: StackConfig, shared_sim: GR1TabletopSim) -> None:
    config = shared_sim.config
    start = time.perf_counter()
    loaded = load_or_build_model(stack.robot, config)
    assert loaded.from_cache and loaded.path is not None and loaded.path.is_file()
    assert time.perf_counter() - start < 2.0  # a cold build decimates 684 k faces (several seconds)
    assert loaded.model.nu == shared_sim.model.nu


def test_cache_key_tracks_scene_fields_but_not_run_time_fields(stack: StackConfig) -> None:
    base = SimConfig()
    key = cache_key(stack.robot, base)
    assert cache_key(stack.robot, SimConfig(seed=3, physics_hz=1000.0, render_width=640)) == key
    assert cache_key(stack.robot, SimConfig(table_top_height_m=0.8)) != key
    assert cache_key(stack.robot, SimConfig(mesh_keep_ratio=0.2)) != key


def test_physics_rate_is_a_run_time_setting(stack: StackConfig, shared_sim: GR1TabletopSim) -> None:
    with GR1TabletopSim(stack.robot, SimConfig(physics_hz=1000.0)) as fast:
        assert fast.build.from_cache
        assert fast.timestep == pytest.approx(0.001)
        fast.step(1000)
        assert fast.time == pytest.approx(1.0)
