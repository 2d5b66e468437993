"""``gr00t-checkpoint`` command line."""

from __future__ import annotations

import json

import pytest
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
    assert "tokenizer_cases: OK" in out and "ok  input_ids" in out
    assert "OK: 5/5 cases within tolerance, 78 stages checked, 0 skipped" in out
    assert "skipped: none" in out and "SKIPPED" not in out


def _fixtures_copy(parity_dir, destination, leave_out=()):
    """The parity fixtures (linked, not copied) in a directory with no eagle2_tokenizer beside it."""
    destination.mkdir()
    for path in parity_dir.iterdir():
        if path.name not in leave_out:
            (destination / path.name).symlink_to(path)
    return destination


def test_parity_without_a_tokenizer_is_bad_input_not_a_shorter_pass(tmp_path, parity_dir, capsys):
    fixtures = _fixtures_copy(parity_dir, tmp_path / "parity")
    assert main(["parity", "--fixtures", str(fixtures)]) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert "OK" not in captured.out
    missing = tmp_path / "eagle2_tokenizer"
    assert f"the tokenizer stage needs the Eagle-2 tokenizer files: {missing} does not exist" in captured.err
    assert "--tokenizer-dir DIR" in captured.err and "--skip-stage tokenizer" in captured.err


def test_parity_with_a_missing_tokenizer_dir_is_bad_input(tmp_path, parity_dir, capsys):
    args = ["parity", "--fixtures", str(parity_dir), "--tokenizer-dir", str(tmp_path / "no_tokenizer")]
    assert main(args) == EXIT_BAD_INPUT
    assert f"{tmp_path / 'no_tokenizer'} does not exist" in capsys.readouterr().err


def test_parity_without_the_tokenizer_cases_is_bad_input(tmp_path, parity_dir, eagle2_tokenizer_dir, capsys):
    fixtures = _fixtures_copy(parity_dir, tmp_path / "parity", leave_out=("tokenizer_cases.json",))
    args = ["parity", "--fixtures", str(fixtures), "--tokenizer-dir", str(eagle2_tokenizer_dir)]
    assert main(args) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert f"the tokenizer cases: {fixtures / 'tokenizer_cases.json'} does not exist" in err


def test_skipping_the_tokenizer_stage_is_explicit_and_reported(tmp_path, parity_dir, capsys):
    fixtures = _fixtures_copy(parity_dir, tmp_path / "parity")
    assert main(["parity", "--fixtures", str(fixtures), "--skip-stage", "tokenizer"]) == EXIT_OK
    out = capsys.readouterr().out
    # The verdict carries the skip; input_ids and attention_mask of the 3 inference cases are not
    # compared, and the case tokenizer_cases (6 prompts) is not run.
    verdict = "OK with stages skipped (tokenizer): 4/4 cases within tolerance, 66 stages checked, 6 skipped"
    assert verdict in out
    skipped = "input_ids, attention_mask of 3 cases; the case tokenizer_cases"
    assert f"skipped on request (--skip-stage tokenizer): {skipped}" in out
    assert "tokenizer_cases: SKIPPED (--skip-stage tokenizer)" in out
    assert out.count("--- input_ids") == 3 and out.count("--- attention_mask") == 3
    assert "skipped: none" not in out and "\nOK:" not in out


def test_a_tokenizer_dir_cannot_be_given_with_the_tokenizer_stage_skipped(parity_dir, eagle2_tokenizer_dir, capsys):
    args = ["parity", "--fixtures", str(parity_dir), "--tokenizer-dir", str(eagle2_tokenizer_dir)]
    with pytest.raises(SystemExit) as exc:
        main([*args, "--skip-stage", "tokenizer"])
    assert exc.value.code == 2
    assert "argument --skip-stage: not allowed with argument --tokenizer-dir" in capsys.readouterr().err


def test_only_known_stages_can_be_skipped(parity_dir, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["parity", "--fixtures", str(parity_dir), "--skip-stage", "backbone"])
    assert exc.value.code == 2
    assert "invalid choice: 'backbone'" in capsys.readouterr().err


def test_inspect_and_verify_a_saved_checkpoint(tmp_path, capsys):
    Gr00tPolicy.from_preset("demo").save_pretrained(tmp_path / "ckpt", dtype=torch.bfloat16)
    assert main(["inspect", str(tmp_path / "ckpt")]) == EXIT_OK
    out = capsys.readouterr().out
    assert "metadata[gr1]" in out and "BF16" in out
    assert main(["verify", "--checkpoint", str(tmp_path / "ckpt")]) == EXIT_OK
    assert main(["inspect", str(tmp_path / "nothing")]) == EXIT_BAD_INPUT
