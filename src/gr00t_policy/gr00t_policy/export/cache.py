"""The ONNX cache: compiled backends find (or make) the export of a loaded policy here.

Layout: ``<root>/<model_id>/<variant>/`` where ``variant`` names what is baked into the graphs
(embodiment slot, Euler steps, dtype, opset, export format). The manifest records a digest of the
head's weights; an export whose digest differs (a re-trained checkpoint with the same name, a
preset built with another seed) is re-exported rather than trusted. A fresh export is checked with
``onnx.checker`` and against torch once before it is used.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

from .onnx_export import (
    ALL_GRAPHS,
    DEFAULT_OPSET,
    EXPORT_FORMAT_VERSION,
    MANIFEST_NAME,
    ExportManifest,
    action_head_digest,
    check_graphs,
    export_policy,
    validate_export,
)

logger = logging.getLogger(__name__)

CACHE_ENV = "GR00T_ONNX_CACHE"
# A fresh export must reproduce the torch chunk (normalised units, fp32) to this; see test/export.
FRESH_EXPORT_ATOL = 1e-4
FRESH_EXPORT_RTOL = 1e-4


class ExportValidationError(RuntimeError):
    """An exported graph does not reproduce the torch model."""


def default_cache_root() -> Path:
    """``$GR00T_ONNX_CACHE``, else ``$XDG_CACHE_HOME/gr00t/onnx``, else ``~/.cache/gr00t/onnx``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "gr00t" / "onnx"


def export_dir_for(policy: Any, cache_root: str | Path | None = None, *, opset: int = DEFAULT_OPSET) -> Path:
    head = policy.model.action_head
    variant = (
        f"emb{policy.data_config.embodiment_id}-k{policy.denoising_steps}-"
        f"{str(head.dtype).removeprefix('torch.')}-opset{opset}-v{EXPORT_FORMAT_VERSION}"
    )
    model_dir = re.sub(r"[^A-Za-z0-9_.-]", "_", policy.model_id)
    return Path(cache_root or default_cache_root()) / model_dir / variant


def ensure_exported(
    policy: Any, cache_root: str | Path | None = None, *, opset: int = DEFAULT_OPSET
) -> tuple[Path, ExportManifest]:
    """Return the export directory of ``policy``'s head, exporting and validating it when missing or stale."""
    directory = export_dir_for(policy, cache_root, opset=opset)
    head = policy.model.action_head
    digest = action_head_digest(head)
    if (directory / MANIFEST_NAME).exists():
        manifest = ExportManifest.read(directory)
        complete = set(ALL_GRAPHS) <= set(manifest.graphs) and all(
            manifest.path(directory, g).exists() for g in ALL_GRAPHS
        )
        if manifest.weights_digest == digest and complete:
            return directory, manifest
        logger.warning("ONNX cache %s is stale or incomplete; exporting again", directory)
    logger.info("exporting System 1 of %s to ONNX in %s (once per model)", policy.model_id, directory)
    manifest = export_policy(policy, directory, opset=opset)
    check_graphs(directory)
    checks = validate_export(directory, head, batch_sizes=(1,), token_counts=(3,))
    failed = [c for c in checks if not c.passed(FRESH_EXPORT_ATOL, FRESH_EXPORT_RTOL)]
    if failed:
        raise ExportValidationError(
            f"ONNX export in {directory} does not match torch within atol {FRESH_EXPORT_ATOL}: "
            + ", ".join(f"{c.graph} max|diff| {c.max_abs_diff:.2e}" for c in failed)
        )
    manifest.validation = {
        "max_abs_diff": {c.graph: max(x.max_abs_diff for x in checks if x.graph == c.graph) for c in checks},
        "atol": FRESH_EXPORT_ATOL,
        "rtol": FRESH_EXPORT_RTOL,
    }
    manifest.write(directory)
    return directory, manifest
