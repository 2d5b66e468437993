"""The gr00t-ros stack on the simulated GR-1 (MuJoCo): sim, System 2, System 1 (+ executor/safety).

    ros2 launch gr00t_bringup sim.launch.py instruction:="pick up the red cube" backend:=torch

The same graph runs without a ROS install via `gr00t-launch sim` (both use gr00t_bringup.graph).
`--show-args` lists the arguments; docs/launch.md explains them and the node-exit policy.
"""

from gr00t_bringup.launch_support import generate_profile_launch_description


def generate_launch_description():
    return generate_profile_launch_description("sim")
