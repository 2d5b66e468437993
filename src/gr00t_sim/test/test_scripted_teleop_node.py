"""The scripted teleop node in-process, fed by a probe that plays the sim (scene state, joint
states): it refuses bad or blind starts, steers the named hand toward the target on the leader
topic, publishes nothing on a stale scene, stops on request, and reports on /diagnostics."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger

from gr00t_description import load_stack
from gr00t_interfaces.msg import SceneState
from gr00t_interfaces.srv import StartDemonstration
from gr00t_sim import SimConfig
from gr00t_sim.scripted_teleop_node import ScriptedTeleopNode, checked_episode
from gr00t_sim.sim_interfaces import SCENE_STATE_TOPIC, scene_state_message
from gr00t_sim.tasks import TableLayout, get_task

WAIT_S = 20.0


class Harness:
    def __init__(self, context: rclpy.Context) -> None:
        self.stack = load_stack()
        self.node = ScriptedTeleopNode(context=context)
        self.probe = Node("probe", context=context)
        self.leader: list[JointState] = []
        self.diagnostics: list[DiagnosticArray] = []
        leader_topic = self.stack.nodes["leader_teleop"]["leader_topic"]
        self.probe.create_subscription(JointState, leader_topic, self.leader.append, 50)
        self.probe.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 10)
        self.scene_pub = self.probe.create_publisher(SceneState, SCENE_STATE_TOPIC, 10)
        self.joint_pub = self.probe.create_publisher(JointState, self.stack.topics["joint_states"], 10)
        self.start_client = self.probe.create_client(StartDemonstration, f"/{self.node.get_name()}/start")
        self.stop_client = self.probe.create_client(Trigger, f"/{self.node.get_name()}/stop")
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.probe)
        self.layout = TableLayout.from_sim_config(SimConfig.from_node_parameters(self.stack.nodes["sim"]))

    def spin(self, seconds: float, feed: Callable[[], None] | None = None) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if feed is not None:
                feed()
            self.executor.spin_once(timeout_sec=0.01)

    def spin_until(self, condition: Callable[[], bool], feed: Callable[[], None] | None = None) -> bool:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline and not condition():
            if feed is not None:
                feed()
            self.executor.spin_once(timeout_sec=0.01)
        return condition()

    def call(self, client, request, feed: Callable[[], None] | None = None):
        assert client.wait_for_service(timeout_sec=WAIT_S)
        future = client.call_async(request)
        assert self.spin_until(future.done, feed)
        return future.result()

    def publish_home_joint_states(self) -> None:
        robot = self.stack.robot
        msg = JointState(name=list(robot.joint_names), position=[robot.joints[n].home for n in robot.joint_names])
        msg.header.stamp = self.probe.get_clock().now().to_msg()
        self.joint_pub.publish(msg)

    def publish_scene(self, objects: dict[str, tuple[float, float, float]]) -> None:
        self.scene_pub.publish(
            scene_state_message(
                self.probe.get_clock().now().to_msg(),
                {name: np.asarray(xyz) for name, xyz in objects.items()},
                {name: 0.0 for name in objects},
                {"left": np.array([0.2, 0.2, 1.0]), "right": np.array([0.2, -0.2, 1.0])},
            )
        )

    def rejected(self, source: str) -> int:
        """The newest count of rejected `source` input in the node's /diagnostics (0 before any)."""
        values = [
            int(kv.value)
            for a in self.diagnostics
            for s in a.status
            if s.hardware_id == "gr00t_scripted_teleop"
            for kv in s.values
            if kv.key == f"{source}_rejected"
        ]
        return values[-1] if values else 0

    def close(self) -> None:
        self.executor.shutdown()
        self.node.shutdown()
        self.node.destroy_node()
        self.probe.destroy_node()


@pytest.fixture(scope="module")
def harness(ros_context) -> Iterator[Harness]:
    # One node for the module: building the sim model dominates the run time.
    h = Harness(ros_context)
    yield h
    h.close()


@pytest.mark.parametrize("task", ["", "fly", "reach\ufffd", "[" * 100_000])
def test_bad_episode_requests_are_refused(task: str) -> None:
    with pytest.raises(ValueError):
        checked_episode(task, 1)


