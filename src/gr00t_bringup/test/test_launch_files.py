"""launch_pytest tests of sim.launch.py / robot.launch.py for machines with a ROS 2 install.

`launch`, `launch_ros` and `launch_pytest` are not on PyPI, so on the project's wheel-based set-up
these are skipped; the same graph is started and checked by test_sim_graph.py through
`gr00t-launch`, which builds it from the same gr00t_bringup.graph description, and gr00t-launch's
node-exit policy by test_supervision.py. Here: the real launch files' declarations, a bad boolean
stopping the launch before any node starts, and the node-exit policy (exit code, respawn).
"""

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

launch_pytest = pytest.importorskip("launch_pytest", reason="launch_pytest needs a ROS 2 install")
from launch import LaunchDescription  # noqa: E402
from launch.actions import IncludeLaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402

LAUNCH_DIR = Path(__file__).resolve().parent.parent / "launch"


@launch_pytest.fixture
def sim_launch():
    return LaunchDescription(
        [
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(str(LAUNCH_DIR / "sim.launch.py")),
                launch_arguments={"instruction": "pick up the red cube"}.items(),
            ),
            launch_pytest.actions.ReadyToTest(),
        ]
    )


@pytest.mark.launch(fixture=sim_launch)
def test_sim_launch_publishes_goal_tokens_and_commands():
    import rclpy
    from sensor_msgs.msg import JointState

    from gr00t_description import load_stack
    from gr00t_interfaces.msg import GoalTokens

    stack = load_stack()
    rclpy.init()
    node = rclpy.create_node("sim_launch_probe")
    received = {"goal": 0, "command": 0}
    node.create_subscription(
        GoalTokens, stack.topics["goal_tokens"], lambda _m: received.__setitem__("goal", received["goal"] + 1), 10
    )
    node.create_subscription(
        JointState,
        stack.topics["joint_command"],
        lambda _m: received.__setitem__("command", received["command"] + 1),
        10,
    )
    try:
        import time

        deadline = time.monotonic() + 60.0
        while time.monotonic() < deadline and (received["goal"] < 5 or received["command"] < 100):
            rclpy.spin_once(node, timeout_sec=0.1)
        assert received["goal"] >= 5 and received["command"] >= 100
    finally:
        node.destroy_node()
        rclpy.shutdown()


def _launch_arguments_of(launch_file: str):
    from launch.launch_description_sources import get_launch_description_from_python_launch_file

    return get_launch_description_from_python_launch_file(str(LAUNCH_DIR / launch_file)).get_launch_arguments()


@pytest.mark.parametrize("profile", ["sim", "robot", "teleop_sim"])
def test_each_launch_file_declares_its_own_arguments_with_descriptions(profile):
    from launch import LaunchContext
    from launch.utilities import perform_substitutions

    from gr00t_bringup.arguments import arguments_of

    declared = {a.name: a for a in _launch_arguments_of(f"{profile}.launch.py")}
    expected = {a.name: a for a in arguments_of(profile)}
    assert list(declared) == list(expected)
    for name, argument in declared.items():
        assert argument.description == expected[name].help  # what `--show-args` prints
        default = perform_substitutions(LaunchContext(), argument.default_value)
        assert default == expected[name].default(profile), name


class _Launch:
    """`ros2 launch gr00t_bringup <file> args...` as a child process (its own process group)."""

    def __init__(self, launch_file: str, *args: str) -> None:
        pytest.importorskip("ros2launch")
        code = (
            "import sys; from ros2launch.api import launch_a_launch_file; "
            "sys.exit(launch_a_launch_file(launch_file_path=sys.argv[1], launch_file_arguments=sys.argv[2:]))"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, str(LAUNCH_DIR / launch_file), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=lambda: self.lines.extend(self.process.stdout), daemon=True)
        self._reader.start()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def pids(self) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        for executable, pid in re.findall(r"\[(\w+)-\d+\]: process started with pid \[(\d+)\]", self.output):
            found.setdefault(executable, []).append(int(pid))
        return found

    def wait_for(self, condition, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            assert time.monotonic() < deadline, self.output[-4000:]
            time.sleep(0.1)

    def close(self) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)  # Ctrl-C in a terminal
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        self._reader.join(timeout=5)
        return self.process.wait()


def _light_stack(tmp_path, respawn: dict) -> str:
    """The packaged sim stack, elsewhere, with another respawn policy (teleop_sim without the sim
    is up in a second: leader teleop + recorder)."""
    import yaml

    from gr00t_description import load_stack

    data = yaml.safe_load(load_stack("gr1t2_sim").path.read_text())
    data["respawn"] = respawn
    data["nodes"]["recorder"]["output_dir"] = str(tmp_path / "bags")
    path = tmp_path / "stack.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.mark.parametrize("argument", ["dry_run:=flase", "dry_run:=no", "use_sim_time:=maybe", "system2:=1"])
def test_a_bad_boolean_ends_the_launch_before_any_node_starts(argument):
    launch = _Launch("robot.launch.py", argument)
    code = launch.process.wait(timeout=60)
    launch.close()
    assert code == 1, launch.output
    assert "is not a boolean: use true or false" in launch.output
    assert "process started" not in launch.output


def test_a_node_dying_ends_the_launch_with_exit_code_1_naming_it(tmp_path):
    launch = _Launch("teleop_sim.launch.py", "sim:=false", f"stack:={_light_stack(tmp_path, {})}")
    try:
        launch.wait_for(lambda: len(launch.pids()) == 2 and "recorder ready" in launch.output)
        os.kill(launch.pids()["recorder_node"][0], signal.SIGKILL)
        code = launch.process.wait(timeout=60)
    finally:
        launch.close()
    assert code == 1, launch.output
    assert "gr00t_recorder exited with code -9: shutting the graph down" in launch.output
    with pytest.raises(ProcessLookupError):
        os.kill(launch.pids()["leader_teleop_node"][0], 0)


def test_a_node_with_a_respawn_policy_is_respawned_up_to_its_retries(tmp_path):
    stack = _light_stack(tmp_path, {"leader_teleop": {"delay_s": 0.2, "max_retries": 1}})
    launch = _Launch("teleop_sim.launch.py", "sim:=false", f"stack:={stack}")
    try:
        launch.wait_for(lambda: len(launch.pids()) == 2 and "leader teleop:" in launch.output)
        os.kill(launch.pids()["leader_teleop_node"][0], signal.SIGKILL)
        launch.wait_for(lambda: len(launch.pids()["leader_teleop_node"]) == 2)
        assert "gr00t_leader_teleop exited with code -9: respawn 1 of 1" in launch.output
        assert launch.process.poll() is None  # the graph runs on
        time.sleep(1.0)
        os.kill(launch.pids()["leader_teleop_node"][1], signal.SIGKILL)
        code = launch.process.wait(timeout=60)
    finally:
        launch.close()
    assert code == 1, launch.output
    assert "gr00t_leader_teleop exited with code -9 after 1 respawns: shutting the graph down" in launch.output


def test_ctrl_c_is_not_a_failure(tmp_path):
    launch = _Launch("teleop_sim.launch.py", "sim:=false", f"stack:={_light_stack(tmp_path, {})}")
    launch.wait_for(lambda: "recorder ready" in launch.output)
    assert launch.close() == 0, launch.output
    assert "shutting the graph down" not in launch.output
