"""Write one rosbag2-compatible MCAP bag: `<bag>/<bag>_0.mcap` + `<bag>/metadata.yaml`.

Single-threaded and ROS-free: it takes already-serialised CDR bytes (from
`rclpy.serialization.serialize_message` or a `raw=True` subscription). `AsyncBagWriter` puts a
queue and a thread in front of it.

What makes the file what `ros2 bag record -s mcap` writes (rosbag2_storage_mcap/mcap_storage.cpp):
header profile `ros2`; one schema per type, encoding `ros2msg`, full definition with
dependencies; channels with `message_encoding: cdr` and `offered_qos_profiles` metadata (the same
string as metadata.yaml); a `rosbag2` metadata record holding `serialized_metadata`; a statistics
record and chunk indexes in the summary (the rosbag2 MCAP plugin needs the statistics record to
read a bag without metadata.yaml).

Crash safety: messages go into compressed chunks of `chunk_size_bytes`; every byte the MCAP writer
emits is handed straight to the OS (`_WriteThroughFile`), and `flush()` closes the open chunk, so a
SIGKILL loses at most the chunk in progress. A file cut off that way has no summary or footer:
`recovery.recover_bag` rebuilds both and metadata.yaml.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcap.writer import CompressionType, Writer

from .bag_metadata import (
    SERIALIZATION_FORMAT,
    BagStatistics,
    TopicInfo,
    build_metadata,
    dump_metadata,
    write_metadata,
)
from .message_definitions import MessageDefinition, default_source

LOG = logging.getLogger(__name__)

MCAP_PROFILE = "ros2"
SCHEMA_ENCODING = "ros2msg"
LIBRARY = "gr00t_teleop 0.1.0 (mcap python)"
COMPRESSIONS = {"zstd": CompressionType.ZSTD, "lz4": CompressionType.LZ4, "none": CompressionType.NONE}


@dataclass(frozen=True)
class BagWriterConfig:
    """How the MCAP file is laid out.

    chunk_size_bytes: uncompressed size at which a chunk is closed and written. Smaller = less
        lost on a crash, slightly worse compression; 1 MiB holds one 640x480 rgb8 frame.
    compression: `zstd` (default: raw images shrink ~2x at ~11 % of a core at 32 MB/s, measured in
        ros2-from-pypi.md), `lz4`, or `none`.
    """

    chunk_size_bytes: int = 1 << 20
    compression: str = "zstd"

    def __post_init__(self) -> None:
        if self.chunk_size_bytes < 1024:
            raise ValueError(f"chunk_size_bytes must be >= 1024, got {self.chunk_size_bytes}")
        if self.compression not in COMPRESSIONS:
            raise ValueError(f"compression must be one of {sorted(COMPRESSIONS)}, got {self.compression!r}")


def bag_file_name(bag_dir: Path) -> str:
    """`ros2 bag record -o <dir>` names its first file `<dir>_0.mcap`."""
    return f"{Path(bag_dir).name}_0.mcap"


class _WriteThroughFile:
    """A file the MCAP writer writes to whose every `write` reaches the OS before returning.

    The MCAP writer buffers records itself and writes whole records; a Python-level buffer on top
    would keep up to 8 KiB — or a chunk's tail — in the dying process on SIGKILL.
    """

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self._position = 0

    def write(self, data: bytes | memoryview) -> int:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:  # nothing buffered here
        pass

    def fsync(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class McapBagWriter:
    """One episode bag. Use: `open()`, `write()` many times, `flush()` now and then, `close()`."""

    def __init__(
        self,
        bag_dir: Path,
        topics: list[TopicInfo],
        config: BagWriterConfig | None = None,
        definitions: Callable[[str], MessageDefinition] | None = None,
    ) -> None:
        names = [t.name for t in topics]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate topics: {sorted(n for n in names if names.count(n) > 1)}")
        self.bag_dir = Path(bag_dir)
        self.file_name = bag_file_name(self.bag_dir)
        self.path = self.bag_dir / self.file_name
        self.topics = list(topics)
        self.config = config or BagWriterConfig()
        self._definitions = definitions or default_source().get
        self._file: _WriteThroughFile | None = None
        self._writer: Writer | None = None
        self._channel_ids: dict[str, int] = {}
        self._sequences: dict[str, int] = {}
        self.statistics = BagStatistics(message_counts={t.name: 0 for t in topics})
        self.bytes_written = 0
        self.closed = False

    # ------------------------------------------------------------------ lifecycle
    def open(self) -> None:
        self.bag_dir.mkdir(parents=True, exist_ok=True)
        if (self.bag_dir / "metadata.yaml").exists() or self.path.exists():
            raise FileExistsError(f"bag {self.bag_dir} already holds a recording; choose another name")
        # Resolve every definition before creating the file: an unknown type fails cleanly.
        definitions = {t.type: self._definitions(t.type) for t in self.topics}
        self.topics = [
            t
            if t.type_description_hash
            else dataclasses.replace(t, type_description_hash=definitions[t.type].type_hash)
            for t in self.topics
        ]
        self._file = _WriteThroughFile(self.path)
        self._writer = Writer(
            self._file,  # type: ignore[arg-type]
            chunk_size=self.config.chunk_size_bytes,
            compression=COMPRESSIONS[self.config.compression],
        )
        self._writer.start(profile=MCAP_PROFILE, library=LIBRARY)
        schema_ids: dict[str, int] = {}
        for topic in self.topics:
            if topic.type not in schema_ids:
                definition = definitions[topic.type]
                schema_ids[topic.type] = self._writer.register_schema(
                    name=definition.type_name,
                    encoding=SCHEMA_ENCODING,
                    data=definition.schema_text.encode("utf-8"),
                )
            self._channel_ids[topic.name] = self._writer.register_channel(
                topic=topic.name,
                message_encoding=SERIALIZATION_FORMAT,
                schema_id=schema_ids[topic.type],
                metadata={"offered_qos_profiles": topic.qos_string},
            )
            self._sequences[topic.name] = 0
        LOG.info(
            "opened bag %s (%d topics, %s chunks of %d B)",
            self.path,
            len(self.topics),
            self.config.compression,
            self.config.chunk_size_bytes,
        )

    def write(self, topic: str, data: bytes | memoryview, log_time_ns: int, publish_time_ns: int | None = None) -> None:
        """Append one serialised message. `log_time_ns` = receive time (what rosbag2 stores)."""
        if self._writer is None or self.closed:
            raise RuntimeError(f"bag {self.bag_dir} is not open")
        try:
            channel_id = self._channel_ids[topic]
        except KeyError:
            raise KeyError(
                f"topic {topic!r} was not declared for bag {self.bag_dir}; known: {sorted(self._channel_ids)}"
            ) from None
        self._writer.add_message(
            channel_id=channel_id,
            log_time=int(log_time_ns),
            data=bytes(data),
            publish_time=int(publish_time_ns if publish_time_ns is not None else log_time_ns),
            sequence=self._sequences[topic],
        )
        self._sequences[topic] += 1
        self.statistics.add(topic, int(log_time_ns))
        self.bytes_written += len(data)

    def flush(self, fsync: bool = False) -> None:
        """Close the chunk in progress so everything written so far survives a crash."""
        if self._writer is None or self.closed:
            return
        self._writer.flush()
        if fsync and self._file is not None:
            self._file.fsync()

    def metadata(self, custom_data: Mapping[str, str] | None = None) -> dict[str, Any]:
        return build_metadata(self.file_name, self.topics, self.statistics, custom_data)

    def close(self, custom_data: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Write the summary (statistics, indexes), fsync, and write metadata.yaml. Returns it."""
        if self._writer is None or self.closed:
            raise RuntimeError(f"bag {self.bag_dir} is not open")
        document = self.metadata(custom_data)
        # Jazzy's plugin reads the bag metadata from this record when metadata.yaml is absent.
        self._writer.add_metadata("rosbag2", {"serialized_metadata": dump_metadata(document)})
        self._writer.finish()
        assert self._file is not None
        self._file.fsync()
        self._file.close()
        self.closed = True
        write_metadata(self.bag_dir, document)
        LOG.info("closed bag %s: %d messages", self.bag_dir, self.statistics.message_count)
        return document

    def abort(self) -> None:
        """Close the file without a summary (what a crash leaves; `recover_bag` can repair it)."""
        if self._file is not None:
            self._file.close()
        self.closed = True
