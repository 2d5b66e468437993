"""System 1's runtime without ROS: a fake clock, a fake model, the real executor, supervisor and
input checks. What the node used to decide inside its callbacks is decided (and tested) here."""

from __future__ import annotations

import dataclasses
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from gr00t_description import load_stack
from gr00t_policy.execution.realtime_chunking import RtcGuidance
from gr00t_policy.model.embodiments import get_data_config
from gr00t_policy.runtime.config import System1Config
from gr00t_policy.runtime.goal_encoding import EncodedGoal, GoalEncoder
from gr00t_policy.runtime.system1 import (
    PlannedChunk,
    System1Runtime,
    rtc_prefix_by_group,
    supervisor_config,
)
from gr00t_policy.safety.supervisor import FAULT_STALE_GOAL_TOKENS, FAULT_STALE_JOINT_STATES, SupervisorState

TICK = 1.0 / 120.0
HORIZON = 16


class Events:
    """InputLog's interface, counting only."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.lines: list[str] = []

    def _add(self, source: str, message: str) -> None:
        self.counts[source] = self.counts.get(source, 0) + 1
        self.lines.append(message)

    error = warning = info = _add

    def snapshot(self) -> dict[str, int]:
        return dict(self.counts)


class FakePolicy:
    """The policy's interface: the stack's data config, a goal per (frames, instruction)."""

    model_id = "fake-model"
    action_horizon = HORIZON

    def __init__(self, data_config) -> None:
        self.data_config = data_config
        self.encoded: list[tuple[int, str]] = []  # (number of frames, instruction) per backbone run

    def encode_goal(self, images, instruction):
        self.encoded.append((len(images), instruction))
        tokens = torch.full((1, 4, 8), float(len(self.encoded)))
        return SimpleNamespace(tokens=tokens, mask=torch.ones(1, 4, dtype=bool))


class FakeBackend:
    """Chunks that hold the observed state; records the goals and RTC guidance it was given."""

    name = "fake"

    def __init__(self) -> None:
        self.prepared: list[torch.Tensor] = []
        self.guidance: list[dict] = []

    def prepare_goal(self, tokens, mask):
        self.prepared.append(tokens)
        return ("goal", len(self.prepared))

    def predict_chunk(self, state, goal, **guidance):
        self.guidance.append(guidance)
        return {group: np.tile(np.asarray(values, float), (HORIZON, 1)) for group, values in state.items()}


@pytest.fixture(scope="module")
def stack():
    return load_stack()


def make_runtime(stack, **overrides) -> tuple[System1Runtime, FakePolicy, FakeBackend, Events]:
    values = {**stack.nodes["system1"], "startup_ramp_s": 0.0, "ramp_max_velocity_rad_s": 0.0, **overrides}
    config = System1Config(**values)
    policy = FakePolicy(get_data_config(stack.data_config, stack.embodiment_tag))
    backend = FakeBackend()
    events = Events()
    runtime = System1Runtime(config, stack.robot, list(stack.camera_topics()), 120.0, policy, backend, events)
    return runtime, policy, backend, events


def goal_tokens(stamp: float, sequence: int = 0, instruction_id: str = "a"):
    return SimpleNamespace(
        tokens=torch.zeros(1, 4, 8),
        mask=torch.ones(1, 4, dtype=bool),
        sequence=sequence,
        stamp=stamp,
        instruction_id=instruction_id,
    )


class Robot:
    """A perfect position controller fed by the runtime's commands; the test is the clock."""

    def __init__(self, stack, runtime: System1Runtime, now: float = 100.0) -> None:
        self.runtime = runtime
        self.names = list(stack.robot.joint_names)
        self.positions = dict(zip(self.names, stack.robot.home_positions(), strict=True))
        self.now = now
        self.chunks: list[PlannedChunk] = []
        self.commands = 0
        self.status_changes: list[SupervisorState] = []

    def clock(self) -> float:
        return self.now

    def run(self, seconds: float, joint_states: bool = True, goals: bool = True, infer: bool = True) -> None:
        end = self.now + seconds
        sequence = 0
        while self.now < end:
            self.now += TICK
            if joint_states:
                self.runtime.on_joint_state(self.names, [self.positions[n] for n in self.names], self.now, self.now)
            if goals and int(self.now * 10) != int((self.now - TICK) * 10):  # 10 Hz
                sequence += 1
                self.runtime.on_goal_tokens(goal_tokens(self.now, sequence), self.now)
            if infer:
                planned = self.runtime.infer_once(self.clock)
                if isinstance(planned, PlannedChunk):
                    self.chunks.append(planned)
            tick = self.runtime.tick(self.now)
            if tick.publish_status:
                self.status_changes.append(self.runtime.state)
            if tick.command is not None:
                self.commands += 1
                self.positions.update(zip(self.runtime.action_joints, tick.command, strict=True))


