"""Palm teleop core: Joy commands -> differential IK on the simulator's MuJoCo GR1T2 (no ROS)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from gr00t_description import load_stack
from gr00t_sim import GR1TabletopSim, SimConfig
from gr00t_teleop.teleop.ik_teleop import IKTeleop, IKTeleopConfig, IKTeleopError
from gr00t_teleop.teleop.joy_mapping import JoyCommand

RATE_HZ = 60.0
SPEED = 0.15  # m/s, the stack's full-deflection speed


def stack_config(**overrides) -> IKTeleopConfig:
    """The joy teleop's IK settings from the simulated stack's YAML (as the node builds them)."""
    joy = load_stack().nodes["joy_teleop"]
    values = {
        "period_s": 1.0 / joy["rate_hz"],
        "start_side": joy["start_side"],
        "workspace_min_m": tuple(joy["workspace_min_m"]),
        "workspace_max_m": tuple(joy["workspace_max_m"]),
        **{
            name: joy[name]
            for name in ("max_target_lead_m", "home_speed_m_s", "hand_speed_per_s", "max_joint_speed_rad_s")
        },
    }
    return IKTeleopConfig(**{**values, **overrides})


@pytest.fixture(scope="module")
def sim() -> Iterator[GR1TabletopSim]:
    stack = load_stack()
    simulator = GR1TabletopSim(stack.robot, SimConfig.from_stack(stack.rates, stack.node_parameters("sim")))
    yield simulator
    simulator.close()


def make_teleop(sim: GR1TabletopSim, **overrides) -> IKTeleop:
    teleop = IKTeleop.for_sim(sim, stack_config(period_s=1.0 / RATE_HZ, **overrides))
    sim.reset(sim.config.seed)
    names, positions, _, _ = sim.joint_state()
    teleop.reset(dict(zip(names, positions, strict=True)))
    return teleop


def move(velocity, **buttons) -> JoyCommand:
    return JoyCommand(np.asarray(velocity, dtype=float), **buttons)


def run(teleop: IKTeleop, command: JoyCommand | None, ticks: int) -> list[np.ndarray]:
    return [teleop.step(command) for _ in range(ticks)]


def assert_no_jumps(teleop: IKTeleop, start: np.ndarray, outputs: list[np.ndarray]) -> None:
    """Every tick moves every arm joint by at most the IK's joint step and every hand joint by at
    most its hand step: the teleop's own output is smooth before the safety layer sees it."""
    cfg = teleop.config
    steps = np.abs(np.diff(np.vstack([start, *outputs]), axis=0))
    arm_bound = cfg.max_joint_speed_rad_s * cfg.period_s + 1e-9
    assert steps[:, :14].max() <= arm_bound
    assert steps[:, 14:].max() <= cfg.hand_speed_per_s * cfg.period_s * 2.9 + 1e-9  # widest hand range < 2.9 rad


def test_plus_x_moves_the_active_palm_forward_in_the_simulator(sim):
    teleop = make_teleop(sim)
    assert teleop.active_side == "right"
    start_q = teleop.positions()
    right0, left0 = sim.hand_positions()["right"], sim.hand_positions()["left"]
    outputs = run(teleop, move([SPEED, 0, 0]), ticks=30)  # 0.5 s -> 7.5 cm
    assert_no_jumps(teleop, start_q, outputs)
    palm = teleop.palm_position("right")
    assert palm[0] - right0[0] == pytest.approx(0.075, abs=0.01)
    assert np.abs(palm[1:] - right0[1:]).max() < 0.01
    # The physics, driven by the targets, puts the real palm there too; the left arm stays put.
    sim.set_position_targets(teleop.joint_names, outputs[-1])
    sim.step(int(1.0 / sim.timestep))
    moved = sim.hand_positions()["right"] - right0
    assert moved[0] > 0.06 and np.abs(moved[1:]).max() < 0.02, moved
    assert np.linalg.norm(sim.hand_positions()["left"] - left0) < 0.01


def test_taking_over_does_not_move_the_robot(sim):
    teleop = make_teleop(sim)
    names, positions, _, _ = sim.joint_state()
    measured = dict(zip(names, positions, strict=True))
    idle = run(teleop, move([0, 0, 0]), ticks=5)
    expected = np.array([measured[n] for n in teleop.joint_names])
    # Only the IK's slow null-space pull towards the home posture (here: already home) may act.
    assert np.abs(idle[-1] - expected).max() < 0.03


def test_switching_arms_drives_the_other_palm_on_the_rising_edge_only(sim):
    teleop = make_teleop(sim)
    right0, left0 = teleop.palm_position("right"), teleop.palm_position("left")
    teleop.step(move([0, 0, 0], switch_arm=True))
    assert teleop.active_side == "left"
    run(teleop, move([0, SPEED, 0], switch_arm=True), ticks=30)  # button still held: no second switch
    assert teleop.active_side == "left"
    assert teleop.palm_position("left")[1] - left0[1] == pytest.approx(0.075, abs=0.01)
    assert np.linalg.norm(teleop.palm_position("right") - right0) < 1e-9
    teleop.step(move([0, 0, 0]))
    teleop.step(move([0, 0, 0], switch_arm=True))
    assert teleop.active_side == "right"


