"""The supervisor settings the safety tests start from (SupervisorConfig has no defaults): short
ramps and timeouts so that a test drives every transition in a few simulated seconds."""

from __future__ import annotations

from typing import Any

from gr00t_policy.safety import SupervisorConfig

TEST_SETTINGS: dict[str, Any] = dict(
    ramp_duration_s=0.5,
    ramp_max_velocity_rad_s=0.0,
    joint_state_timeout_s=0.1,
    goal_timeout_s=0.5,
    chunk_timeout_s=1.0,
    exhausted_timeout_s=0.1,
    inference_timeout_s=1.0,
    disable_after_s=2.0,
    resume_after_s=0.1,
    restart_position_threshold_rad=0.3,
    tracking_error_timeout_s=0.5,
    dry_run=False,
)


def supervisor_settings(**overrides: Any) -> SupervisorConfig:
    return SupervisorConfig(**{**TEST_SETTINGS, **overrides})
