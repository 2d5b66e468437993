"""Scripted demonstrator for the tabletop tasks: palm-position differential IK on the GR-1 arms,
driven by privileged scene state, and a library-level episode loop (`rollout`)."""

from gr00t_sim.scripted.demonstrator import COMMANDED_GROUPS, ScriptedDemonstrator, ScriptedDemonstratorConfig
from gr00t_sim.scripted.ik import ArmIK, DifferentialIKConfig
from gr00t_sim.scripted.rollout import EpisodePolicy, RolloutResult, rollout

__all__ = [
    "COMMANDED_GROUPS",
    "ArmIK",
    "DifferentialIKConfig",
    "EpisodePolicy",
    "RolloutResult",
    "ScriptedDemonstrator",
    "ScriptedDemonstratorConfig",
    "rollout",
]