def test_hand_buttons_close_and_open_the_active_hand_towards_its_limits(sim):
    teleop = make_teleop(sim)
    robot = sim.robot
    hand = list(robot.groups["right_hand"])
    index = [teleop.joint_names.index(n) for n in hand]
    start = teleop.positions()
    outputs = run(teleop, move([0, 0, 0], close_hand=True), ticks=int(RATE_HZ))  # 1 s held
    assert_no_jumps(teleop, start, outputs)
    assert teleop.hand_closure("right") == pytest.approx(1.0)
    assert teleop.hand_closure("left") == pytest.approx(0.0)
    margin = teleop.config.limit_margin_rad
    for i, name in zip(index, hand, strict=True):
        spec = robot.joints[name]
        limit = spec.lower if abs(spec.lower - spec.home) > abs(spec.upper - spec.home) else spec.upper
        assert abs(outputs[-1][i] - limit) == pytest.approx(margin), name
        assert spec.lower <= outputs[-1][i] <= spec.upper
    run(teleop, move([0, 0, 0], open_hand=True), ticks=int(RATE_HZ / 3))  # about half way back
    assert 0.3 < teleop.hand_closure("right") < 0.8
    run(teleop, move([0, 0, 0], open_hand=True), ticks=int(RATE_HZ))
    assert teleop.hand_closure("right") == pytest.approx(0.0)


def test_palm_target_stays_in_the_workspace_box(sim):
    teleop = make_teleop(sim, workspace_min_m=(0.15, -0.5, 1.1))
    run(teleop, move([0, 0, -SPEED]), ticks=int(2 * RATE_HZ))  # would go 0.3 m down
    assert teleop.palm_target("right")[2] == pytest.approx(1.1)
    assert teleop.palm_position("right")[2] == pytest.approx(1.1, abs=0.005)


def test_target_never_runs_far_ahead_of_an_arm_at_the_end_of_its_reach(sim):
    teleop = make_teleop(sim, workspace_max_m=(2.0, 0.5, 1.4))
    run(teleop, move([SPEED, 0, 0]), ticks=int(6 * RATE_HZ))  # 0.9 m forward: out of reach
    gap = np.linalg.norm(teleop.palm_target("right") - teleop.palm_position("right"))
    assert gap <= teleop.config.max_target_lead_m + 1e-9
    assert teleop.palm_target("right")[2] == pytest.approx(teleop.home_palms["right"][2])  # no drift
    far = teleop.palm_position("right")[0]
    run(teleop, move([-SPEED, 0, 0]), ticks=int(RATE_HZ))
    # Reversing starts from the palm, not from the target ahead of it; the stretched (near
    # singular) arm is slow for the first few centimetres.
    assert teleop.palm_position("right")[0] < far - 0.05


def test_stale_input_stops_at_once_and_holds(sim):
    teleop = make_teleop(sim)
    moving = run(teleop, move([SPEED, 0, SPEED]), ticks=20)
    held = run(teleop, None, ticks=20)
    assert all(np.array_equal(h, moving[-1]) for h in held)
    assert np.linalg.norm(teleop.palm_target("right") - teleop.palm_position("right")) < 1e-9
    # Input again: no catch-up for the time without input, just the commanded velocity.
    before = teleop.palm_position("right")
    run(teleop, move([SPEED, 0, 0]), ticks=6)
    assert teleop.palm_position("right")[0] - before[0] == pytest.approx(SPEED * 0.1, abs=0.005)


def test_home_returns_both_arms_and_hands_smoothly(sim):
    teleop = make_teleop(sim)
    run(teleop, move([SPEED, -SPEED, -SPEED], close_hand=True), ticks=40)
    teleop.step(move([0, 0, 0], switch_arm=True))
    run(teleop, move([SPEED, SPEED, 0], close_hand=True), ticks=40)
    assert teleop.hand_closure("left") > 0.9 and teleop.hand_closure("right") > 0.9
    start = teleop.positions()
    outputs = [teleop.step(move([0, 0, 0], home=True))]
    outputs += run(teleop, move([0, 0, 0]), ticks=int(3 * RATE_HZ))
    assert_no_jumps(teleop, start, outputs)
    assert not teleop.homing
    for side in ("left", "right"):
        assert np.linalg.norm(teleop.palm_position(side) - teleop.home_palms[side]) < 0.002
        assert teleop.hand_closure(side) == pytest.approx(0.0)


def test_stick_input_cancels_homing(sim):
    teleop = make_teleop(sim)
    run(teleop, move([SPEED, 0, 0]), ticks=30)
    teleop.step(move([0, 0, 0], home=True))
    assert teleop.homing
    teleop.step(move([0, 0, SPEED], home=True))
    assert not teleop.homing


def test_start_needs_every_arm_and_hand_joint_finite(sim):
    teleop = IKTeleop.for_sim(sim, stack_config())
    names, positions, _, _ = sim.joint_state()
    measured = dict(zip(names, positions, strict=True))
    with pytest.raises(IKTeleopError, match="before step"):
        teleop.step(JoyCommand.idle())
    with pytest.raises(IKTeleopError, match="lack"):
        teleop.reset({k: v for k, v in measured.items() if k != "left_elbow_pitch_joint"})
    with pytest.raises(IKTeleopError, match="non-finite"):
        teleop.reset({**measured, "R_index_proximal_joint": float("nan")})
    teleop.reset({n: measured[n] for n in teleop.joint_names})  # waist and neck optional
    assert teleop.initialized


def test_unusable_configs_are_refused():
    with pytest.raises(IKTeleopError, match="start_side"):
        stack_config(start_side="middle")
    with pytest.raises(IKTeleopError, match="below"):
        stack_config(workspace_min_m=(0.5, 0, 1), workspace_max_m=(0.4, 1, 2))
    with pytest.raises(IKTeleopError, match="period_s"):
        stack_config(period_s=0.0)
