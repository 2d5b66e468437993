"""Teleoperation inputs mapped onto the robot's command stream (pure parts)."""

from gr00t_teleop.teleop.leader_mapping import LeaderMapping, LeaderMappingError

__all__ = ["LeaderMapping", "LeaderMappingError"]
