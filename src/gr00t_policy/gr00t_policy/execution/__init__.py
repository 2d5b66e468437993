"""Chunk execution (pure numpy, time passed in): timestamped chunks, interpolation, chunk switching
(replace / blend), real-time-chunking guidance targets and the replanning schedule."""

from .chunk import Chunk, ChunkRejected, ChunkTrajectory, validate_chunk
from .chunk_executor import (
    BLEND_WEIGHTINGS,
    SWITCH_MODES,
    ChunkAcceptance,
    ChunkExecutor,
    ExecutorConfig,
    ExecutorStatus,
    blend_weight_function,
)
from .realtime_chunking import (
    GUIDANCE_SCHEDULES,
    RtcGuidance,
    build_rtc_guidance,
    rtc_guidance_for_chunk,
    rtc_guidance_weights,
)
from .replanning import InferenceDelayEstimator, ReplanConfig, ReplanScheduler

__all__ = [
    "BLEND_WEIGHTINGS",
    "GUIDANCE_SCHEDULES",
    "SWITCH_MODES",
    "Chunk",
    "ChunkAcceptance",
    "ChunkExecutor",
    "ChunkRejected",
    "ChunkTrajectory",
    "ExecutorConfig",
    "ExecutorStatus",
    "InferenceDelayEstimator",
    "ReplanConfig",
    "ReplanScheduler",
    "RtcGuidance",
    "blend_weight_function",
    "build_rtc_guidance",
    "rtc_guidance_for_chunk",
    "rtc_guidance_weights",
    "validate_chunk",
]
