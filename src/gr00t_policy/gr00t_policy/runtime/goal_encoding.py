"""System 2's computation, ROS-free: camera frames + an instruction -> goal tokens.

The System 2 node runs it at 10 Hz and publishes the tokens; System 1 in ``fused`` mode runs the
same object before every chunk instead of receiving tokens. Both therefore judge frames (stamp,
size, age) and instructions (UTF-8, length, ids) the same way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from gr00t_policy.instructions import (
    InstructionRejected,
    check_instruction_id,
    new_instruction_id,
    normalize_instruction,
)
from gr00t_policy.safety.input_checks import StampWindow


class EventLog(Protocol):
    """Throttled, counted log lines per source (``gr00t_description.ros.diagnostics.InputLog``)."""

    def error(self, source: str, message: str) -> None: ...
    def warning(self, source: str, message: str) -> None: ...
    def info(self, source: str, message: str) -> None: ...
    def snapshot(self) -> dict[str, int]: ...


@dataclass(frozen=True, eq=False)
class EncodedGoal:
    """Goal tokens computed from the frames and instruction in effect."""

    tokens: torch.Tensor  # (1, T, D)
    mask: torch.Tensor  # (1, T) bool
    stamp: float  # the newest frame's stamp: how old the goal's view of the world is
    instruction: str
    instruction_id: str
    latency_s: float


class GoalEncoder:
    """Holds the newest plausible frame per camera and the instruction in effect; ``encode``
    turns them into goal tokens, or says why it cannot (no instruction, a camera missing or stale).

    Thread-safe: frames and instructions arrive on callback threads while ``encode`` runs on the
    inference thread.
    """

    def __init__(
        self,
        policy: Any,
        camera_keys: Sequence[str],
        frame_stamps: StampWindow,
        max_frame_age_s: float,
        max_instruction_bytes: int,
        events: EventLog,
    ) -> None:
        self.policy = policy
        self.camera_keys = list(camera_keys)
        self.frame_stamps = frame_stamps
        self.max_frame_age_s = max_frame_age_s
        self.max_instruction_bytes = max_instruction_bytes
        self.events = events
        self._lock = threading.Lock()
        self._frames: dict[str, tuple[np.ndarray, float]] = {}
        self._instruction = ""
        self._instruction_id = ""

    @property
    def instruction(self) -> str:
        """The instruction in effect ('' = none)."""
        with self._lock:
            return self._instruction

    @property
    def instruction_id(self) -> str:
        with self._lock:
            return self._instruction_id

    def frame_stamp(self, key: str) -> float | None:
        """Stamp of the frame held for camera ``key``; None when none is held."""
        with self._lock:
            frame = self._frames.get(key)
        return None if frame is None else frame[1]

    def frame_problem(self, key: str, stamp: float, now: float) -> str | None:
        """Why a frame of camera ``key`` stamped ``stamp`` is not taken (logged and counted), or None."""
        problem = self.frame_stamps.problem(stamp, now)
        if problem:
            self.events.error(f"rejected_frames_{key}", f"camera {key}: dropped frame: {problem}")
        return problem

    def add_frame(self, key: str, stamp: float, now: float, convert: Callable[[], np.ndarray]) -> bool:
        """Keep the frame if its stamp is plausible at ``now`` and ``convert()`` (to HxWx3 RGB) succeeds;
        the stamp is judged first, so an implausible frame is never converted (copied)."""
        if self.frame_problem(key, stamp, now):
            return False
        return self.add_checked_frame(key, stamp, convert)

    def add_checked_frame(self, key: str, stamp: float, convert: Callable[[], np.ndarray]) -> bool:
        """Keep a frame whose stamp was judged already (``frame_problem``); False when it fails to convert."""
        try:
            rgb = convert()
        except ValueError as exc:  # ImageConversionError is a ValueError
            self.events.error(f"rejected_frames_{key}", f"camera {key}: dropped frame: {exc}")
            return False
        with self._lock:
            self._frames[key] = (rgb, stamp)
        return True

    def set_instruction(self, text: str, instruction_id: str, source: str) -> tuple[bool, str, str]:
        """Set (or, with empty text, clear) the instruction; returns (accepted, message, id in effect).

        A clear that names an instruction id clears only that instruction: the end of an action
        that a newer one already replaced must not clear the newer instruction. Log lines are
        throttled per ``source`` (topic, service, action) and kind, so a flood cannot flood the log.
        """
        try:
            check_instruction_id(instruction_id)
            normalized = normalize_instruction(text, self.max_instruction_bytes)
        except InstructionRejected as exc:
            self.events.error(f"rejected_{source}", f"instruction rejected ({source}): {exc}")
            return False, str(exc), self.instruction_id
        with self._lock:
            if not normalized and instruction_id and instruction_id != self._instruction_id:
                current_id = self._instruction_id
                self.events.info(
                    f"ignored_clears_{source}",
                    f"clear of [{instruction_id[:8]}] ignored: [{current_id[:8]}] is in effect",
                )
                return True, f"instruction {instruction_id} is no longer in effect", current_id
            self._instruction = normalized
            self._instruction_id = (instruction_id or new_instruction_id()) if normalized else ""
            current_id = self._instruction_id
        if normalized:
            self.events.info(f"accepted_{source}", f"instruction [{current_id[:8]}]: {normalized!r}")
            return True, "ok", current_id
        self.events.warning(f"clears_{source}", "instruction cleared: no goal tokens until a new one (System 1 holds)")
        return True, "instruction cleared", ""

    def skip_reason(self, now: float) -> str | None:
        """Why no goal can be computed at ``now``; None when ``encode`` would run the backbone."""
        with self._lock:
            instruction, frames = self._instruction, dict(self._frames)
        return self._skip_reason(instruction, frames, now)

    def _skip_reason(self, instruction: str, frames: dict[str, tuple[np.ndarray, float]], now: float) -> str | None:
        if not instruction:
            return "no instruction"
        missing = [k for k in self.camera_keys if k not in frames]
        if missing:
            return f"waiting for camera(s) {missing}"
        stale = [k for k in self.camera_keys if now - frames[k][1] > self.max_frame_age_s]
        if stale:
            return f"camera(s) {stale} older than {self.max_frame_age_s:.2f} s"
        return None

    def encode(self, now: float) -> EncodedGoal | str:
        """Goal tokens from the frames and instruction in effect at ``now``, or why there are none.
        Exceptions of the model propagate (the caller decides how a failure is reported)."""
        with self._lock:
            instruction, instruction_id = self._instruction, self._instruction_id
            frames = dict(self._frames)
        reason = self._skip_reason(instruction, frames, now)
        if reason is not None:
            return reason
        start = time.perf_counter()
        with torch.inference_mode():
            goal = self.policy.encode_goal([frames[k][0] for k in self.camera_keys], instruction)
        return EncodedGoal(
            tokens=goal.tokens,
            mask=goal.mask,
            stamp=max(stamp for _, stamp in frames.values()),
            instruction=instruction,
            instruction_id=instruction_id,
            latency_s=time.perf_counter() - start,
        )
