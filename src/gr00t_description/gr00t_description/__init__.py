"""Robot and stack descriptions for gr00t-ros: joints by name, groups, limits, topics, rates."""

from gr00t_description.config import (
    ConfigError,
    JointSpec,
    RespawnPolicy,
    RobotConfig,
    StackConfig,
    default_stack_path,
    load_robot,
    load_stack,
)

__all__ = [
    "ConfigError",
    "JointSpec",
    "RespawnPolicy",
    "RobotConfig",
    "StackConfig",
    "default_stack_path",
    "load_robot",
    "load_stack",
]
