"""A recorder killed with SIGKILL mid-episode leaves a bag readable up to its last complete chunk,
and `recover_bag` (gr00t-reindex) turns it into a complete bag that rosbags reads."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml
from rosbags.highlevel import AnyReader
from rosbags.typesys import Stores, get_typestore
from teleop_test_support import JOINT_STATES

from gr00t_teleop.recording import EpisodeOutcome, read_episode_metadata, recover_bag
from gr00t_teleop.recording.recovery import is_complete_mcap, salvage_records
from gr00t_teleop.recording.recovery import main as reindex_main

HERE = Path(__file__).resolve().parent

# Records forever; prints how many messages are certainly on disk (submitted, then a flush period
# passed with the queue empty) before writing more, so the parent can kill it mid-chunk.
CHILD = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {here!r})
    from teleop_test_support import JOINT_STATES, joint_state_bytes, make_topics
    from gr00t_teleop.recording import BagWriterConfig, EpisodeRecorder, RecorderConfig, WriterQueueConfig

    recorder = EpisodeRecorder(
        RecorderConfig(output_dir={out!r}, robot="gr1t2", embodiment_tag="gr1", data_config="gr1_arms_only",
                       bag=BagWriterConfig(chunk_size_bytes=2048),
                       queue=WriterQueueConfig(flush_period_s=0.05, fsync_period_s=0)),
        free_bytes=lambda _p: 1 << 40,
    )
    recorder.start("pick the pear", make_topics(), now_ns=1_000_000_000)
    i = 0
    def burst(n):
        global i
        for _ in range(n):
            t = 1_000_000_000 + i * 5_000_000
            recorder.record(JOINT_STATES, joint_state_bytes(["a", "b"], [i, 0.5], t), t)
            i += 1
    burst(300)
    while recorder.status()["queued_messages"]:
        time.sleep(0.01)
    time.sleep(0.3)  # > flush_period_s: the open chunk has been closed and written
    print("ON_DISK", i, flush=True)
    while True:
        burst(7)
        time.sleep(0.001)
    """
)


def test_sigkill_mid_episode_leaves_a_recoverable_bag(tmp_path):
    out = tmp_path / "episodes"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD.format(here=str(HERE), out=str(out))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = child.stdout.readline()
        assert line.startswith("ON_DISK"), child.stderr.read()
        on_disk = int(line.split()[1])
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL

    (bag_dir,) = out.iterdir()
    mcap_path = bag_dir / f"{bag_dir.name}_0.mcap"
    assert not (bag_dir / "metadata.yaml").exists()  # written only at stop
    assert not is_complete_mcap(mcap_path)  # no summary, no footer

    # Readable as-is up to the last complete chunk: at least everything that was flushed.
    records, _reason = salvage_records(mcap_path)
    salvaged = sum(1 for r in records if type(r).__name__ == "Message")
    assert salvaged >= on_disk

    report = recover_bag(bag_dir)
    assert not report.mcap_was_complete and report.message_count == salvaged
    assert is_complete_mcap(mcap_path)
    info = yaml.safe_load((bag_dir / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert info["message_count"] == salvaged and info["custom_data"]["gr00t.episode.outcome"] == "interrupted"
    episode = read_episode_metadata(bag_dir)
    assert episode.outcome is EpisodeOutcome.INTERRUPTED and episode.task == "pick the pear"

    with AnyReader([bag_dir], default_typestore=get_typestore(Stores.ROS2_KILTED)) as reader:
        assert {c.topic: c.msgcount for c in reader.connections}[JOINT_STATES] == salvaged
        positions = [reader.deserialize(raw, c.msgtype).position[0] for c, _t, raw in reader.messages()]
    assert positions == [float(i) for i in range(salvaged)]  # in order, none corrupted

    # The CLI finds nothing left to do; --force only rebuilds metadata (the MCAP is complete now).
    assert reindex_main([str(out)]) == 0
    assert reindex_main([str(bag_dir), "--force"]) == 0
    assert (
        yaml.safe_load((bag_dir / "metadata.yaml").read_text())["rosbag2_bagfile_information"]["message_count"]
        == salvaged
    )
