"""Episode state machine and the per-episode metadata file (`episode.yaml`), no rclpy.

States: IDLE → RECORDING → STOPPING → IDLE. STOPPING covers draining the queue and finishing the
bag; requests arriving then are refused with the reason, never queued.
Outcomes: success / failure (operator's label at stop), discarded (cancel: the bag is deleted),
interrupted (the recorder stopped by itself — low disk, write error — or died and the bag was
recovered). Converters train on `success` only unless asked otherwise.
"""

from __future__ import annotations

import enum
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .bag_metadata import atomic_write_text

EPISODE_FILENAME = "episode.yaml"
EPISODE_NAME_PATTERN = re.compile(r"^episode_(\d{6})(?:_.*)?$")


class EpisodeState(str, enum.Enum):
    IDLE = "idle"
    RECORDING = "recording"
    STOPPING = "stopping"


class EpisodeOutcome(str, enum.Enum):
    RECORDING = "recording"  # written at start; still there after a crash until recovery
    SUCCESS = "success"
    FAILURE = "failure"
    INTERRUPTED = "interrupted"
    DISCARDED = "discarded"


class RecorderStateError(RuntimeError):
    """A request that the current episode state does not allow (the message says why)."""


class EpisodeStateMachine:
    """Guards the transitions; the recorder does the work between them."""

    def __init__(self) -> None:
        self.state = EpisodeState.IDLE
        self.episode_name: str | None = None

    def begin_start(self, episode_name: str) -> None:
        if self.state is EpisodeState.RECORDING:
            raise RecorderStateError(
                f"already recording episode {self.episode_name!r}; stop or cancel it before starting another"
            )
        if self.state is EpisodeState.STOPPING:
            raise RecorderStateError(f"still finishing episode {self.episode_name!r}; try again in a moment")
        self.state = EpisodeState.RECORDING
        self.episode_name = episode_name

    def abort_start(self) -> None:
        """The bag could not be created: back to IDLE as if nothing happened."""
        self.state = EpisodeState.IDLE
        self.episode_name = None

    def begin_stop(self, action: str) -> str:
        if self.state is EpisodeState.IDLE:
            raise RecorderStateError(f"cannot {action}: no episode is being recorded (call start first)")
        if self.state is EpisodeState.STOPPING:
            raise RecorderStateError(f"cannot {action}: episode {self.episode_name!r} is already stopping")
        self.state = EpisodeState.STOPPING
        assert self.episode_name is not None
        return self.episode_name

    def finish_stop(self) -> None:
        if self.state is not EpisodeState.STOPPING:
            raise RecorderStateError(f"finish_stop in state {self.state.value}")
        self.state = EpisodeState.IDLE
        self.episode_name = None


@dataclass
class EpisodeMetadata:
    """Everything about one episode besides the messages; `episode.yaml` in the bag directory and,
    flattened to strings, the bag's `custom_data`.

    Times: `start_time_ns` / `stop_time_ns` on the recorder's clock (ROS time; sim time under
    `use_sim_time`), the same clock as the bag's log times; `start_wall_time` is ISO 8601 UTC.
    """

    name: str
    index: int
    task: str
    robot: str
    embodiment_tag: str
    data_config: str
    operator: str = ""
    calibration: str = ""
    start_time_ns: int = 0
    start_wall_time: str = ""
    stop_time_ns: int | None = None
    outcome: EpisodeOutcome = EpisodeOutcome.RECORDING
    interrupted: bool = False
    interruption_reason: str = ""
    message_counts: dict[str, int] = field(default_factory=dict)
    dropped_messages: dict[str, int] = field(default_factory=dict)
    notes: str = ""
    recorder: str = "gr00t_teleop 0.1.0"

    @property
    def success(self) -> bool | None:
        if self.outcome is EpisodeOutcome.SUCCESS:
            return True
        if self.outcome in (EpisodeOutcome.FAILURE, EpisodeOutcome.INTERRUPTED):
            return False
        return None

    @property
    def duration_s(self) -> float | None:
        if self.stop_time_ns is None:
            return None
        return (self.stop_time_ns - self.start_time_ns) * 1e-9

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["outcome"] = self.outcome.value
        data["success"] = self.success
        data["duration_s"] = self.duration_s
        data["dropped_total"] = sum(self.dropped_messages.values())
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EpisodeMetadata:
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        values["outcome"] = EpisodeOutcome(values.get("outcome", EpisodeOutcome.RECORDING.value))
        return cls(**values)

    def custom_data(self) -> dict[str, str]:
        """rosbag2 `custom_data` is map<string, string>: the fields a bag browser wants to see."""
        return {
            "gr00t.episode.name": self.name,
            "gr00t.episode.task": self.task,
            "gr00t.episode.outcome": self.outcome.value,
            "gr00t.episode.success": {True: "true", False: "false", None: ""}[self.success],
            "gr00t.episode.interrupted": "true" if self.interrupted else "false",
            "gr00t.episode.interruption_reason": self.interruption_reason,
            "gr00t.episode.robot": self.robot,
            "gr00t.episode.embodiment_tag": self.embodiment_tag,
            "gr00t.episode.data_config": self.data_config,
            "gr00t.episode.operator": self.operator,
            "gr00t.episode.calibration": self.calibration,
            "gr00t.episode.dropped_messages": str(sum(self.dropped_messages.values())),
        }


def write_episode_metadata(bag_dir: Path, metadata: EpisodeMetadata) -> Path:
    path = Path(bag_dir) / EPISODE_FILENAME
    atomic_write_text(path, yaml.safe_dump(metadata.to_dict(), sort_keys=False, allow_unicode=True))
    return path


def read_episode_metadata(bag_dir: Path) -> EpisodeMetadata:
    path = Path(bag_dir) / EPISODE_FILENAME
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping")
    return EpisodeMetadata.from_dict(data)


def episode_index_of(name: str) -> int | None:
    match = EPISODE_NAME_PATTERN.match(name)
    return int(match.group(1)) if match else None


def next_episode_index(output_dir: Path) -> int:
    """One past the highest `episode_NNNNNN*` directory, so numbering continues across restarts."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return 0
    indices = [episode_index_of(p.name) for p in output_dir.iterdir() if p.is_dir()]
    return max((i for i in indices if i is not None), default=-1) + 1
