"""Demonstration recording for gr00t-ros: the episode recorder (`recording/`, pure logic, and
`recorder_node.py`, its thin ROS node) and the bag → GR00T LeRobot converter (`conversion/`)."""