def running(stack, **overrides):
    runtime, policy, backend, events = make_runtime(stack, **overrides)
    robot = Robot(stack, runtime)
    runtime.enable(robot.now, "test")
    robot.run(1.0)
    assert runtime.state == SupervisorState.RUNNING, runtime.reason
    return runtime, robot, policy, backend, events


def test_the_supervisor_is_built_from_the_nodes_parameters_only(stack):
    config = System1Config(**stack.nodes["system1"])
    settings = supervisor_config(config)
    for field in dataclasses.fields(settings):
        name = {"ramp_duration_s": "startup_ramp_s"}.get(field.name, field.name)
        assert getattr(settings, field.name) == getattr(config, name), field.name
    assert settings.disable_after_s == stack.nodes["system1"]["disable_after_s"]


def test_chunks_are_replanned_no_more_often_than_the_minimum_interval(stack):
    runtime, robot, _, _, _ = running(stack, replan_every_steps=0, replan_min_interval_s=0.1)
    before = len(robot.chunks)
    robot.run(1.0)
    starts = [p.chunk.start_time for p in robot.chunks[before:]]
    assert 8 <= len(starts) <= 11  # one per 0.1 s
    assert min(np.diff(starts)) >= 0.1 - TICK
    assert [p.chunk.sequence for p in robot.chunks] == list(range(len(robot.chunks)))
    assert robot.chunks[-1].goal_sequence is not None  # dual_rate: planned from System 2's goal


def test_replan_waits_for_the_configured_step_of_the_active_chunk(stack):
    runtime, robot, _, _, _ = running(stack, replan_every_steps=8, replan_min_interval_s=0.0, step_period_s=0.05)
    before = len(robot.chunks)
    robot.run(2.0)
    starts = [p.chunk.start_time for p in robot.chunks[before:]]
    assert min(np.diff(starts)) >= 8 * 0.05 - 2 * TICK  # step 8 of 0.05 s
    assert 4 <= len(starts) <= 6


def test_holds_when_goal_tokens_go_stale_and_resumes_when_they_return(stack):
    runtime, robot, _, _, _ = running(stack, goal_timeout_s=0.5)
    robot.run(0.4, goals=False)
    assert runtime.state == SupervisorState.RUNNING
    robot.run(0.3, goals=False)
    assert runtime.state == SupervisorState.HOLDING
    assert FAULT_STALE_GOAL_TOKENS in runtime.active_faults
    assert SupervisorState.HOLDING in robot.status_changes  # published at the change, not at the heartbeat
    chunks = len(robot.chunks)
    robot.run(1.0)
    assert runtime.state == SupervisorState.RUNNING and len(robot.chunks) > chunks


def test_holds_at_once_when_joint_states_go_stale_and_plans_nothing_blind(stack):
    runtime, robot, _, _, _ = running(stack)
    timeout = runtime.config.joint_state_timeout_s
    robot.run(timeout + 3 * TICK, joint_states=False)
    assert runtime.state == SupervisorState.HOLDING
    assert FAULT_STALE_JOINT_STATES in runtime.active_faults
    chunks = len(robot.chunks)
    robot.run(0.5, joint_states=False)
    assert len(robot.chunks) == chunks  # no state to plan from
    robot.run(1.5)
    assert runtime.state == SupervisorState.RUNNING


def test_no_chunk_is_planned_from_an_ended_instructions_goal(stack):
    runtime, robot, _, _, events = running(stack)
    runtime.end_instruction("a")
    assert not runtime.has_goal and runtime.instruction_ended("a")
    chunks = len(robot.chunks)
    robot.run(0.5)  # its tokens keep arriving: ignored
    assert len(robot.chunks) == chunks
    runtime.on_goal_tokens(goal_tokens(robot.now, instruction_id="b"), robot.now)
    robot.run(0.3, goals=False)
    assert len(robot.chunks) > chunks


