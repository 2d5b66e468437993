"""Bring-up of the gr00t-ros graph: one graph description used by the ROS launch files and by the
`gr00t-launch` runner (for machines without `ros2 launch`)."""
