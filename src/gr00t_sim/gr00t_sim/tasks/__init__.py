"""GR-1 tabletop task suite: seeded episodes, instructions and success criteria from scene state.

`core` and `suite` are pure Python + NumPy; `sim_binding` applies episodes to `GR1TabletopSim`.
"""

from gr00t_sim.tasks.core import (
    EVAL_SEED_START,
    HANDS,
    EpisodeOutcome,
    EpisodeSpec,
    EpisodeTracker,
    ObjectPlacement,
    SceneObservation,
    TableRegion,
    TouchGeometry,
    display_name,
    eval_seeds,
    train_seeds,
)
from gr00t_sim.tasks.suite import (
    TASKS,
    PushToRegionTask,
    ReachTask,
    TableLayout,
    TabletopTask,
    TouchOneOfTwoTask,
    get_task,
)

__all__ = [
    "EVAL_SEED_START",
    "HANDS",
    "TASKS",
    "EpisodeOutcome",
    "EpisodeSpec",
    "EpisodeTracker",
    "ObjectPlacement",
    "PushToRegionTask",
    "ReachTask",
    "SceneObservation",
    "TableLayout",
    "TableRegion",
    "TabletopTask",
    "TouchGeometry",
    "TouchOneOfTwoTask",
    "display_name",
    "eval_seeds",
    "get_task",
    "train_seeds",
]
