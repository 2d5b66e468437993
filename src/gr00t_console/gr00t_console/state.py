"""What the console shows, aggregated from the graph's messages (pure Python, tested without rclpy).

The ROS node feeds plain values in (from its executor threads); the web server reads snapshots
(from its asyncio thread). Everything is under one lock, every buffer is bounded.

- controller: the last ControllerStatus (state, reason, faults, chunks executed, command rate);
- rates: chunk, camera and joint-state rates measured here over a sliding window;
- plot: commanded vs measured positions of every joint, sampled at `plot_rate_hz` when joint states
  arrive (the latest command at that time), over the last `plot_window_s`; chunk arrival times;
- action: the console's ExecuteInstruction goal (feedback, then result);
- recorder: the recorder's status and the episodes ended since the console started;
- camera: the latest JPEG per camera (encoded by the node, only while a client watches).
"""

from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

STATE_NAMES = {0: "DISABLED", 1: "RAMPING", 2: "RUNNING", 3: "HOLDING", 4: "ESTOPPED"}
OUTCOME_NAMES = {0: "timeout_reached", 1: "canceled", 2: "preempted", 3: "aborted", 4: "rejected"}
MAX_TEXT = 500  # characters kept of any string from the graph (reasons, faults, recorder messages)
MAX_FAULTS = 32
EPISODE_OUTCOMES = ("success", "failure", "discarded", "interrupted")


def clip(text: Any, limit: int = MAX_TEXT) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class RateMeter:
    """Events per second over the last `window_s` (bounded memory)."""

    def __init__(self, window_s: float = 2.0, max_events: int = 2048) -> None:
        self._window_s = window_s
        self._times: collections.deque[float] = collections.deque(maxlen=max_events)

    def tick(self, now: float) -> None:
        self._times.append(now)

    def rate(self, now: float) -> float:
        while self._times and now - self._times[0] > self._window_s:
            self._times.popleft()
        if len(self._times) < 2:
            return 0.0
        span = max(now - self._times[0], self._times[-1] - self._times[0])
        return (len(self._times) - 1) / span if span > 0 else 0.0


@dataclass(frozen=True)
class StateConfig:
    joints: tuple[str, ...]  # every joint the plot can show, in the robot's order
    groups: dict[str, tuple[str, ...]]  # joint group -> joints
    plot_rate_hz: float = 30.0
    plot_window_s: float = 10.0


