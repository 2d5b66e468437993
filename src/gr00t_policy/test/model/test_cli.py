"""``gr00t-checkpoint`` command line."""

from __future__ import annotations

import json

import torch

from gr00t_policy.cli.checkpoint import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, main
from gr00t_policy.policy import Gr00tPolicy


def test_verify_real_preset_against_reference_listing(state_dict_listing, capsys):
    assert main(["verify", "--preset", "gr00t_n1_2b", "--reference", str(state_dict_listing)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "802 tensors, 2,190,016,752 parameters" in out and "802 match" in out


def test_verify_fails_on_a_mismatched_listing(tmp_path, state_dict_listing, capsys):
    listing = json.loads(state_dict_listing.read_text())
    listing["backbone.linear.weight"] = [1024, 2048]
    del listing["backbone.linear.bias"]
    bad = tmp_path / "listing.json"
    bad.write_text(json.dumps(listing))
    assert main(["verify", "--preset", "gr00t_n1_2b", "--reference", str(bad)]) == EXIT_FAILED
    out = capsys.readouterr().out
    assert "1 missing" in out and "backbone.linear.weight: [1024, 2048] vs [1536, 2048]" in out


def test_verify_tiny_config_against_its_listing(parity_dir):
    assert (
        main(
            [
                "verify",
                "--config",
                str(parity_dir / "tiny_config.json"),
                "--reference",
                str(parity_dir / "tiny_state_dict_shapes.json"),
            ]
        )
        == EXIT_OK
    )


def test_missing_reference_file_is_bad_input(tmp_path, capsys):
    assert main(["verify", "--reference", str(tmp_path / "none.json")]) == EXIT_BAD_INPUT
    assert "none.json" in capsys.readouterr().err


def test_parity_command_passes_on_the_reference_fixtures(parity_dir, capsys):
    assert main(["parity", "--fixtures", str(parity_dir)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "5/5 cases within tolerance" in out and "euler_velocity" in out


def test_inspect_and_verify_a_saved_checkpoint(tmp_path, capsys):
    Gr00tPolicy.from_preset("demo").save_pretrained(tmp_path / "ckpt", dtype=torch.bfloat16)
    assert main(["inspect", str(tmp_path / "ckpt")]) == EXIT_OK
    out = capsys.readouterr().out
    assert "metadata[gr1]" in out and "BF16" in out
    assert main(["verify", "--checkpoint", str(tmp_path / "ckpt")]) == EXIT_OK
    assert main(["inspect", str(tmp_path / "nothing")]) == EXIT_BAD_INPUT
