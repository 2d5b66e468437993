"""Hugging Face Hub model ids (``org/name[@revision]``) resolved from a Hub cache the test builds in
the layout huggingface_hub reads (``models--org--name/{refs,snapshots}``), offline: the resolver,
``gr00t-checkpoint``, the policy loader the nodes and ``gr00t-eval`` use, and the errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from gr00t_policy.cli.checkpoint import EXIT_BAD_INPUT, EXIT_OK
from gr00t_policy.cli.checkpoint import main as checkpoint_main
from gr00t_policy.model.hub import ModelNotFoundError, parse_hub_reference, resolve_model
from gr00t_policy.policy import Gr00tPolicy, resolve_model_path

MAIN_COMMIT = "1" * 40
TAGGED_COMMIT = "2" * 40


def add_to_hub_cache(cache: Path, repo_id: str, checkpoint: Path, commit: str, refs: tuple[str, ...]) -> Path:
    """Put `checkpoint` in the cache as huggingface_hub's snapshot_download leaves it: the files
    under snapshots/<commit>/, each ref a file holding the commit (huggingface_hub keeps the files
    themselves in blobs/ behind symlinks; it reads snapshots/ only, so plain copies do)."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    shutil.copytree(checkpoint, snapshot)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    for ref in refs:
        (repo / "refs" / ref).write_text(commit)
    return snapshot


@pytest.fixture(scope="module")
def demo_checkpoint(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "demo"
    Gr00tPolicy.from_preset("demo").save_pretrained(path, dtype=torch.bfloat16)
    return path


@pytest.fixture
def hub_cache(tmp_path, monkeypatch, demo_checkpoint) -> Path:
    cache = tmp_path / "hf_cache"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # nothing may be fetched: everything comes from the cache
    add_to_hub_cache(cache, "acme/gr00t-demo", demo_checkpoint, MAIN_COMMIT, ("main",))
    add_to_hub_cache(cache, "acme/gr00t-demo", demo_checkpoint, TAGGED_COMMIT, ("v1",))
    return cache


def test_references_are_read_as_directories_first_then_hub_ids():
    assert parse_hub_reference("nvidia/GR00T-N1-2B") == ("nvidia/GR00T-N1-2B", None)
    assert parse_hub_reference("nvidia/GR00T-N1-2B@v1.0") == ("nvidia/GR00T-N1-2B", "v1.0")
    assert parse_hub_reference("hf://nvidia/GR00T-N1-2B@main") == ("nvidia/GR00T-N1-2B", "main")
    for path_like in ("/models/gr00t", "./out/ft", "~/ft", "models/a/b", "out/ft@", "../x/y"):
        assert parse_hub_reference(path_like) is None, path_like
    with pytest.raises(ValueError, match="hf://<org>/<name>"):
        parse_hub_reference("hf://just-a-name")


def test_hub_ids_resolve_offline_from_the_cache(hub_cache, tmp_path, monkeypatch):
    main_snapshot = hub_cache / "models--acme--gr00t-demo" / "snapshots" / MAIN_COMMIT
    assert resolve_model("acme/gr00t-demo") == main_snapshot
    assert resolve_model("acme/gr00t-demo@main") == main_snapshot
    assert resolve_model("hf://acme/gr00t-demo@v1").name == TAGGED_COMMIT
    assert resolve_model(f"acme/gr00t-demo@{TAGGED_COMMIT}").name == TAGGED_COMMIT
    # The nodes' and gr00t-eval's lookup: '' is still the bundled model, an id goes to the cache.
    assert resolve_model_path("acme/gr00t-demo") == main_snapshot
    policy = Gr00tPolicy.from_pretrained(resolve_model_path("acme/gr00t-demo@v1"))
    assert policy.data_config.name == "gr1_arms_only"

    # An existing directory of the same name wins over the Hub (a relative path like out/ft).
    monkeypatch.chdir(tmp_path)
    (tmp_path / "acme" / "gr00t-demo").mkdir(parents=True)
    assert resolve_model("acme/gr00t-demo") == Path("acme/gr00t-demo")
    assert resolve_model("hf://acme/gr00t-demo") == main_snapshot


def test_missing_models_say_what_is_missing_where(hub_cache):
    with pytest.raises(ModelNotFoundError) as error:
        resolve_model("acme/gr00t-demo@v2")
    message = str(error.value)
    assert "acme/gr00t-demo@v2" in message and str(hub_cache) in message and "HF_HUB_OFFLINE=1" in message
    assert "hf download acme/gr00t-demo --revision v2" in message
    with pytest.raises(ModelNotFoundError, match="acme/other@main is not in the Hugging Face cache"):
        resolve_model("acme/other")
    with pytest.raises(ModelNotFoundError, match="no such directory, and not a Hugging Face repo id"):
        resolve_model("/nonexistent/checkpoint/dir")
    # A snapshot without config.json (an interrupted download) is not taken for a model.
    broken = hub_cache / "models--acme--broken" / "snapshots" / MAIN_COMMIT
    broken.mkdir(parents=True)
    (hub_cache / "models--acme--broken" / "refs").mkdir()
    (hub_cache / "models--acme--broken" / "refs" / "main").write_text(MAIN_COMMIT)
    with pytest.raises(ModelNotFoundError, match="has no config.json"):
        resolve_model("acme/broken")


def test_checkpoint_inspect_reports_embodiments_and_statistics_of_a_hub_model(hub_cache, demo_checkpoint, capsys):
    assert checkpoint_main(["inspect", "acme/gr00t-demo"]) == EXIT_OK
    out = capsys.readouterr().out
    assert f"checkpoint: {(hub_cache / 'models--acme--gr00t-demo' / 'snapshots' / MAIN_COMMIT).resolve()}" in out
    metadata = json.loads((demo_checkpoint / "experiment_cfg" / "metadata.json").read_text())
    for tag, entry in metadata.items():
        assert f"metadata[{tag}]" in out
        for section in ("state", "action"):
            for group, values in entry["statistics"][section].items():
                assert f"  {section}.{group}: {', '.join(sorted(values))} range [" in out
    assert checkpoint_main(["verify", "--checkpoint", "acme/gr00t-demo@v1"]) == EXIT_OK
    capsys.readouterr()
    assert checkpoint_main(["inspect", "acme/gr00t-demo@v9"]) == EXIT_BAD_INPUT
    assert "acme/gr00t-demo@v9 is not in the Hugging Face cache" in capsys.readouterr().err