class ConsoleState:
    def __init__(
        self,
        config: StateConfig,
        clock: Callable[[], float] = time.monotonic,
        on_urgent: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self._t0 = clock()
        self._lock = threading.Lock()
        # Called (from the feeding thread) on changes a client must see at once: controller state.
        self.on_urgent = on_urgent or (lambda: None)
        self._index = {name: i for i, name in enumerate(config.joints)}
        samples = max(2, int(config.plot_rate_hz * config.plot_window_s))
        self._samples: collections.deque[tuple[int, float, list[float], list[float]]] = collections.deque(
            maxlen=samples
        )
        self._sample_seq = 0
        self._last_sample_t = -math.inf
        self._chunks: collections.deque[tuple[int, float]] = collections.deque(maxlen=512)
        self._chunk_seq = 0
        nan = [math.nan] * len(config.joints)
        self._measured, self._commanded = list(nan), list(nan)
        self._rates = {"chunks": RateMeter(), "camera": RateMeter(), "joint_states": RateMeter(window_s=1.0)}
        self.controller: dict[str, Any] | None = None
        self._controllers: dict[str, dict[str, Any]] = {}
        self.controller_seq = 0
        self.action: dict[str, Any] | None = None
        self.instruction = ""
        self.recorder: dict[str, Any] | None = None
        self.episodes = {"success": 0, "failure": 0, "discarded": 0, "interrupted": 0, "total": 0}
        self._last_episode = ""
        self._cameras: dict[str, tuple[int, bytes]] = {}
        self._camera_seq = 0
        self.version = 0

    def now(self) -> float:
        """Seconds since the console started (the plot's time axis)."""
        return self._clock() - self._t0

    # ------------------------------------------------------------------ inputs (ROS threads)
    def on_controller_status(
        self,
        state: int,
        reason: str,
        faults: list[str],
        chunks_executed: int,
        command_rate: float,
        dry_run: bool,
        source: str = "gr00t_system1",
    ) -> None:
        """A controller's status. With several (System 1, the leader teleop) the page shows System 1's
        while it has one, else the last one heard."""
        status = {
            "source": clip(source, 64),
            "state": STATE_NAMES.get(int(state), f"UNKNOWN({int(state)})"),
            "reason": clip(reason),
            "faults": [clip(f, 100) for f in list(faults)[:MAX_FAULTS]],
            "chunks_executed": int(chunks_executed),
            "command_rate": round(float(command_rate), 1) if math.isfinite(command_rate) else None,
            "dry_run": bool(dry_run),
        }
        with self._lock:
            previous = self._controllers.get(source)
            urgent = previous is None or (previous["state"], previous["faults"]) != (status["state"], status["faults"])
            status["since"] = previous["since"] if not urgent and previous else round(self.now(), 3)
            self._controllers[source] = status
            if source == "gr00t_system1" or "gr00t_system1" not in self._controllers:
                self.controller = status
            self.controller_seq += 1
            self.version += 1
        if urgent:
            self.on_urgent()

    def sample_due(self) -> bool:
        """Whether the next joint state would be a plot sample (the node decodes only those)."""
        return self.now() - self._last_sample_t >= 1.0 / self.config.plot_rate_hz

    def on_joint_state(self, names: list[str], positions: list[float]) -> None:
        now = self.now()
        with self._lock:
            self._rates["joint_states"].tick(now)
            self._update(self._measured, names, positions)
            if now - self._last_sample_t >= 1.0 / self.config.plot_rate_hz:
                self._last_sample_t = now
                self._sample_seq += 1
                self._samples.append((self._sample_seq, now, list(self._commanded), list(self._measured)))

    def on_joint_command(self, names: list[str], positions: list[float]) -> None:
        with self._lock:
            self._update(self._commanded, names, positions)

    def _update(self, target: list[float], names: list[str], positions: list[float]) -> None:
        for name, value in zip(names, positions):
            i = self._index.get(name)
            if i is not None:
                target[i] = float(value) if math.isfinite(value) else math.nan

    def on_chunk(self) -> None:
        now = self.now()
        with self._lock:
            self._rates["chunks"].tick(now)
            self._chunk_seq += 1
            self._chunks.append((self._chunk_seq, now))

    def on_camera_frame(self, camera: str, jpeg: bytes | None) -> None:
        """A frame arrived (counted); `jpeg` when the node encoded it (someone watches)."""
        now = self.now()
        with self._lock:
            self._rates["camera"].tick(now)
            if jpeg is not None:
                self._camera_seq += 1
                self._cameras[camera] = (self._camera_seq, jpeg)

    def on_instruction(self, text: str) -> None:
        with self._lock:
            self.instruction = clip(text, 2048)
            self.version += 1

    def on_recorder_status(self, status: dict[str, Any]) -> None:
        """The recorder's status as `recorder_view` gives it; an episode is counted once per new `last_episode`."""
        keep = ("state", "episode", "task", "elapsed_s", "last_episode", "writer_failure", "output_dir", "path")
        clean = {
            k: (clip(v) if isinstance(v, str) else v)
            for k, v in status.items()
            if k in keep
            and isinstance(v, str | int | float | type(None))
            and not (isinstance(v, float) and not math.isfinite(v))
        }
        for key in ("messages", "dropped"):
            if isinstance(status.get(key), dict):
                clean[key] = sum(v for v in status[key].values() if type(v) is int)
        with self._lock:
            last = clean.get("last_episode", "") or ""
            if last and last != self._last_episode:
                self._last_episode = last
                self.episodes["total"] += 1
                outcome = status.get("last_outcome")
                self.episodes[outcome if outcome in EPISODE_OUTCOMES else "interrupted"] += 1
            self.recorder = clean
            self.version += 1

    def recorder_gone(self) -> None:
        with self._lock:
            self.recorder = None
            self.version += 1

    def on_action(self, action: dict[str, Any]) -> None:
        with self._lock:
            self.action = {k: (clip(v) if isinstance(v, str) else v) for k, v in action.items()}
            self.version += 1

    # ------------------------------------------------------------------ outputs (web thread)
    def snapshot(self, group: str, since_sample: int = 0, since_chunk: int = 0) -> dict[str, Any]:
        """Everything a client shows, with plot samples and chunk marks newer than the given sequence numbers."""
        joints = self.config.groups.get(group, ())
        idx = [self._index[j] for j in joints if j in self._index]
        now = self.now()
        with self._lock:
            samples = [s for s in self._samples if s[0] > since_sample]
            chunks = [c for c in self._chunks if c[0] > since_chunk and c[1] >= now - self.config.plot_window_s]
            rates = {k: round(m.rate(now), 1) for k, m in self._rates.items()}
            if self.controller and self.controller.get("command_rate") is not None:
                rates["commands"] = self.controller["command_rate"]
            return {
                "type": "state",
                "t": round(now, 3),
                "controller": self.controller,
                "action": self.action,
                "instruction": self.instruction,
                "recorder": self.recorder,
                "episodes": dict(self.episodes),
                "rates": rates,
                "plot": {
                    "group": group,
                    "joints": [self.config.joints[i] for i in idx],
                    "window_s": self.config.plot_window_s,
                    "t": [round(s[1], 3) for s in samples],
                    "commanded": [[_num(s[2][i]) for s in samples] for i in idx],
                    "measured": [[_num(s[3][i]) for s in samples] for i in idx],
                    "last_sample": samples[-1][0] if samples else since_sample,
                    "chunks": [round(c[1], 3) for c in chunks],
                    "last_chunk": chunks[-1][0] if chunks else since_chunk,
                },
            }

    def camera(self, camera: str) -> tuple[int, bytes] | None:
        with self._lock:
            return self._cameras.get(camera)

    def cameras(self) -> list[str]:
        with self._lock:
            return sorted(self._cameras)


def _num(value: float) -> float | None:
    return round(value, 4) if math.isfinite(value) else None
