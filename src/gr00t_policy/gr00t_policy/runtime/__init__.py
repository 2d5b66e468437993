"""The policy nodes' logic without ROS: their parameters (``config``), System 2's goal computation
(``goal_encoding``, shared with System 1's fused mode) and System 1's runtime (``system1``)."""
