"""The sim node in-process with rclpy: publications, commands by name, bad input, trajectory, reset.

Each test gets its own rclpy Context on its own ROS domain (localhost discovery only), so tests
running at the same time on one machine do not hear each other. Most tests run the physics as
fast as possible (realtime_factor 0, sim-time stamps, every camera frame rendered); tests that do
not look at images lower the camera rate, since rendering on a CPU dominates their run time.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from gr00t_description import load_stack
from gr00t_sim.sim_interfaces import RESET_SERVICE
from gr00t_sim.sim_node import CAMERA_FRAME_ID, SimNode

WAIT_S = 20.0  # generous: the machine is shared and rendering runs on a CPU
FEW_FRAMES = {"camera_hz": 2.0}
_DOMAINS = itertools.count(start=1 + os.getpid() % 80)
ROBOT = load_stack().robot
SIM_THREADS = {"sim_physics", "sim_camera"}


def _stamp_s(msg: Any) -> float:
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


class Harness:
    """A SimNode plus a probe node that records what the sim publishes and sends it commands."""

    def __init__(self, context: rclpy.Context, parameters: dict[str, Any]) -> None:
        overrides = [Parameter(name, value=value) for name, value in parameters.items()]
        self.sim = SimNode(context=context, parameter_overrides=overrides)
        self.probe = Node("probe", context=context)
        self.joint_states: list[JointState] = []
        self.images: list[Image] = []
        self.camera_infos: list[CameraInfo] = []
        self.clocks: list[Clock] = []
        self.diagnostics: list[DiagnosticArray] = []
        self.probe.create_subscription(JointState, "joint_states", self.joint_states.append, 10)
        self.probe.create_subscription(Image, "head_camera/image_raw", self.images.append, qos_profile_sensor_data)
        self.probe.create_subscription(
            CameraInfo, "head_camera/camera_info", self.camera_infos.append, qos_profile_sensor_data
        )
        self.probe.create_subscription(Clock, "/clock", self.clocks.append, 10)
        self.probe.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 10)
        self.command_pub = self.probe.create_publisher(JointState, "joint_command", 10)
        self.trajectory_pub = self.probe.create_publisher(JointTrajectory, "joint_trajectory", 10)
        self.reset_client = self.probe.create_client(Trigger, RESET_SERVICE)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.sim)
        self.executor.add_node(self.probe)

    def spin_until(self, condition: Callable[[], bool], timeout_s: float = WAIT_S) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if condition():
                return True
            self.executor.spin_once(timeout_sec=0.02)
        return condition()

    def wait_for_subscribers(self) -> None:
        assert self.spin_until(
            lambda: self.command_pub.get_subscription_count() > 0 and self.trajectory_pub.get_subscription_count() > 0
        )

    def joint(self, name: str) -> float:
        latest = self.joint_states[-1]
        return latest.position[list(latest.name).index(name)]

    def send_command(self, names: list[str], positions: list[float]) -> None:
        self.command_pub.publish(JointState(name=names, position=positions))

    def diagnostic(self, key: str) -> str | None:
        """The newest value of `key` in the sim's /diagnostics status."""
        values = [
            v.value
            for a in self.diagnostics
            for s in a.status
            if s.hardware_id == "mujoco_gr1"
            for v in s.values
            if v.key == key
        ]
        return values[-1] if values else None

    def close(self) -> None:
        self.executor.shutdown()
        self.sim.destroy_node()
        self.probe.destroy_node()


@pytest.fixture
def make_harness(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Harness]]:
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    made: list[tuple[Harness, rclpy.Context]] = []

    def make(**parameters: Any) -> Harness:
        context = rclpy.Context()
        rclpy.init(context=context, domain_id=next(_DOMAINS))
        parameters = {"realtime_factor": 0.0, **parameters}
        harness = Harness(context, parameters)
        made.append((harness, context))
        return harness

    yield make
    for harness, context in made:
        harness.close()
        rclpy.try_shutdown(context=context)


