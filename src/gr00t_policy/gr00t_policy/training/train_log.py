"""``<output_dir>/train_log.jsonl``: one JSON line per logged step (step, loss, lr, grad_norm, timings)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

TRAIN_LOG_FILE = "train_log.jsonl"


def read_train_log(output_dir: str | Path) -> list[dict[str, Any]]:
    path = Path(output_dir) / TRAIN_LOG_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def append_train_log(output_dir: Path, record: Mapping[str, Any]) -> None:
    with (output_dir / TRAIN_LOG_FILE).open("a") as f:
        f.write(json.dumps(record) + "\n")


def truncate_train_log(output_dir: Path, step: int) -> None:
    """Drop log lines after ``step`` (a resumed run rewrites them)."""
    path = output_dir / TRAIN_LOG_FILE
    if not path.is_file():
        return
    keep = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= step]
    path.write_text("".join(line + "\n" for line in keep))
