"""Episode recording without ROS: state machine, rosbag2 MCAP bag writer, writer thread, recovery."""

from .async_writer import AsyncBagWriter, WriterQueueConfig, WriterResult, disk_free_bytes
from .bag_metadata import QosProfile, TopicInfo, read_metadata
from .bag_writer import BagWriterConfig, McapBagWriter, bag_file_name
from .episode import (
    EpisodeMetadata,
    EpisodeOutcome,
    EpisodeState,
    EpisodeStateMachine,
    RecorderStateError,
    read_episode_metadata,
)
from .message_definitions import MessageDefinition, MessageDefinitionSource
from .recorder import EpisodeRecorder, EpisodeSummary, RecorderConfig
from .recovery import RecoveryReport, recover_bag

__all__ = [
    "AsyncBagWriter",
    "BagWriterConfig",
    "EpisodeMetadata",
    "EpisodeOutcome",
    "EpisodeRecorder",
    "EpisodeState",
    "EpisodeStateMachine",
    "EpisodeSummary",
    "McapBagWriter",
    "MessageDefinition",
    "MessageDefinitionSource",
    "QosProfile",
    "RecorderConfig",
    "RecorderStateError",
    "RecoveryReport",
    "TopicInfo",
    "WriterQueueConfig",
    "WriterResult",
    "bag_file_name",
    "disk_free_bytes",
    "read_episode_metadata",
    "read_metadata",
    "recover_bag",
]
