"""System 1 with ``command_output: joint_trajectory`` driving the real simulator node in-process: the
sim's JointTrajectoryController semantics (replacement on receipt, stamps in the past and the future,
an empty trajectory stops) with the trajectories System 1 sends."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory

from gr00t_description.ros.qos import LATEST_RELIABLE_QOS
from gr00t_interfaces.msg import ControllerStatus, GoalTokens
from gr00t_policy.ros.messages import encode_goal_tokens, trajectory_message
from gr00t_policy.ros.system1_node import System1Node
from gr00t_policy.runtime.trajectory_output import TrajectoryPoints
from gr00t_sim.sim_node import SimNode

JOINT = "head_yaw_joint"  # no gravity load: the PD controller holds it tightly
TOLERANCE_RAD = 0.03  # the sim's PD controller settles within this at rest


class Graph:
    """The sim node, System 1 (demo policy, joint_trajectory mode) and a probe that publishes goal
    tokens at 10 Hz (System 2's part) and records joint states, trajectories and joint commands."""

    def __init__(self, ros, policy, system1: bool = True) -> None:
        self.ros = ros
        self.sim = ros.add(
            SimNode(
                context=ros.context,
                parameter_overrides=[Parameter("realtime_factor", value=1.0), Parameter("camera_hz", value=2.0)],
            )
        )
        self.probe = ros.node("trajectory_test_probe")
        stack = self.sim._stack
        self.joint_states: list[JointState] = []
        self.trajectories: list[JointTrajectory] = []
        self.commands: list[JointState] = []
        self.probe.create_subscription(JointState, stack.topics["joint_states"], self.joint_states.append, 10)
        self.probe.create_subscription(JointTrajectory, stack.topics["joint_trajectory"], self.trajectories.append, 10)
        self.probe.create_subscription(JointState, stack.topics["joint_command"], self.commands.append, 10)
        self.trajectory_pub = self.probe.create_publisher(JointTrajectory, stack.topics["joint_trajectory"], 10)
        self.system1 = None
        self._stop = threading.Event()
        if system1:
            self.system1 = ros.add(
                System1Node(
                    policy=policy,
                    context=ros.context,
                    parameter_overrides=[
                        Parameter("command_output", value="joint_trajectory"),
                        Parameter("enable_on_start", value=True),
                        Parameter("startup_ramp_s", value=0.3),
                        Parameter("ramp_max_velocity_rad_s", value=0.0),
                    ],
                )
            )
            goal = policy.encode_goal([np.zeros((224, 224, 3), np.uint8)], "reach the red cube")
            self.goal_msg = GoalTokens(instruction="reach the red cube", instruction_id="test")
            encode_goal_tokens(self.goal_msg, goal.tokens, goal.mask, "float16")
            self.goal_pub = self.probe.create_publisher(GoalTokens, stack.topics["goal_tokens"], LATEST_RELIABLE_QOS)
            self._thread = threading.Thread(target=self._publish_goals, daemon=True)
            self._thread.start()

    def _publish_goals(self) -> None:
        while not self._stop.is_set():
            self.goal_msg.header.stamp = self.probe.get_clock().now().to_msg()
            self.goal_msg.sequence += 1
            self.goal_pub.publish(self.goal_msg)
            time.sleep(0.1)

    def stop(self) -> None:
        self._stop.set()

    def now(self) -> float:
        return self.probe.get_clock().now().nanoseconds * 1e-9

    def measured(self, name: str) -> float:
        latest = self.joint_states[-1]
        return latest.position[list(latest.name).index(name)]

    def rejected_trajectories(self) -> int:
        return self.sim._rejections.snapshot().get("joint_trajectory", 0)  # what its /diagnostics report

    def settle(self, seconds: float) -> None:
        time.sleep(seconds)


@pytest.fixture
def graph(ros, demo_policy):
    made = Graph(ros, demo_policy)
    yield made
    made.stop()


@pytest.fixture
def sim_only(ros, demo_policy):
    made = Graph(ros, demo_policy, system1=False)
    yield made
    made.stop()


def test_the_sim_follows_system1s_trajectories_and_no_joint_command_is_sent(ros, graph):
    node = graph.system1
    assert ros.wait_for(lambda: node.runtime.state == ControllerStatus.STATE_RUNNING, 30.0), node.runtime.reason
    time.sleep(2.0)
    assert len(graph.trajectories) >= 3 and all(t.points for t in graph.trajectories)
    assert not graph.commands  # one command source only
    assert graph.rejected_trajectories() == 0
    latest = graph.trajectories[-1]
    assert list(latest.joint_names) == node.runtime.action_joints
    offsets = [p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in latest.points]
    assert offsets[0] == 0.0 and np.all(np.diff(offsets) > 0)
    # The robot is where System 1 commands it (the supervisor's stream, which the trajectories forecast).
    commanded = dict(zip(node.runtime.action_joints, node.runtime.supervisor.limiter.last_command, strict=True))
    names = list(graph.joint_states[-1].name)
    gaps = [abs(graph.joint_states[-1].position[names.index(n)] - q) for n, q in commanded.items()]
    assert max(gaps) < 0.2, max(gaps)  # PD lag while moving (~0.33 rad at full joint speed)


def test_estop_sends_an_empty_trajectory_and_the_robot_stops(ros, graph):
    node = graph.system1
    assert ros.wait_for(lambda: node.runtime.state == ControllerStatus.STATE_RUNNING, 30.0), node.runtime.reason
    time.sleep(1.0)
    node.runtime.estop("test")
    assert ros.wait_for(lambda: bool(graph.trajectories) and not graph.trajectories[-1].points, 2.0)
    count = len(graph.trajectories)
    time.sleep(0.5)  # the PD controller settles on the targets held at the stop
    before = np.array(graph.joint_states[-1].position)
    time.sleep(1.0)
    after = np.array(graph.joint_states[-1].position)
    assert np.max(np.abs(after - before)) < TOLERANCE_RAD  # stopped: the running trajectory did not go on
    assert len(graph.trajectories) == count  # nothing more while e-stopped
    assert not graph.commands


def _ramp(graph, start: float, stamp: float, start_value: float, end_value: float, seconds: float) -> None:
    """Publish a one-joint trajectory from start_value to end_value over `seconds`, stamped `stamp`."""
    offsets = np.linspace(0.0, seconds, 21)
    positions = np.linspace(start_value, end_value, 21).reshape(-1, 1)
    graph.trajectory_pub.publish(trajectory_message(TrajectoryPoints(stamp, (JOINT,), offsets, positions)))


def test_the_sims_replacement_semantics_for_stamps_in_the_past_and_the_future(ros, sim_only):
    graph = sim_only
    assert ros.wait_for(lambda: graph.trajectory_pub.get_subscription_count() > 0 and bool(graph.joint_states), 20.0)
    home = graph.measured(JOINT)
    # Stamped 1 s in the past, 3 s long: the sim joins it where it is now (a third of the way), it does
    # not replay it from its first point.
    now = graph.now()
    _ramp(graph, now, now - 1.0, home, home + 0.9, 3.0)
    # Joined at home + 0.3 at once (PD lag aside); a replay from the first point would be at + 0.18 after 0.6 s.
    assert ros.wait_for(lambda: graph.measured(JOINT) > home + 0.2, 0.6)
    assert ros.wait_for(lambda: abs(graph.measured(JOINT) - (home + 0.9)) < TOLERANCE_RAD, 5.0)
    # Stamped 1.5 s in the future, first point where the joint is: it holds there until the start, then moves.
    held = graph.measured(JOINT)
    now = graph.now()
    _ramp(graph, now, now + 1.5, held, home, 1.0)
    time.sleep(0.7)  # well before the start, even if this sleep overruns on a loaded machine
    assert abs(graph.measured(JOINT) - held) < TOLERANCE_RAD
    assert ros.wait_for(lambda: abs(graph.measured(JOINT) - home) < TOLERANCE_RAD, 5.0)
    # A future trajectory replaces a running one on receipt (as ros2_controllers' JTC does): the
    # running one's motion ends there, and the joint moves from where it is toward the new first point,
    # reached at the new stamp (never jumped to).
    now = graph.now()
    _ramp(graph, now, now, home, home + 0.9, 2.0)
    time.sleep(0.8)  # about home + 0.36, moving up at 0.45 rad/s
    now = graph.now()
    _ramp(graph, now, now + 1.0, home + 0.3, home + 0.3, 0.1)  # at home + 0.3 from 1 s on
    time.sleep(0.5)
    assert home + 0.2 < graph.measured(JOINT) < home + 0.45  # the running one would be at ~home + 0.58
    assert ros.wait_for(lambda: abs(graph.measured(JOINT) - (home + 0.3)) < TOLERANCE_RAD, 5.0)
    # An empty trajectory stops a running one where it is.
    now = graph.now()
    _ramp(graph, now, now, home + 0.3, home - 0.5, 2.0)
    time.sleep(0.6)
    graph.trajectory_pub.publish(JointTrajectory(joint_names=[JOINT]))
    time.sleep(0.5)
    stopped = graph.measured(JOINT)
    time.sleep(1.0)
    assert abs(graph.measured(JOINT) - stopped) < TOLERANCE_RAD and stopped > home - 0.5 + 0.2
    assert graph.rejected_trajectories() == 0
