#!/usr/bin/env python3
"""Chunk switching compared: discontinuity at switches and tracking error (issue 4).

Not a test: prints and writes numbers. A synthetic policy "predicts" 16-step chunks (20 Hz) of a
smooth reference motion of the GR-1 left arm (sum of sines around the home pose) with the errors
that make real chunks disagree with each other: a per-chunk offset, an error growing along the
horizon and per-step noise. Inference latency is random (80-200 ms); the next inference starts as
soon as the previous one finished (``replan_every_steps: 0``). The 120 Hz loop runs
``ChunkExecutor`` and then ``JointLimiter`` with the robot config's limits, exactly as the node does.

Modes:
* ``replace``: the new chunk takes over on arrival.
* ``blend``: cosine cross-fade over ``--blend-s`` (default 0.2 s).
* ``rtc_approx``: replace switching with chunks pulled toward the executor's RTC prefix by the
  guidance weights, ``chunk = W * prefix + (1 - W) * prediction``. This is an idealised stand-in
  for the guided flow-matching sampler (which is not run here); it shows what the prefix/weights
  contract can buy, not the sampler's actual quality.

Metrics per mode (over all accepted switches / all ticks):
* position jump at a switch: |plan after - plan before| at the arrival instant (rad, max joint);
* velocity jump at a switch: change of the plan's one-tick velocity across the arrival (rad/s);
* tracking error: |command - reference| after the limiter (rad, RMS over joints and ticks, max);
* command velocity change per tick (after the limiter, all ticks): what the controller sees;
* limiter activity: fraction of ticks where the limiter changed the command.

Usage: python src/gr00t_policy/benchmarks/bench_chunk_execution.py [--duration 30] [--seed 0]
Writes docs/benchmarks/chunk_execution.json and chunk_execution.png (matplotlib) under --out-dir.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
for package in ("gr00t_policy", "gr00t_description"):
    sys.path.insert(0, str(ROOT / "src" / package))

from gr00t_description.config import load_stack  # noqa: E402
from gr00t_policy.execution import (  # noqa: E402
    Chunk,
    ChunkExecutor,
    ExecutorConfig,
    InferenceDelayEstimator,
    ReplanConfig,
    ReplanScheduler,
)
from gr00t_policy.safety import JointLimiter, LimiterConfig  # noqa: E402

COMMAND_HZ = 120.0
STEP_PERIOD = 0.05
HORIZON = 16
MODES = ("replace", "blend", "rtc_approx")


@dataclass(frozen=True)
class PolicyNoise:
    offset_rad: float = 0.02  # per-chunk constant error (each chunk is a different sample)
    drift_rad_per_step: float = 0.002  # error growing along the horizon
    step_rad: float = 0.004  # per-step jitter
    latency_s: tuple[float, float] = (0.08, 0.2)


class Reference:
    """Smooth target motion per joint: a centre + sum of two sines with random phases.

    The centre is the home pose moved at least 0.4 rad inside the operating window, so the
    reference never touches a position limit (clamping would dominate the tracking error).
    """

    def __init__(self, home: np.ndarray, lower: np.ndarray, upper: np.ndarray, rng: np.random.Generator) -> None:
        n = home.shape[0]
        self.home = np.clip(home, lower + 0.4, upper - 0.4)
        self.amplitude = rng.uniform(0.1, 0.3, (2, n)) * np.array([[1.0], [0.3]])
        self.frequency = np.array([[0.4], [1.1]]) * rng.uniform(0.8, 1.2, (2, n))
        self.phase = rng.uniform(0, 2 * np.pi, (2, n))

    def __call__(self, t: np.ndarray | float) -> np.ndarray:
        t = np.atleast_1d(np.asarray(t, dtype=float))[:, None, None]
        waves = self.amplitude * np.sin(2 * np.pi * self.frequency * t + self.phase)
        return self.home + waves.sum(axis=1)


def predict(reference: Reference, stamp: float, rng: np.random.Generator, noise: PolicyNoise) -> np.ndarray:
    n = reference.home.shape[0]
    steps = np.arange(HORIZON)[:, None]
    error = (
        rng.normal(0, noise.offset_rad, (1, n))
        + steps * rng.normal(0, noise.drift_rad_per_step, (1, n))
        + rng.normal(0, noise.step_rad, (HORIZON, n))
    )
    return reference(stamp + STEP_PERIOD * steps[:, 0]) + error


def run_mode(mode: str, args: argparse.Namespace, joints: list[str], robot) -> dict:
    rng = np.random.default_rng(args.seed)  # same reference, latencies and noise for every mode
    noise = PolicyNoise()
    home = np.array(robot.home_positions(joints))
    limits = [robot.joints[name] for name in joints]
    reference = Reference(home, np.array([j.lower for j in limits]), np.array([j.upper for j in limits]), rng)
    executor = ChunkExecutor(
        ExecutorConfig(
            joint_names=tuple(joints),
            switch_mode="blend" if mode == "blend" else "replace",
            blend_duration_s=args.blend_s,
            blend_weighting="cosine",
        )
    )
    limiter = JointLimiter.from_robot(robot, joints, LimiterConfig(max_dt_s=2.5 / COMMAND_HZ))
    scheduler = ReplanScheduler(ReplanConfig(replan_every_steps=0))
    delay = InferenceDelayEstimator(initial_delay_s=noise.latency_s[1], window=20, quantile=1.0)
    period = 1.0 / COMMAND_HZ
    ticks = int(args.duration * COMMAND_HZ)
    in_flight: tuple[float, float, np.ndarray] | None = None  # (stamp, arrival, chunk positions)

    position_jumps, velocity_jumps, switch_times = [], [], []
    commands = np.empty((ticks, len(joints)))
    limited = 0
    now = 0.0
    limiter.reset(reference(0.0)[0], now)
    for k in range(ticks):
        now = (k + 1) * period
        if in_flight is not None and now >= in_flight[1]:
            stamp, _, positions = in_flight
            in_flight = None
            before = executor.planned_positions([now - period, now])
            executor.submit(Chunk(stamp, STEP_PERIOD, tuple(joints), positions), now)
            delay.add(now - stamp)
            if before is not None:
                after = executor.planned_positions([now, now + period])
                position_jumps.append(float(np.abs(after[0] - before[1]).max()))
                v_before = (before[1] - before[0]) / period
                v_after = (after[1] - after[0]) / period
                velocity_jumps.append(float(np.abs(v_after - v_before).max()))
                switch_times.append(now)
        if scheduler.should_request(now, executor.status(now), in_flight is not None):
            scheduler.mark_requested(now)
            latency = rng.uniform(*noise.latency_s)
            positions = predict(reference, now, rng, noise)
            if mode == "rtc_approx":
                guidance = executor.rtc_guidance(now, STEP_PERIOD, HORIZON, delay.estimate_s())
                if guidance is not None:
                    w = guidance.guidance_weights[:, None]
                    positions = w * guidance.prefix_positions + (1 - w) * positions
            in_flight = (now, now + latency, positions)
        command = executor.sample(now)
        target = reference(now)[0] if command is None else command
        commands[k] = limiter.limit(target, now)
        limited += limiter.last_any_clamped

    times = period * np.arange(1, ticks + 1)
    warmup = times > 1.0  # skip the first second (first chunk, limiter settling)
    error = commands[warmup] - reference(times[warmup])
    pj, vj = np.array(position_jumps), np.array(velocity_jumps)
    # Baseline for the velocity jumps: the same one-tick velocity change at every tick (the
    # chunks are piecewise linear, so step boundaries alone change the velocity too).
    tick_velocity = np.diff(commands, axis=0) * COMMAND_HZ
    velocity_change = np.abs(np.diff(tick_velocity, axis=0)).max(axis=1)[warmup[2:]]
    return {
        "switches": len(position_jumps),
        "position_jump_rad": {
            "p50": float(np.median(pj)),
            "p95": float(np.percentile(pj, 95)),
            "max": float(pj.max()),
        },
        "velocity_jump_rad_s": {
            "p50": float(np.median(vj)),
            "p95": float(np.percentile(vj, 95)),
            "max": float(vj.max()),
        },
        "command_velocity_change_per_tick_rad_s": {
            "p95": float(np.percentile(velocity_change, 95)),
            "max": float(velocity_change.max()),
        },
        "tracking_error_rad": {"rms": float(np.sqrt(np.mean(error**2))), "max": float(np.abs(error).max())},
        "limiter_active_fraction": limited / ticks,
        "_trace": {
            "times": times,
            "commands": commands,
            "switch_times": switch_times,
            "reference": reference,
        },
    }


def plot(results: dict, joints: list[str], joint_index: int, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot written", file=sys.stderr)
        return False
    fig, ax = plt.subplots(figsize=(10, 4.5))
    window = None
    for mode, result in results.items():
        trace = result["_trace"]
        times = trace["times"]
        window = (times >= 4.0) & (times <= 7.0)
        ax.plot(times[window], trace["commands"][window, joint_index], label=mode, lw=1.2)
    reference = next(iter(results.values()))["_trace"]["reference"]
    times = next(iter(results.values()))["_trace"]["times"][window]
    ax.plot(times, reference(times)[:, joint_index], "k--", lw=1, label="reference")
    for t in results["replace"]["_trace"]["switch_times"]:
        if 4.0 <= t <= 7.0:
            ax.axvline(t, color="0.85", lw=0.8, zorder=0)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(f"{joints[joint_index]} command (rad)")
    ax.set_title("120 Hz command across chunk switches (grey: chunk arrivals, replace run)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0, help="simulated seconds per mode")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--blend-s", type=float, default=0.2)
    parser.add_argument("--out-dir", type=Path, default=ROOT / "docs" / "benchmarks")
    args = parser.parse_args()

    robot = load_stack().robot
    joints = list(robot.groups["left_arm"])
    results = {mode: run_mode(mode, args, joints, robot) for mode in MODES}
    args.out_dir.mkdir(parents=True, exist_ok=True)
    png = args.out_dir / "chunk_execution.png"
    plotted = plot(results, joints, joints.index("left_shoulder_pitch_joint"), png)
    summary = {
        "benchmark": "bench_chunk_execution",
        "date": dt.date.today().isoformat(),
        "python": platform.python_version(),
        "setup": {
            "robot": robot.name,
            "joints": joints,
            "command_hz": COMMAND_HZ,
            "chunk": {"horizon": HORIZON, "step_period_s": STEP_PERIOD},
            "policy_noise": PolicyNoise().__dict__,
            "replan_every_steps": 0,
            "blend": {"duration_s": args.blend_s, "weighting": "cosine"},
            "duration_s": args.duration,
            "seed": args.seed,
            "rtc_approx_note": "chunk = W*prefix + (1-W)*prediction; idealised stand-in for guided sampling",
        },
        "results": {mode: {k: v for k, v in r.items() if not k.startswith("_")} for mode, r in results.items()},
        "plot": png.name if plotted else None,
    }
    json_path = args.out_dir / "chunk_execution.json"
    json_path.write_text(json.dumps(summary, indent=2) + "\n")
    for mode, r in summary["results"].items():
        print(
            f"{mode:11s} switches {r['switches']:4d}  pos jump p50/p95/max "
            f"{r['position_jump_rad']['p50']:.4f}/{r['position_jump_rad']['p95']:.4f}/"
            f"{r['position_jump_rad']['max']:.4f} rad  "
            f"vel jump p50/max {r['velocity_jump_rad_s']['p50']:.3f}/{r['velocity_jump_rad_s']['max']:.3f} rad/s  "
            f"tracking rms/max {r['tracking_error_rad']['rms']:.4f}/{r['tracking_error_rad']['max']:.4f} rad  "
            f"limiter {100 * r['limiter_active_fraction']:.1f}%"
        )
    print(f"wrote {json_path}" + (f" and {png}" if plotted else ""))


if __name__ == "__main__":
    main()
