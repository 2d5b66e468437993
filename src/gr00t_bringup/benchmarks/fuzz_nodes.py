"""Fuzz every node of the stack with generated hostile input and write the report (JSON).

    python src/gr00t_bringup/benchmarks/fuzz_nodes.py --examples 100 --out docs/benchmarks/fuzz_nodes.json
    python src/gr00t_bringup/benchmarks/fuzz_nodes.py --nodes gr00t_sim,gr00t_recorder --examples 20

Each node runs as a process of its own, alone in a DDS domain; every subscription, service and action
server it has (discovered from the running node) gets `--examples` generated messages, requests or
goals (gr00t_bringup.fuzz). Per node the report says: the interfaces found and driven, examples
sent per interface, whether the process stayed up (and its exit code at the end), joint_command
violations of the joint limits, and whether the node recovered on good input. Exit code 1 when any
node failed.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from gr00t_bringup.fuzz.harness import fuzz_node, main_log
from gr00t_bringup.fuzz.profiles import PROFILES, names_for


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=100, help="generated inputs per interface (default 100)")
    parser.add_argument("--nodes", default=",".join(PROFILES), help=f"comma-separated, of {', '.join(PROFILES)}")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed (the run is reproducible per seed)")
    parser.add_argument("--out", type=Path, default=None, help="JSON report")
    args = parser.parse_args(argv)
    nodes = [n.strip() for n in args.nodes.split(",") if n.strip()]
    if unknown := [n for n in nodes if n not in PROFILES]:
        parser.error(f"unknown node(s) {unknown}; choose from {sorted(PROFILES)}")
    started = time.monotonic()
    reports = []
    for index, name in enumerate(nodes):
        report = fuzz_node(
            names_for(PROFILES[name]), args.examples, run_seed=args.seed, domain_id=150 + index, log=main_log
        )
        reports.append(report.to_dict())
        examples = sum(i.examples for i in report.interfaces)
        main_log(
            f"{name}: {'OK' if report.ok else 'FAILED'}; {len(report.interfaces)}/{len(report.discovered)} interfaces, "
            f"{examples} examples, alive={report.alive}, recovered={report.recovered} ({report.recovery}), "
            f"violations={sum(o.violations for o in report.outputs)}, {report.seconds:.0f} s"
        )
    result = {
        "code": _code_version(),
        "examples_per_interface": args.examples,
        "seed": args.seed,
        "machine": f"{platform.node()} {platform.machine()} ({platform.processor() or 'cpu'})",
        "wall_time_s": round(time.monotonic() - started, 1),
        "nodes_ok": [r["node"] for r in reports if r["ok"]],
        "nodes_failed": [r["node"] for r in reports if not r["ok"]],
        "nodes": reports,
    }
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if not result["nodes_failed"] else 1


def _code_version() -> dict[str, object]:
    """The commit, and the node sources that differed from it (the installed copies were built from
    the working tree), so a report says what it tested."""
    import subprocess

    def git(*command: str) -> str:
        result = subprocess.run(["git", *command], capture_output=True, text=True, cwd=Path(__file__).parent)
        return result.stdout.strip() if result.returncode == 0 else ""

    changed = [line[3:] for line in git("status", "--porcelain", "--", ":/src").splitlines() if line.endswith(".py")]
    return {"commit": git("rev-parse", "--short", "HEAD"), "uncommitted_sources": changed}


if __name__ == "__main__":
    sys.exit(main())
