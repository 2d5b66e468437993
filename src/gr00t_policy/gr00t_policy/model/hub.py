"""Model references: a local checkpoint directory or a Hugging Face Hub repo id.

Every place that accepts a model directory (the nodes' ``model_path``, the launch files' ``model:=``,
``gr00t-checkpoint``, ``gr00t-finetune --base-model``, ``gr00t-eval --model``) passes it through
:func:`resolve_model`, so one syntax works everywhere:

* ``models/gr00t_demo``, ``/data/ckpt``, ``~/runs/ft`` — an existing directory is always used as is;
* ``nvidia/GR00T-N1-2B`` — a repo id (``org/name``) that is not an existing directory: its snapshot
  in huggingface_hub's cache, downloaded first when missing and the Hub can be reached;
* ``nvidia/GR00T-N1-2B@<revision>`` — a branch, tag or commit hash (default ``main``);
* ``hf://org/name[@revision]`` — the Hub even if a local directory of that name exists.

The revision rides in the same string (``@rev``) rather than a separate option so that it passes
unchanged through every string parameter (ROS parameters, launch arguments, CLI options).

huggingface_hub does the caching (its standard cache layout, shared with transformers and the
``hf`` CLI; ``HF_HUB_CACHE`` / ``HF_HOME`` move it) and honours ``HF_HUB_OFFLINE=1``: offline, a
cached snapshot is used and nothing is fetched; an error names the repo, the revision and the cache
it looked in.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

HUB_PREFIX = "hf://"
# Hub repo ids: "org/name" of letters, digits, '-', '_', '.' (huggingface_hub's own rule, simplified).
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
_TRUE = {"1", "ON", "YES", "TRUE"}


class ModelNotFoundError(FileNotFoundError):
    """Neither a local checkpoint directory nor a Hub model available here (the message says which
    and what to do)."""


def parse_hub_reference(reference: str) -> tuple[str, str | None] | None:
    """``(repo_id, revision or None)`` if ``reference`` is written as a Hub model, else None.

    ``hf://`` forces the Hub reading, so a malformed id after it is a ValueError, not a path.
    """
    forced = reference.startswith(HUB_PREFIX)
    body = reference[len(HUB_PREFIX) :] if forced else reference
    repo_id, at, revision = body.partition("@")
    if _REPO_ID.match(repo_id) and not (at and not revision) and ".." not in repo_id:
        return repo_id, revision or None
    if forced:
        raise ValueError(f"{reference!r}: expected hf://<org>/<name>[@<revision>]")
    return None


def hub_offline() -> bool:
    """HF_HUB_OFFLINE as set now (huggingface_hub reads it once, at import)."""
    from huggingface_hub import constants

    return os.environ.get("HF_HUB_OFFLINE", "").upper() in _TRUE or bool(constants.HF_HUB_OFFLINE)


def hub_cache_dir() -> Path:
    """The cache huggingface_hub uses, from the environment as set now."""
    from huggingface_hub import constants

    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path(constants.HF_HUB_CACHE)


def resolve_model(reference: str | Path) -> Path:
    """The local checkpoint directory that ``reference`` names (see the module docstring)."""
    text = str(reference).strip()
    if not text:
        raise ModelNotFoundError("empty model reference: give a checkpoint directory or a Hub repo id (org/name)")
    if not text.startswith(HUB_PREFIX):
        local = Path(text).expanduser()
        if local.is_dir():
            return local
    hub = parse_hub_reference(text)
    if hub is None:
        raise ModelNotFoundError(
            f"model {text!r}: no such directory, and not a Hugging Face repo id (org/name[@revision])"
        )
    repo_id, revision = hub
    return download_model(repo_id, revision)


def download_model(repo_id: str, revision: str | None = None) -> Path:
    """The snapshot directory of ``repo_id`` at ``revision`` in the Hub cache, fetched when missing
    (unless offline). Raises :class:`ModelNotFoundError` saying what is missing where."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    offline = hub_offline()
    cache = hub_cache_dir()
    name = f"{repo_id}@{revision or 'main'}"
    fetch_hint = f"`hf download {repo_id}" + (f" --revision {revision}" if revision else "") + "`"
    try:
        path = Path(snapshot_download(repo_id, revision=revision, cache_dir=cache, local_files_only=offline))
    except LocalEntryNotFoundError as exc:
        why = (
            "HF_HUB_OFFLINE=1 forbids downloading"
            if offline
            else f"the Hub could not be reached ({exc.__class__.__name__})"
        )
        raise ModelNotFoundError(
            f"model {name} is not in the Hugging Face cache {cache} and {why}; fetch it with {fetch_hint} on a "
            "machine with network access (and copy the cache, or point HF_HUB_CACHE at it), or give a local directory"
        ) from exc
    except GatedRepoError as exc:
        raise ModelNotFoundError(
            f"model {repo_id} is gated on the Hub: accept its terms and log in (`hf auth login`)"
        ) from exc
    except RevisionNotFoundError as exc:
        raise ModelNotFoundError(f"model {repo_id} has no revision {revision!r} on the Hub") from exc
    except RepositoryNotFoundError as exc:
        raise ModelNotFoundError(
            f"model {repo_id!r}: no such local directory, and no such repository on the Hub (or it is private: log in)"
        ) from exc
    except HfHubHTTPError as exc:
        raise ModelNotFoundError(f"model {name}: the Hub answered {exc}") from exc
    if not (path / "config.json").is_file():
        raise ModelNotFoundError(
            f"model {name}: the cached snapshot {path} has no config.json (an incomplete download, or not a GR00T "
            f"checkpoint); run {fetch_hint} again"
        )
    return path
