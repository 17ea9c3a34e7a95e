"""`moderate labels audit`: likely label errors for annotators to review."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from moderate.cli.common import fail
from moderate.settings import load_settings


def register_audit(labels_app: typer.Typer) -> None:
    """Add `audit` to the `labels` group."""
    labels_app.command("audit")(audit)


def audit(
    data: Annotated[
        Path | None, typer.Option("--data", help="Dataset directory [default: MODERATE_DATA_DIR]")
    ] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Rows to show per label")] = 20,
    label: Annotated[str | None, typer.Option(help="Only this label")] = None,
    folds: Annotated[int, typer.Option(min=2, help="Cross-validation folds")] = 5,
    baseline: Annotated[
        bool, typer.Option("--baseline", help="Use the fast naive baseline for probabilities")
    ] = False,
    all_rows: Annotated[
        bool, typer.Option("--all", help="Also show comments cleanlab does not flag")
    ] = False,
) -> None:
    """Rank likely label errors by out-of-fold probabilities (confident learning).

    Each labelled comment is scored by a model that never saw it; the comments whose label
    disagrees most with that score come first, so annotators can check them.

    Example: moderate labels audit --data build/corpora-store --top 30 --label toxic
    """
    from moderate.labels.store import LABELS
    from moderate.model.audit import AuditError, audit_store

    if label is not None and label not in LABELS:
        fail(f"unknown label {label!r}; expected one of {', '.join(LABELS)}")
    data_dir = data if data is not None else load_settings().data_dir
    try:
        ranked = audit_store(data_dir, folds=folds, baseline=baseline)
    except AuditError as error:
        fail(str(error))
    if label is not None:
        ranked = ranked[ranked["label"] == label]
    if not all_rows:
        ranked = ranked[ranked["issue"]]
    console = Console()
    if ranked.empty:
        console.print("No likely label errors found.")
        return
    for name, rows in ranked.groupby("label", sort=False):
        shown = rows.head(top)
        table = Table(title=f"{name}: {len(rows)} likely label errors, top {len(shown)}")
        for column in ("id", "source", "given", "p", "quality", "text"):
            table.add_column(column, overflow="fold", max_width=70 if column == "text" else None)
        for r in shown.itertuples():
            text = " ".join(str(r.text).split())
            table.add_row(
                str(r.id), str(r.source), str(r.given), f"{r.p:.2f}", f"{r.quality:.3f}", text
            )
        console.print(table)