def test_publishes_joint_states_images_and_clock_with_sim_stamps(make_harness: Callable[..., Harness]) -> None:
    h = make_harness()
    assert h.spin_until(lambda: len(h.joint_states) >= 50 and len(h.images) >= 3 and len(h.camera_infos) >= 3)
    state = h.joint_states[-1]
    assert list(state.name) == list(ROBOT.joint_names)
    assert len(state.position) == len(state.velocity) == len(state.effort) == 32
    stamps = [_stamp_s(m) for m in h.joint_states]
    assert stamps[0] > 0 and np.all(np.diff(stamps) > 0)
    # 200 Hz in sim time: consecutive states are 5 ms of sim time apart (2 or 3 physics steps).
    assert np.median(np.diff(stamps)) == pytest.approx(0.005, abs=0.0011)
    assert h.clocks and h.clocks[-1].clock.sec + h.clocks[-1].clock.nanosec * 1e-9 > 0

    image = h.images[-1]
    assert (image.width, image.height, image.encoding, image.step) == (224, 224, "rgb8", 224 * 3)
    assert len(image.data) == image.step * image.height and image.header.frame_id == CAMERA_FRAME_ID
    pixels = np.frombuffer(bytes(image.data), np.uint8).reshape(224, 224, 3)
    assert pixels.std() > 20
    image_stamps = [_stamp_s(m) for m in h.images]
    assert np.all(np.diff(image_stamps) > 0)
    assert np.median(np.diff(image_stamps)) == pytest.approx(1 / 30, abs=0.003)  # every frame, 30 Hz sim time
    info_by_stamp = {_stamp_s(m): m for m in h.camera_infos}
    info = info_by_stamp[image_stamps[-1]]
    assert (info.width, info.height, info.header.frame_id) == (224, 224, CAMERA_FRAME_ID)
    assert info.k[0] == info.k[4] > 0 and (info.k[2], info.k[5]) == (111.5, 111.5)


def test_paced_run_stamps_with_the_wall_clock(make_harness: Callable[..., Harness]) -> None:
    h = make_harness(realtime_factor=1.0, render_width=320, render_height=240)
    assert h.spin_until(lambda: len(h.joint_states) >= 20 and len(h.images) >= 2)
    assert abs(_stamp_s(h.joint_states[-1]) - time.time()) < 2.0
    assert not h.clocks  # paced with wall stamps: no /clock
    assert (h.images[-1].width, h.images[-1].height, h.images[-1].step) == (320, 240, 960)


def test_joint_command_moves_the_named_joint(make_harness: Callable[..., Harness]) -> None:
    h = make_harness(**FEW_FRAMES)
    h.wait_for_subscribers()
    h.send_command(["left_elbow_pitch_joint", "R_index_proximal_joint"], [-1.0, -1.2])
    assert h.spin_until(lambda: bool(h.joint_states) and abs(h.joint("left_elbow_pitch_joint") + 1.0) < 0.02)
    assert h.spin_until(lambda: abs(h.joint("R_index_proximal_joint") + 1.2) < 0.05)


@pytest.mark.parametrize(
    ("names", "positions"),
    [
        (["no_such_joint"], [0.0]),
        (["left_elbow_pitch_joint"], [math.nan]),
        (["left_elbow_pitch_joint"], [math.inf]),
        (["left_elbow_pitch_joint", "waist_yaw_joint"], [-1.0]),
    ],
    ids=["unknown_name", "nan", "inf", "size_mismatch"],
)
def test_bad_command_is_ignored_and_the_sim_keeps_running(
    make_harness: Callable[..., Harness], names: list[str], positions: list[float]
) -> None:
    h = make_harness(**FEW_FRAMES)
    h.wait_for_subscribers()
    home = ROBOT.joints["left_elbow_pitch_joint"].home
    h.send_command(names, positions)
    count = len(h.joint_states)
    assert h.spin_until(lambda: len(h.joint_states) > count + 200)  # > 1 s of sim time later: still running
    assert h.joint("left_elbow_pitch_joint") == pytest.approx(home, abs=0.01)
    assert h.spin_until(lambda: h.diagnostic("joint_command_rejected") == "1")
    h.send_command(["left_elbow_pitch_joint"], [-1.0])  # a good command still works afterwards
    assert h.spin_until(lambda: abs(h.joint("left_elbow_pitch_joint") + 1.0) < 0.02)


def test_joint_trajectory_is_followed_to_its_last_point(make_harness: Callable[..., Harness]) -> None:
    h = make_harness(**FEW_FRAMES)
    h.wait_for_subscribers()
    trajectory = JointTrajectory(joint_names=["right_elbow_pitch_joint", "head_yaw_joint"])
    for seconds, positions in ((0.5, [-1.3, 0.2]), (1.0, [-0.9, 0.4])):
        point = JointTrajectoryPoint(positions=positions)
        point.time_from_start.sec, point.time_from_start.nanosec = int(seconds), int(seconds % 1 * 1e9)
        trajectory.points.append(point)
    h.trajectory_pub.publish(trajectory)
    assert h.spin_until(
        lambda: (
            bool(h.joint_states)
            and abs(h.joint("right_elbow_pitch_joint") + 0.9) < 0.02
            and abs(h.joint("head_yaw_joint") - 0.4) < 0.02
        )
    )


def test_trajectory_with_mismatched_points_is_ignored(make_harness: Callable[..., Harness]) -> None:
    h = make_harness(**FEW_FRAMES)
    h.wait_for_subscribers()
    bad = JointTrajectory(joint_names=["right_elbow_pitch_joint", "head_yaw_joint"])
    bad.points.append(JointTrajectoryPoint(positions=[-0.9]))
    bad.points[0].time_from_start.sec = 1
    h.trajectory_pub.publish(bad)
    count = len(h.joint_states)
    assert h.spin_until(lambda: len(h.joint_states) > count + 300)
    home = ROBOT.joints["right_elbow_pitch_joint"].home
    assert h.joint("right_elbow_pitch_joint") == pytest.approx(home, abs=0.01)


