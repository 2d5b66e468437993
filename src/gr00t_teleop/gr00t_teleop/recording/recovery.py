"""Recover an episode bag whose recorder died (SIGKILL, power loss, OOM): `gr00t-reindex`.

A killed writer leaves `<bag>_0.mcap` without summary and footer (every complete chunk is on disk,
see `bag_writer`) and no `metadata.yaml`. `ros2 bag reindex` only rebuilds metadata.yaml, and
readers such as `rosbags` refuse an MCAP file without footer, so recovery does both:

1. stream the file's records up to the first incomplete one (the chunk being written at the
   crash) into a new, finished MCAP file with summary, statistics and indexes, then atomically
   replace the original (kept as `*.truncated` with `--keep-original`);
2. write metadata.yaml from what was salvaged (same topics, types and QoS strings as the channels);
3. mark the episode `interrupted` in episode.yaml (it was still `recording`).

A bag whose MCAP file is complete only gets metadata.yaml rebuilt (the `reindex` case).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mcap.reader import make_reader
from mcap.records import Channel, Message, Schema
from mcap.stream_reader import StreamReader
from mcap.writer import CompressionType, Writer

from .bag_metadata import (
    METADATA_FILENAME,
    BagStatistics,
    TopicInfo,
    build_metadata,
    dump_metadata,
    parse_offered_qos,
    write_metadata,
)
from .bag_writer import LIBRARY, MCAP_PROFILE, bag_file_name
from .episode import EPISODE_FILENAME, EpisodeOutcome, read_episode_metadata, write_episode_metadata
from .message_definitions import MessageDefinitionError, default_source

LOG = logging.getLogger(__name__)


@dataclass
class RecoveryReport:
    bag_dir: Path
    mcap_was_complete: bool
    message_count: int
    message_counts: dict[str, int] = field(default_factory=dict)
    stop_reason: str = ""  # why salvaging stopped where it did (the truncated record)

    def describe(self) -> str:
        state = (
            "complete MCAP, metadata rebuilt"
            if self.mcap_was_complete
            else (f"truncated MCAP rewritten ({self.stop_reason})")
        )
        return f"{self.bag_dir}: {self.message_count} messages, {state}"


def find_mcap_file(bag_dir: Path) -> Path:
    expected = Path(bag_dir) / bag_file_name(bag_dir)
    if expected.is_file():
        return expected
    candidates = sorted(Path(bag_dir).glob("*.mcap"))
    if len(candidates) != 1:
        raise FileNotFoundError(f"{bag_dir}: expected one .mcap file, found {[c.name for c in candidates]}")
    return candidates[0]


def is_complete_mcap(path: Path) -> bool:
    """True when the file ends with a footer and a readable summary (a finished writer)."""
    try:
        with open(path, "rb") as stream:
            return make_reader(stream).get_summary() is not None
    except Exception:  # noqa: BLE001 - any parse failure means "not complete"
        return False


def salvage_records(path: Path) -> tuple[Iterator[Schema | Channel | Message], list[str]]:
    """Records of a possibly truncated MCAP file, in file order, up to the first broken record.

    Returns the iterator and a one-element list that receives the reason salvaging stopped.
    Chunks are read whole (`emit_chunks=False` still reads the full chunk record before yielding
    its content), so a chunk cut off by the crash contributes nothing rather than garbage; chunk
    CRCs are validated for the same reason.
    """
    stop_reason: list[str] = [""]

    def records() -> Iterator[Schema | Channel | Message]:
        with open(path, "rb") as stream:
            reader = StreamReader(stream, validate_crcs=True)
            try:
                for record in reader.records:
                    if isinstance(record, (Schema, Channel, Message)):
                        yield record
            except Exception as exc:  # noqa: BLE001 - the truncated tail: stop here
                stop_reason[0] = f"{type(exc).__name__} at the end of the data: {exc}".strip()
                return
        stop_reason[0] = "file ended cleanly"

    return records(), stop_reason


def _topics_from_channels(channels: dict[int, Channel], schemas: dict[int, Schema]) -> list[TopicInfo]:
    topics = []
    for channel in sorted(channels.values(), key=lambda c: c.id):
        schema = schemas.get(channel.schema_id)
        type_name = schema.name if schema else ""
        try:
            type_hash = default_source().get(type_name).type_hash
        except (MessageDefinitionError, LookupError):
            type_hash = ""
        profiles = tuple(parse_offered_qos(channel.metadata.get("offered_qos_profiles", "")))
        if not profiles:
            raise ValueError(f"channel {channel.topic!r} has no offered_qos_profiles metadata; not a gr00t_teleop bag")
        topics.append(TopicInfo(channel.topic, type_name, profiles, type_hash))
    return topics


def _rewrite_truncated(path: Path, keep_original: bool) -> tuple[list[TopicInfo], BagStatistics, str]:
    tmp_path = path.with_name(path.name + ".recovering")
    schemas: dict[int, Schema] = {}
    channels: dict[int, Channel] = {}
    new_schema_ids: dict[int, int] = {}
    new_channel_ids: dict[int, int] = {}
    statistics = BagStatistics()
    records, stop_reason = salvage_records(path)
    with open(tmp_path, "wb") as output:
        writer = Writer(output, compression=CompressionType.ZSTD)
        writer.start(profile=MCAP_PROFILE, library=LIBRARY + " (recovered)")
        for record in records:
            if isinstance(record, Schema) and record.id not in schemas:
                schemas[record.id] = record
                new_schema_ids[record.id] = writer.register_schema(record.name, record.encoding, record.data)
            elif isinstance(record, Channel) and record.id not in channels:
                channels[record.id] = record
                statistics.message_counts.setdefault(record.topic, 0)
                new_channel_ids[record.id] = writer.register_channel(
                    record.topic, record.message_encoding, new_schema_ids.get(record.schema_id, 0), record.metadata
                )
            elif isinstance(record, Message) and record.channel_id in new_channel_ids:
                writer.add_message(
                    new_channel_ids[record.channel_id],
                    record.log_time,
                    record.data,
                    record.publish_time,
                    record.sequence,
                )
                statistics.add(channels[record.channel_id].topic, record.log_time)
        topics = _topics_from_channels(channels, schemas)
        return_metadata = build_metadata(path.name, topics, statistics)
        writer.add_metadata("rosbag2", {"serialized_metadata": dump_metadata(return_metadata)})
        writer.finish()
        output.flush()
        os.fsync(output.fileno())
    if keep_original:
        os.replace(path, path.with_name(path.name + ".truncated"))
    os.replace(tmp_path, path)
    return topics, statistics, stop_reason[0]


def _read_complete(path: Path) -> tuple[list[TopicInfo], BagStatistics]:
    with open(path, "rb") as stream:
        summary = make_reader(stream).get_summary()
    assert summary is not None
    topics = _topics_from_channels(summary.channels, summary.schemas)
    statistics = BagStatistics(message_counts={t.name: 0 for t in topics})
    if summary.statistics is not None:
        for channel_id, count in summary.statistics.channel_message_counts.items():
            statistics.message_counts[summary.channels[channel_id].topic] = count
        if summary.statistics.message_count:
            statistics.start_time_ns = summary.statistics.message_start_time
            statistics.end_time_ns = summary.statistics.message_end_time
    return topics, statistics


def recover_bag(bag_dir: Path, keep_original: bool = False) -> RecoveryReport:
    """Make `bag_dir` a complete bag again (see module docstring). Idempotent."""
    bag_dir = Path(bag_dir)
    path = find_mcap_file(bag_dir)
    complete = is_complete_mcap(path)
    if complete:
        topics, statistics = _read_complete(path)
        stop_reason = ""
    else:
        topics, statistics, stop_reason = _rewrite_truncated(path, keep_original)

    custom_data = None
    if (bag_dir / EPISODE_FILENAME).is_file():
        episode = read_episode_metadata(bag_dir)
        if episode.outcome is EpisodeOutcome.RECORDING:
            episode.outcome = EpisodeOutcome.INTERRUPTED
            episode.interrupted = True
            episode.interruption_reason = (
                "recorder died mid-episode; recovered by gr00t-reindex up to the last complete chunk"
            )
            episode.stop_time_ns = statistics.end_time_ns or episode.start_time_ns
        episode.message_counts = dict(statistics.message_counts)
        write_episode_metadata(bag_dir, episode)
        custom_data = episode.custom_data()
    write_metadata(bag_dir, build_metadata(path.name, topics, statistics, custom_data))
    report = RecoveryReport(bag_dir, complete, statistics.message_count, dict(statistics.message_counts), stop_reason)
    LOG.info(report.describe())
    return report


def find_bags_needing_recovery(root: Path) -> list[Path]:
    """`root` itself if it is a bag directory, else its sub-directories holding an .mcap file
    but no metadata.yaml."""
    root = Path(root)
    candidates = [root] if any(root.glob("*.mcap")) else sorted(p for p in root.iterdir() if p.is_dir())
    return [p for p in candidates if any(p.glob("*.mcap")) and not (p / METADATA_FILENAME).is_file()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="gr00t-reindex",
        description="Recover episode bags left by a recorder that died: finish the truncated MCAP file "
        "(up to its last complete chunk), rebuild metadata.yaml and mark the episode interrupted.",
    )
    parser.add_argument("paths", nargs="+", type=Path, help="bag directories, or folders of episode bags")
    parser.add_argument("--force", action="store_true", help="also rebuild bags that already have metadata.yaml")
    parser.add_argument("--keep-original", action="store_true", help="keep the truncated file as *.mcap.truncated")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    failures = 0
    for root in args.paths:
        if not root.is_dir():
            print(f"gr00t-reindex: {root} is not a directory", file=sys.stderr)
            failures += 1
            continue
        if args.force:
            bags = [root] if any(root.glob("*.mcap")) else sorted(p for p in root.iterdir() if any(p.glob("*.mcap")))
        else:
            bags = find_bags_needing_recovery(root)
        if not bags:
            print(f"{root}: nothing to recover (every bag has metadata.yaml; --force rebuilds anyway)")
        for bag in bags:
            try:
                print(recover_bag(bag, keep_original=args.keep_original).describe())
            except Exception as exc:  # noqa: BLE001 - report and go on with the other bags
                print(f"gr00t-reindex: {bag}: {type(exc).__name__}: {exc}", file=sys.stderr)
                failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
