"""The console's requests: what a browser (WebSocket or HTTP) may ask, validated before anything
reaches the robot, and the token check. Pure Python (no rclpy, no aiohttp): tested on its own.

A request is a JSON object `{"op": ..., ...}` of at most `max_request_bytes`. Every field is
checked against its kind (type, length, range); unknown fields or ops are refused. Only `estop`
is allowed without the token: anything that moves the robot or records needs it.
"""

from __future__ import annotations

import hmac
import json
import math
import secrets
import unicodedata
from dataclasses import dataclass, field
from typing import Any

# op -> {field: kind}; kinds: "text" (non-empty instruction), "timeout" (seconds, 0 = server default),
# "group" (joint group name), "token", "outcome" (how a recording ends), "id" (client's request id).
OPS: dict[str, dict[str, str]] = {
    "auth": {"token": "token"},
    "estop": {},
    "reset_estop": {},
    "enable": {},
    "disable": {},
    "instruct": {"text": "text", "timeout_s": "timeout"},
    "stop": {},
    "record_start": {"text": "text"},
    "record_stop": {"outcome": "outcome"},
    "select_group": {"group": "group"},
}
REQUIRED = {
    "auth": {"token"},
    "instruct": {"text"},
    "record_start": {"text"},
    "record_stop": {"outcome"},
    "select_group": {"group"},
}
# What needs no token: e-stop (always allowed) and presenting the token itself.
OPEN_OPS = frozenset({"estop", "auth"})
# Ops that only change what this client is shown (no robot, no recorder).
VIEW_OPS = frozenset({"select_group"})
RECORD_OUTCOMES = ("success", "failure", "discard")
MAX_TIMEOUT_S = 3600.0
MAX_GROUP_CHARS = 64
MAX_ID = 2**31


class RequestError(ValueError):
    """A request that is not one the console accepts (the message says why; safe to show the client)."""


@dataclass(frozen=True)
class Request:
    op: str
    args: dict[str, Any] = field(default_factory=dict)
    id: int | None = None  # echoed in the reply so a client can match it

    @property
    def needs_token(self) -> bool:
        return self.op not in OPEN_OPS


def generate_token() -> str:
    """A fresh random token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def token_matches(expected: str, presented: Any) -> bool:
    """Constant-time comparison; anything that is not a non-empty string of sane size is a mismatch."""
    if not expected or not isinstance(presented, str) or not presented or len(presented) > 256:
        return False
    try:
        return hmac.compare_digest(expected.encode("utf-8"), presented.encode("utf-8"))
    except UnicodeEncodeError:  # lone surrogates
        return False


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, else None."""
    if not header or len(header) > 300:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def check_instruction(text: Any, max_bytes: int) -> str:
    """A non-empty UTF-8 instruction of at most `max_bytes` without control characters, stripped."""
    if not isinstance(text, str):
        raise RequestError("the instruction must be a string")
    text = text.strip()
    if not text:
        raise RequestError("the instruction is empty")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise RequestError("the instruction is not valid UTF-8") from None
    if size > max_bytes:
        raise RequestError(f"the instruction has {size} bytes, more than {max_bytes}")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in text):
        raise RequestError("the instruction contains control characters")
    return text


def parse_request(raw: str | bytes, *, max_bytes: int, max_instruction_bytes: int, groups: tuple[str, ...]) -> Request:
    """One request from its JSON text; RequestError (with a short reason) for anything else."""
    if isinstance(raw, bytes | bytearray):
        if len(raw) > max_bytes:
            raise RequestError(f"request larger than {max_bytes} bytes")
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise RequestError("request is not UTF-8") from None
    if not isinstance(raw, str):
        raise RequestError("request is not text")
    if len(raw) > max_bytes:  # characters >= bytes / 4; the exact byte count follows
        raise RequestError(f"request larger than {max_bytes} bytes")
    try:
        if len(raw.encode("utf-8")) > max_bytes:
            raise RequestError(f"request larger than {max_bytes} bytes")
    except UnicodeEncodeError:
        raise RequestError("request is not UTF-8") from None
    try:
        # Constants like NaN/Infinity are not JSON: refused. Nesting is bounded by the size.
        message = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise RequestError("request is not valid JSON") from None
    return validate(message, max_instruction_bytes=max_instruction_bytes, groups=groups)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def validate(message: Any, *, max_instruction_bytes: int, groups: tuple[str, ...]) -> Request:
    if not isinstance(message, dict):
        raise RequestError("request must be a JSON object")
    op = message.get("op")
    if not isinstance(op, str) or op not in OPS:
        raise RequestError(f"unknown op; one of {', '.join(sorted(OPS))}")
    spec = OPS[op]
    request_id = message.get("id")
    if request_id is not None and (type(request_id) is not int or not 0 <= request_id < MAX_ID):
        raise RequestError("id must be an integer in [0, 2^31)")
    unknown = set(message) - set(spec) - {"op", "id"}
    if unknown:
        raise RequestError(f"{op}: unknown field(s) {', '.join(sorted(map(str, unknown)))[:200]}")
    missing = REQUIRED.get(op, set()) - set(message)
    if missing:
        raise RequestError(f"{op}: missing field(s) {', '.join(sorted(missing))}")
    args = {
        name: _check_field(op, name, kind, message[name], max_instruction_bytes, groups)
        for name, kind in spec.items()
        if name in message
    }
    return Request(op, args, request_id)


def _check_field(op: str, name: str, kind: str, value: Any, max_instruction_bytes: int, groups: tuple[str, ...]) -> Any:
    if kind == "text":
        return check_instruction(value, max_instruction_bytes)
    if kind == "timeout":
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not 0 <= value <= MAX_TIMEOUT_S
        ):
            raise RequestError(f"{op}.{name} must be a number of seconds in [0, {MAX_TIMEOUT_S:g}]")
        return float(value)
    if kind == "group":
        if not isinstance(value, str) or len(value) > MAX_GROUP_CHARS or value not in groups:
            raise RequestError(f"{op}.{name}: one of {', '.join(groups)}")
        return value
    if kind == "outcome":
        if value not in RECORD_OUTCOMES:
            raise RequestError(f"{op}.{name}: one of {', '.join(RECORD_OUTCOMES)}")
        return value
    if kind == "token":
        if not isinstance(value, str) or len(value) > 256:
            raise RequestError("token must be a string")
        return value
    raise AssertionError(kind)