@pytest.mark.parametrize("stamp_sec", [1, 2**31 - 1], ids=["ended_in_the_past", "far_future"])
def test_trajectory_stamped_far_from_the_sim_clock_is_ignored_and_counted(
    make_harness: Callable[..., Harness], stamp_sec: int
) -> None:
    h = make_harness(**FEW_FRAMES)
    h.wait_for_subscribers()
    assert h.spin_until(lambda: bool(h.joint_states) and _stamp_s(h.joint_states[-1]) > 3.0)  # sim time
    stale = JointTrajectory(joint_names=["right_elbow_pitch_joint"])
    stale.header.stamp.sec = stamp_sec  # starts at sim time 1 s (ended at 1.5 s) or in 68 years
    stale.points.append(JointTrajectoryPoint(positions=[-1.3]))
    stale.points[0].time_from_start.nanosec = 500_000_000
    h.trajectory_pub.publish(stale)
    assert h.spin_until(lambda: h.diagnostic("joint_trajectory_rejected") == "1")
    count = len(h.joint_states)
    assert h.spin_until(lambda: len(h.joint_states) > count + 100)
    home = ROBOT.joints["right_elbow_pitch_joint"].home
    assert h.joint("right_elbow_pitch_joint") == pytest.approx(home, abs=0.01)  # no jump to the last point
    stale.header.stamp.sec = 0  # the same trajectory on receipt is followed
    h.trajectory_pub.publish(stale)
    assert h.spin_until(lambda: abs(h.joint("right_elbow_pitch_joint") + 1.3) < 0.02)


def test_reset_service_returns_to_the_home_pose(make_harness: Callable[..., Harness]) -> None:
    h = make_harness(**FEW_FRAMES)
    h.wait_for_subscribers()
    h.send_command(["waist_yaw_joint"], [0.3])
    assert h.spin_until(lambda: bool(h.joint_states) and abs(h.joint("waist_yaw_joint") - 0.3) < 0.02)
    assert h.reset_client.wait_for_service(timeout_sec=WAIT_S)
    future = h.reset_client.call_async(Trigger.Request())
    assert h.spin_until(future.done)
    assert future.result().success, future.result().message
    stamp_at_reset = _stamp_s(h.joint_states[-1])
    assert h.spin_until(lambda: _stamp_s(h.joint_states[-1]) > stamp_at_reset + 0.05)
    assert h.joint("waist_yaw_joint") == pytest.approx(0.0, abs=0.02)


def test_shutdown_stops_the_physics_and_camera_threads(make_harness: Callable[..., Harness]) -> None:
    h = make_harness()
    assert h.spin_until(lambda: len(h.images) >= 1)
    assert SIM_THREADS <= {t.name for t in threading.enumerate()}
    h.sim.destroy_node()
    assert not SIM_THREADS & {t.name for t in threading.enumerate()}


def test_publishes_diagnostics(make_harness: Callable[..., Harness]) -> None:
    h = make_harness(realtime_factor=1.0)

    def sim_status():
        return next((s for a in h.diagnostics for s in a.status if s.hardware_id == "mujoco_gr1"), None)

    assert h.spin_until(lambda: sim_status() is not None, 5.0)
    values = {kv.key: kv.value for kv in sim_status().values}
    assert float(values["sim_time_s"]) > 0 and "realtime_ratio" in values and "camera_fps" in values


def test_publish_camera_is_settable_at_run_time_the_rest_read_only(make_harness: Callable[..., Harness]) -> None:
    from rcl_interfaces.msg import Parameter as ParameterMsg
    from rcl_interfaces.msg import ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

    h = make_harness(camera_hz=20.0)
    client = h.probe.create_client(SetParameters, "gr00t_sim/set_parameters")
    assert client.wait_for_service(timeout_sec=WAIT_S)

    def set_parameter(name: str, value: ParameterValue) -> bool:
        future = client.call_async(SetParameters.Request(parameters=[ParameterMsg(name=name, value=value)]))
        assert h.spin_until(future.done)
        return future.result().results[0].successful

    assert h.spin_until(lambda: len(h.images) >= 2)
    assert set_parameter("publish_camera", ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=False))
    h.spin_until(lambda: False, 0.5)  # frames already in flight arrive
    count, states = len(h.images), len(h.joint_states)
    assert h.spin_until(lambda: len(h.joint_states) > states + 400)  # 2 s of sim time: 40 frames were due
    assert len(h.images) == count  # the camera is out, everything else runs
    assert set_parameter("publish_camera", ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=True))
    assert h.spin_until(lambda: len(h.images) > count + 2)
    assert not set_parameter("camera_hz", ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=5.0))
