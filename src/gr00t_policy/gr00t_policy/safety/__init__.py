"""Safety layer between the policy and the controller (pure numpy, time passed in): per-joint
position / velocity / acceleration limits and the enable / ramp / watchdog / e-stop state machine."""

from .limits import LIMIT_KINDS, JointLimiter, JointLimits, LimiterConfig
from .supervisor import (
    CommandResult,
    SafetySupervisor,
    SupervisorConfig,
    SupervisorState,
    TickOutput,
)

__all__ = [
    "LIMIT_KINDS",
    "CommandResult",
    "JointLimiter",
    "JointLimits",
    "LimiterConfig",
    "SafetySupervisor",
    "SupervisorConfig",
    "SupervisorState",
    "TickOutput",
]
