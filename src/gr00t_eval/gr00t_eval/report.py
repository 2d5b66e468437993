"""Write the evaluation's JSON report and its PNG summary (matplotlib, headless)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: no display on the evaluation machines
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

from gr00t_eval.evaluation import EvalRun  # noqa: E402


def write_json(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")


def write_png(report: dict[str, Any], run: EvalRun, path: Path) -> None:
    """Success per task with 95% intervals on top; below, frame strips of one successful and one
    failed episode per task (where the run had one)."""
    tasks = report["tasks"]
    strips = [
        (task, kind, run.examples[task][kind])
        for task in tasks
        for kind in ("success", "failure")
        if kind in run.examples.get(task, {})
    ]
    frames_per_strip = max((len(example.frames) for _, _, example in strips), default=0)
    rows = 1 + len(strips)
    columns = max(frames_per_strip, 1)
    figure = plt.figure(figsize=(2.2 * max(columns, 4), 3.0 + 2.0 * len(strips)))
    grid = figure.add_gridspec(rows, columns, height_ratios=[1.6] + [1.0] * len(strips))

    bars = figure.add_subplot(grid[0, :])
    names = list(tasks)
    rates = [tasks[n]["success_rate"] for n in names]
    low = [rates[i] - tasks[n]["success_ci95"][0] for i, n in enumerate(names)]
    high = [tasks[n]["success_ci95"][1] - rates[i] for i, n in enumerate(names)]
    bars.bar(names, rates, yerr=[low, high], capsize=6, color="#4c72b0")
    for i, name in enumerate(names):
        label = f"{tasks[name]['successes']}/{tasks[name]['episodes']}"
        if "language_compliance_rate" in tasks[name]:
            label += f"\ncompliance {tasks[name]['language_compliance_rate']:.0%}"
        bars.text(i, 0.03, label, ha="center", va="bottom", color="white", fontsize=9)
    bars.set_ylim(0, 1.05)
    bars.set_ylabel("success rate (95% Wilson CI)")
    bars.set_title(f"gr00t-eval, policy {report['policy']}, {report['config']['episodes_per_task']} episodes per task")

    for row, (task, kind, example) in enumerate(strips, start=1):
        for column, (t, image) in enumerate(example.frames):
            axis = figure.add_subplot(grid[row, column])
            axis.imshow(image)
            axis.set_xticks([])
            axis.set_yticks([])
            axis.set_xlabel(f"t = {t:.1f} s", fontsize=8)
            if column == 0:
                axis.set_ylabel(f"{task}\n{kind}", fontsize=8)
        if example.frames:
            figure.axes[-len(example.frames)].set_title(
                f'"{example.outcome.instruction}" (seed {example.outcome.seed})', fontsize=8, loc="left"
            )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)
    plt.close(figure)
