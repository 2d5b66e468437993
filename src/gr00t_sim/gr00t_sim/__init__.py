"""MuJoCo simulation of the Fourier GR1T2 upper body at a table, for gr00t-ros.

The library (`GR1TabletopSim`, `SimConfig`, ...) imports no ROS. `gr00t_sim.runtime.SimRuntime` runs
it (paced physics, camera thread, resets, episodes) without ROS; `gr00t_sim.sim_node` wires that
to topics and services. Clients of the sim node (evaluation, launch, demonstrations) use
`gr00t_sim.sim_interfaces` (names, the SceneState parser, the ResetEpisode client), never the node.
`gr00t_sim.scripted_teleop` / `scripted_teleop_node` are the IK demonstrator as a teleop input.
"""

from gr00t_sim.configuration_sim import DEFAULT_OBJECTS, SceneObjectSpec, SimConfig, default_cache_dir
from gr00t_sim.joint_targets import JointTargetMap
from gr00t_sim.scene import HEAD_CAMERA, OVERVIEW_CAMERA
from gr00t_sim.tabletop_sim import GR1TabletopSim
from gr00t_sim.trajectory import LinearTrajectory

__all__ = [
    "DEFAULT_OBJECTS",
    "GR1TabletopSim",
    "HEAD_CAMERA",
    "JointTargetMap",
    "LinearTrajectory",
    "OVERVIEW_CAMERA",
    "SceneObjectSpec",
    "SimConfig",
    "default_cache_dir",
]