def test_implausible_inputs_are_rejected_and_counted(stack):
    runtime, robot, _, _, events = running(stack)
    now = robot.now
    assert not runtime.on_frame_stamp("camera", now + 3600.0, now)  # never the newest frame
    runtime.on_goal_tokens(goal_tokens(now + 3600.0), now)
    runtime.on_joint_state(robot.names, [50.0] * len(robot.names), now, now)
    assert events.counts["rejected_camera_frames"] == 1
    assert events.counts["rejected_goal_tokens"] == 1
    assert events.counts["rejected_joint_states"] == 1
    robot.run(0.5)
    assert runtime.state == SupervisorState.RUNNING


def test_goal_tokens_lagging_the_camera_do_not_count_as_fresh(stack):
    runtime, robot, _, _, events = running(stack, goal_lag_timeout_s=0.5, goal_timeout_s=0.5)
    for _ in range(8):
        robot.run(0.1, goals=False)
        assert runtime.on_frame_stamp("camera", robot.now, robot.now)
        runtime.on_goal_tokens(goal_tokens(robot.now - 1.0), robot.now)  # from a frame 1 s older
    assert runtime.state == SupervisorState.HOLDING and FAULT_STALE_GOAL_TOKENS in runtime.active_faults
    assert events.counts["lagging_goal_tokens"] >= 5


def test_estop_latches_and_sends_nothing_until_reset_and_enable(stack):
    runtime, robot, _, _, _ = running(stack)
    assert runtime.estop("test").success
    commands = robot.commands
    robot.run(0.3)
    assert robot.commands == commands and runtime.state == SupervisorState.ESTOPPED
    assert not runtime.enable(robot.now, "again").success
    assert runtime.reset_estop().success and runtime.state == SupervisorState.DISABLED
    runtime.enable(robot.now, "again")
    robot.run(1.0)
    assert runtime.state == SupervisorState.RUNNING


def test_fused_mode_runs_system2s_goal_computation_before_each_chunk(stack):
    runtime, policy, backend, events = make_runtime(stack, mode="fused", replan_min_interval_s=0.1)
    encoder = runtime.goal_encoder
    assert isinstance(encoder, GoalEncoder)  # the class System 2 runs, not a copy
    robot = Robot(stack, runtime)
    runtime.enable(robot.now, "test")
    robot.run(0.5, goals=False)
    assert robot.chunks == [] and policy.encoded == []  # no instruction, no frame: nothing to plan from
    assert encoder.set_instruction("pick up the red cube", "fused", "instruction_topic")[0]
    for _ in range(10):
        runtime.on_camera_frame("ego_view", robot.now, robot.now, lambda: np.zeros((8, 8, 3), np.uint8))
        robot.run(0.1, goals=False)
    assert runtime.state == SupervisorState.RUNNING, runtime.reason
    assert len(robot.chunks) >= 5 and len(policy.encoded) == len(backend.prepared) >= len(robot.chunks)
    assert policy.encoded[-1] == (1, "pick up the red cube")
    assert robot.chunks[-1].goal_sequence is None  # no System 2 goal
    # System 2's frame rule: frames older than the goal watchdog's limit make no goal; the last goal
    # (from a frame that old) then ages out too -> hold.
    robot.run(2 * runtime.config.goal_timeout_s + 0.3, goals=False)
    assert runtime.state == SupervisorState.HOLDING and FAULT_STALE_GOAL_TOKENS in runtime.active_faults
    # Goal tokens from a System 2 are not used in fused mode.
    runtime.on_goal_tokens(goal_tokens(robot.now), robot.now)
    assert not runtime.has_goal


