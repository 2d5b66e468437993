"""Thin ROS 2 wrappers around the pure logic of gr00t_policy."""
