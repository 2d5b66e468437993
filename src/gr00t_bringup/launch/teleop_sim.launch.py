"""Teleoperation on the simulated GR-1 with the episode recorder (demonstrations, no policy):
sim, leader teleop (the safety layer), recorder.

    ros2 launch gr00t_bringup teleop_sim.launch.py

Drive it with any leader JointState source (an exoskeleton, `joy_teleop_node`), or record
synthetic demonstrations with `gr00t-record-demos`, which starts this graph plus the scripted
teleop node. The same graph as gr00t_bringup.graph's `teleop_sim` profile (`gr00t-launch teleop_sim`).
`--show-args` lists the arguments; docs/launch.md explains them and the node-exit policy.
"""

from gr00t_bringup.launch_support import generate_profile_launch_description


def generate_launch_description():
    return generate_profile_launch_description("teleop_sim")
