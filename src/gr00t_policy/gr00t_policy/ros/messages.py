"""Conversions between gr00t_interfaces messages and the pure types of gr00t_policy."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from builtin_interfaces.msg import Duration, Time
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from gr00t_interfaces.msg import ActionChunk, ControllerStatus
from gr00t_interfaces.msg import GoalTokens as GoalTokensMsg

TOKEN_DTYPES: dict[str, int] = {
    "float32": GoalTokensMsg.DTYPE_FLOAT32,
    "float16": GoalTokensMsg.DTYPE_FLOAT16,
    "bfloat16": GoalTokensMsg.DTYPE_BFLOAT16,
}
_TORCH_DTYPES = {
    GoalTokensMsg.DTYPE_FLOAT32: torch.float32,
    GoalTokensMsg.DTYPE_FLOAT16: torch.float16,
    GoalTokensMsg.DTYPE_BFLOAT16: torch.bfloat16,
}


class GoalDecodeError(ValueError):
    """A GoalTokens message is inconsistent (sizes, dtype, non-finite values)."""


@dataclass(frozen=True)
class DecodedGoal:
    tokens: torch.Tensor  # (1, T, D) float32
    mask: torch.Tensor  # (1, T) bool
    sequence: int
    stamp: float
    instruction: str
    instruction_id: str
    model_id: str


def encode_goal_tokens(msg: GoalTokensMsg, tokens: torch.Tensor, mask: torch.Tensor, dtype: str = "float16") -> None:
    """Fill msg.dtype/token_count/width/data/attention_mask from (1, T, D) tokens and (1, T) mask."""
    if dtype not in TOKEN_DTYPES:
        raise ValueError(f"unknown goal-token dtype {dtype!r}; one of {sorted(TOKEN_DTYPES)}")
    if tokens.dim() != 3 or tokens.shape[0] != 1:
        raise ValueError(f"expected tokens of shape (1, T, D), got {tuple(tokens.shape)}")
    code = TOKEN_DTYPES[dtype]
    flat = tokens[0].detach().to("cpu", _TORCH_DTYPES[code]).contiguous()
    # bfloat16 has no NumPy dtype: move the raw 16-bit patterns.
    raw = flat.view(torch.int16) if code != GoalTokensMsg.DTYPE_FLOAT32 else flat
    msg.dtype = code
    msg.token_count = int(tokens.shape[1])
    msg.width = int(tokens.shape[2])
    msg.data = raw.numpy().tobytes()
    msg.attention_mask = [bool(v) for v in mask[0].detach().cpu().tolist()]


def decode_goal_tokens(msg: GoalTokensMsg, expected_width: int | None = None) -> DecodedGoal:
    """Check and decode goal tokens; ``expected_width`` (the model's goal dimension) rejects tokens
    the action head cannot use, so they never count as a fresh goal. Sizes are checked before the
    data is copied."""
    code = int(msg.dtype)
    if code not in _TORCH_DTYPES:
        raise GoalDecodeError(f"unknown dtype code {code}")
    count, width = int(msg.token_count), int(msg.width)
    if expected_width is not None and width != expected_width:
        raise GoalDecodeError(f"tokens have width {width}, this model expects {expected_width}")
    itemsize = 4 if code == GoalTokensMsg.DTYPE_FLOAT32 else 2
    data = msg.data
    if isinstance(data, (list, tuple)):
        data = bytes(data)  # plain sequences from hand-built messages; rclpy gives a buffer
    size = len(data) * getattr(data, "itemsize", 1)
    if count <= 0 or width <= 0 or size != count * width * itemsize:
        raise GoalDecodeError(
            f"data has {size} bytes, expected {count}x{width}x{itemsize} = {count * width * itemsize}"
        )
    if len(msg.attention_mask) != count:
        raise GoalDecodeError(f"attention_mask has {len(msg.attention_mask)} entries, expected {count}")
    raw_dtype = np.float32 if code == GoalTokensMsg.DTYPE_FLOAT32 else np.int16
    raw = torch.from_numpy(np.frombuffer(data, dtype=raw_dtype).copy())
    values = raw if code == GoalTokensMsg.DTYPE_FLOAT32 else raw.view(_TORCH_DTYPES[code])
    tokens = values.to(torch.float32).reshape(1, count, width)
    if not torch.isfinite(tokens).all():
        raise GoalDecodeError("goal tokens contain NaN or inf")
    mask = torch.tensor([bool(v) for v in msg.attention_mask], dtype=torch.bool).reshape(1, count)
    if not mask.any():
        raise GoalDecodeError("attention_mask masks every token")
    return DecodedGoal(
        tokens=tokens,
        mask=mask,
        sequence=int(msg.sequence),
        stamp=time_to_seconds(msg.header.stamp),
        instruction=msg.instruction,
        instruction_id=msg.instruction_id,
        model_id=msg.model_id,
    )


def cdr_header_stamp(serialized: bytes) -> float:
    """`header.stamp` (seconds) of a serialized message whose first field is a std_msgs/Header.

    CDR layout: a 4-byte encapsulation header (byte 1: 0 big-, 1 little-endian), then
    `int32 sec`, `uint32 nanosec`.
    """
    if len(serialized) < 12:
        raise ValueError(f"{len(serialized)} bytes is too short for a CDR header")
    order = "<" if serialized[1] & 1 else ">"
    sec, nanosec = struct.unpack_from(f"{order}iI", serialized, 4)
    return sec + nanosec * 1e-9


def time_to_seconds(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def seconds_to_time(seconds: float) -> Time:
    nanos = int(round(seconds * 1e9))
    return Time(sec=nanos // 1_000_000_000, nanosec=nanos % 1_000_000_000)


def seconds_to_duration(seconds: float) -> Duration:
    nanos = int(round(seconds * 1e9))
    return Duration(sec=nanos // 1_000_000_000, nanosec=nanos % 1_000_000_000)


def duration_to_seconds(duration: Duration) -> float:
    return duration.sec + duration.nanosec * 1e-9


def action_chunk_message(planned: Any, model_id: str, backend: str) -> ActionChunk:
    """The ActionChunk of a planned chunk (``gr00t_policy.runtime.system1.PlannedChunk``)."""
    chunk = planned.chunk
    msg = ActionChunk()
    msg.header.stamp = seconds_to_time(chunk.start_time)
    msg.step_period = seconds_to_duration(chunk.step_period)
    msg.joint_names = list(chunk.joint_names)
    msg.horizon = int(chunk.positions.shape[0])
    msg.positions = chunk.positions.reshape(-1).tolist()
    if planned.goal_sequence is not None:
        msg.goal_sequence = planned.goal_sequence
        msg.goal_stamp = seconds_to_time(planned.goal_stamp)
    msg.model_id = model_id
    msg.backend = backend
    msg.inference_latency = float(planned.latency_s)
    return msg


def controller_status_message(snapshot: Any, stamp: Time) -> ControllerStatus:
    """The ControllerStatus of a runtime status snapshot (``System1Runtime.snapshot``)."""
    msg = ControllerStatus()
    msg.header.stamp = stamp
    msg.state = int(snapshot.state)
    msg.dry_run = snapshot.dry_run
    msg.reason = snapshot.reason
    msg.active_faults = list(snapshot.active_faults)
    msg.chunks_executed = snapshot.chunks_executed
    msg.command_rate = snapshot.command_rate_hz
    return msg


def trajectory_message(trajectory: Any) -> JointTrajectory:
    """The JointTrajectory of ``trajectory`` (``gr00t_policy.runtime.trajectory_output.TrajectoryPoints``):
    positions by joint name; no points = stop."""
    msg = JointTrajectory()
    msg.header.stamp = seconds_to_time(trajectory.stamp)
    msg.joint_names = list(trajectory.joint_names)
    msg.points = [
        JointTrajectoryPoint(positions=row.tolist(), time_from_start=seconds_to_duration(float(offset)))
        for offset, row in zip(trajectory.time_from_start, trajectory.positions, strict=True)
    ]
    return msg
