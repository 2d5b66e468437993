"""The gr00t-ros policy stack (System 2, System 1 + executor/safety) for a real robot.

The robot driver (joint_states, camera images, consuming joint_command) runs separately. System 1
starts in dry_run (chunks published, no commands sent) unless `dry_run:=false` is given.

    ros2 launch gr00t_bringup robot.launch.py model:=/models/GR00T-N1-2B dry_run:=false
"""

from gr00t_bringup.launch_support import generate_profile_launch_description


def generate_launch_description():
    return generate_profile_launch_description("robot")
