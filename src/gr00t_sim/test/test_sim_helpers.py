"""Pure helpers of gr00t_sim: target validation, trajectories, real-time pacing, configuration."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gr00t_sim import JointTargetMap, LinearTrajectory, SceneObjectSpec, SimConfig
from gr00t_sim.pacing import RealtimePacer
from gr00t_sim.trajectory import validate_points


@pytest.fixture
def target_map() -> JointTargetMap:
    return JointTargetMap(["a", "b", "c"], [-1.0, 0.0, -2.0], [1.0, 1.0, 0.0])


def test_targets_resolve_by_name_in_any_order_and_are_clamped(target_map: JointTargetMap) -> None:
    idx, values = target_map.resolve(["c", "a"], [-5.0, 0.5])
    assert idx.tolist() == [2, 0]
    assert values.tolist() == [-2.0, 0.5]


def test_empty_command_resolves_to_nothing(target_map: JointTargetMap) -> None:
    idx, values = target_map.resolve([], [])
    assert idx.size == 0 and values.size == 0


@pytest.mark.parametrize(
    ("names", "positions", "message"),
    [
        (["a", "zz"], [0.0, 0.0], r"unknown joint names \['zz'\]"),
        (["a"], [0.0, 1.0], "1 joint names but 2 positions"),
        (["a", "b"], [0.0, math.nan], r"non-finite position targets for \['b'\]"),
        (["a", "a"], [0.0, 0.0], r"repeated in one command: \['a'\]"),
    ],
)
def test_malformed_commands_raise_with_the_reason(
    target_map: JointTargetMap, names: list[str], positions: list[float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        target_map.resolve(names, positions)


def test_trajectory_starts_from_the_held_targets_and_holds_the_last_point() -> None:
    trajectory = LinearTrajectory.from_points(
        np.array([0, 2]),
        start_time_s=10.0,
        time_from_start_s=[1.0, 2.0],
        positions=np.array([[1.0, -1.0], [3.0, -3.0]]),
        start_positions=np.array([0.0, 0.0]),
    )
    np.testing.assert_allclose(trajectory.sample(9.0), [0.0, 0.0])  # before the start: hold
    np.testing.assert_allclose(trajectory.sample(10.5), [0.5, -0.5])  # toward the first point
    np.testing.assert_allclose(trajectory.sample(11.5), [2.0, -2.0])
    np.testing.assert_allclose(trajectory.sample(99.0), [3.0, -3.0])
    assert trajectory.end_time_s == 12.0


def test_a_trajectory_stamped_in_the_future_is_approached_from_receipt_never_jumped_to() -> None:
    # Received at 8 s, starting at 10 s with a point at 0: the targets move from the held ones toward it.
    trajectory = LinearTrajectory.from_points(
        np.array([0]), 10.0, [0.0, 1.0], np.array([[2.0], [3.0]]), np.array([0.0]), received_time_s=8.0
    )
    np.testing.assert_allclose(trajectory.sample(8.0), [0.0])
    np.testing.assert_allclose(trajectory.sample(9.0), [1.0])
    np.testing.assert_allclose(trajectory.sample(10.5), [2.5])
    # Received after its first point (stamped in the past): joined where it is, its past points dropped.
    late = LinearTrajectory.from_points(
        np.array([0]), 10.0, [0.0, 1.0], np.array([[2.0], [3.0]]), np.array([0.0]), received_time_s=10.5
    )
    np.testing.assert_allclose(late.sample(10.5), [2.5])


def test_trajectory_with_a_point_at_zero_starts_there() -> None:
    trajectory = LinearTrajectory.from_points(
        np.array([1]), 0.0, [0.0, 1.0], np.array([[1.0], [2.0]]), start_positions=np.array([-7.0])
    )
    np.testing.assert_allclose(trajectory.sample(0.0), [1.0])
    np.testing.assert_allclose(trajectory.sample(0.25), [1.25])


@pytest.mark.parametrize(
    ("offsets", "positions", "message"),
    [
        ([], np.zeros((0, 1)), "at least one point"),
        ([1.0, 1.0], [[0.0], [1.0]], "strictly increasing"),
        ([-0.1], [[0.0]], "strictly increasing"),
        ([1.0], [[math.nan]], "finite"),
        ([1.0, 2.0], [[0.0], [1.0, 2.0]], "positions"),
        ([1.0], [[0.0, 1.0]], "1 points x 1 positions"),
    ],
)
def test_invalid_trajectory_points_raise(offsets: list[float], positions: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_points(offsets, positions, 1)


def test_pacer_steps_to_keep_sim_time_with_wall_time() -> None:
    pacer = RealtimePacer(realtime_factor=1.0, timestep_s=0.002)
    pacer.anchor(sim_time_s=0.0, wall_time_s=100.0)
    assert pacer.steps_due(0.0, 100.0) == 0
    assert pacer.steps_due(0.0, 100.0101) == 5
    assert pacer.steps_due(0.010, 100.0101) == 0
    assert pacer.wall_time_of(0.012) == pytest.approx(100.012)


def test_pacer_scales_with_the_realtime_factor() -> None:
    pacer = RealtimePacer(realtime_factor=2.0, timestep_s=0.002)
    pacer.anchor(0.0, 0.0)
    assert pacer.steps_due(0.0, 0.010) == 10
    assert pacer.wall_time_of(0.010) == pytest.approx(0.005)


def test_pacer_drops_a_backlog_instead_of_sprinting() -> None:
    pacer = RealtimePacer(realtime_factor=1.0, timestep_s=0.002, max_lag_s=0.1)
    pacer.anchor(0.0, 0.0)
    assert pacer.steps_due(0.0, 1.0) == 1
    assert pacer.dropped_sim_s == pytest.approx(1.0)
    assert pacer.steps_due(0.002, 1.004) == 1  # re-anchored: sim 0 = wall 1.0


def test_pacer_as_fast_as_possible_always_steps() -> None:
    pacer = RealtimePacer(realtime_factor=0.0, timestep_s=0.002)
    assert pacer.as_fast_as_possible and pacer.steps_due(5.0, 0.0) == 1
    with pytest.raises(ValueError):
        pacer.wall_time_of(1.0)


def test_pacer_rejects_a_negative_factor() -> None:
    with pytest.raises(ValueError, match="realtime_factor must be >= 0"):
        RealtimePacer(-1.0, 0.002)


def test_sim_config_reads_the_sim_node_parameters() -> None:
    params = {
        "physics_hz": 1000.0,
        "camera_hz": 30.0,
        "render_width": 640,
        "render_height": 480,
        "decimate_meshes": 0.2,
        "seed": 4,
        "realtime_factor": 0.0,
    }
    config = SimConfig.from_node_parameters(params, seed=5)
    assert (config.physics_hz, config.render_width, config.render_height) == (1000.0, 640, 480)
    assert (config.mesh_keep_ratio, config.seed, config.timestep_s) == (0.2, 5, 0.001)
    # The old entry point reads the same section (the stack's `rates` no longer hold the sim's).
    assert SimConfig.from_stack({"physics_hz": 250.0}, params, seed=5) == config


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"physics_hz": 0.0}, "physics_hz must be > 0"),
        ({"mesh_keep_ratio": 0.0}, "mesh_keep_ratio"),
        ({"render_width": 0}, "render size"),
        ({"object_region_x_m": (0.1, 0.3)}, "not on the table"),
        ({"objects": (SceneObjectSpec("a", "box", (0.1, 0.1, 0.1), (1, 0, 0, 1)),) * 2}, "unique"),
    ],
)
def test_sim_config_rejects_inconsistent_values(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SimConfig(**overrides)


def test_scene_object_needs_sizes_matching_its_shape() -> None:
    with pytest.raises(ValueError, match="a cylinder needs 2 positive sizes"):
        SceneObjectSpec("can", "cylinder", (0.03, 0.05, 0.1), (1, 1, 0, 1))
