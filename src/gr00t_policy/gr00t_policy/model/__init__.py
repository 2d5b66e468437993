"""GR00T N1 in PyTorch: configs, modules, processing, embodiments and checkpoint I/O (no ROS)."""

from .checkpoint import CheckpointError, CheckpointMismatchError, KeyReport, load_checkpoint, save_checkpoint
from .configuration_gr00t_n1 import (
    ActionHeadConfig,
    BackboneConfig,
    ConfigError,
    DiTConfig,
    Gr00tN1Config,
    LanguageModelConfig,
    VisionTowerConfig,
    get_preset,
    preset_names,
)
from .embodiments import DataConfig, embodiment_id, get_data_config, make_metadata
from .modeling_action_head import DenoisingPlan, FlowMatchingActionHead, GoalKV
from .modeling_backbone import EagleBackbone
from .modeling_gr00t_n1 import Gr00tN1Model
from .processing_gr00t_n1 import Gr00tN1Processor, PromptTokenizer, build_prompt

__all__ = [
    "ActionHeadConfig",
    "BackboneConfig",
    "CheckpointError",
    "CheckpointMismatchError",
    "ConfigError",
    "DataConfig",
    "DenoisingPlan",
    "DiTConfig",
    "EagleBackbone",
    "FlowMatchingActionHead",
    "GoalKV",
    "Gr00tN1Config",
    "Gr00tN1Model",
    "Gr00tN1Processor",
    "KeyReport",
    "LanguageModelConfig",
    "PromptTokenizer",
    "VisionTowerConfig",
    "build_prompt",
    "embodiment_id",
    "get_data_config",
    "get_preset",
    "load_checkpoint",
    "make_metadata",
    "preset_names",
    "save_checkpoint",
]
