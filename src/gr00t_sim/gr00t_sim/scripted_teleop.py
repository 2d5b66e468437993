"""The scripted teleoperator without ROS: the tabletop tasks' IK demonstrator fed by the sim's
privileged scene state and the measured joint states, producing one set of leader targets per
policy step. `gr00t_sim.scripted_teleop_node` wires it to topics and services.

Input it refuses (ValueError, nothing changes): scene states with non-finite positions or positions
further than MAX_SCENE_DISTANCE_M from the robot's base, joint states with mismatched sizes, NaN/inf
or positions far outside the URDF range, episodes with an oversize, undecodable or unknown task name.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gr00t_description import RobotConfig
from gr00t_description.ros.parameters import parameter
from gr00t_sim.configuration_sim import SimConfig
from gr00t_sim.scripted import ScriptedDemonstrator, ScriptedDemonstratorConfig
from gr00t_sim.sim_interfaces import checked_task_name
from gr00t_sim.tabletop_sim import GR1TabletopSim
from gr00t_sim.tasks import EpisodeSpec, SceneObservation, TableLayout, get_task

# Scene positions further than this from the robot's base (m) are not a tabletop scene: a bad
# publisher, not an object to reach for (the IK would chase it).
MAX_SCENE_DISTANCE_M = 5.0
# Measured joint positions this far outside the URDF range (rad) are a broken joint_states
# publisher; within it, the encoders' overshoot at a stop.
JOINT_RANGE_TOLERANCE_RAD = 0.2


@dataclass(frozen=True)
class ScriptedTeleopConfig:
    """The scripted teleop node's parameters (`nodes.scripted_teleop` of the stack YAML)."""

    policy_period_s: float = field(metadata=parameter("one set of leader targets per this many seconds", 0.001, 1.0))
    scene_state_timeout_s: float = field(
        metadata=parameter("no scene state for this long, s -> publish nothing (the leader teleop holds)", 0.01, 60.0)
    )
    joint_state_timeout_s: float = field(
        metadata=parameter("~/start needs measured joint states at most this old, s (the IK starts there)", 0.01, 60.0)
    )
    recovery_probability: float = field(
        metadata=parameter(
            "share of reach/touch episodes that first come down beside the target, then correct", 0.0, 1.0
        )
    )


def checked_episode(task: str, seed: int) -> tuple[str, int]:
    """(task, seed) of a StartDemonstration request; ValueError with the reason otherwise."""
    get_task(checked_task_name(task))  # raises with the available names
    return task, int(seed)


@dataclass
class _State:
    scene: SceneObservation | None = None
    scene_received: float = -1.0  # monotonic s; -1 = never
    joints: dict[str, float] = field(default_factory=dict)
    joints_received: float = -1.0
    spec: EpisodeSpec | None = None
    steps: int = 0


