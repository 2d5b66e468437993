"""The normalisation statistics a fine-tuned checkpoint carries (``FinetuneConfig.normalization_stats``).

``dataset`` (the original runner): the dataset's min/max become the checkpoint's statistics for its
embodiment. ``base``: the base checkpoint's statistics are kept, for continuing a policy on more data
of the same robot (new min/max would rescale every target the base learned), widened only where the
new data leaves the base's range by a lot (:func:`keep_base_statistics`).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..model.embodiments import DataConfig, EmbodimentStats

logger = logging.getLogger(__name__)

_RANGE_TOLERANCE = 1e-3  # radians; float32 statistics of the same robot differ by less
_MAX_NORMALISED_EXCESS = 1.0  # base normalisation: values up to +-2 are kept, beyond that the range widens


def checkpoint_metadata(
    base: Mapping[str, Any] | None, entry: Mapping[str, Any], data_config: DataConfig, normalization_stats: str
) -> dict[str, Any]:
    """The metadata a fine-tuned checkpoint is saved with: the base's, plus the dataset's embodiment
    ``entry`` (:func:`~.dataset.dataset_metadata`) with the statistics ``normalization_stats`` picks."""
    if normalization_stats == "base":
        entry = keep_base_statistics(base, entry, data_config)
    return merge_metadata(base, entry)


def merge_metadata(base: Mapping[str, Any] | None, entry: Mapping[str, Any]) -> dict[str, Any]:
    """Base checkpoint metadata with the dataset's embodiment entry added or replaced (original runner)."""
    merged = dict(base or {})
    merged.update(entry)
    return merged


def keep_base_statistics(
    base: Mapping[str, Any] | None, entry: Mapping[str, Any], data_config: DataConfig
) -> dict[str, Any]:
    """The dataset's embodiment entry with the base checkpoint's statistics for it (``base``
    normalisation). Dimensions where the dataset leaves the base's range by more than
    ``_MAX_NORMALISED_EXCESS`` in normalised units are widened to cover it: a joint the base data
    barely moved (a hand held open: a min-max span of micro-radians) would otherwise normalise a
    new recording's motion to values of 1e8 and swamp the loss."""
    tag = data_config.embodiment_tag
    if not base or tag not in base or "statistics" not in base[tag]:
        raise ValueError(
            f"normalization_stats='base': the base checkpoint has no statistics for embodiment {tag!r} "
            f"(it has {sorted(base or {})})"
        )
    base_stats = EmbodimentStats.from_metadata(base, data_config)
    dataset_stats = EmbodimentStats.from_metadata(entry, data_config)
    statistics = copy.deepcopy(base[tag]["statistics"])  # widened below, the base stays as loaded
    for kind in ("state", "action"):
        for group, ours in getattr(dataset_stats, kind).items():
            theirs = getattr(base_stats, kind)[group]
            beyond = np.maximum(theirs.min - ours.min, ours.max - theirs.max)
            normalised = 2.0 * beyond / np.maximum(theirs.max - theirs.min, 1e-12)
            # No absolute tolerance here: a joint held still spans ~1e-12 rad, so even 1e-4 rad of new
            # motion normalises to ~1e8.
            widen = normalised > _MAX_NORMALISED_EXCESS
            if widen.any():
                entry_stats = statistics[kind][group]
                entry_stats["min"] = np.where(widen, np.minimum(theirs.min, ours.min), theirs.min).tolist()
                entry_stats["max"] = np.where(widen, np.maximum(theirs.max, ours.max), theirs.max).tolist()
                logger.warning(
                    "normalization_stats='base': %s.%s dims %s widened to the dataset's range (up to %.3g "
                    "rad beyond the base's, which spans %s rad there)",
                    kind,
                    group,
                    np.flatnonzero(widen).tolist(),
                    float(beyond[widen].max()),
                    [float(f"{v:.3g}") for v in (theirs.max - theirs.min)[widen]],
                )
            elif beyond.max() > _RANGE_TOLERANCE:
                logger.warning(
                    "normalization_stats='base': the dataset's %s.%s goes up to %.3f beyond the base "
                    "checkpoint's range (normalised values up to %.2f past +-1 there)",
                    kind,
                    group,
                    float(beyond.max()),
                    float(normalised.max()),
                )
    kept = {key: dict(value) for key, value in entry.items()}
    kept[tag]["statistics"] = statistics
    return kept
