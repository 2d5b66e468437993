"""SafetySupervisor: enable/ramp, watchdogs, hold, disable, e-stop latch, restart detection, dry run."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from supervisor_testing import supervisor_settings

from gr00t_policy.execution import Chunk, ChunkExecutor, ExecutorConfig
from gr00t_policy.safety import (
    JointLimiter,
    JointLimits,
    LimiterConfig,
    SafetySupervisor,
    SupervisorState,
)

DT = 1.0 / 120.0
N = 2
MEASURED = np.array([0.1, -0.2])
POLICY = np.array([0.3, 0.0])
STATUS_MSG = Path(__file__).resolve().parents[3] / "gr00t_interfaces" / "msg" / "ControllerStatus.msg"


class Harness:
    """Drives a supervisor at 120 Hz with explicit time; inputs are fresh unless told otherwise."""

    def __init__(self, **overrides):
        limits = JointLimits(("a", "b"), np.full(N, -1.0), np.full(N, 1.0), np.full(N, 2.0), np.full(N, 20.0))
        self.supervisor = SafetySupervisor(supervisor_settings(**overrides), JointLimiter(limits, LimiterConfig()))
        self.now = 0.0
        self.measured = MEASURED.copy()
        self.policy: np.ndarray | None = POLICY.copy()
        self.joint_states_alive = True
        self.goal_tokens_alive = True
        self.follow = True  # the measured pose tracks the command perfectly unless a test says not
        self.outputs = []

    def step(self, seconds: float = DT, executor_status=None):
        out = None
        for _ in range(max(1, round(seconds / DT))):
            self.now += DT
            if self.joint_states_alive:
                self.supervisor.on_joint_state(self.now)
            if self.goal_tokens_alive:
                self.supervisor.on_goal_tokens(self.now)
            out = self.supervisor.tick(self.now, self.measured, self.policy, executor_status)
            self.outputs.append(out)
            if self.follow and out.command is not None:
                self.measured = out.command.copy()
        return out

    def commands(self) -> np.ndarray:
        return np.array([o.command for o in self.outputs if o.command is not None])


def test_state_values_match_controller_status_msg():
    text = STATUS_MSG.read_text()
    for state in SupervisorState:
        assert re.search(rf"STATE_{state.name}\s*=\s*{int(state)}\b", text), state


def test_disabled_at_start_and_sends_nothing():
    h = Harness()
    out = h.step()
    assert out.state == SupervisorState.DISABLED and out.command is None


def test_enable_holds_the_measured_pose_until_the_policy_exists_then_ramps_without_a_jump():
    h = Harness()
    h.policy = None
    assert h.supervisor.enable(h.now).success
    out = h.step(0.2)
    assert out.state == SupervisorState.RAMPING and "waiting for policy" in out.reason
    np.testing.assert_array_equal(out.command, MEASURED)
    h.policy = POLICY.copy()
    h.step(0.25)
    mid = h.outputs[-1]
    assert mid.state == SupervisorState.RAMPING and 0.0 < mid.ramp_progress < 1.0
    out = h.step(0.4)
    assert out.state == SupervisorState.RUNNING and out.reason == "" and out.state_changed is False
    np.testing.assert_allclose(out.command, POLICY)
    steps = np.abs(np.diff(h.commands(), axis=0))
    assert steps.max() <= 2.0 * DT + 1e-12  # never faster than the velocity limit


def test_ramp_is_lengthened_for_distant_targets():
    h = Harness(ramp_duration_s=0.1, ramp_max_velocity_rad_s=0.5)
    h.policy = np.array([0.9, -0.2])  # 0.8 rad away: 1.6 s at 0.5 rad/s
    h.supervisor.enable(h.now)
    assert h.step(1.0).state == SupervisorState.RAMPING
    assert h.step(0.7).state == SupervisorState.RUNNING


def running(**overrides) -> Harness:
    h = Harness(**overrides)
    h.supervisor.enable(h.now)
    h.step(1.0)
    assert h.outputs[-1].state == SupervisorState.RUNNING
    return h


def test_stale_joint_states_hold_at_once_and_resume_by_ramping_from_the_measured_pose():
    h = running()
    h.joint_states_alive = False
    h.step(0.1)  # within the 0.1 s timeout: still running
    out = h.step(DT * 2)
    assert out.state == SupervisorState.HOLDING and out.active_faults == ("stale_joint_states",)
    np.testing.assert_allclose(out.command, POLICY)  # holds the pose commanded at fault onset
    h.measured = np.array([0.5, 0.5])  # the controller came back somewhere else
    h.joint_states_alive = True
    h.follow = False
    out = h.step()
    np.testing.assert_array_equal(out.command, h.measured)  # re-based: no jump back to POLICY
    h.follow = True
    out = h.step(0.15)
    assert out.state == SupervisorState.RAMPING
    h.step(0.7)
    assert h.outputs[-1].state == SupervisorState.RUNNING


def test_stale_goal_tokens_hold_the_onset_pose_not_the_sagging_measured_pose():
    h = running()
    h.goal_tokens_alive = False
    out = h.step(0.6)
    assert out.state == SupervisorState.HOLDING and "stale_goal_tokens" in out.reason
    h.follow = False
    h.measured = POLICY - 0.05  # sagging under gravity
    out = h.step(0.5)
    np.testing.assert_allclose(out.command, POLICY)
    h.goal_tokens_alive = True
    h.policy = POLICY + 0.1
    h.follow = True
    out = h.step(0.05)
    assert out.state == SupervisorState.HOLDING  # faults must stay clear for resume_after_s
    h.step(0.1)
    assert h.outputs[-1].state == SupervisorState.RAMPING
    h.step(1.0)
    assert h.outputs[-1].state == SupervisorState.RUNNING
    assert np.abs(np.diff(h.commands(), axis=0)).max() <= 2.0 * DT + 1e-12


def test_holding_too_long_disables():
    h = running()
    h.goal_tokens_alive = False
    h.step(0.6)
    out = h.step(2.1)
    assert out.state == SupervisorState.DISABLED and out.command is None
    assert "disabled after holding" in out.reason
    h.goal_tokens_alive = True
    assert h.step(0.5).state == SupervisorState.DISABLED  # never re-enables by itself


def chunk_status(now: float, accepted_at: float, horizon: int = 16):
    executor = ChunkExecutor(ExecutorConfig(joint_names=("a", "b")))
    executor.submit(Chunk(accepted_at - 0.1, 0.05, ("a", "b"), np.zeros((horizon, 2))), accepted_at)
    return executor.status(now)


def test_exhausted_executor_and_stale_chunks_hold():
    h = running(exhausted_timeout_s=0.1, chunk_timeout_s=1.0)
    out = h.step(executor_status=chunk_status(h.now, accepted_at=h.now - 0.8, horizon=10))
    assert out.state == SupervisorState.HOLDING and "executor_exhausted" in out.active_faults
    h = running(exhausted_timeout_s=0.0, chunk_timeout_s=1.0)
    out = h.step(executor_status=chunk_status(h.now, accepted_at=h.now - 1.1, horizon=40))
    assert out.active_faults == ("stale_chunk",)


def test_inference_overrun_holds_until_it_finishes():
    h = running(inference_timeout_s=0.3)
    h.supervisor.on_inference_started(h.now)
    assert h.step(0.2).state == SupervisorState.RUNNING
    out = h.step(0.2)
    assert out.state == SupervisorState.HOLDING and out.active_faults == ("inference_overrun",)
    h.supervisor.on_inference_finished(h.now)
    h.step(0.2)
    assert h.outputs[-1].state == SupervisorState.RAMPING


def test_invalid_policy_command_holds():
    h = running()
    h.policy = np.array([np.nan, 0.0])
    out = h.step()
    assert out.state == SupervisorState.HOLDING and out.active_faults == ("invalid_policy_command",)
    assert np.isfinite(out.command).all()


def test_invalid_joint_states_hold():
    h = running()
    h.measured = np.array([np.inf, 0.0])
    assert h.step().active_faults == ("invalid_joint_states",)


def test_controller_restart_re_ramps_from_the_measured_pose():
    h = running(restart_position_threshold_rad=0.3)
    h.follow = False
    h.joint_states_alive = False  # the controller restarts: its joint states stop first...
    assert h.step(0.2).state == SupervisorState.HOLDING
    h.joint_states_alive = True
    h.measured = np.array([-0.5, 0.5])  # ...and come back in another pose
    out = h.step()
    np.testing.assert_array_equal(out.command, h.measured)  # re-based: hold where the robot is
    assert h.supervisor.restarts_detected == 1 and h.supervisor.tracking_errors == 0
    h.follow = True
    assert h.step(0.2).state == SupervisorState.RAMPING  # faults clear -> ramp from there
    assert h.step(1.0).state == SupervisorState.RUNNING


def test_tracking_error_without_an_outage_walks_to_the_measured_pose_instead_of_jumping():
    h = running(restart_position_threshold_rad=0.3)
    last = h.outputs[-1].command.copy()
    h.follow = False
    blocked = last + np.array([-0.4, 0.0])  # the arm is blocked (or the controller stalls): not a restart
    h.measured = blocked.copy()
    assert h.step(0.2).state == SupervisorState.RUNNING  # a short stall: no hold yet
    out = h.step(0.35)
    assert out.state == SupervisorState.HOLDING
    assert any(f.startswith("tracking_error") for f in out.active_faults), out.active_faults
    assert h.supervisor.restarts_detected == 0 and h.supervisor.tracking_errors == 1
    onset = len(h.outputs)
    h.step(0.5)  # the command walks toward the measured pose within the limits (until the gap is closed)...
    gaps = [np.abs(o.command - blocked).max() for o in h.outputs[onset:]]
    assert min(gaps) <= 0.15 + 1e-9 and gaps[0] > 0.3
    steps = np.abs(np.diff(h.commands(), axis=0)).max()
    assert steps <= 2.0 * DT + 1e-9  # ...never faster than the velocity limit: no jump
    h.follow = True  # the gap is closed: resume through the ramp, then run
    assert h.step(0.3).state in (SupervisorState.RAMPING, SupervisorState.RUNNING)
    assert h.step(1.0).state == SupervisorState.RUNNING
    assert np.abs(np.diff(h.commands(), axis=0)).max() <= 2.0 * DT + 1e-9


def test_estop_latches_until_reset_and_then_needs_an_explicit_enable():
    h = running()
    assert h.supervisor.estop("operator").success
    out = h.step()
    assert out.state == SupervisorState.ESTOPPED and out.command is None and out.reason == "operator"
    refused = h.supervisor.enable(h.now)
    assert not refused.success and "reset_estop" in refused.message
    assert not h.supervisor.disable().success
    assert h.supervisor.reset_estop().state == SupervisorState.DISABLED
    assert h.step(0.5).state == SupervisorState.DISABLED
    h.measured = np.array([0.0, 0.4])  # moved by hand while stopped
    h.supervisor.enable(h.now)
    out = h.step()
    np.testing.assert_array_equal(out.command, h.measured)  # starts from where the robot is


def test_enable_without_joint_states_sends_nothing_then_disables():
    h = Harness()
    h.joint_states_alive = False
    h.supervisor.enable(h.now)
    out = h.step(0.5)
    assert out.state == SupervisorState.HOLDING and out.command is None
    assert h.step(2.0).state == SupervisorState.DISABLED


def test_dry_run_computes_but_sends_nothing():
    h = Harness(dry_run=True)
    h.follow = False
    h.supervisor.enable(h.now)
    out = h.step(1.0)
    assert out.state == SupervisorState.RUNNING and out.command is None
    np.testing.assert_allclose(out.computed_command, POLICY)
    h.measured = np.array([-0.9, 0.9])  # the robot does not follow in dry run: no restart alarm
    assert h.step().state == SupervisorState.RUNNING


def test_wild_policy_is_clamped_to_the_limits():
    h = running()
    h.policy = np.array([50.0, -50.0])
    h.step(2.0)
    commands = h.commands()
    assert commands.max() <= 1.0 and commands.min() >= -1.0
    assert h.outputs[-1].limited


@pytest.mark.parametrize("name", ["joint_state_timeout_s", "ramp_duration_s", "disable_after_s"])
def test_invalid_config_is_refused(name):
    with pytest.raises(ValueError, match=name):
        supervisor_settings(**{name: -1.0})
