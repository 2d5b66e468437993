"""gr00t-launch's node-exit policy and clean-up, with real node processes.

The light teleop graph without the simulator (leader teleop + recorder, up in about a second)
stands in for the policy graph: the policy is per node and comes from the stack YAML, so a copy of
the packaged stack gives the leader teleop the respawn policy System 2 has in the packaged one.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytest.importorskip("rclpy")
from gr00t_bringup.graph import GraphOptions, NodeSpec, build_graph  # noqa: E402
from gr00t_bringup.processes import Graph  # noqa: E402
from gr00t_description import load_stack  # noqa: E402

LEADER, RECORDER = "gr00t_leader_teleop", "gr00t_recorder"


@pytest.fixture
def light_stack(tmp_path: Path) -> Path:
    """The packaged sim stack with the leader teleop respawned once after 0.2 s (a copy elsewhere:
    its `robot:` resolves to the installed robot description)."""
    data = yaml.safe_load(load_stack("gr1t2_sim").path.read_text())
    data["respawn"] = {"leader_teleop": {"delay_s": 0.2, "max_retries": 1}}
    data["nodes"]["recorder"]["output_dir"] = str(tmp_path / "bags")
    path = tmp_path / "stack.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _light_specs(stack_path: Path) -> list[NodeSpec]:
    options = GraphOptions(disabled=frozenset({"sim"}), console=False)
    return build_graph(load_stack(stack_path), "teleop_sim", options)


def _supervise_until(graph: Graph, condition, timeout_s: float = 20.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        failure = graph.supervise()
        if condition(failure):
            return failure
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout_s} s (exited: {graph.exited()})")


def test_a_node_without_a_respawn_policy_exiting_stops_the_graph(light_stack):
    graph = Graph(_light_specs(light_stack), log=None)
    try:
        assert graph.supervise() is None
        graph.kill(RECORDER)
        failure = _supervise_until(graph, lambda f: f is not None)
        assert failure == f"{RECORDER} exited with code -9"
    finally:
        graph.shutdown()


def test_a_node_with_a_respawn_policy_is_restarted_up_to_its_retries(light_stack):
    graph = Graph(_light_specs(light_stack), log=None)
    try:
        first_pid = graph.node(LEADER).pid
        graph.kill(LEADER)
        killed_at = time.monotonic()
        _supervise_until(graph, lambda f: graph.node(LEADER).pid != first_pid)
        assert time.monotonic() - killed_at >= 0.2  # after its delay
        assert graph.respawns == {LEADER: 1} and graph.node(LEADER).poll() is None
        time.sleep(1.0)  # the respawned node runs (its parameter file is still there)
        assert graph.supervise() is None and graph.node(LEADER).poll() is None
        graph.kill(LEADER)  # past its one retry: the graph stops
        failure = _supervise_until(graph, lambda f: f is not None)
        assert failure == f"{LEADER} exited with code -9 after 1 respawns"
    finally:
        graph.shutdown()


def test_the_parameter_folder_is_removed_on_shutdown_and_when_a_start_fails(light_stack):
    graph = Graph(_light_specs(light_stack), log=None)
    params_dir = graph.params_dir
    assert sorted(p.name for p in params_dir.iterdir()) == [f"{LEADER}.yaml", f"{RECORDER}.yaml"]
    graph.shutdown()
    assert not params_dir.exists()

    before = set(Path(os.environ.get("TMPDIR", "/tmp")).glob("gr00t-launch-*"))
    with pytest.raises(FileNotFoundError):
        Graph([NodeSpec("gr00t_teleop", "no_such_node", "x")], log=None)
    assert set(Path(os.environ.get("TMPDIR", "/tmp")).glob("gr00t-launch-*")) == before


# ----------------------------------------------------------------------------- gr00t-launch itself
def _gr00t_launch(tmp_path: Path, *args: str) -> subprocess.Popen:
    executable = shutil.which("gr00t-launch")
    assert executable, "gr00t-launch not on PATH: build the workspace and source install/setup.bash"
    (tmp_path / "tmp").mkdir(exist_ok=True)
    env = dict(os.environ, TMPDIR=str(tmp_path / "tmp"), PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, executable, "teleop_sim", "--no-sim", "--no-console", "--quiet", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )


def _started_pids(process: subprocess.Popen) -> dict[str, int]:
    line = process.stdout.readline()
    assert line.startswith("gr00t-launch: started"), line + process.stderr.read()
    return {name: int(pid) for name, pid in re.findall(r"(\w+) \(pid (\d+)\)", line)}


def _leftovers(tmp_path: Path) -> list[Path]:
    return list((tmp_path / "tmp").iterdir())


def test_gr00t_launch_stops_with_exit_code_1_naming_the_node_that_died(tmp_path, light_stack):
    process = _gr00t_launch(tmp_path, "--stack", str(light_stack))
    try:
        pids = _started_pids(process)
        assert set(pids) == {LEADER, RECORDER}
        time.sleep(1.0)
        os.kill(pids[RECORDER], signal.SIGKILL)
        _out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 1, err
    assert f"{RECORDER} exited with code -9: shutting the graph down" in err
    assert _leftovers(tmp_path) == []
    with pytest.raises(ProcessLookupError):
        os.kill(pids[LEADER], 0)  # the rest of the graph was stopped, not left running


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_gr00t_launch_stopped_by_a_signal_exits_0_and_removes_its_parameter_folder(tmp_path, light_stack, sig):
    process = _gr00t_launch(tmp_path, "--stack", str(light_stack))
    try:
        pids = _started_pids(process)
        time.sleep(1.0)
        assert len(_leftovers(tmp_path)) == 1  # the parameter folder while it runs
        os.killpg(process.pid, sig) if sig == signal.SIGINT else process.send_signal(sig)
        _out, err = process.communicate(timeout=40)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 0, err
    assert _leftovers(tmp_path) == []
    for pid in pids.values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_gr00t_launch_refuses_bad_arguments_before_starting_anything(tmp_path):
    bad_params = tmp_path / "params.yaml"
    bad_params.write_text("gr00t_recorder:\n  ros__parameters:\n    dry_run: false\n")
    for args, message in (
        (["--params-file", str(bad_params)], "launch argument 'dry_run'"),
        (["--stack", str(tmp_path / "nope.yaml")], "config file not found"),
    ):
        process = _gr00t_launch(tmp_path, *args)
        out, err = process.communicate(timeout=60)
        assert process.returncode == 2 and message in err, err
        assert "started" not in out and _leftovers(tmp_path) == []


def test_gr00t_launch_options_are_the_launch_arguments_with_booleans_both_ways():
    from gr00t_bringup.runner import parse_args

    assert parse_args(["robot"]).options.dry_run is True  # the robot profile's default
    assert parse_args(["robot", "--no-dry-run"]).options.dry_run is False
    assert parse_args(["robot"]).stack_name == "gr1t2_robot"
    assert parse_args(["sim"]).options.dry_run is None  # the stack's
    assert parse_args(["sim", "--dry-run"]).options.dry_run is True
    assert parse_args(["sim", "--no-system2"]).options.disabled == {"system2"}
    assert parse_args(["teleop_sim", "--scripted-teleop"]).options.scripted_teleop is True
    assert parse_args(["sim", "--use-sim-time", "--log-level", "debug"]).options.log_level == "debug"
    for argv in (["sim", "--dry-run=flase"], ["robot", "--realtime-factor", "0"], ["sim", "--backend", "pytorch"]):
        with pytest.raises(SystemExit):
            parse_args(argv)
