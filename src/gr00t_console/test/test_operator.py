"""gr00t-operator against the running simulated graph (real processes), every subcommand, and its
errors when the graph is not running."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time

import pytest
from console_testing import fresh_domain, ros_env

pytestmark = pytest.mark.slow


def operator_cmd(*args: str) -> list[str]:
    executable = shutil.which("gr00t-operator")
    assert executable, "gr00t-operator not on PATH: build the workspace and source install/setup.bash"
    return [sys.executable, executable, *args]


@pytest.mark.parametrize(
    "args, missing",
    [
        (["estop"], "gr00t_system1 is not running in namespace / (no service /gr00t/estop"),
        (["reset-estop"], "gr00t_system1 is not running in namespace / (no service /gr00t/reset_estop"),
        (["enable"], "gr00t_system1 is not running in namespace / (no service /gr00t/set_enabled"),
        (["disable"], "gr00t_system1 is not running"),
        (
            ["stop"],
            "gr00t_system1 is not running in namespace / (no service /gr00t/execute_instruction/_action/cancel_goal",
        ),
        (["instruct", "wave"], "gr00t_system1 is not running in namespace / (no action /gr00t/execute_instruction"),
        (
            ["status"],
            "gr00t_system1 is not running in namespace / (no controller status on topic /gr00t/controller_status",
        ),
        (["record", "start", "wave"], "gr00t_recorder is not running in namespace / (no service /gr00t_recorder/start"),
        (["record", "stop"], "gr00t_recorder is not running in namespace / (no service /gr00t_recorder/stop_success"),
        (["record", "success"], "no service /gr00t_recorder/stop_success"),
        (["record", "fail"], "no service /gr00t_recorder/stop_failure"),
        (["record", "discard"], "no service /gr00t_recorder/cancel"),
        (
            ["--namespace", "robot1", "estop"],
            "gr00t_system1 is not running in namespace /robot1 (no service /robot1/gr00t/estop",
        ),
    ],
)
def test_without_a_graph_every_subcommand_exits_3_naming_what_is_missing(args, missing):
    result = subprocess.run(
        operator_cmd("--wait", "1", *args), env=ros_env(fresh_domain()), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 3, result.stderr
    assert missing in result.stderr and "start the graph" in result.stderr, result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["record", "start"],
        ["record", "stop", "extra"],
        ["fly"],
        ["instruct"],
        ["--wait", "0", "status"],
        ["status", "--period", "-1"],
    ],
)
def test_bad_command_lines_exit_2(args):
    result = subprocess.run(operator_cmd(*args), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, (args, result.stderr)


def _state(sim_graph) -> str:
    return sim_graph.api("/api/state")["controller"]["state"]


def _wait_state(sim_graph, states: set[str], timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = _state(sim_graph)
        if state in states:
            return state
        time.sleep(0.1)
    raise AssertionError(f"controller {state}, not {states}")


def test_status_once_as_json_and_watching(sim_graph):
    # --wait: time for the recorder's latched status to arrive on a loaded machine (seen missing at the default)
    result = sim_graph.operator("--wait", "5", "status")
    assert result.returncode == 0, result.stderr
    assert "faults:" in result.stdout and "commands" in result.stdout and "recorder: idle" in result.stdout
    result = sim_graph.operator("--wait", "5", "status", "--json")
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["state"] in ("DISABLED", "RAMPING", "RUNNING", "HOLDING", "ESTOPPED")
    assert status["command_rate_hz"] >= 0 and "faults" in status and status["recorder"]["state"] == "idle"
    watch = subprocess.Popen(
        operator_cmd("status", "--watch", "--period", "0.5", "--json"),
        env=sim_graph.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert watch.stdout is not None
    first = watch.stdout.readline()  # the first status (after start-up and discovery)
    time.sleep(3)
    watch.send_signal(signal.SIGINT)
    out, err = watch.communicate(timeout=30)
    lines = [json.loads(line) for line in (first + out).splitlines()]
    assert len(lines) >= 3, (first, out, err)
    assert watch.returncode == 0, err  # Ctrl-C is how --watch ends


def test_estop_latches_refuses_enable_until_reset(sim_graph):
    result = sim_graph.operator("estop")
    assert result.returncode == 0, result.stderr
    assert _wait_state(sim_graph, {"ESTOPPED"}) == "ESTOPPED"
    assert json.loads(sim_graph.operator("status", "--json").stdout)["state"] == "ESTOPPED"
    refused = sim_graph.operator("enable")
    assert refused.returncode == 1 and "ESTOPPED" in refused.stderr, (refused.stdout, refused.stderr)
    result = sim_graph.operator("reset-estop")
    assert result.returncode == 0, result.stderr
    assert _wait_state(sim_graph, {"DISABLED"}) == "DISABLED"
    result = sim_graph.operator("enable", "--reason", "operator test")
    assert result.returncode == 0, result.stderr
    assert _wait_state(sim_graph, {"RAMPING", "RUNNING", "HOLDING"})
    result = sim_graph.operator("disable")
    assert result.returncode == 0 and "DISABLED" in result.stdout, result.stdout
    assert sim_graph.operator("enable").returncode == 0


def test_instruct_shows_feedback_and_ends_with_its_timeout(sim_graph):
    result = sim_graph.operator("instruct", "use your left hand to touch the yellow cylinder", "--timeout", "4")
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "running: 'use your left hand to touch the yellow cylinder' for 4 s" in result.stdout
    assert "chunks" in result.stdout.splitlines()[1], result.stdout  # a feedback line
    assert "result: timeout_reached" in result.stdout


def test_ctrl_c_cancels_the_action(sim_graph):
    process = subprocess.Popen(
        operator_cmd("instruct", "touch the red cube", "--timeout", "60"),
        env=sim_graph.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("running:"), line + (process.stderr.read() if process.poll() is not None else "")
    time.sleep(2)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, (out, err)
    assert "result: canceled" in err, err


def test_stop_cancels_another_clients_action_and_clears_the_instruction(sim_graph):
    process = subprocess.Popen(
        operator_cmd("instruct", "touch the red cube", "--timeout", "60", "--quiet"),
        env=sim_graph.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().startswith("running:")
    result = sim_graph.operator("stop")
    assert result.returncode == 0, result.stderr
    assert "1 goal(s) canceling" in result.stdout and "instruction cleared" in result.stdout
    out, err = process.communicate(timeout=30)
    assert process.returncode == 1 and "result: canceled" in err, (out, err)


def test_record_start_then_success_fail_discard(sim_graph):
    # The policy runs meanwhile: an episode without joint commands would be kept as interrupted (exit 1).
    policy = subprocess.Popen(
        operator_cmd("instruct", "touch the red cube", "--timeout", "120", "--quiet"),
        env=sim_graph.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert policy.stdout is not None and policy.stdout.readline().startswith("running:")
        time.sleep(2)
        _record_start_then_success_fail_discard(sim_graph)
    finally:
        policy.send_signal(signal.SIGINT)
        policy.communicate(timeout=30)


def _record_start_then_success_fail_discard(sim_graph):
    result = sim_graph.operator("record", "start", "touch the red cube")
    assert result.returncode == 0, result.stderr
    again = sim_graph.operator("record", "start", "touch the red cube")
    assert again.returncode == 1, again.stdout  # already recording: refused, the episode goes on
    time.sleep(2)
    result = sim_graph.operator("record", "success")
    assert result.returncode == 0 and ": success" in result.stdout, (result.stdout, result.stderr)
    bags = sorted(p for p in sim_graph.episodes_dir.iterdir() if p.is_dir())
    assert len(bags) == 1 and list(bags[0].glob("*.mcap")), bags
    idle = sim_graph.operator("record", "fail")
    assert idle.returncode == 1, idle.stdout  # nothing recording
    assert sim_graph.operator("record", "start", "touch the blue cube").returncode == 0
    time.sleep(1)
    result = sim_graph.operator("record", "fail")
    assert result.returncode == 0 and ": failure" in result.stdout, result.stdout
    assert sim_graph.operator("record", "start", "touch the green cube").returncode == 0
    time.sleep(1)
    result = sim_graph.operator("record", "discard")
    assert result.returncode == 0 and "discarded" in result.stdout, result.stdout
    assert sim_graph.operator("record", "start", "touch the green cube").returncode == 0
    time.sleep(1.5)
    result = sim_graph.operator("record", "stop")
    assert result.returncode == 0 and ": success" in result.stdout, result.stdout
    assert len([p for p in sim_graph.episodes_dir.iterdir() if p.is_dir()]) == 3  # the discarded one is gone


def test_another_namespace_is_named_in_the_error(sim_graph):
    result = sim_graph.operator("--wait", "3", "--namespace", "robot1", "estop")  # time to discover the graph
    assert result.returncode == 3
    assert "gr00t_system1 is not running in namespace /robot1" in result.stderr
    assert "it runs in /: pass --namespace" in result.stderr, result.stderr
