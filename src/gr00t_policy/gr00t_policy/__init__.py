"""GR00T N1 policy for ROS 2: the model library (`model/`, `policy.py`), chunk execution and safety
(`execution/`, `safety/`, pure logic) and thin ROS nodes (`ros/`)."""
