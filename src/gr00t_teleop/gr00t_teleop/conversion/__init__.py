"""Episode bags → GR00T LeRobot v2 dataset (`gr00t-convert`): reading with rosbags, causal
resampling onto the dataset clock, MP4 encoding, metadata, statistics and validation."""

from .converter import ConversionConfig, ConversionError, ConversionReport, convert
from .lerobot_dataset import DatasetValidationError, validate_dataset

__all__ = [
    "ConversionConfig",
    "ConversionError",
    "ConversionReport",
    "DatasetValidationError",
    "convert",
    "validate_dataset",
]
