"""Run one task episode on `GR1TabletopSim` with a library-level policy (no ROS).

Used by the tests, `gr00t-eval --policy scripted`, and data generation. The loop is the real
stack's timing: one set of position targets per policy step, `physics_hz * policy_period_s`
physics steps in between, the outcome judged after every policy step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from gr00t_sim.tabletop_sim import GR1TabletopSim
from gr00t_sim.tasks.core import EpisodeOutcome, EpisodeSpec, SceneObservation
from gr00t_sim.tasks.sim_binding import apply_episode, layout_of, observe
from gr00t_sim.tasks.suite import TabletopTask


class EpisodePolicy(Protocol):
    """What `rollout` drives: the scripted demonstrator, or any policy wrapped to this shape."""

    def reset(self, spec: EpisodeSpec, qpos: np.ndarray) -> None: ...

    def act(self, observation: SceneObservation) -> tuple[tuple[str, ...], np.ndarray]: ...


@dataclass
class RolloutResult:
    """An episode's outcome and what was commanded (one row per policy step, in `joint_names` order)."""

    outcome: EpisodeOutcome
    joint_names: tuple[str, ...]
    commands: np.ndarray  # (steps, joints) rad
    frames: list[tuple[float, np.ndarray]] = field(default_factory=list)  # (episode time s, RGB)


# frame_times(spec) -> episode times (s) at which to render a frame; rendering costs ~15 ms each.
FrameSchedule = Callable[[EpisodeSpec], list[float]]


def rollout(
    sim: GR1TabletopSim,
    task: TabletopTask,
    spec: EpisodeSpec,
    policy: EpisodePolicy,
    policy_period_s: float = 0.05,
    stop_on_success: bool = True,
    settle_after_success_s: float = 0.0,
    frame_times: list[float] | None = None,
    camera: str = "head",
) -> RolloutResult:
    """Play `spec` until success (plus `settle_after_success_s`) or its `max_duration_s`.

    `frame_times` (episode seconds) ask for rendered frames; a frame is also taken at the end.
    """
    physics_steps = max(1, round(policy_period_s / sim.timestep))
    apply_episode(sim, spec)
    tracker = task.tracker(spec, layout_of(sim))
    policy.reset(spec, sim.data.qpos.copy())
    start = sim.time
    pending_frames = sorted(frame_times or [])
    frames: list[tuple[float, np.ndarray]] = []
    commands: list[np.ndarray] = []
    names: tuple[str, ...] = ()
    tracker.update(observe(sim))
    max_steps = int(round(spec.max_duration_s / policy_period_s))
    for _ in range(max_steps):
        observation = observe(sim)
        names, positions = policy.act(observation)
        commands.append(np.asarray(positions, dtype=np.float64))
        sim.set_position_targets(names, positions)
        sim.step(physics_steps)
        elapsed = sim.time - start
        while pending_frames and pending_frames[0] <= elapsed:
            frames.append((elapsed, sim.render(camera)))
            pending_frames.pop(0)
        tracker.update(observe(sim))
        if (
            stop_on_success
            and tracker.succeeded
            and tracker.elapsed_s >= tracker.success_time_s + settle_after_success_s
        ):
            break
    if frame_times is not None:
        frames.append((sim.time - start, sim.render(camera)))
    return RolloutResult(
        outcome=tracker.outcome(),
        joint_names=names,
        commands=np.array(commands) if commands else np.zeros((0, len(names))),
        frames=frames,
    )
