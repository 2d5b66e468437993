"""The gr00t-ros policy stack on the real GR-1: the GR-1 bridge, System 2, System 1 (+ executor/safety).

Loads the robot stack (`stack:=gr1t2_robot` by default; never the simulator's). System 1 and the
bridge start in dry run (chunks published, no commands sent) unless `dry_run:=false` is given, and
System 1 waits for an explicit enable (gr00t/set_enabled) either way:

    ros2 launch gr00t_bringup robot.launch.py model:=/models/GR00T-N1-2B dry_run:=false

`--show-args` lists the arguments; docs/launch.md explains them and the node-exit policy.
"""

from gr00t_bringup.launch_support import generate_profile_launch_description


def generate_launch_description():
    return generate_profile_launch_description("robot")
