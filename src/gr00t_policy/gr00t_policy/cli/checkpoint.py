"""``gr00t-checkpoint``: verify, check parity of, and inspect GR00T N1 checkpoints.

Commands::

    gr00t-checkpoint verify --preset gr00t_n1_2b --reference REF/gr00t_n1_2b_state_dict.json
    gr00t-checkpoint verify --config tiny_config.json --reference tiny_state_dict_shapes.json
    gr00t-checkpoint verify --checkpoint DIR            # a checkpoint's headers vs its config.json
    gr00t-checkpoint parity --fixtures REF/parity [--tokenizer-dir DIR | --skip-stage tokenizer]
    gr00t-checkpoint inspect DIR

REF is the repository's reference data, ``src/gr00t_policy/test/data/reference``.

``verify`` builds the model on the meta device (no memory) and exits 0 only if tensor names and
shapes match exactly. ``parity`` exits 0 only if every stage of every case is within
atol 1e-5 / rtol 1e-4; a stage whose input is missing (the tokenizer stage needs
``<fixtures>/../eagle2_tokenizer`` or ``--tokenizer-dir``) is bad input, not a shorter check, unless
``--skip-stage`` leaves it out, and the report then names what was skipped.
Exit status 1 = check failed, 2 = bad input (missing or unreadable files).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from ..model.checkpoint import (
    CheckpointError,
    build_meta_model,
    compare_shapes,
    count_parameters,
    load_config,
    load_metadata,
    model_shapes,
    read_tensor_index,
    safetensors_files,
)
from ..model.configuration_gr00t_n1 import ConfigError, Gr00tN1Config, get_preset, preset_names
from ..model.hub import resolve_model
from ..model.parity import SKIPPABLE_STAGES
from ..model.processing_gr00t_n1 import TokenizerLoadError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _config_from_args(args: argparse.Namespace) -> Gr00tN1Config:
    if args.config:
        return Gr00tN1Config.from_json_file(args.config)
    return get_preset(args.preset)


def cmd_verify(args: argparse.Namespace) -> int:
    if args.checkpoint:
        directory = resolve_model(args.checkpoint)
        config = load_config(directory)
        index = read_tensor_index(safetensors_files(directory))
        found = {k: v.shape for k, v in index.items()}
        source = str(directory)
    else:
        if not args.reference:
            raise SystemExit("verify: give --reference JSON (with --preset or --config) or --checkpoint DIR")
        config = _config_from_args(args)
        path = Path(args.reference)
        try:
            found = json.loads(path.read_text())
        except FileNotFoundError:
            raise CheckpointError(path, "reference state-dict listing is missing") from None
        except json.JSONDecodeError as exc:
            raise CheckpointError(path, f"not valid JSON ({exc})") from None
        if not isinstance(found, dict):
            raise CheckpointError(path, "must map tensor names to shapes")
        source = str(path)
    expected = model_shapes(build_meta_model(config))
    report = compare_shapes(found, expected)
    model_params = count_parameters(expected)
    print(
        f"model: {args.preset if not (args.config or args.checkpoint) else 'from config'}, "
        f"{len(expected)} tensors, {model_params:,} parameters (meta device)"
    )
    print(
        f"reference: {source}, {len(found)} tensors, "
        f"{count_parameters({k: v for k, v in found.items() if k not in report.ignored}):,} parameters"
    )
    print(report.format(limit=args.limit))
    print("OK: names and shapes match exactly" if report.ok else "FAILED: names/shapes differ")
    return EXIT_OK if report.ok else EXIT_FAILED


STAGE_FLAGS = {"tokenizer": "--tokenizer-dir DIR"}  # the flag that provides each skippable stage's input


def cmd_parity(args: argparse.Namespace) -> int:
    from ..model.parity import PARITY_ATOL, PARITY_RTOL, MissingStageInput, run_parity

    fixtures = Path(args.fixtures)
    if not fixtures.is_dir():
        raise CheckpointError(fixtures, "fixtures directory does not exist")
    skip_stages = tuple(args.skip_stage or ())
    try:
        report = run_parity(fixtures, args.tokenizer_dir, skip_stages=skip_stages)
    except MissingStageInput as exc:
        print(
            f"error: {exc}. Give {STAGE_FLAGS[exc.stage]}, or --skip-stage {exc.stage} to leave the "
            f"{exc.stage} stage out of the check.",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    skip_flags = " ".join(f"--skip-stage {name}" for name in report.skipped_stages)
    print(f"parity vs the original GR00T N1 (atol {PARITY_ATOL:g}, rtol {PARITY_RTOL:g})")
    for case in report.cases:
        print(f"\n{case.case}: {'OK' if case.ok else 'FAILED'}")
        for stage in case.stages:
            mark = "ok " if stage.ok else "BAD"
            note = f"  ({stage.note})" if stage.note else ""
            print(f"  {mark} {stage.name:<40} max abs err {stage.max_abs_error:.3e}{note}")
        for name in case.skipped:
            print(f"  --- {name:<40} skipped ({skip_flags})")
    for name in report.skipped_cases:
        print(f"\n{name}: SKIPPED ({skip_flags})")
    passed = sum(c.ok for c in report.cases)
    verdict = "OK" if report.ok else "FAILED"
    if report.skipped_stages:
        # The verdict itself says that less was checked than the fixtures hold.
        verdict += f" with stages skipped ({', '.join(report.skipped_stages)})"
    print(
        f"\n{verdict}: {passed}/{len(report.cases)} cases within tolerance, "
        f"{report.stages_checked} stages checked, {report.stages_skipped} skipped"
    )
    if report.skipped_stages:
        skipped_names = list(dict.fromkeys(name for case in report.cases for name in case.skipped))
        skipped_in = sum(bool(case.skipped) for case in report.cases)
        left_out = [f"{', '.join(skipped_names)} of {skipped_in} cases"] if skipped_names else []
        left_out += [f"the case {name}" for name in report.skipped_cases]
        print(f"skipped on request ({skip_flags}): {'; '.join(left_out)}")
    else:
        print("skipped: none")
    return EXIT_OK if report.ok else EXIT_FAILED


def cmd_inspect(args: argparse.Namespace) -> int:
    directory = resolve_model(args.directory)  # a directory, or a Hub repo id from the cache
    config = load_config(directory)
    files = safetensors_files(directory)
    index = read_tensor_index(files)
    bb, head = config.backbone, config.action_head
    print(f"checkpoint: {directory.resolve()}")
    for f in files:
        print(f"  {f.name}: {f.stat().st_size / 2**20:.1f} MiB")
    print(f"tensors: {len(index)}, parameters {count_parameters({k: v.shape for k, v in index.items()}):,}")
    print(f"dtypes: {dict(Counter(v.dtype for v in index.values()))}")
    print(
        f"backbone: SigLIP {bb.vision.hidden_size}x{bb.vision.num_layers}, LLM {bb.llm.hidden_size} wide "
        f"({bb.select_layer} layers kept, vocab {bb.llm.vocab_size}, tokenizer {bb.tokenizer}), "
        f"goal tokens {bb.output_dim} wide, {bb.num_image_tokens} per view"
    )
    print(
        f"action head: DiT {head.dit.num_layers} blocks x {head.dit.inner_dim}, hidden {head.hidden_size}, "
        f"horizon {head.action_horizon}, action {head.action_dim}, state {head.max_state_dim}, "
        f"{head.max_num_embodiments} embodiment slots, {head.num_inference_timesteps} steps in config"
    )
    report = compare_shapes({k: v.shape for k, v in index.items()}, model_shapes(build_meta_model(config)))
    print("weights vs config: " + report.format(limit=args.limit))
    metadata = load_metadata(directory)
    if metadata is None:
        print("metadata: experiment_cfg/metadata.json missing (actions cannot be un-normalised)")
    else:
        for tag, entry in metadata.items():
            stats = entry.get("statistics", {})
            state = {k: len(v.get("min", [])) for k, v in stats.get("state", {}).items()}
            action = {k: len(v.get("min", [])) for k, v in stats.get("action", {}).items()}
            video = {k: v.get("resolution") for k, v in entry.get("modalities", {}).get("video", {}).items()}
            print(
                f"metadata[{tag}]: state {state}, action {action}, video {video}"
                + (f", data_config {entry['data_config']}" if "data_config" in entry else "")
            )
            for section in ("state", "action"):
                for group, values in stats.get(section, {}).items():
                    low, high = values.get("min", []), values.get("max", [])
                    span = f" range [{min(low):.3g}, {max(high):.3g}]" if low and high else ""
                    print(f"  {section}.{group}: {', '.join(sorted(values))}{span}")
    return EXIT_OK if report.ok else EXIT_FAILED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gr00t-checkpoint", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    verify = sub.add_parser("verify", help="compare model tensor names/shapes with a listing or checkpoint")
    src = verify.add_mutually_exclusive_group()
    src.add_argument(
        "--preset", default="gr00t_n1_2b", choices=preset_names(), help="model preset (default gr00t_n1_2b)"
    )
    src.add_argument("--config", help="config.json (HF layout) or tiny_config.json to build the model from")
    verify.add_argument("--reference", help="JSON {tensor name: shape}, e.g. gr00t_n1_2b_state_dict.json")
    verify.add_argument(
        "--checkpoint",
        help="checkpoint directory or Hub repo id: check its safetensors headers against its config.json",
    )
    verify.add_argument("--limit", type=int, default=20, help="names listed per category")
    verify.set_defaults(func=cmd_verify)

    parity = sub.add_parser(
        "parity",
        help="run every parity case of a fixtures directory",
        description="Compare the model with the original GR00T N1 on every case and stage of the "
        "fixtures. A stage whose input is missing is an error (exit 2), not a shorter check that "
        "still passes; --skip-stage leaves a stage out, and the report says so.",
    )
    parity.add_argument(
        "--fixtures",
        required=True,
        help="parity fixtures directory (tiny_config.json, tiny_model.safetensors, case_*.npz, "
        "tokenizer_cases.json), e.g. src/gr00t_policy/test/data/reference/parity",
    )
    tokenizer = parity.add_mutually_exclusive_group()
    tokenizer.add_argument(
        "--tokenizer-dir",
        help="Eagle-2 tokenizer files for the tokenizer stage (default: <fixtures>/../eagle2_tokenizer; "
        "an error if neither exists)",
    )
    tokenizer.add_argument(
        "--skip-stage",
        action="append",
        choices=sorted(SKIPPABLE_STAGES),
        metavar="STAGE",
        help="leave a stage out of the check, reported as skipped (repeatable; choices: "
        + "; ".join(f"{name}: {what}" for name, what in SKIPPABLE_STAGES.items())
        + ")",
    )
    parity.set_defaults(func=cmd_parity)

    inspect = sub.add_parser("inspect", help="summarise a checkpoint: weights, config, embodiments and statistics")
    inspect.add_argument(
        "directory", help="checkpoint directory, or Hugging Face repo id org/name[@revision] (Hub cache)"
    )
    inspect.add_argument("--limit", type=int, default=10, help="names listed per category")
    inspect.set_defaults(func=cmd_inspect)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (CheckpointError, ConfigError, TokenizerLoadError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
