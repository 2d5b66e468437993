"""The QoS profiles of the gr00t topics: one name per choice, used by every node and tool."""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

# Cameras and joint states in: best effort matches both best-effort drivers and reliable publishers.
SENSOR_QOS = qos_profile_sensor_data
# Commands, chunks, goal tokens out: reliable, latest wins; staleness is judged from header stamps.
LATEST_RELIABLE_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE)
# Instructions, controller status, the robot description: late joiners get the last value.
LATCHED_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)
