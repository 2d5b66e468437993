"""The recorder's typed status as the console page and gr00t-operator show it."""

from __future__ import annotations

import json

from builtin_interfaces.msg import Duration

from gr00t_console.recorder_view import recorder_view
from gr00t_console.state import ConsoleState, StateConfig
from gr00t_interfaces.msg import RecorderStatus


def test_idle_before_any_episode():
    view = recorder_view(RecorderStatus(state=RecorderStatus.STATE_IDLE, output_dir="/d", free_disk_bytes=-1))
    assert view == {"state": "idle", "output_dir": "/d"}


def test_an_episode_in_progress():
    msg = RecorderStatus(
        state=RecorderStatus.STATE_RECORDING,
        output_dir="/d",
        episode="episode_000001_x",
        task="pick the pear",
        path="/d/episode_000001_x",
        elapsed=Duration(sec=3, nanosec=250_000_000),
        topics=["/joint_states", "/head_camera/image_raw"],
        message_counts=[100, 20],
        dropped_counts=[0, 2],
        queued_messages=3,
        queued_bytes=300,
        bytes_written=4096,
    )
    view = recorder_view(msg)
    assert view == {
        "state": "recording",
        "output_dir": "/d",
        "episode": "episode_000001_x",
        "task": "pick the pear",
        "path": "/d/episode_000001_x",
        "elapsed_s": 3.25,
        "messages": {"/joint_states": 100, "/head_camera/image_raw": 20},
        "dropped": {"/head_camera/image_raw": 2},
        "queued_messages": 3,
        "queued_bytes": 300,
        "bytes_written": 4096,
        "writer_failure": None,
    }
    json.dumps(view, allow_nan=False)
    msg.writer_failure = "disk full"
    assert recorder_view(msg)["writer_failure"] == "disk full"
    msg.state = RecorderStatus.STATE_STOPPING
    assert recorder_view(msg)["state"] == "stopping"


def test_the_last_episode_and_what_the_console_shows_of_it():
    state = ConsoleState(StateConfig(("a",), {"g": ("a",)}))
    for name, outcome in [("e1", RecorderStatus.OUTCOME_SUCCESS), ("e2", RecorderStatus.OUTCOME_INTERRUPTED)]:
        msg = RecorderStatus(
            state=RecorderStatus.STATE_IDLE,
            output_dir="/d",
            last_outcome=outcome,
            last_episode=name,
            last_summary=f"episode {name}: ... -> /d/{name}",
        )
        view = recorder_view(msg)
        assert view["last_episode"] == f"episode {name}: ... -> /d/{name}"
        state.on_recorder_status(view)
        state.on_recorder_status(view)  # the periodic status again: the same episode, counted once
    snap = state.snapshot("g")
    assert snap["recorder"] == {"state": "idle", "output_dir": "/d", "last_episode": "episode e2: ... -> /d/e2"}
    assert snap["episodes"] == {"success": 1, "failure": 0, "discarded": 0, "interrupted": 1, "total": 2}
    assert recorder_view(RecorderStatus(last_outcome=200, last_summary="x"))["last_outcome"] == "interrupted"
