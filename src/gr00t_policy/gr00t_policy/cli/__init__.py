"""Command-line tools of gr00t_policy (pure Python, no ROS)."""
