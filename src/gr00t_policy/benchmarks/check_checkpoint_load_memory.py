#!/usr/bin/env python3
"""Peak memory and time of loading a real-size (GR00T-N1-2B-shaped) checkpoint.

Not a test (it writes a 4.4 GB file). Writes a bf16 checkpoint with random weights and the exact
GR00T-N1-2B tensor names and shapes (plus the unused ``action_head.decode_layer.*`` of the released
file), then loads it in fresh subprocesses into bf16 and fp32 and reports each one's peak RSS next
to the size of the loaded model. The loader should need about 1x the target-dtype model, not 2x.

Usage: python benchmarks/check_checkpoint_load_memory.py [--dir /tmp/gr00t_n1_2b_random] [--keep]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
REPO_ROOT = Path(__file__).resolve().parents[3]
try:
    import gr00t_policy.model  # noqa: F401
except ImportError:  # source checkout without the package installed
    sys.path.insert(0, str(PACKAGE_ROOT))

from safetensors.torch import save_file  # noqa: E402

from gr00t_policy.model.checkpoint import build_meta_model, load_checkpoint, save_checkpoint  # noqa: E402
from gr00t_policy.model.configuration_gr00t_n1 import get_preset  # noqa: E402


def write_random_checkpoint(directory: Path) -> None:
    model = build_meta_model(get_preset("gr00t_n1_2b")).to_empty(device="cpu").to(torch.bfloat16)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.02, generator=gen)
    save_checkpoint(model, directory)
    del model
    # The released file also holds the unused detection head (doc §10); the loader must ignore it.
    save_file(
        {
            "action_head.decode_layer.weight": torch.zeros(2, 1536),
            "action_head.decode_layer.bias": torch.zeros(2),
        },
        str(directory / "extra.safetensors"),
    )
    index = {"metadata": {}, "weight_map": {}}
    from safetensors import safe_open

    for f in ("model.safetensors", "extra.safetensors"):
        with safe_open(str(directory / f), framework="pt") as handle:
            for key in handle.keys():
                index["weight_map"][key] = f
    (directory / "model.safetensors.index.json").write_text(json.dumps(index))


def load_in_this_process(directory: Path, dtype_name: str) -> None:
    dtype = getattr(torch, dtype_name)
    start = time.perf_counter()
    loaded = load_checkpoint(directory, dtype=dtype)
    seconds = time.perf_counter() - start
    model_bytes = sum(p.numel() * p.element_size() for p in loaded.model.parameters())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        json.dumps(
            {
                "dtype": dtype_name,
                "load_s": round(seconds, 1),
                "model_gb": round(model_bytes / 1e9, 2),
                "peak_rss_gb": round(peak / 1e9, 2),
                "peak_over_model": round(peak / model_bytes, 2),
                "ignored": loaded.report.ignored,
            }
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/gr00t_n1_2b_random"))
    parser.add_argument("--keep", action="store_true", help="keep the 4.4 GB checkpoint")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "benchmarks" / "checkpoint_load_memory.json")
    parser.add_argument("--load", choices=["bfloat16", "float32"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.load:
        load_in_this_process(args.dir, args.load)
        return 0
    if not (args.dir / "model.safetensors").is_file():
        start = time.perf_counter()
        write_random_checkpoint(args.dir)
        print(f"wrote {args.dir} in {time.perf_counter() - start:.0f} s")
    results = []
    try:
        for dtype in ("bfloat16", "float32"):
            run = subprocess.run(
                [sys.executable, __file__, "--dir", str(args.dir), "--load", dtype],
                check=True,
                capture_output=True,
                text=True,
            )
            results.append(json.loads(run.stdout.strip().splitlines()[-1]))
            print(json.dumps(results[-1]))
    finally:
        if not args.keep:
            shutil.rmtree(args.dir, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "checkpoint": "GR00T-N1-2B shapes, random bf16 weights, model.safetensors + decode_layer",
                "note": "peak_rss_gb is the loading process's peak resident set (ru_maxrss)",
                "results": results,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
