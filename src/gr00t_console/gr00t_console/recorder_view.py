"""The recorder's status message (gr00t_interfaces/RecorderStatus) as the plain values that the console
page and gr00t-operator show: state and outcome names, counts per topic as dicts, elapsed seconds.

Keys as the page reads them: `state`, `output_dir`; while an episode is in progress `episode`, `task`,
`path`, `elapsed_s`, `messages` and `dropped` (topic -> count), `queued_messages`, `queued_bytes`,
`bytes_written`, `writer_failure` (None while the writer writes); once an episode ended `last_episode`
(its one-line summary) and `last_outcome`.
"""

from __future__ import annotations

from typing import Any

from gr00t_interfaces.msg import RecorderStatus

STATE_NAMES = {
    RecorderStatus.STATE_IDLE: "idle",
    RecorderStatus.STATE_RECORDING: "recording",
    RecorderStatus.STATE_STOPPING: "stopping",
}
OUTCOME_NAMES = {
    RecorderStatus.OUTCOME_SUCCESS: "success",
    RecorderStatus.OUTCOME_FAILURE: "failure",
    RecorderStatus.OUTCOME_INTERRUPTED: "interrupted",
    RecorderStatus.OUTCOME_DISCARDED: "discarded",
}


def recorder_view(msg: RecorderStatus) -> dict[str, Any]:
    view: dict[str, Any] = {"state": STATE_NAMES.get(msg.state, f"unknown({msg.state})"), "output_dir": msg.output_dir}
    if msg.episode:
        topics = list(msg.topics)
        view.update(
            episode=msg.episode,
            task=msg.task,
            path=msg.path,
            elapsed_s=round(msg.elapsed.sec + msg.elapsed.nanosec * 1e-9, 3),
            messages=dict(zip(topics, (int(c) for c in msg.message_counts))),
            dropped={t: int(c) for t, c in zip(topics, msg.dropped_counts) if c},
            queued_messages=int(msg.queued_messages),
            queued_bytes=int(msg.queued_bytes),
            bytes_written=int(msg.bytes_written),
            writer_failure=msg.writer_failure or None,
        )
    if msg.last_outcome != RecorderStatus.OUTCOME_NONE:
        view["last_episode"] = msg.last_summary
        # An outcome this console does not know is counted as interrupted: not trainable as it stands.
        view["last_outcome"] = OUTCOME_NAMES.get(msg.last_outcome, "interrupted")
    return view
