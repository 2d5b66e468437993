"""Validation of operator instructions (pure)."""

from __future__ import annotations

import unicodedata
import uuid


class InstructionRejected(ValueError):
    """The instruction cannot be used (too long, not text)."""


def normalize_instruction(text: str, max_bytes: int) -> str:
    """Return the instruction as the model should see it, or raise InstructionRejected.

    Control characters are replaced by spaces and whitespace is collapsed; an empty result is a
    valid "clear the instruction" request (the policy then holds position).
    """
    if not isinstance(text, str):
        raise InstructionRejected(f"instruction must be text, got {type(text).__name__}")
    size = len(text.encode("utf-8", errors="replace"))
    if size > max_bytes:
        raise InstructionRejected(f"instruction is {size} bytes, the limit is {max_bytes}")
    cleaned = "".join(" " if unicodedata.category(c).startswith("C") else c for c in text)
    return " ".join(cleaned.split())


def new_instruction_id() -> str:
    return uuid.uuid4().hex
