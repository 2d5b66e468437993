"""System 1's joint_trajectory output without ROS: the forecast points, and the runtime in
``command_output: joint_trajectory`` driving a JointTrajectoryController model with the simulator's
semantics (``gr00t_sim.trajectory.LinearTrajectory``: replaced on receipt, started at its stamp,
linear between points, the last point held; an empty trajectory stops)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from gr00t_description import load_stack
from gr00t_policy.model.embodiments import get_data_config
from gr00t_policy.runtime.config import System1Config
from gr00t_policy.runtime.system1 import System1Runtime
from gr00t_policy.runtime.trajectory_output import TrajectoryPoints, forecast_points
from gr00t_policy.safety.supervisor import SupervisorState
from gr00t_sim.trajectory import LinearTrajectory

TICK = 1.0 / 120.0
HORIZON = 16
MOVED_JOINT = "right_elbow_pitch_joint"
OFFSET_RAD = 0.6  # far enough that reaching it in one 50 ms step would break the velocity limit


# -- forecast_points, alone -------------------------------------------------------------------
def test_points_start_at_the_first_command_and_follow_every_period():
    commands = iter([np.array([0.1]), np.array([0.2]), np.array([0.3])])
    points = forecast_points(["j"], 5.0, np.array([0.0]), 0.01, lambda t: next(commands, None), lambda t: False)
    assert points.stamp == 5.0 and points.joint_names == ("j",) and not points.stop
    np.testing.assert_allclose(points.time_from_start, [0.0, 0.01, 0.02, 0.03])
    np.testing.assert_allclose(points.positions[:, 0], [0.0, 0.1, 0.2, 0.3])


def test_points_end_once_the_motion_stopped_after_the_plan_ended():
    targets = [0.1, 0.1, 0.2, 0.2, 0.2]
    calls = []

    def step(t: float) -> np.ndarray:
        calls.append(t)
        return np.array([targets[min(len(calls) - 1, len(targets) - 1)]])

    # The plan ends at t >= 5.035: the repeated 0.1 at 5.02 is kept (the plan goes on), the repeated 0.2 at 5.04
    # ends the trajectory (a JTC holds the last point).
    points = forecast_points(["j"], 5.0, np.array([0.0]), 0.01, step, lambda t: t >= 5.035)
    np.testing.assert_allclose(points.positions[:, 0], [0.0, 0.1, 0.1, 0.2])
    capped = forecast_points(["j"], 5.0, np.array([0.0]), 0.01, lambda t: np.array([t]), lambda t: True, 0.0, 0.1)
    assert len(capped.time_from_start) == 11  # 0 .. 0.1 s, then the horizon cap


def test_the_tail_repeats_the_last_point_so_a_late_hold_has_not_ended_on_arrival():
    hold = forecast_points(["j"], 5.0, np.array([0.3]), 0.01, lambda t: np.array([0.3]), lambda t: True, 1.0)
    np.testing.assert_allclose(hold.time_from_start, [0.0, 1.0])
    np.testing.assert_allclose(hold.positions[:, 0], [0.3, 0.3])


def test_a_stop_has_joint_names_and_no_points():
    stop = TrajectoryPoints.stop_at(3.0, ["a", "b"])
    assert stop.stop and stop.joint_names == ("a", "b") and stop.positions.shape == (0, 2) and stop.stamp == 3.0
    with pytest.raises(ValueError):
        forecast_points(["j"], 0.0, np.zeros(1), 0.0, lambda t: None, lambda t: True)


# -- the runtime in joint_trajectory mode -----------------------------------------------------
class FakePolicy:
    model_id = "fake-model"
    action_horizon = HORIZON

    def __init__(self, data_config) -> None:
        self.data_config = data_config


class TargetBackend:
    """Chunks that jump MOVED_JOINT to home + OFFSET_RAD at once (every step): far more than its
    velocity limit allows in one step, so only the limiter makes it a trajectory."""

    name = "fake"

    def __init__(self, robot) -> None:
        self.robot = robot

    def prepare_goal(self, tokens, mask):
        return "goal"

    def predict_chunk(self, state, goal, **guidance):
        chunk = {group: np.tile(np.asarray(values, float), (HORIZON, 1)) for group, values in state.items()}
        for group, values in chunk.items():
            joints = self.robot.groups[group]
            if MOVED_JOINT in joints:
                values[:, joints.index(MOVED_JOINT)] = self.robot.joints[MOVED_JOINT].home + OFFSET_RAD
        return chunk


class Jtc:
    """A JointTrajectoryController as the simulator implements it (gr00t_sim.runtime.SimRuntime):
    a trajectory replaces the running one on receipt, starts at its stamp (0 = on receipt), moves
    from the targets held then; no points = cancel, hold the current targets."""

    def __init__(self, names: list[str], targets: np.ndarray) -> None:
        self.names = names
        self.targets = np.array(targets, dtype=float)
        self.trajectory: LinearTrajectory | None = None
        self.received: list[TrajectoryPoints] = []

    def receive(self, points: TrajectoryPoints, now: float) -> None:
        self.received.append(points)
        if points.stop:
            self.trajectory = None
            return
        index = [self.names.index(n) for n in points.joint_names]
        start = now if points.stamp == 0.0 else points.stamp
        self.trajectory = LinearTrajectory.from_points(
            np.asarray(index), start, points.time_from_start, points.positions, self.targets[index]
        )

    def step(self, now: float) -> None:
        if self.trajectory is not None:
            self.targets[self.trajectory.joint_indices] = self.trajectory.sample(now)
            if now >= self.trajectory.end_time_s:
                self.trajectory = None


def goal_tokens(stamp: float, sequence: int):
    return SimpleNamespace(
        tokens=torch.zeros(1, 4, 8),
        mask=torch.ones(1, 4, dtype=bool),
        sequence=sequence,
        stamp=stamp,
        instruction_id="a",
    )


class Loop:
    """The runtime's command loop feeding a JTC (a perfect position controller: measured = its
    targets); a trajectory reaches the JTC one tick after it was sent (transport), so its first
    point is already in the past there."""

    def __init__(self, stack, **overrides) -> None:
        values = {
            **stack.nodes["system1"],
            "startup_ramp_s": 0.3,
            "ramp_max_velocity_rad_s": 0.0,
            "command_output": "joint_trajectory",
            **overrides,
        }
        policy = FakePolicy(get_data_config(stack.data_config, stack.embodiment_tag))
        events = SimpleNamespace(error=lambda *a: None, warning=lambda *a: None, info=lambda *a: None, snapshot=dict)
        self.runtime = System1Runtime(
            System1Config(**values), stack.robot, [], 120.0, policy, TargetBackend(stack.robot), events
        )
        self.robot = stack.robot
        self.names = list(stack.robot.joint_names)
        self.jtc = Jtc(self.names, np.asarray(stack.robot.home_positions(), dtype=float))
        self.now = 100.0
        self.sequence = 0
        self.commands: list[np.ndarray] = []  # the stream's commands (computed, not sent)
        self.target_log: list[tuple[float, np.ndarray]] = []
        self._in_flight: TrajectoryPoints | None = None

    def position(self, name: str) -> float:
        return float(self.jtc.targets[self.names.index(name)])

    def run(self, seconds: float, goals: bool = True, infer: bool = True) -> None:
        end = self.now + seconds
        while self.now < end - 1e-9:
            self.now += TICK
            if self._in_flight is not None:
                self.jtc.receive(self._in_flight, self.now)
                self._in_flight = None
            self.jtc.step(self.now)
            self.target_log.append((self.now, self.jtc.targets.copy()))
            self.runtime.on_joint_state(self.names, self.jtc.targets.tolist(), self.now, self.now)
            if goals and int(self.now * 10) != int((self.now - TICK) * 10):
                self.sequence += 1
                self.runtime.on_goal_tokens(goal_tokens(self.now, self.sequence), self.now)
            if infer:
                self.runtime.infer_once(lambda: self.now)
            tick = self.runtime.tick(self.now)
            if tick.command is not None:
                self.commands.append(tick.command)
            if tick.trajectory is not None:
                self._in_flight = tick.trajectory


@pytest.fixture(scope="module")
def stack():
    return load_stack()


def started(stack, **overrides) -> Loop:
    loop = Loop(stack, **overrides)
    loop.runtime.enable(loop.now, "test")
    loop.run(2.0)
    assert loop.runtime.state == SupervisorState.RUNNING, loop.runtime.reason
    return loop


def test_the_robot_follows_the_chunks_through_limited_trajectories(stack):
    loop = started(stack)
    home = stack.robot.joints[MOVED_JOINT].home
    assert loop.position(MOVED_JOINT) == pytest.approx(home + OFFSET_RAD, abs=1e-6)
    received = loop.jtc.received
    assert len(received) >= 5 and not any(t.stop for t in received)
    actions = tuple(loop.runtime.action_joints)
    for points in received:
        assert points.joint_names == actions
        assert points.time_from_start[0] == 0.0
        # The stream's tick grid, then the last point again max_stamp_skew_s later (the delivery tail).
        np.testing.assert_allclose(np.diff(points.time_from_start[:-1]), TICK, rtol=1e-9)
        skew = loop.runtime.config.max_stamp_skew_s
        assert points.time_from_start[-1] - points.time_from_start[-2] == pytest.approx(skew)
        np.testing.assert_array_equal(points.positions[-1], points.positions[-2])
    # What the robot was commanded (the JTC's targets, sampled every tick) respects the velocity limit:
    # the chunk's jump was slowed by the limiter, never sent as a step.
    column = loop.names.index(MOVED_JOINT)
    times = np.array([t for t, _ in loop.target_log])
    path = np.array([q[column] for _, q in loop.target_log])
    speeds = np.abs(np.diff(path)) / np.diff(times)
    vmax = stack.robot.joints[MOVED_JOINT].max_velocity
    assert speeds.max() <= vmax * (1 + 1e-6)
    assert speeds.max() > 0.5 * vmax  # it did move, fast
    assert loop.runtime.trajectories_sent == len(received) + (loop._in_flight is not None)


def test_a_chunk_trajectory_starts_where_the_running_one_is_at_its_stamp(stack):
    loop = started(stack)
    sent = []
    original = loop.jtc.receive

    def receive(points: TrajectoryPoints, now: float) -> None:
        # Where the running trajectory is at the new one's stamp, before the replacement.
        running = loop.jtc.trajectory
        here = running.sample(points.stamp) if running is not None else loop.jtc.targets[running_index(points)]
        sent.append((points, here))
        original(points, now)

    def running_index(points):
        return [loop.names.index(n) for n in points.joint_names]

    loop.jtc.receive = receive
    loop.run(1.0)
    assert len(sent) >= 3
    vmax = np.array([stack.robot.joints[n].max_velocity for n in loop.runtime.action_joints])
    for points, here in sent:
        # Continuous replacement: the first point is the commanded pose at the stamp (within one tick's motion).
        assert np.all(np.abs(points.positions[0] - here) <= vmax * TICK + 1e-9)


def test_a_trajectory_is_what_the_stream_would_command_if_nothing_new_arrived(stack):
    # Mid-ramp toward the jump (the limiter and the ramp both shape it): the last trajectory sent, then
    # no new chunk; the supervisor's live commands (computed every tick, not sent) follow it point by point.
    loop = Loop(stack)
    loop.runtime.enable(loop.now, "test")
    loop.run(0.3)
    last = loop.jtc.received[-1] if loop._in_flight is None else loop._in_flight
    start, first_tick = len(loop.commands), len(loop.target_log)
    loop.run(1.0, infer=False)
    live = np.array(loop.commands[start:])
    times = np.array([t for t, _ in loop.target_log[first_tick:]])
    assert len(times) == len(live)  # a command every tick
    ticks = np.round((times - last.stamp) / TICK).astype(int)
    forecast = last.positions[:-1]  # without the delivery tail
    inside = ticks < len(forecast)
    assert inside.sum() >= 20
    np.testing.assert_allclose(live[inside], forecast[ticks[inside]], atol=1e-9)
    moved = np.abs(forecast[-1] - forecast[0]).max()
    assert moved > 0.05  # the compared stretch is motion, not a hold


def test_the_joint_state_mode_sends_no_trajectories(stack):
    loop = Loop(stack, command_output="joint_state")
    loop.runtime.enable(loop.now, "test")
    loop.run(1.0)
    assert loop.runtime.trajectories_sent == 0 and not loop.jtc.received and loop.commands


def test_a_hold_sends_a_trajectory_that_brakes_to_the_held_pose_and_stays(stack):
    loop = started(stack, goal_timeout_s=0.3)
    loop.run(0.6, goals=False)
    assert loop.runtime.state == SupervisorState.HOLDING
    hold = loop.jtc.received[-1]
    assert not hold.stop
    before = loop.jtc.targets.copy()
    loop.run(0.5, goals=False)
    np.testing.assert_array_equal(loop.jtc.targets, before)  # held: nothing moves
    assert loop.runtime.state == SupervisorState.HOLDING


def test_a_hold_while_moving_brakes_within_the_limits(stack):
    loop = Loop(stack, goal_timeout_s=0.3)
    loop.runtime.enable(loop.now, "test")
    loop.run(0.35)  # ramping toward the jump, moving
    home = stack.robot.joints[MOVED_JOINT].home
    loop.run(0.5, goals=False)  # goal tokens go stale while the joint moves
    assert loop.runtime.state == SupervisorState.HOLDING
    column = loop.names.index(MOVED_JOINT)
    path = np.array([q[column] for _, q in loop.target_log])
    speeds = np.abs(np.diff(path)) / TICK
    assert speeds.max() <= stack.robot.joints[MOVED_JOINT].max_velocity * (1 + 1e-6)
    settled = loop.position(MOVED_JOINT)
    loop.run(0.3, goals=False)
    assert loop.position(MOVED_JOINT) == settled and home < settled < home + OFFSET_RAD + 1e-9


def test_estop_sends_one_empty_trajectory_that_stops_the_robot_and_nothing_after(stack):
    loop = Loop(stack)
    loop.runtime.enable(loop.now, "test")
    loop.run(0.5)  # moving toward the target
    assert loop.jtc.trajectory is not None
    loop.runtime.estop("test")
    loop.run(2 * TICK)
    stop = loop.jtc.received[-1]
    assert stop.stop and stop.joint_names == tuple(loop.runtime.action_joints)
    assert loop.jtc.trajectory is None  # the running trajectory was cancelled
    stopped_at = loop.position(MOVED_JOINT)
    count = len(loop.jtc.received)
    loop.run(1.0)
    assert loop.position(MOVED_JOINT) == stopped_at  # the rest of the chunk was never executed
    assert len(loop.jtc.received) == count  # nothing sent while e-stopped
    # Reset and enable: the ramp (from the measured pose) goes through trajectories again.
    loop.runtime.reset_estop()
    loop.runtime.enable(loop.now, "test")
    loop.run(2.0)
    assert loop.runtime.state == SupervisorState.RUNNING and len(loop.jtc.received) > count
    home = stack.robot.joints[MOVED_JOINT].home
    assert loop.position(MOVED_JOINT) == pytest.approx(home + OFFSET_RAD, abs=1e-6)


def test_disable_stops_too_and_dry_run_sends_nothing(stack):
    loop = started(stack)
    loop.runtime.disable("test")
    loop.run(2 * TICK)
    assert loop.jtc.received[-1].stop
    dry = Loop(stack, dry_run=True)
    dry.runtime.enable(dry.now, "test")
    dry.run(1.0)
    assert dry.runtime.trajectories_sent == 0 and not dry.jtc.received
