"""Apply task episodes to `GR1TabletopSim` and read the scene state the tasks judge.

MuJoCo-side glue only (no ROS); the task logic itself stays in `core` / `suite`.
"""

from __future__ import annotations

import numpy as np

from gr00t_sim.tabletop_sim import GR1TabletopSim
from gr00t_sim.tasks.core import EpisodeSpec, SceneObservation
from gr00t_sim.tasks.suite import TableLayout

SETTLE_STEPS = 50  # physics steps after placing the objects, so they rest on the table when rendered


def layout_of(sim: GR1TabletopSim) -> TableLayout:
    return TableLayout.from_sim_config(sim.config)


def apply_episode(sim: GR1TabletopSim, spec: EpisodeSpec) -> None:
    """Reset to the home pose and place every object where the episode says."""
    missing = set(sim.object_names) - set(spec.placements)
    if missing:
        raise ValueError(f"episode {spec.task}/{spec.seed} does not place {sorted(missing)}")
    sim.reset(spec.seed)
    for name, placement in spec.placements.items():
        sim.set_object_pose(name, placement.position, placement.yaw)


def render_episode_start(sim: GR1TabletopSim, spec: EpisodeSpec, camera: str = "head") -> np.ndarray:
    """Place ``spec``'s scene, let the objects settle, and return the camera image (HxWx3 RGB)."""
    apply_episode(sim, spec)
    sim.step(SETTLE_STEPS)
    return sim.render(camera)


def observe(sim: GR1TabletopSim) -> SceneObservation:
    return SceneObservation(
        time_s=sim.time, object_positions=sim.object_positions(), hand_positions=sim.hand_positions()
    )