class ScriptedTeleop:
    """The demonstrator with its inputs' freshness. Thread-safe: inputs, services and the step may
    come from different threads. Times (`now`) are monotonic seconds from the caller."""

    def __init__(self, robot: RobotConfig, sim_config: SimConfig, config: ScriptedTeleopConfig) -> None:
        self.config = config
        self.layout = TableLayout.from_sim_config(sim_config)
        # The kinematic model only: no renderer is created, the model is never stepped.
        self._kinematics = GR1TabletopSim(robot, sim_config)
        self.demonstrator = ScriptedDemonstrator.for_sim(
            self._kinematics,
            ScriptedDemonstratorConfig(
                policy_period_s=config.policy_period_s, recovery_probability=config.recovery_probability
            ),
        )
        model = self._kinematics.model
        self._qpos_adr = {n: int(model.jnt_qposadr[model.joint(n).id]) for n in robot.joint_names}
        tolerance = JOINT_RANGE_TOLERANCE_RAD
        self._joint_range = {
            name: (spec.urdf_lower - tolerance, spec.urdf_upper + tolerance) for name, spec in robot.joints.items()
        }
        self._lock = threading.Lock()
        self._state = _State()

    # ------------------------------------------------------------------ inputs
    def observe_scene(self, observation: SceneObservation, now: float) -> None:
        positions = (*observation.object_positions.values(), *observation.hand_positions.values())
        if not all(np.isfinite(v).all() and np.abs(v).max() <= MAX_SCENE_DISTANCE_M for v in positions):
            raise ValueError(f"non-finite positions or positions beyond {MAX_SCENE_DISTANCE_M:g} m")
        with self._lock:
            self._state.scene, self._state.scene_received = observation, now

    def observe_joints(self, names: list[str], positions: list[float], now: float) -> None:
        if len(names) != len(positions) or not np.isfinite(positions).all():
            raise ValueError("names/positions mismatch or non-finite")
        known = {n: float(v) for n, v in zip(names, positions) if n in self._joint_range}
        if outside := [n for n, v in known.items() if not self._joint_range[n][0] <= v <= self._joint_range[n][1]]:
            raise ValueError(f"outside the joint range: {outside[:3]}")
        with self._lock:
            self._state.joints.update(known)
            self._state.joints_received = now

    def joint_position(self, name: str) -> float | None:
        """The latest accepted measured position of joint `name` (None before any)."""
        with self._lock:
            return self._state.joints.get(name)

    # ------------------------------------------------------------------ episodes
    def start(self, task: str, seed: int, now: float) -> EpisodeSpec:
        """Solve episode (task, seed) from the measured pose; ValueError: refused (why)."""
        task_name, seed = checked_episode(task, seed)
        with self._lock:
            state = self._state
            if state.joints_received < 0 or now - state.joints_received > self.config.joint_state_timeout_s:
                age = now - state.joints_received if state.joints_received >= 0 else float("inf")
                raise ValueError(f"no fresh joint_states (newest {age:.2f} s old; is the sim running?)")
            missing = [n for n in self.demonstrator.joint_names if n not in state.joints]
            if missing:
                raise ValueError(f"joint_states lack {missing[:3]}")
            spec = get_task(task_name).sample(seed, self.layout)
            qpos = self._kinematics.data.qpos.copy()
            for name, value in state.joints.items():
                if name in self._qpos_adr:
                    qpos[self._qpos_adr[name]] = value
            self.demonstrator.reset(spec, qpos)
            state.spec, state.steps = spec, 0
            state.scene = None  # act on scene states of this episode only
        return spec

    def stop(self) -> tuple[EpisodeSpec | None, int]:
        """Stop demonstrating; (the episode that ran or None, steps taken)."""
        with self._lock:
            was, steps = self._state.spec, self._state.steps
            self._state.spec = None
        return was, steps

    def step(self, now: float) -> tuple[list[str], list[float]] | None:
        """The leader targets of this policy step; None when idle or the scene state is stale."""
        with self._lock:
            state = self._state
            if state.spec is None or self._scene_stale(now):
                return None
            names, positions = self.demonstrator.act(state.scene)
            state.steps += 1
        return list(names), [float(v) for v in positions]

    def status(self, now: float) -> dict[str, Any]:
        """episode (or None), steps, scene_age_s, stale (demonstrating on a stale scene)."""
        with self._lock:
            state = self._state
            age = now - state.scene_received if state.scene_received >= 0 else float("inf")
            return {
                "episode": state.spec,
                "steps": state.steps,
                "scene_age_s": age,
                "stale": state.spec is not None and age > self.config.scene_state_timeout_s,
            }

    def waiting_for_scene(self, now: float) -> bool:
        """Demonstrating, but without a fresh scene state."""
        with self._lock:
            return self._state.spec is not None and self._scene_stale(now)

    def _scene_stale(self, now: float) -> bool:
        state = self._state
        return state.scene is None or now - state.scene_received > self.config.scene_state_timeout_s

    def close(self) -> None:
        self._kinematics.close()


__all__ = [
    "JOINT_RANGE_TOLERANCE_RAD",
    "MAX_SCENE_DISTANCE_M",
    "ScriptedTeleop",
    "ScriptedTeleopConfig",
    "checked_episode",
]
