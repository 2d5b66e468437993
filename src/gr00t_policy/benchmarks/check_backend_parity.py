#!/usr/bin/env python3
"""System 1 parity of every backend / device / precision on this machine against the CPU fp32 torch model.

Not a test (CI has no GPU): a check that prints and writes numbers. Run it where a GPU is::

    python src/gr00t_policy/benchmarks/check_backend_parity.py --preset gr00t_n1_2b \\
        --out docs/benchmarks/parity_gpu.json

Every candidate gets the same seeded weights, goal tokens, joint states and initial noise as the
reference (torch, CPU, float32). The policy has identity statistics (min -1, max 1), so decoded
actions are the head's normalised actions; the report gives max |diff| and max |diff| / max |ref|
over ``--cases`` chunks, and for the CUDA-graph candidates their difference from the eager run of
the same precision (expected ~0: same kernels, replayed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
try:
    import gr00t_policy.model  # noqa: F401
except ImportError:  # source checkout without the package installed
    sys.path.insert(0, str(PACKAGE_ROOT))

from gr00t_policy.backends import BackendUnavailable, create_backend  # noqa: E402
from gr00t_policy.cli.bench import versions  # noqa: E402
from gr00t_policy.export.sources import load_policy  # noqa: E402


def make_inputs(policy: Any, cases: int, goal_tokens: int) -> dict[str, Any]:
    generator = torch.Generator().manual_seed(1)
    tokens = torch.randn(1, goal_tokens, policy.goal_dim, generator=generator)
    rng = np.random.default_rng(2)
    states = [{g: rng.uniform(-0.5, 0.5, d) for g, d in policy.data_config.state_groups} for _ in range(cases)]
    shape = (1, policy.action_horizon, policy.config.action_head.action_dim)
    noises = [torch.randn(shape, generator=generator) for _ in range(cases)]
    return {"tokens": tokens, "mask": torch.ones(1, goal_tokens, dtype=torch.bool), "states": states, "noises": noises}


def run_backend(backend: Any, policy: Any, inputs: dict[str, Any]) -> np.ndarray:
    """(cases, horizon, action dims) chunks, groups concatenated in the data config's order."""
    goal = backend.prepare_goal(inputs["tokens"], inputs["mask"])
    chunks = []
    for state, noise in zip(inputs["states"], inputs["noises"], strict=True):
        chunk = backend.predict_chunk(state, goal, noise=noise)
        chunks.append(np.concatenate([chunk[g] for g, _ in policy.data_config.action_groups], axis=-1))
    return np.stack(chunks)


def compare(candidate: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    diff = np.abs(candidate - reference)
    return {
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "max_abs_ref": float(np.abs(reference).max()),
        "relative_max_diff": float(diff.max() / max(np.abs(reference).max(), 1e-12)),
        "finite": bool(np.isfinite(candidate).all()),
    }


def candidates(args: argparse.Namespace) -> list[tuple[str, str, torch.dtype, str, dict[str, Any]]]:
    """(name, device, dtype, backend, options) for what this machine can run."""
    out: list[tuple[str, str, torch.dtype, str, dict[str, Any]]] = []
    if torch.cuda.is_available():
        for dtype_name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
            out.append((f"torch-cuda-{dtype_name}", "cuda", dtype, "torch", {}))
            out.append((f"torch-cuda-{dtype_name}-cuda_graph", "cuda", dtype, "torch", {"cuda_graph": True}))
    if args.onnxruntime:
        out.append(("onnxruntime-cpu", "cpu", torch.float32, "onnxruntime", {"cache_dir": args.onnx_cache}))
    if args.tensorrt:
        for precision in ("fp16", "bf16"):
            out.append((f"tensorrt-{precision}", "cpu", torch.float32, "tensorrt",
                        {"cache_dir": args.onnx_cache, "precision": precision}))  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="gr00t_n1_2b")
    parser.add_argument("--cases", type=int, default=8, help="chunks compared (different states and noise)")
    parser.add_argument("--goal-tokens", type=int, default=99)
    parser.add_argument("--seed", type=int, default=0, help="weights seed")
    parser.add_argument("--onnxruntime", action="store_true", help="also ONNX Runtime (exports the head first)")
    parser.add_argument("--tensorrt", action="store_true", help="also TensorRT engines (GPU + tensorrt needed)")
    parser.add_argument("--onnx-cache", type=Path, default=None)
    parser.add_argument("--out", type=Path, help="JSON report")
    args = parser.parse_args(argv)

    def policy_on(device: str, dtype: torch.dtype) -> Any:
        return load_policy(args.preset, None, seed=args.seed, device=device, dtype=dtype)

    reference_policy = policy_on("cpu", torch.float32)
    inputs = make_inputs(reference_policy, args.cases, args.goal_tokens)
    reference = run_backend(create_backend("torch", reference_policy), reference_policy, inputs)
    del reference_policy
    print(f"reference torch cpu float32: {reference.shape}, max |ref| {np.abs(reference).max():.3f}")

    results: dict[str, Any] = {}
    outputs: dict[str, np.ndarray] = {}
    policy, loaded_as = None, None
    for name, device, dtype, backend_name, options in candidates(args):
        if loaded_as != (device, dtype):  # candidates come grouped by (device, dtype): one policy at a time
            policy = None  # free the previous real-size policy before loading the next
            policy, loaded_as = policy_on(device, dtype), (device, dtype)
        start = time.perf_counter()
        try:
            backend = create_backend(backend_name, policy, **options)
            outputs[name] = run_backend(backend, policy, inputs)
        except BackendUnavailable as exc:
            results[name] = {"unavailable": str(exc)}
            print(f"{name}: unavailable ({exc})")
            continue
        results[name] = compare(outputs[name], reference) | {"seconds": time.perf_counter() - start}
        eager = name.removesuffix("-cuda_graph")
        if eager != name and eager in outputs:
            results[name]["max_abs_diff_vs_eager"] = float(np.abs(outputs[name] - outputs[eager]).max())
        print(f"{name}: " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                                      for k, v in results[name].items()))  # fmt: skip

    report = {
        "preset": args.preset,
        "reference": "torch cpu float32",
        "cases": args.cases,
        "goal_tokens": args.goal_tokens,
        "units": "normalised actions (identity statistics)",
        "device_name": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu only",
        "versions": versions(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "candidates": results,
    }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"written to {args.out}")
    return 0 if all(r.get("finite", True) for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
