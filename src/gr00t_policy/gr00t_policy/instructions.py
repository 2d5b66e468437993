"""Validation of operator instructions (pure)."""

from __future__ import annotations

import unicodedata
import uuid


class InstructionRejected(ValueError):
    """The instruction cannot be used (too long, not text, not valid UTF-8)."""


# rclpy decodes a string field whose bytes are not UTF-8 with replacement characters (checked:
# b"\xff\xfe" arrives as "\ufffd\ufffd"), so the sender's bytes are gone; the instruction must not
# reach the model as a guess.
REPLACEMENT_CHARACTER = "\ufffd"


def normalize_instruction(text: str, max_bytes: int) -> str:
    """Return the instruction as the model should see it, or raise InstructionRejected.

    Control characters are replaced by spaces and whitespace is collapsed; an empty result is a
    valid "clear the instruction" request (the policy then holds position). Text that was not
    valid UTF-8 on the wire (replacement characters, unpaired surrogates) is rejected.
    """
    if not isinstance(text, str):
        raise InstructionRejected(f"instruction must be text, got {type(text).__name__}")
    if REPLACEMENT_CHARACTER in text:
        raise InstructionRejected(
            "instruction is not valid UTF-8: it holds U+FFFD replacement characters "
            f"(at character {text.index(REPLACEMENT_CHARACTER)}), so the bytes sent were not UTF-8 text"
        )
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InstructionRejected(
            f"instruction is not valid UTF-8: unpaired surrogate at character {exc.start}"
        ) from exc
    if size > max_bytes:
        raise InstructionRejected(f"instruction is {size} bytes, the limit is {max_bytes}")
    cleaned = "".join(" " if unicodedata.category(c).startswith("C") else c for c in text)
    return " ".join(cleaned.split())


# `new_instruction_id()` gives 32 hex digits; a caller's id is echoed in every GoalTokens message
# (10 Hz) and in log lines, so a 100 kB id would be republished whole.
MAX_INSTRUCTION_ID_CHARS = 64


def check_instruction_id(instruction_id: str) -> None:
    """Raise InstructionRejected for an id longer than ``MAX_INSTRUCTION_ID_CHARS``."""
    if len(instruction_id) > MAX_INSTRUCTION_ID_CHARS:
        raise InstructionRejected(
            f"instruction id is {len(instruction_id)} characters, at most {MAX_INSTRUCTION_ID_CHARS} allowed"
        )


def new_instruction_id() -> str:
    return uuid.uuid4().hex
