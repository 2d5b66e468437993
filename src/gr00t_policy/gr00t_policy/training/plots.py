"""The loss curve of a fine-tuning run, ``<output_dir>/loss_curve.png`` (only when matplotlib is installed)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

LOSS_PLOT_FILE = "loss_curve.png"


def plot_losses(records: Sequence[Mapping[str, Any]], png_path: Path) -> None:
    """Logged loss over optimizer steps, log scale; nothing without matplotlib or records."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.info("matplotlib not installed; no %s", png_path.name)
        return
    if not records:
        return
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([r["step"] for r in records], [r["loss"] for r in records])
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("flow-matching loss")
    ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