def test_start_without_joint_states_is_refused_and_nothing_is_published(harness: Harness) -> None:
    response = harness.call(harness.start_client, StartDemonstration.Request(task="reach", seed=3))
    assert not response.success and "joint_states" in response.message
    harness.spin(0.3)
    assert harness.leader == []


def test_demonstration_steers_the_named_hand_then_stops(harness: Harness) -> None:
    spec = get_task("reach").sample(3, harness.layout)
    objects = {name: tuple(p.position) for name, p in spec.placements.items()}
    feed_scene = lambda: (harness.publish_home_joint_states(), harness.publish_scene(objects))  # noqa: E731
    harness.spin(0.3, feed_scene)
    response = harness.call(harness.start_client, StartDemonstration.Request(task="reach", seed=3), feed_scene)
    assert response.success, response.message
    assert response.instruction == spec.instruction and response.id == "reach/3"
    assert harness.spin_until(lambda: len(harness.leader) >= 20, feed_scene)
    first, last = harness.leader[0], harness.leader[-1]
    robot = harness.stack.robot
    arm = robot.groups[f"{spec.hand}_arm"]
    idle_arm = robot.groups[f"{'left' if spec.hand == 'right' else 'right'}_arm"]
    positions = lambda msg, names: np.array([dict(zip(msg.name, msg.position))[n] for n in names])  # noqa: E731
    assert np.abs(positions(last, arm) - positions(first, arm)).max() > 0.05  # the named arm moves
    np.testing.assert_allclose(positions(last, idle_arm), [robot.joints[n].home for n in idle_arm], atol=1e-6)

    # Stale scene state: the node publishes nothing (the leader teleop then holds).
    harness.spin(1.0, harness.publish_home_joint_states)  # > scene_state_timeout_s (0.5 s)
    count = len(harness.leader)
    harness.spin(0.5, harness.publish_home_joint_states)
    assert len(harness.leader) == count

    assert harness.call(harness.stop_client, Trigger.Request()).success
    harness.spin(0.3, feed_scene)
    count = len(harness.leader)
    harness.spin(0.3, feed_scene)
    assert len(harness.leader) == count  # stopped: nothing more on the leader topic


def test_implausible_joint_states_and_scene_are_dropped_and_counted(harness: Harness) -> None:
    node, robot = harness.node, harness.stack.robot
    assert harness.spin_until(
        lambda: any(s.hardware_id == "gr00t_scripted_teleop" for a in harness.diagnostics for s in a.status)
    )
    before = {source: harness.rejected(source) for source in ("joint_states", "scene_state")}
    harness.publish_home_joint_states()
    harness.spin(0.2)
    name = robot.joint_names[0]
    wild = JointState(name=[name], position=[50.0])  # 50 rad: a broken encoder, not a pose
    harness.joint_pub.publish(wild)
    harness.publish_scene({"cube": (1e6, 0.0, 1.0)})
    # Both are counted in /diagnostics, and the wild position never became the measured one.
    assert harness.spin_until(
        lambda: (
            harness.rejected("joint_states") > before["joint_states"]
            and harness.rejected("scene_state") > before["scene_state"]
        )
    )
    assert node.teleop.joint_position(name) == pytest.approx(robot.joints[name].home)


def test_diagnostics_are_published(harness: Harness) -> None:
    assert harness.spin_until(
        lambda: any(s.hardware_id == "gr00t_scripted_teleop" for a in harness.diagnostics for s in a.status)
    )


def test_recovery_probability_parameter_reaches_the_demonstrator(ros_context) -> None:
    node = ScriptedTeleopNode(context=ros_context, parameter_overrides=[Parameter("recovery_probability", value=0.5)])
    try:
        assert node.teleop.demonstrator.config.recovery_probability == 0.5
    finally:
        node.shutdown()
        node.destroy_node()
    with pytest.raises(ValueError, match="recovery_probability"):
        ScriptedTeleopNode(context=ros_context, parameter_overrides=[Parameter("recovery_probability", value=1.5)])
