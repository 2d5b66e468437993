"""The published benchmark numbers point at real reports and agree with them.

The benchmarks index (docs/benchmarks.md), the experiments record (docs/experiments/demo_policy.md)
and the bundled model's card quote `gr00t-eval` reports: the current ones under docs/benchmarks/, the
earlier versions' and the experiments' under docs/experiments/reports/. A renamed or forgotten
report, or a card whose numbers drifted from its report, would leave a claim nobody can check.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
REPORTS = REPO / "docs" / "benchmarks"
HISTORY_REPORTS = REPO / "docs" / "experiments" / "reports"
BENCHMARKS_INDEX = REPO / "docs" / "benchmarks.md"
EXPERIMENTS = REPO / "docs" / "experiments" / "demo_policy.md"
# Where each document's reports may be: the index quotes current reports only.
DOCS = {BENCHMARKS_INDEX: (REPORTS,), EXPERIMENTS: (REPORTS, HISTORY_REPORTS)}
# A report name as the docs write it: `eval_....json`; `..._seeds10050.json` abbreviates the previous name.
REPORT_NAME = re.compile(r"`(eval_[A-Za-z0-9_.\-]+?\.json)`")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_report_a_doc_names_exists(doc: Path) -> None:
    names = set(REPORT_NAME.findall(doc.read_text(encoding="utf-8")))
    assert names, f"{doc.name} names no report"
    folders = DOCS[doc]
    missing = sorted(name for name in names if not any((folder / name).is_file() for folder in folders))
    where = " or ".join(str(folder.relative_to(REPO)) for folder in folders)
    assert not missing, f"{doc.name} names reports that are not in {where}: {missing}"


def test_the_bundled_model_card_quotes_its_reports() -> None:
    card = json.loads((REPO / "models" / "gr00t_demo" / "model_card.json").read_text(encoding="utf-8"))
    quoted = {name: entry for name, entry in card["evaluation"].items() if entry}
    assert {"policy", "blank_instruction", "random_weights"} <= set(quoted)
    for name, entry in quoted.items():
        report = json.loads((REPO / entry["report"]).read_text(encoding="utf-8"))
        assert entry["path"] == report["path"], name
        for task, numbers in entry["tasks"].items():
            measured = report["tasks"][task]
            assert numbers["episodes"] == measured["episodes"], (name, task)
            assert numbers["success_rate"] == pytest.approx(measured["success_rate"]), (name, task)
