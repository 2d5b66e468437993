#!/usr/bin/env python3
"""Closed-loop chunk switching on the simulated GR-1 (benchmark, not a test): for each
`chunk_switch` mode (replace, blend, rtc) run the sim graph with the bundled policy and measure, from
the 120 Hz command stream, the velocity jump at chunk switches and the command-vs-measured tracking
error; plot one joint's command across several switches. The policy works through seeded reach
episodes (`--episode-seconds` each: System 1 disabled, the sim reset to the episode, re-enabled, the
episode's instruction sent); switches during the start-up ramp of each episode are not counted.

    python src/gr00t_bringup/benchmarks/bench_chunk_switch_sim.py --seconds 20 \
        --out docs/benchmarks/chunk_switch_sim.json --plot docs/benchmarks/chunk_switch_sim.png
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import JointState

from gr00t_bringup.graph import GraphOptions, build_graph
from gr00t_bringup.processes import Graph
from gr00t_description import load_stack
from gr00t_interfaces.msg import ActionChunk
from gr00t_interfaces.srv import SetEnabled, SetInstruction
from gr00t_sim.sim_interfaces import ResetEpisodeClient

MODES = ("replace", "blend", "rtc")
PLOT_JOINT = "right_elbow_pitch_joint"  # the first episode (reach/10000) uses the right hand


RAMP_S = 1.5  # after each enable: the start-up ramp, not chunk switching


def _call(client, request, timeout_s: float = 30.0):
    return _wait(client.call_async(request), timeout_s, client.srv_name)


def _wait(future, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while not future.done() and time.monotonic() < deadline:
        time.sleep(0.02)
    if not future.done():
        raise RuntimeError(f"no answer from {what}")
    return future.result()


def run_mode(stack, mode: str, seconds: float, episode_seconds: float) -> dict:
    graph = Graph(
        build_graph(stack, "sim", GraphOptions(extra={"gr00t_system1": {"chunk_switch": mode}}, console=False)),
        log=None,
    )
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("chunk_switch_probe", context=context)
    commands: list[tuple[float, np.ndarray]] = []
    measured: list[tuple[float, dict]] = []
    switches: list[float] = []
    names: list[str] = []

    def on_command(msg: JointState) -> None:
        if not names:
            names.extend(msg.name)
        commands.append((msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9, np.array(msg.position)))

    node.create_subscription(JointState, stack.topics["joint_command"], on_command, 100)
    node.create_subscription(
        JointState,
        stack.topics["joint_states"],
        lambda m: measured.append((time.time(), dict(zip(m.name, m.position)))),
        qos_profile_sensor_data,
    )
    node.create_subscription(ActionChunk, stack.topics["action_chunk"], lambda _m: switches.append(time.time()), 10)
    client = node.create_client(SetInstruction, stack.services["set_instruction"])
    enable = node.create_client(SetEnabled, stack.services["set_enabled"])
    # Relative to the probe's namespace (the graph's).
    reset = ResetEpisodeClient(node, lambda future, timeout_s, _what: _wait(future, timeout_s, reset.srv_name))
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    stop = threading.Event()
    spinner = threading.Thread(target=lambda: [executor.spin_once(timeout_sec=0.05) for _ in iter(stop.is_set, True)])
    spinner.start()
    windows: list[tuple[float, float]] = []  # (from, to) wall times whose switches count
    try:
        for c in (client, enable, reset):
            if not c.wait_for_service(120.0):
                raise RuntimeError(f"{c.srv_name} not available")
        time.sleep(3.0)  # models loaded, first goal tokens
        commands.clear(), measured.clear(), switches.clear()
        start, seed = time.monotonic(), 10_000
        while time.monotonic() - start < seconds:
            _call(enable, SetEnabled.Request(enable=False, reason="next episode"))
            instruction = reset.reset("reach", seed).instruction
            _call(client, SetInstruction.Request(text=instruction))
            _call(enable, SetEnabled.Request(enable=True, reason="episode"))
            enabled_at = time.time()
            time.sleep(episode_seconds)
            windows.append((enabled_at + RAMP_S, time.time()))
            seed += 1
    finally:
        stop.set()
        spinner.join()
        node.destroy_node()
        rclpy.shutdown(context=context)
        graph.shutdown()
    switches = [t for t in switches if any(a <= t <= b for a, b in windows)]
    times = np.array([t for t, _ in commands])
    q = np.stack([p for _, p in commands])
    dt = np.diff(times)
    ok = dt > 1e-4
    velocity = np.diff(q, axis=0)[ok] / dt[ok, None]
    vt = times[1:][ok]
    jumps = []  # |v after - v before| at each chunk arrival, max over joints
    for t in switches:
        i = np.searchsorted(vt, t)
        if 1 <= i < len(vt) - 1:
            jumps.append(float(np.max(np.abs(velocity[i + 1] - velocity[i - 1]))))
    track = []
    index = {n: k for k, n in enumerate(names)}
    for t, positions in measured:
        k = np.searchsorted(times, t) - 1
        if k >= 0:
            track.append(max(abs(positions[n] - q[k, index[n]]) for n in names if n in positions))
    return {
        "mode": mode,
        "switches": len(switches),
        "velocity_jump_at_switch_rad_s": {
            "p50": float(np.percentile(jumps, 50)),
            "p95": float(np.percentile(jumps, 95)),
            "max": float(np.max(jumps)),
        }
        if jumps
        else {},
        "tracking_error_rad": {"p50": float(np.percentile(track, 50)), "p95": float(np.percentile(track, 95))}
        if track
        else {},
        "plot": {
            "t": (times - times[0]).tolist(),
            "q": q[:, index[PLOT_JOINT]].tolist(),
            "switches": [t - times[0] for t in switches],
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="per mode")
    parser.add_argument("--episode-seconds", type=float, default=5.0)
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks/chunk_switch_sim.json"))
    parser.add_argument("--plot", type=Path, default=Path("docs/benchmarks/chunk_switch_sim.png"))
    args = parser.parse_args()
    stack = load_stack()
    results = [run_mode(stack, mode, args.seconds, args.episode_seconds) for mode in MODES]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(results), 1, figsize=(10, 7), sharex=True)
    for ax, result in zip(axes, results):
        plot = result["plot"]
        ax.plot(plot["t"], plot["q"], lw=1)
        for t in plot["switches"]:
            if 1.0 <= t <= 5.0:
                ax.axvline(t, color="0.85", lw=0.5)
        ax.set_xlim(1.0, 5.0)
        ax.set_ylabel(f"{result['mode']}\n(rad)")
    axes[0].set_title(f"{PLOT_JOINT} command at 120 Hz (grey: chunk arrivals), bundled demo policy, reach/10000")
    axes[-1].set_xlabel("time (s)")
    fig.tight_layout()
    args.plot.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.plot, dpi=110)
    summary = {
        "seconds_per_mode": args.seconds,
        "episode_seconds": args.episode_seconds,
        "policy": "bundled models/gr00t_demo (trained), seeded reach episodes from 10000",
        "load_avg": os.getloadavg(),
        "results": [{k: v for k, v in r.items() if k != "plot"} for r in results],
    }
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
