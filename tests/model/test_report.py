"""Report files for a small evaluation: what is missing is left out, limits are stated."""

from __future__ import annotations

import json
from pathlib import Path

from moderate.model.evaluate import evaluate
from moderate.model.report import write_report
from tests.model.test_evaluate import counts_factory, synthetic_dataset


def test_report_without_baseline_or_sources(tmp_path: Path) -> None:
    data = synthetic_dataset(rows=90)
    report = evaluate(data, counts_factory, folds=3, baseline=False, by_source=False)
    names = {p.name for p in write_report(report, tmp_path)}
    assert "per_source.png" not in names
    assert {"report.json", "REPORT.md", "MODEL_CARD.md", "pr_curves.png"} <= names
    markdown = (tmp_path / "REPORT.md").read_text()
    assert "| metric | model |" in markdown and "baseline |" not in markdown
    assert "Leave-one-source-out" not in markdown
    card = (tmp_path / "MODEL_CARD.md").read_text()
    assert "toxic: only 60 labelled comments" in card


def test_report_json_round_trips_failures_and_bias(tmp_path: Path) -> None:
    report = evaluate(synthetic_dataset(rows=90), counts_factory, folds=3, by_source=False)
    write_report(report, tmp_path)
    summary = json.loads((tmp_path / "report.json").read_text())
    failures = summary["behaviour_failures"]
    assert all({"capability", "text", "p", "expected"} <= set(f) for f in failures)
    assert len(failures) == int((~report.behaviour_cases["passed"]).sum())  # type: ignore[index]
    assert {row["identity"] for row in summary["bias"]} >= {"muslim", "gay", "christian"}
    rerun = write_report(report, tmp_path)  # overwriting an existing report is fine
    assert len(rerun) == 5  # no per_source.png without leave-one-source-out
