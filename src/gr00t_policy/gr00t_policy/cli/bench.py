"""``gr00t-bench``: System 1 / System 2 latency on this machine, printed and written as JSON.

Commands::

    gr00t-bench system1 --preset demo --backend torch --chunks 300 --out results.json
    gr00t-bench system1 --preset gr00t_n1_2b --backend onnxruntime --chunks 10 --out results.json
    gr00t-bench system1 --preset gr00t_n1_2b --backend torch --device cuda --dtype bfloat16 --cuda-graph ...
    gr00t-bench system2 --preset demo --chunks 100 --out results.json
    gr00t-bench system2 --preset gr00t_n1_2b --tokenizer-dir EAGLE2_TOKENIZER/ --device cuda --dtype bfloat16 ...

``system1`` times back-to-back chunks (``predict_chunk`` through the backend, state encoding and
decoding included) after a warm-up, the per-goal update (``prepare_goal``), and for ``torch`` the
original uncached sampler interleaved with the cached one (same process, same load, so the ratio
is robust on a shared machine). ``--compare-loops`` (onnxruntime) times the unrolled graph and the
Python-driven step loop interleaved. ``--out`` merges the run into the file's ``runs`` (keyed by
system, preset, backend and variant), so several invocations build one results file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..model.configuration_gr00t_n1 import preset_names
from ..policy import MODEL_DTYPES as DTYPES

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


# ---------------------------------------------------------------------------- measurement helpers
def latency_stats(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1e3
    return {
        "n": int(ms.size),
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "max_ms": float(ms.max()),
        "mean_ms": float(ms.mean()),
        "min_ms": float(ms.min()),
    }


def time_interleaved(
    fns: dict[str, Callable[[], Any]], n: int, warmup: int, sync: Callable[[], None] | None = None
) -> dict[str, list[float]]:
    """Run every function ``warmup`` times, then ``n`` rounds of each in turn; per-call seconds.

    ``sync`` (e.g. ``torch.cuda.synchronize``) runs before the clock starts and before it stops, so
    work a function leaves queued on a GPU is counted in that call, not the next.
    """
    sync = sync or (lambda: None)
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(n):
        for name, fn in fns.items():
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - start)
    return times


def device_sync(device: str) -> Callable[[], None] | None:
    """``torch.cuda.synchronize`` for a CUDA device, else None (CPU work is synchronous)."""
    return torch.cuda.synchronize if device.startswith("cuda") else None


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_device_mib(device: str) -> float | None:
    """Peak memory PyTorch allocated on a CUDA device so far (None on CPU)."""
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.max_memory_allocated(torch.device(device)) / 2**20
    return None


def device_name(device: str) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__}
    for module in ("onnx", "onnxruntime", "tensorrt"):
        try:
            out[module] = __import__(module).__version__
        except ImportError:
            pass
    if torch.cuda.is_available():
        out["cuda"] = str(torch.version.cuda)
    return out


def environment(device: str, threads: int) -> dict[str, Any]:
    return {
        "device": device,
        "device_name": device_name(device),
        "logical_cpus": os.cpu_count(),
        "threads": threads,
        "versions": versions(),
        "load_average_start": list(os.getloadavg()),
    }


# ---------------------------------------------------------------------------- system 1
def _random_goal(policy: Any, num_tokens: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randn(1, num_tokens, policy.goal_dim, generator=g)
    return tokens, torch.ones(1, num_tokens, dtype=torch.bool)


def _random_state(policy: Any, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {g: rng.uniform(-0.5, 0.5, d) for g, d in policy.data_config.state_groups}


def _backend_options(args: argparse.Namespace) -> dict[str, Any]:
    if args.backend == "torch":
        return {"cuda_graph": args.cuda_graph}
    if args.backend == "onnxruntime":
        options: dict[str, Any] = {"cache_dir": args.onnx_cache, "intra_op_threads": args.threads or None}
        if args.providers:
            options["execution_providers"] = args.providers
        return options
    return {"cache_dir": args.onnx_cache, "precision": args.precision}


def cmd_system1(args: argparse.Namespace) -> dict[str, Any]:
    from ..backends import create_backend
    from ..export.sources import load_policy

    env = environment(args.device, torch.get_num_threads())
    start = time.perf_counter()
    policy = load_policy(args.preset, args.checkpoint, seed=args.seed, device=args.device, dtype=DTYPES[args.dtype])
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    backend = create_backend(args.backend, policy, **_backend_options(args))
    backend_setup_s = time.perf_counter() - start  # includes the one-off ONNX export / engine build

    tokens, mask = _random_goal(policy, args.goal_tokens, seed=1)
    goal = backend.prepare_goal(tokens, mask)
    state = _random_state(policy, seed=2)
    generator = torch.Generator().manual_seed(3)
    fns: dict[str, Callable[[], Any]] = {"chunk": lambda: backend.predict_chunk(state, goal, generator=generator)}
    if args.backend == "torch" and not args.no_naive:
        naive_goal = goal
        fns["chunk_naive"] = lambda: policy.predict_chunk_naive(state, naive_goal, generator=generator)
    if args.backend == "onnxruntime" and args.compare_loops:
        runner = backend.runner  # type: ignore[attr-defined]
        other = "python" if runner.loop == "unrolled" else "unrolled"

        def other_loop() -> Any:
            noise = torch.randn(1, policy.action_horizon, policy.config.action_head.action_dim, generator=generator)
            vector = np.zeros((1, 1, policy.config.action_head.max_state_dim), dtype=np.float32)
            return runner.sample(noise.numpy(), vector, goal, loop=other)

        def this_loop() -> Any:  # same work as other_loop (no state encoding/decoding), for a fair ratio
            noise = torch.randn(1, policy.action_horizon, policy.config.action_head.action_dim, generator=generator)
            vector = np.zeros((1, 1, policy.config.action_head.max_state_dim), dtype=np.float32)
            return runner.sample(noise.numpy(), vector, goal)

        fns[f"sampler_{runner.loop}"] = this_loop
        fns[f"sampler_{other}"] = other_loop
    gc.collect()
    bench_start = time.perf_counter()
    sync = device_sync(args.device)
    times = time_interleaved(fns, args.chunks, args.warmup, sync)
    bench_s = time.perf_counter() - bench_start

    goal_times = time_interleaved(
        {"goal": lambda: backend.prepare_goal(tokens, mask)}, args.goals, min(args.warmup, 3), sync
    )

    chunk = latency_stats(times["chunk"])
    result: dict[str, Any] = {
        "system": "system1",
        "preset": args.preset,
        "checkpoint": args.checkpoint,
        "model_id": policy.model_id,
        "backend": args.backend,
        "variant": args.variant or _default_variant(args),
        "dtype": args.dtype,
        "denoising_steps": policy.denoising_steps,
        "action_head_parameters": sum(p.numel() for p in policy.model.action_head.parameters()),
        "goal_tokens": args.goal_tokens,
        "warmup_chunks": args.warmup,
        "chunk": chunk,
        # Chunks per second when planning back to back: the ceiling of the replanning rate on this
        # machine (the node replans less often; see the replanner).
        "achieved_replanning_hz": len(times["chunk"]) / sum(times["chunk"]),
        "goal_update": latency_stats(goal_times["goal"]),
        "peak_rss_mib": peak_rss_mib(),
        "peak_device_mib": peak_device_mib(args.device),
        "policy_load_s": load_s,
        "backend_setup_s": backend_setup_s,
        "benchmark_wall_s": bench_s,
        "environment": env | {"load_average_end": list(os.getloadavg())},
    }
    if args.backend == "onnxruntime":
        runner = backend.runner  # type: ignore[attr-defined]
        result["onnxruntime"] = {
            "providers": runner.providers,
            "intra_op_threads": runner.intra_op_threads,
            "graph_optimization_level": runner.graph_optimization_level,
            "loop": runner.loop,
            "export_dir": str(runner.directory),
            "export_validation": backend.manifest.validation,  # type: ignore[attr-defined]
        }
    if "chunk_naive" in times:
        result["chunk_naive"] = latency_stats(times["chunk_naive"])
        result["naive_over_cached_p50"] = result["chunk_naive"]["p50_ms"] / chunk["p50_ms"]
    loops = {k.removeprefix("sampler_"): latency_stats(v) for k, v in times.items() if k.startswith("sampler_")}
    if loops:
        result["sampler_by_loop"] = loops
        result["python_over_unrolled_p50"] = loops["python"]["p50_ms"] / loops["unrolled"]["p50_ms"]
    return result


def _default_variant(args: argparse.Namespace) -> str:
    parts = [args.device, args.dtype]
    if getattr(args, "cuda_graph", False):
        parts.append("cuda_graph")
    if getattr(args, "backend", "") == "tensorrt":
        parts.append(args.precision)
    if getattr(args, "threads", 0):
        parts.append(f"{args.threads}threads")
    return "-".join(parts)


# ---------------------------------------------------------------------------- system 2
def cmd_system2(args: argparse.Namespace) -> dict[str, Any]:
    from ..export.sources import load_policy

    env = environment(args.device, torch.get_num_threads())
    policy = load_policy(args.preset, args.checkpoint, system1_only=False, seed=args.seed, device=args.device,
                         dtype=DTYPES[args.dtype], tokenizer_dir=args.tokenizer_dir)  # fmt: skip
    size = policy.config.backbone.vision.image_size
    views = []
    for key in policy.data_config.video_keys:
        w, h = policy.stats.video_resolution.get(key, (size, size))
        views.append(np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8))
    instruction = "pick up the apple and place it on the plate"
    goal = policy.encode_goal(views, instruction)
    times = time_interleaved(
        {
            "encode_goal": lambda: policy.encode_goal(views, instruction),
            "prepare_goal": lambda: policy.prepare_goal(goal),
        },
        args.chunks,
        args.warmup,
        device_sync(args.device),
    )
    encode = latency_stats(times["encode_goal"])
    return {
        "system": "system2",
        "preset": args.preset,
        "checkpoint": args.checkpoint,
        "model_id": policy.model_id,
        "backend": "torch",
        "variant": args.variant or _default_variant(args),
        "dtype": args.dtype,
        "frames": [list(v.shape) for v in views],
        "goal_tokens": goal.num_tokens,
        "encode_goal": encode,  # preprocessing (crop, resize, tokenise) + backbone
        "achieved_goal_rate_hz": len(times["encode_goal"]) / sum(times["encode_goal"]),
        "prepare_goal": latency_stats(times["prepare_goal"]),
        "peak_rss_mib": peak_rss_mib(),
        "peak_device_mib": peak_device_mib(args.device),
        "environment": env | {"load_average_end": list(os.getloadavg())},
    }


# ---------------------------------------------------------------------------- output
def _stats_line(label: str, s: dict[str, float]) -> str:
    return f"  {label:14s} p50 {s['p50_ms']:9.3f} ms  p99 {s['p99_ms']:9.3f} ms  max {s['max_ms']:9.3f} ms  n {s['n']}"


def print_summary(result: dict[str, Any]) -> None:
    env = result["environment"]
    head = f"{result['system']} {result['preset']} {result['backend']} [{result['variant']}] on {env['device_name']}"
    print(head)
    for key in ("chunk", "chunk_naive", "encode_goal", "goal_update", "prepare_goal"):
        if key in result:
            s = result[key]
            print(_stats_line(key, s))
    for key, s in result.get("sampler_by_loop", {}).items():
        print(_stats_line(f"loop {key}", s))
    for key in ("achieved_replanning_hz", "naive_over_cached_p50", "python_over_unrolled_p50", "achieved_goal_rate_hz"):
        if key in result:
            print(f"  {key}: {result[key]:.2f}")
    if result.get("peak_device_mib") is not None:
        print(f"  peak device memory {result['peak_device_mib']:.0f} MiB")
    print(f"  peak RSS {result['peak_rss_mib']:.0f} MiB; load average {env['load_average_start'][0]:.2f} -> "
          f"{env['load_average_end'][0]:.2f} on {env['logical_cpus']} CPUs")  # fmt: skip


def write_result(path: Path, result: dict[str, Any]) -> None:
    """Merge ``result`` into ``path``'s ``runs`` (replacing a run with the same key)."""
    data: dict[str, Any] = {"runs": []}
    if path.exists():
        data = json.loads(path.read_text())
    fields = ("system", "preset", "backend", "variant")
    key = tuple(result[k] for k in fields)
    runs = [r for r in data.get("runs", []) if tuple(r.get(k) for k in fields) != key]
    result["date"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    data["runs"] = runs + [result]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gr00t-bench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, chunks: int) -> None:
        source = p.add_mutually_exclusive_group(required=True)
        source.add_argument("--preset", choices=preset_names())
        source.add_argument("--checkpoint")
        p.add_argument("--chunks", type=int, default=chunks, help="timed iterations after warm-up")
        p.add_argument("--warmup", type=int, default=20)
        p.add_argument("--threads", type=int, default=0, help="torch / onnxruntime threads (default: torch's)")
        p.add_argument("--device", default="cpu")
        p.add_argument("--dtype", choices=sorted(DTYPES), default="float32")
        p.add_argument("--seed", type=int, default=0, help="weights seed for --preset")
        p.add_argument("--variant", default="", help="name of this configuration in the results file")
        p.add_argument("--out", type=Path, help="JSON results file (runs are merged)")

    s1 = sub.add_parser("system1", help="action chunk latency through a backend")
    common(s1, 300)
    s1.add_argument("--backend", choices=("torch", "onnxruntime", "tensorrt"), default="torch")
    s1.add_argument("--goals", type=int, default=20, help="timed goal updates (prepare_goal)")
    s1.add_argument("--goal-tokens", type=int, default=99, help="goal tokens (99 = one view + prompt)")
    s1.add_argument("--no-naive", action="store_true", help="torch: skip the uncached sampler")
    s1.add_argument("--compare-loops", action="store_true", help="onnxruntime: time unrolled vs Python loop")
    s1.add_argument("--cuda-graph", action="store_true", help="torch on CUDA: replay CUDA graphs")
    s1.add_argument("--precision", choices=("fp32", "fp16", "bf16"), default="fp16", help="tensorrt engines")
    s1.add_argument("--providers", nargs="+", help="onnxruntime execution providers, in priority order")
    s1.add_argument("--onnx-cache", type=Path, default=None, help="ONNX cache root (default: XDG cache)")
    s1.set_defaults(func=cmd_system1)

    s2 = sub.add_parser("system2", help="backbone (encode_goal) latency, torch")
    common(s2, 100)
    s2.add_argument("--tokenizer-dir", type=Path, help="Eagle-2 tokenizer files (needed by --preset gr00t_n1_2b)")
    s2.set_defaults(func=cmd_system2)
    return parser


def main(argv: list[str] | None = None) -> int:
    from ..backends import BackendUnavailable

    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        result = args.func(args)
    except BackendUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print_summary(result)
    if args.out:
        write_result(args.out, result)
        print(f"  written to {args.out}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
