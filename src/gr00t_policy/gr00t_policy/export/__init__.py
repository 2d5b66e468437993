"""Compile path of System 1: ONNX export of the action head and the ONNX cache used by the backends."""

from .onnx_export import (
    ALL_GRAPHS,
    DENOISE_STEP,
    GOAL_KV,
    SAMPLE_CHUNK,
    STATE_ENCODER,
    ExportManifest,
    check_graphs,
    export_action_head,
    export_policy,
    validate_export,
)

__all__ = [
    "ALL_GRAPHS",
    "DENOISE_STEP",
    "GOAL_KV",
    "SAMPLE_CHUNK",
    "STATE_ENCODER",
    "ExportManifest",
    "check_graphs",
    "export_action_head",
    "export_policy",
    "validate_export",
]
