"""A GR00T checkpoint as a library-level episode policy (`gr00t-eval --policy model`).

The policy runs in-process on the simulator with the clock stopped while it thinks: System 2
re-encodes the head camera + instruction every ``goal_period_s`` of simulated time, System 1
samples a chunk every ``replan_steps`` policy steps from the measured joint positions and the
latest goal, and one chunk step is commanded per policy step (the 20 Hz of the training data),
through the safety layer's joint limiter. With no inference latency, no stale goals and no CPU
contention, this measures what the weights can do; the node path (`--policy node`) measures the
same weights in the real-time stack.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from gr00t_description import RobotConfig
from gr00t_policy.joint_states import group_positions, ungroup_chunk
from gr00t_policy.policy import GoalCache, Gr00tPolicy
from gr00t_policy.safety.limits import LIMIT_POSITION, LIMIT_VELOCITY, JointLimiter, LimiterConfig
from gr00t_sim import GR1TabletopSim
from gr00t_sim.tasks import EpisodeSpec, SceneObservation


def measured_state(
    sim: GR1TabletopSim, robot: RobotConfig, state_groups: Sequence[tuple[str, int]]
) -> dict[str, np.ndarray]:
    """The simulator's current joint positions as a policy state input (group -> (dim,))."""
    return group_positions(robot.groups, dict(zip(sim.joint_names, sim.joint_state()[1], strict=True)), state_groups)


# How far the limiter must move a position/velocity-violating target for the step to count.
INTERVENTION_TOLERANCE_RAD = 0.02


class ModelEpisodePolicy:
    """`EpisodePolicy` (see `gr00t_sim.scripted.rollout`) around a :class:`Gr00tPolicy` on one sim."""

    def __init__(
        self,
        policy: Gr00tPolicy,
        sim: GR1TabletopSim,
        robot: RobotConfig,
        *,
        policy_period_s: float,
        goal_period_s: float = 0.1,
        replan_steps: int = 8,
        camera: str = "head",
        instruction: str | None = None,
        seed: int = 0,
    ) -> None:
        if not 1 <= replan_steps <= policy.action_horizon:
            raise ValueError(f"replan_steps must be in [1, {policy.action_horizon}], got {replan_steps}")
        if goal_period_s <= 0 or policy_period_s <= 0:
            raise ValueError("goal_period_s and policy_period_s must be > 0")
        self.policy = policy
        self.sim = sim
        self.robot = robot
        self.goal_period_s = goal_period_s
        self.policy_period_s = policy_period_s
        self.replan_steps = replan_steps
        self.camera = camera
        self.instruction_override = instruction
        self.seed = seed
        self.action_groups = policy.data_config.action_groups
        self.joint_names: tuple[str, ...] = tuple(robot.group_joints([g for g, _ in self.action_groups]))
        # One tick per policy step: the cap must not be below the step, or every step is slowed.
        self.limiter = JointLimiter.from_robot(robot, self.joint_names, LimiterConfig(max_dt_s=policy_period_s))
        self.limited_steps = 0  # policy steps whose command the limiter clamped (position/velocity)
        self._episode = 0
        self._instruction = ""
        self._goal: GoalCache | None = None
        self._goal_time = -np.inf
        self._chunk: np.ndarray | None = None
        self._chunk_step = 0
        self._generator = torch.Generator()

    def reset(self, spec: EpisodeSpec, qpos: np.ndarray) -> None:
        self._instruction = spec.instruction if self.instruction_override is None else self.instruction_override
        self._goal, self._goal_time, self._chunk, self._chunk_step = None, -np.inf, None, 0
        # Each episode draws its own noise, reproducibly (seed, episode index).
        self._generator.manual_seed(self.seed * 1_000_003 + self._episode)
        self._episode += 1
        measured = measured_state(self.sim, self.robot, self.action_groups)
        # Started one step back, so that the first policy step is already a limited tick.
        self.limiter.reset(
            np.concatenate([measured[g] for g, _ in self.action_groups]), self.sim.time - self.policy_period_s
        )

    def act(self, observation: SceneObservation) -> tuple[tuple[str, ...], np.ndarray]:
        now = observation.time_s
        if self._goal is None or now - self._goal_time >= self.goal_period_s - 1e-9:
            image = self.sim.render(self.camera)
            self._goal = self.policy.prepare_goal(self.policy.encode_goal([image], self._instruction))
            self._goal_time = now
        if self._chunk is None or self._chunk_step >= self.replan_steps:
            state = measured_state(self.sim, self.robot, self.policy.data_config.state_groups)
            chunk = self.policy.predict_chunk(state, self._goal, generator=self._generator)
            self._chunk, self._chunk_step = ungroup_chunk(chunk, self.action_groups), 0
        target = self._chunk[self._chunk_step]
        command = self.limiter.limit(target, now)
        self._chunk_step += 1
        clamped = self.limiter.last_clamped
        # As the scripted path counts them: steps out of the position window or over the velocity
        # limit, by more than INTERVENTION_TOLERANCE_RAD (a hand resting at its 0 rad stop gets
        # targets a few mrad past it every step; acceleration shaping of 20 Hz steps is the
        # limiter's normal work). The command sent is the limited one either way.
        changed = np.abs(command - target) > INTERVENTION_TOLERANCE_RAD
        if (changed & (clamped[LIMIT_POSITION] | clamped[LIMIT_VELOCITY])).any():
            self.limited_steps += 1
        return self.joint_names, command.copy()
