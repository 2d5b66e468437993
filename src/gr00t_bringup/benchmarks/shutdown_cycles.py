#!/usr/bin/env python3
"""Shutdown cycles (not a test): start the sim graph (sim, System 2, System 1) plus the episode
recorder, stop it at a chosen moment with a chosen signal, and count per node the non-zero exits,
hangs, and ERROR / FATAL / traceback lines printed after the signal (0 expected), whether an
active ExecuteInstruction's client got a result and whether a bag recording at the signal was
closed complete and readable.

Moments (cycled): `ready` (as soon as every node is up), `idle` (0.5-2 s later, nothing asked),
`action_start` (right after an ExecuteInstruction goal is accepted, the recorder recording),
`mid_action` (0-1.5 s after the first action chunk: System 1 inferring, chunk after chunk).
Signals (cycled): `ctrl_c` (one SIGINT to the process group, as a terminal's Ctrl-C reaches every
node), `ctrl_c_launch` (that plus one more SIGINT per node, as `ros2 launch` in a terminal forwards
it), `sigterm` (SIGTERM to each node: launch's escalation, `docker stop`, systemd).

    python src/gr00t_bringup/benchmarks/shutdown_cycles.py --cycles 60 --out docs/benchmarks/shutdown_cycles.json

Exits 1 when any node exited non-zero, hung, or printed a failure line after a signal.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from gr00t_bringup.graph import GraphOptions, NodeSpec, build_graph
from gr00t_bringup.shutdown_probe import NodeProcess, ProbeClient, first_not_ready
from gr00t_description import load_stack
from gr00t_interfaces.action import ExecuteInstruction
from gr00t_interfaces.srv import SetInstruction

MOMENTS = ("ready", "idle", "action_start", "mid_action")
SIGNALS = ("ctrl_c", "ctrl_c_launch", "sigterm")
START_TIMEOUT_S = 180.0
EXIT_TIMEOUT_S = 30.0


def bag_state(episodes: Path) -> str:
    """'complete' (metadata written, every message readable), 'none' (no episode), or what is wrong."""
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore

    bags = [p for p in episodes.iterdir() if p.is_dir()] if episodes.exists() else []
    if not bags:
        return "none"
    if len(bags) > 1:
        return f"{len(bags)} bags"
    if not (bags[0] / "metadata.yaml").exists():
        return "no metadata.yaml"
    try:
        with AnyReader([bags[0]], default_typestore=get_typestore(Stores.ROS2_KILTED)) as reader:
            expected = sum(c.msgcount for c in reader.connections)
            read = sum(1 for _ in reader.messages())
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return f"unreadable: {exc!r}"
    return "complete" if read == expected and expected > 0 else f"{read} of {expected} messages"


def run_cycle(index: int, moment: str, how: str, stack, workdir: Path, rng: random.Random) -> dict[str, Any]:
    episodes = workdir / "episodes"
    # The console (when the profile has it) on a free port: another graph may hold the default one.
    specs = [
        *build_graph(stack, "sim", GraphOptions(extra={"gr00t_console": {"port": 0}})),
        NodeSpec(
            "gr00t_teleop",
            "recorder_node",
            "gr00t_recorder",
            {**stack.node_parameters("recorder"), "output_dir": str(episodes)},
        ),
    ]
    nodes: list[NodeProcess] = []
    for spec in specs:
        # One process group for the cycle's nodes, as under a terminal: the first node leads it.
        nodes.append(NodeProcess(spec, workdir, process_group=nodes[0].process.pid if nodes else 0))
    pgid = nodes[0].process.pid
    try:
        return _stop_cycle(index, moment, how, stack, nodes, pgid, episodes, rng)
    finally:
        try:
            os.killpg(pgid, signal.SIGKILL)  # what is left after a hang, or after this script was interrupted
        except ProcessLookupError:
            pass
        shutil.rmtree(episodes, ignore_errors=True)


def _stop_cycle(
    index: int, moment: str, how: str, stack, nodes: list[NodeProcess], pgid: int, episodes: Path, rng: random.Random
) -> dict[str, Any]:
    client = ProbeClient(stack, "shutdown_cycles_client")
    record: dict[str, Any] = {"cycle": index, "moment": moment, "signal": how}
    result_future = None
    try:
        late = first_not_ready(nodes, START_TIMEOUT_S)
        if late is not None:
            raise RuntimeError(f"{late.spec.name} not up: {''.join(late.lines[-5:])}")
        if moment == "idle":
            time.sleep(rng.uniform(0.5, 2.0))
        elif moment in ("action_start", "mid_action"):
            if not client.record_start.wait_for_service(timeout_sec=30.0):
                raise RuntimeError("recorder start service not available")
            started = client.wait(
                client.record_start.call_async(SetInstruction.Request(text="pick up the red cube")),
                30.0,
                "the recorder's start",
            )
            if not started.accepted:
                raise RuntimeError(f"recording refused: {started.message}")
            if not client.action.wait_for_server(timeout_sec=30.0):
                raise RuntimeError("ExecuteInstruction server not available")
            goal = ExecuteInstruction.Goal(instruction="pick up the red cube")
            goal.timeout.sec = 120
            handle = client.wait(client.action.send_goal_async(goal), 30.0, "the goal")
            if not handle.accepted:
                raise RuntimeError("goal rejected")
            result_future = handle.get_result_async()
            if moment == "mid_action":
                chunk_deadline = time.monotonic() + 60.0
                while client.chunks < 1:
                    if time.monotonic() > chunk_deadline:
                        raise RuntimeError("no action chunk within 60 s")
                    time.sleep(0.02)
                time.sleep(rng.uniform(0.0, 1.5))
        record["setup"] = "ok"
    except (RuntimeError, TimeoutError) as exc:
        record["setup"] = f"failed: {exc}"  # still stopped, still counted

    for node in nodes:
        node.mark_signal()
    if how in ("ctrl_c", "ctrl_c_launch"):
        os.killpg(pgid, signal.SIGINT)
        if how == "ctrl_c_launch":
            time.sleep(0.05)
            for node in nodes:
                if node.process.poll() is None:
                    node.process.send_signal(signal.SIGINT)
    else:
        for node in nodes:
            node.process.send_signal(signal.SIGTERM)
    stopped_at = time.monotonic()
    record["nodes"] = {}
    for node in nodes:
        code = node.finish(EXIT_TIMEOUT_S)
        failures = [line.rstrip() for line in node.failures_after_signal()]
        record["nodes"][node.spec.name] = {
            "exit": code,
            "exit_s": round(node.output_closed_at - node.signalled_at, 2),
            "failure_lines": failures[:5],
            "failure_line_count": len(failures),
        }
    record["stop_s"] = round(time.monotonic() - stopped_at, 2)
    if result_future is not None:
        try:
            result = client.wait(result_future, 5.0, "the result").result
            record["action_result"] = {"outcome": int(result.outcome), "reason": result.reason}
        except TimeoutError:
            record["action_result"] = None
    if moment in ("action_start", "mid_action") and record["setup"] == "ok":
        record["bag"] = bag_state(episodes)
    client.close()
    return record


def summarize(cycles: list[dict[str, Any]]) -> dict[str, Any]:
    per_node: dict[str, dict[str, Any]] = {}
    for cycle in cycles:
        for name, node in cycle["nodes"].items():
            entry = per_node.setdefault(
                name,
                {
                    "cycles": 0,
                    "nonzero_exits": 0,
                    "hung": 0,
                    "failure_lines": 0,
                    "exit_codes": Counter(),
                    "exit_s": [],
                    "examples": [],
                },
            )
            entry["cycles"] += 1
            entry["exit_s"].append(node["exit_s"])
            entry["exit_codes"][str(node["exit"])] += 1
            entry["hung"] += node["exit"] is None
            entry["nonzero_exits"] += node["exit"] not in (0, None)
            entry["failure_lines"] += node["failure_line_count"]
            if (node["exit"] != 0 or node["failure_line_count"]) and len(entry["examples"]) < 3:
                entry["examples"].append(
                    {
                        "cycle": cycle["cycle"],
                        "moment": cycle["moment"],
                        "signal": cycle["signal"],
                        "exit": node["exit"],
                        "lines": node["failure_lines"],
                    }
                )
    for entry in per_node.values():
        entry["exit_codes"] = dict(entry["exit_codes"])
        times = sorted(entry.pop("exit_s"))
        entry["seconds_to_exit"] = {"p50": times[len(times) // 2], "max": times[-1]}
    with_action = [c for c in cycles if "action_result" in c]
    with_bag = [c for c in cycles if "bag" in c]
    return {
        "cycles": len(cycles),
        "setup_failures": sum(c["setup"] != "ok" for c in cycles),
        "per_node": per_node,
        "by_moment_and_signal": dict(Counter(f"{c['moment']}/{c['signal']}" for c in cycles)),
        "actions_active_at_signal": len(with_action),
        "action_results_received": sum(c["action_result"] is not None for c in with_action),
        "action_outcomes": dict(
            Counter(str(c["action_result"]["outcome"]) for c in with_action if c["action_result"] is not None)
        ),
        "bags_recording_at_signal": len(with_bag),
        "bags": dict(Counter(c["bag"] for c in with_bag)),
        "stop_s_max": max((c["stop_s"] for c in cycles), default=0.0),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0, help="for the random delays within a moment")
    parser.add_argument("--moments", default=",".join(MOMENTS), help=f"comma-separated subset of {MOMENTS}")
    parser.add_argument("--signals", default=",".join(SIGNALS), help=f"comma-separated subset of {SIGNALS}")
    parser.add_argument("--out", type=Path, help="write the report (JSON) here")
    args = parser.parse_args(argv)
    moments, signals = args.moments.split(","), args.signals.split(",")
    if not set(moments) <= set(MOMENTS) or not set(signals) <= set(SIGNALS):
        parser.error(f"moments from {MOMENTS}, signals from {SIGNALS}")
    for sig in (signal.SIGINT, signal.SIGTERM):  # stopping this script stops the cycle's nodes too
        signal.signal(sig, signal.default_int_handler)
    stack = load_stack()
    rng = random.Random(args.seed)
    cycles: list[dict[str, Any]] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gr00t-shutdown-cycles-") as tmp:
        for index in range(args.cycles):
            moment = moments[index % len(moments)]
            how = signals[(index // len(moments)) % len(signals)]
            record = run_cycle(index, moment, how, stack, Path(tmp), rng)
            cycles.append(record)
            bad = {n: v["exit"] for n, v in record["nodes"].items() if v["exit"] != 0 or v["failure_line_count"]}
            print(
                f"cycle {index:3d} {moment:>12s} {how:>13s}: setup {record['setup']}, stop {record['stop_s']:.1f} s, "
                f"action {record.get('action_result', '-')}, bag {record.get('bag', '-')}"
                + (f", BAD {bad}" if bad else ""),
                flush=True,
            )
    summary = summarize(cycles)
    report = {
        "what": "start/stop cycles of the sim graph (sim, System 2, System 1) + recorder; exits and failure "
        "lines printed after the signal, per node (src/gr00t_bringup/benchmarks/shutdown_cycles.py)",
        "machine": {"cpus": os.cpu_count(), "load_avg_at_end": os.getloadavg(), "python": platform.python_version()},
        "moments": moments,
        "signals": signals,
        "wall_time_s": round(time.monotonic() - started, 1),
        "summary": summary,
        "cycles": cycles,
    }
    print(json.dumps(summary, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"report written to {args.out}")
    failed = any(e["nonzero_exits"] or e["hung"] or e["failure_lines"] for e in summary["per_node"].values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