def test_goal_encoder_rules_are_system2s(stack):
    policy = FakePolicy(get_data_config(stack.data_config, stack.embodiment_tag))
    from gr00t_policy.safety.input_checks import StampWindow

    events = Events()
    encoder = GoalEncoder(policy, ["ego_view"], StampWindow(1.0, 1.5), 0.5, 20, events)
    frame = np.zeros((8, 8, 3), np.uint8)
    assert encoder.encode(10.0) == "no instruction"
    assert not encoder.set_instruction("x" * 100, "", "service")[0]  # over 20 bytes
    accepted, _, first = encoder.set_instruction("wave", "first", "service")
    assert accepted and first == "first"
    assert encoder.encode(10.0).startswith("waiting for camera")
    assert not encoder.add_frame("ego_view", 3610.0, 10.0, lambda: frame)  # an hour ahead: not converted
    assert encoder.add_frame("ego_view", 10.0, 10.0, lambda: frame)
    goal = encoder.encode(10.2)
    assert isinstance(goal, EncodedGoal) and goal.instruction_id == "first" and goal.stamp == 10.0
    assert "older than" in encoder.encode(10.6)
    encoder.set_instruction("reach", "second", "service")
    assert encoder.set_instruction("", "first", "service") == (
        True,
        "instruction first is no longer in effect",
        "second",
    )
    assert encoder.instruction == "reach"
    assert encoder.set_instruction("", "second", "service") == (True, "instruction cleared", "")


def test_rtc_guidance_is_remapped_from_executor_columns_to_policy_groups():
    groups = {"arm": ("a1", "a2"), "hand": ("h1",)}
    # Executor columns in another order than the groups list their joints.
    guidance = RtcGuidance(
        start_time=0.0,
        step_period=0.05,
        joint_names=("h1", "a2", "a1"),
        prefix_positions=np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]),
        guidance_weights=np.array([1.0, 0.5]),
        frozen_steps=1,
        overlap_steps=2,
    )
    remapped = rtc_prefix_by_group(guidance, groups, [("arm", 2), ("hand", 1)])
    np.testing.assert_array_equal(remapped["prefix"]["arm"], [[3.0, 2.0], [6.0, 5.0]])
    np.testing.assert_array_equal(remapped["prefix"]["hand"], [[1.0], [4.0]])
    np.testing.assert_array_equal(remapped["prefix_weights"], [1.0, 0.5])


def test_rtc_guides_every_chunk_after_the_first(stack):
    runtime, robot, _, backend, _ = running(stack, chunk_switch="rtc")
    assert backend.guidance[0] == {}  # nothing to continue yet
    guided = backend.guidance[1:]
    assert guided and all(set(g) == {"prefix", "prefix_weights"} for g in guided)
    prefix = guided[-1]["prefix"]
    assert {g for g, _ in runtime.action_groups} == set(prefix)
    assert all(prefix[g].shape == (HORIZON, d) for g, d in runtime.action_groups)


def test_status_and_diagnostics_report_the_runtime(stack):
    runtime, robot, _, _, events = running(stack)
    snapshot = runtime.snapshot(robot.now)
    assert snapshot.state == SupervisorState.RUNNING and snapshot.active_faults == ()
    assert snapshot.chunks_executed == len(robot.chunks) > 0
    assert snapshot.dry_run is runtime.config.dry_run
    assert 100.0 <= snapshot.command_rate_hz <= 125.0
    level, message, values = runtime.diagnostics(robot.now)
    assert level == 0 and message.startswith("running")
    assert values["chunks"] == len(robot.chunks) and values["backend"] == "fake" and values["mode"] == "dual_rate"
    assert values["target_command_rate_hz"] == 120.0 and values["chunk_latency_p50_ms"] >= 0.0
    runtime.on_joint_state(robot.names, [np.nan] * len(robot.names), robot.now, robot.now)
    assert runtime.diagnostics(robot.now)[2]["rejected_joint_states"] == 1
    runtime.disable("test")
    assert runtime.diagnostics(robot.now)[0] == 1
    runtime.estop("test")
    level, message, _ = runtime.diagnostics(robot.now)
    assert level == 2 and message == "estopped: test"


def test_dry_run_computes_but_sends_nothing(stack):
    runtime, policy, backend, events = make_runtime(stack, dry_run=True)
    robot = Robot(stack, runtime)
    runtime.enable(robot.now, "test")
    robot.run(1.0)
    assert robot.commands == 0 and len(robot.chunks) > 0 and runtime.snapshot(robot.now).dry_run


def test_the_runtime_needs_no_ros():
    """Importing the runtime (in a fresh interpreter: other tests import rclpy) loads no rclpy."""
    import subprocess

    code = (
        "import sys, gr00t_policy.runtime.system1, gr00t_policy.runtime.loops, gr00t_policy.runtime.config; "
        "print('rclpy' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
