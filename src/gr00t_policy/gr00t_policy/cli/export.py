"""``gr00t-export``: compile System 1 (ONNX graphs, TensorRT engines).

Commands::

    gr00t-export onnx --preset demo OUT/                     # random weights, seeded
    gr00t-export onnx --preset gr00t_n1_2b OUT/              # real-size head (~3.5 GB RAM, minutes)
    gr00t-export onnx --checkpoint models/gr00t_demo OUT/
    gr00t-export tensorrt OUT/sample_chunk.onnx --precision fp16 [--engine FILE]

``onnx`` writes the four graphs and ``manifest.json`` (see ``gr00t_policy.export.onnx_export``),
runs ``onnx.checker`` on each and compares them on onnxruntime CPU with torch; the differences
are printed and stored in the manifest. Exit status: 0 ok, 1 a graph is outside the tolerance,
2 bad input or a missing dependency/GPU (TensorRT).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import torch

from ..model.checkpoint import CheckpointError
from ..model.configuration_gr00t_n1 import ConfigError, preset_names

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
# fp32 ONNX vs torch, normalised action units; measured differences are ~1e-7 (demo) to ~1e-5
# (real size, longer reductions), see test/export and docs/benchmarks/system1_cpu.md.
DEFAULT_ATOL = 1e-4
DEFAULT_RTOL = 1e-4


def _int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def cmd_onnx(args: argparse.Namespace) -> int:
    from ..export.onnx_export import ALL_GRAPHS, ExportManifest, check_graphs, export_policy, validate_export
    from ..export.sources import load_policy

    if args.threads:
        torch.set_num_threads(args.threads)
    policy = load_policy(args.preset, args.checkpoint, seed=args.seed, denoising_steps=args.steps)
    out = Path(args.out)
    manifest = export_policy(policy, out, graphs=args.graphs or ALL_GRAPHS, opset=args.opset)
    check_graphs(out)
    print(f"exported {policy.model_id} ({manifest.num_steps} steps, embodiment slot {manifest.embodiment_id}) "
          f"to {out} in {manifest.export_seconds:.1f} s; onnx.checker ok")  # fmt: skip
    for spec in manifest.graphs.values():
        print(f"  {spec.file:22s} {spec.bytes / 2**20:9.1f} MiB  in: {', '.join(spec.inputs[:3])}"
              f"{' + goal K/V' if len(spec.inputs) > 3 else ''}")  # fmt: skip
    if args.no_validate:
        return EXIT_OK
    checks = validate_export(
        out, policy.model.action_head, batch_sizes=args.validate_batches, token_counts=args.validate_tokens
    )
    ok = True
    print(f"onnxruntime CPU vs torch (atol {args.atol:g} + rtol {args.rtol:g} x max|ref|):")
    for c in checks:
        passed = c.passed(args.atol, args.rtol)
        ok &= passed
        print(f"  {c.graph:14s} batch {c.batch_size} tokens {c.num_tokens:3d}: max|diff| {c.max_abs_diff:.2e} "
              f"(max|ref| {c.max_abs_reference:.2f}) {'ok' if passed else 'FAILED'}")  # fmt: skip
    manifest = ExportManifest.read(out)
    manifest.validation = {
        "atol": args.atol,
        "rtol": args.rtol,
        "passed": ok,
        "max_abs_diff": {g: max(c.max_abs_diff for c in checks if c.graph == g) for g in {c.graph for c in checks}},
        "cases": [
            {"graph": c.graph, "batch": c.batch_size, "tokens": c.num_tokens, "max_abs_diff": c.max_abs_diff}
            for c in checks
        ],  # fmt: skip
    }
    manifest.write(out)
    return EXIT_OK if ok else EXIT_FAILED


def cmd_tensorrt(args: argparse.Namespace) -> int:
    from ..backends import BackendUnavailable
    from ..backends.tensorrt_backend import ShapeProfile, build_engine, require_tensorrt

    onnx_path = Path(args.onnx)
    if not onnx_path.is_file():
        print(f"error: {onnx_path} is not a file (give one graph of a `gr00t-export onnx` directory)", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        require_tensorrt()
        default = ShapeProfile()
        profile = ShapeProfile(
            batch=tuple(args.batch) if args.batch else default.batch,  # type: ignore[arg-type]
            goal_tokens=tuple(args.tokens) if args.tokens else default.goal_tokens,  # type: ignore[arg-type]
        )
        engine = build_engine(onnx_path, precision=args.precision, profile=profile)
    except BackendUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.engine:
        shutil.copyfile(engine, args.engine)
        engine = Path(args.engine)
    print(f"TensorRT {args.precision} engine: {engine}")
    return EXIT_OK


def _range(text: str) -> list[int]:
    values = _int_list(text)
    if len(values) != 3 or not values[0] <= values[1] <= values[2]:
        raise argparse.ArgumentTypeError(f"expected MIN,OPT,MAX with MIN <= OPT <= MAX, got {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gr00t-export", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    onnx = sub.add_parser("onnx", help="export the System 1 graphs to ONNX and validate them")
    source = onnx.add_mutually_exclusive_group(required=True)
    source.add_argument("--preset", choices=preset_names(), help="random weights of a preset (System 1 only)")
    source.add_argument("--checkpoint", help="checkpoint directory")
    onnx.add_argument("out", help="output directory (replaced atomically)")
    onnx.add_argument("--seed", type=int, default=0, help="weights seed for --preset")
    onnx.add_argument("--steps", type=int, default=None, help="Euler steps baked in (default 4)")
    onnx.add_argument("--opset", type=int, default=17)
    onnx.add_argument("--graphs", nargs="+", default=None, help="subset of the graphs (default all)")
    onnx.add_argument("--threads", type=int, default=0, help="torch/onnxruntime threads (default: torch's)")
    onnx.add_argument("--no-validate", action="store_true", help="skip the onnxruntime-vs-torch comparison")
    onnx.add_argument("--validate-batches", type=_int_list, default=[1, 2])
    onnx.add_argument("--validate-tokens", type=_int_list, default=[5, 23])
    onnx.add_argument("--atol", type=float, default=DEFAULT_ATOL)
    onnx.add_argument("--rtol", type=float, default=DEFAULT_RTOL)
    onnx.set_defaults(func=cmd_onnx)

    trt = sub.add_parser("tensorrt", help="build a TensorRT engine from one exported graph (needs a GPU)")
    trt.add_argument("onnx", help="an exported graph, e.g. OUT/sample_chunk.onnx")
    trt.add_argument("--precision", choices=("fp32", "fp16", "bf16"), default="fp16")
    trt.add_argument("--batch", type=_range, default=None, help="MIN,OPT,MAX batch (default 1,1,8)")
    trt.add_argument("--tokens", type=_range, default=None, help="MIN,OPT,MAX goal tokens (default 1,100,512)")
    trt.add_argument("--engine", help="also copy the engine here (it is cached beside the graph)")
    trt.set_defaults(func=cmd_tensorrt)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage; keep that, but as a return value
        return int(exc.code or 0)
    try:
        return int(args.func(args))
    except (CheckpointError, ConfigError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
