#!/usr/bin/env python3
"""Write the model card of a policy trained by `tools/train_demo_policy.sh`, from its artefacts.

    python tools/write_model_card.py --model models/gr00t_demo --work out/demo_policy \
        --eval docs/experiments/reports/eval_demo_policy.json [--eval-blank ...] [--eval-random ...]
    python tools/write_model_card.py --model models/gr00t_demo --add-eval NAME=REPORT.json ...

Reads the recording summaries (`record_*.json`), the dataset's `meta/info.json`, the training log
(`finetune/train_log.jsonl`), the evaluation reports and, where training continued from an earlier
policy, that policy's card (copied in as `base`, so the whole lineage stays on record); writes
`model_card.json` into the model directory. Nothing is typed in by hand.

Run it before copying the new weights over the base model when the base is the model directory
itself (the base card is read from `--base-model` at the time of writing).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _load(path: Path) -> Any:
    return json.loads(path.read_text())


def _eval_summary(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    report = _load(path)
    tasks = {}
    for name, task in report["tasks"].items():
        entry = {
            "episodes": task["episodes"],
            "success_rate": task["success_rate"],
            "success_ci95": task["success_ci95"],
            "mean_time_to_success_s": task["mean_time_to_success_s"],
            "safety_interventions": task["safety_interventions"],
        }
        for key in (
            "language_compliance_rate",
            "language_compliance_ci95",
            "scene_pairs",
            "pair_compliance_rate",
            "pair_compliance_ci95",
        ):
            if key in task:
                entry[key] = task[key]
        tasks[name] = entry
    return {"report": str(path), "path": report["path"], "seeds_from": report["config"]["seed_start"], "tasks": tasks}


def _parameter_count(model_dir: Path) -> int:
    from safetensors import safe_open

    total = 0
    for path in sorted(model_dir.glob("*.safetensors")):
        with safe_open(str(path), framework="numpy") as weights:
            for key in weights.keys():
                count = 1
                for size in weights.get_slice(key).get_shape():
                    count *= size
                total += count
    return total


def _add_evaluations(card_path: Path, entries: list[str]) -> int:
    card = _load(card_path)
    for entry in entries:
        name, sep, report = entry.partition("=")
        if not sep or not name or not report:
            raise SystemExit(f"--add-eval wants NAME=REPORT, got {entry!r}")
        card["evaluation"][name] = _eval_summary(Path(report))
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    print(f"updated {card_path}: evaluation {', '.join(e.partition('=')[0] for e in entries)}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument(
        "--add-eval",
        action="append",
        default=[],
        metavar="NAME=REPORT",
        help="add a later gr00t-eval report to an existing card under evaluation.NAME",
    )
    parser.add_argument("--work", type=Path, help="tools/train_demo_policy.sh's work directory")
    parser.add_argument("--train-dir", type=Path, default=None, help="default: WORK/finetune")
    parser.add_argument("--eval", type=Path, help="gr00t-eval report of the policy")
    parser.add_argument("--eval-blank", type=Path, default=None, help="same policy, --blank-instruction")
    parser.add_argument("--eval-random", type=Path, default=None, help="the random-weights starting point")
    parser.add_argument("--weights", default=None, help="lineage sentence for the card (default: from --base-model)")
    parser.add_argument(
        "--grounding",
        type=Path,
        default=None,
        help="grounding_pretraining.json of a gr00t-pretrain-grounding stage before the fine-tuning",
    )
    parser.add_argument(
        "--base-model",
        type=Path,
        default=Path("models/gr00t_random"),
        help="what the training started from (its model_card.json, if any, is copied in)",
    )
    args = parser.parse_args()
    if args.add_eval:
        return _add_evaluations(args.model / "model_card.json", args.add_eval)
    if args.work is None or args.eval is None:
        parser.error("--work and --eval are required to write a card")

    train_dir = args.train_dir or args.work / "finetune"
    records = [_load(p) for p in sorted(args.work.glob("record_*.json"))]
    per_task: dict[str, dict[str, int]] = {}
    for record in records:
        for task, counts in record["per_task"].items():
            entry = per_task.setdefault(task, {"episodes": 0, "successes": 0, "seeds": []})
            entry["episodes"] += counts["episodes"]
            entry["successes"] += counts["successes"]
            entry["seeds"] += [e["seed"] for e in record["episodes"] if e["task"] == task]
    for entry in per_task.values():
        entry["seeds"] = [min(entry["seeds"]), max(entry["seeds"])] if entry["seeds"] else []
    info = _load(args.work / "dataset" / "meta" / "info.json")
    log = [json.loads(line) for line in (train_dir / "train_log.jsonl").read_text().splitlines()]
    trainer_state = sorted(train_dir.glob("checkpoint-*/trainer_state.json"))
    training = _load(trainer_state[-1]) if trainer_state else {}
    base_card_path = args.base_model / "model_card.json"
    base_card = _load(base_card_path) if base_card_path.is_file() else None

    card = {
        "name": args.model.name,
        "architecture": "GR00T N1",
        "preset": "demo",
        "weights": args.weights
        or (
            f"fine-tuned from {args.base_model} "
            f"({'the policy described under base' if base_card else 'random seeded weights'}) "
            "on the demonstrations below"
        ),
        "embodiment": "gr1",
        "data_config": "gr1_arms_only",
        "parameters": _parameter_count(args.model),
        "data": {
            "source": "gr00t-record-demos: scripted IK demonstrator -> leader teleop (safety layer) -> sim, "
            "recorded by the recorder node (MCAP), converted by gr00t-convert",
            "recorded_per_task": per_task,
            "dataset_episodes": info["total_episodes"],
            "dataset_frames": info["total_frames"],
            "fps": info["fps"],
            "instructions": info["total_tasks"],
        },
        "training": {
            "steps": log[-1]["step"],
            "first_logged_loss": log[0]["loss"],
            "last_logged_loss": log[-1]["loss"],
            "config": {k: v for k, v in training.get("config", {}).items() if k not in ("dataset_dir", "output_dir")},
            "log": "train_log.jsonl, loss_curve.png",
        },
        "evaluation": {
            "policy": _eval_summary(args.eval),
            "blank_instruction": _eval_summary(args.eval_blank),
            "random_weights": _eval_summary(args.eval_random),
        },
    }
    if args.grounding is not None:
        card["grounding_pretraining"] = _load(args.grounding)
    if base_card is not None:
        card["base"] = {
            k: base_card[k]
            for k in ("name", "weights", "data", "training", "grounding_pretraining", "base")
            if k in base_card
        }
    (args.model / "model_card.json").write_text(json.dumps(card, indent=2) + "\n")
    print(f"wrote {args.model / 'model_card.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
