"""Commands of the interactive labeller: `moderate label` and `moderate labels rules`."""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from labels import rules as labelling_functions
from labels import tui
from labels.session import ORDERS, Scorer, Session, SessionError, guideline_summaries, ingest
from labels.store import LabelError, LabelStore, TornRecordWarning
from moderate.cli.common import err_console, fail
from moderate.settings import load_settings
from seeds.errors import InputError

DataOption = Annotated[
    Path | None, typer.Option("--data", help="Dataset directory [default: MODERATE_DATA_DIR]")
]


def register(app: typer.Typer, labels_app: typer.Typer) -> None:
    """Add `label` to the app and `rules` to the `labels` group."""
    app.command("label")(label)
    labels_app.command("rules")(rules)


def label(
    annotator: Annotated[str, typer.Option("--annotator", "-a", help="Your name")],
    sources: Annotated[
        list[Path] | None, typer.Argument(help="Thread pages or comment dumps to label")
    ] = None,
    data: DataOption = None,
    order: Annotated[str, typer.Option(help="file, random or uncertain")] = "file",
    seed: Annotated[int, typer.Option(help="Seed of --order random")] = 0,
) -> None:
    """Label comments one at a time in the terminal: toxic and conspiracy.

    SOURCEs (thread pages or dumps) are added to the dataset first;
    without them, the dataset's own comments are labelled.
    Keys: t/c toggle a label, enter accept, n neither, u unsure,
    s skip, z undo, q quit, ? help. It resumes where you stopped.

    Example: moderate label seeds/threads/*.txt --annotator alice
    """
    if not annotator.strip():
        fail("--annotator needs a name (who gives these answers)")
    if order not in ORDERS:
        fail(f"--order must be one of {', '.join(ORDERS)}, not {order!r}")
    if not sys.stdin.isatty():
        fail("moderate label needs a terminal; in scripts use `moderate labels set`")
    settings = load_settings()
    store = LabelStore(data or settings.data_dir)
    scorer, model_note = load_scorer(settings.artifacts_dir)
    try:
        found = ingest(sources, store) if sources else None
        session = Session(
            store,
            annotator,
            ids=found.ids if found else None,
            order=order,
            seed=seed,
            scorer=scorer,
            titles=found.titles if found else {},
        )
    except (InputError, LabelError, SessionError, OSError) as exc:
        fail(str(exc))
    console = Console()
    with tui.raw_keys(sys.stdin.fileno()) as keys:
        try:
            notes = [model_note] if model_note else []
            summary = tui.run(session, console, keys, guideline_summaries(), notes)
        except KeyboardInterrupt:  # ctrl-c is a quit: every answer is already on disk
            summary = tui.Summary(session.answered, session.skipped, session.done, session.total)
    console.print(
        f"{summary.answered} answered, {summary.skipped} skipped this session; "
        f"{summary.done}/{summary.total} done by {annotator}",
        highlight=False,
    )


def load_scorer(artifacts_dir: Path) -> tuple[Scorer | None, str | None]:
    """The current model as a scorer (None without a usable model) and why it is off."""
    if not (artifacts_dir / "current").exists():
        return None, None
    try:
        # Imported here, not at the top: labelling works before any model code or model exists.
        artifacts = importlib.import_module("model.artifacts")
        model = artifacts.load(artifacts.current(artifacts_dir))
    except Exception as exc:  # a model that does not load must not stop the labelling
        return None, f"model suggestions off: {exc}"

    def scorer(texts: Sequence[str]) -> list[dict[str, float]]:
        return [dict(scored.scores) for scored in model.score(texts)]

    return scorer, None


def rules(
    data: DataOption = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Store the votes as weak labels (origin rule)")
    ] = False,
) -> None:
    """Report each labelling rule's coverage, overlaps and conflicts.

    Accuracy is against the human and imported labels, where known.
    With --apply the votes are stored as weak labels (origin "rule",
    annotator "rule:NAME"); training leaves them out unless asked.

    Example: moderate labels rules --data labels/data --apply
    """
    store = LabelStore(data or load_settings().data_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TornRecordWarning)  # reported below, once each
        stats = labelling_functions.report(store)
    for problem in store.problems:
        err_console.print(f"[yellow]warning:[/] {problem}", highlight=False)
    count = sum(1 for _ in store.comments())
    table = Table(title=f"labelling rules on {count} comments in {store.root}")
    for column in ("rule", "label", "votes", "coverage", "overlaps", "conflicts", "accuracy"):
        table.add_column(column, justify="left" if column in ("rule", "label") else "right")
    for row in stats:
        accuracy = (
            "-" if row.accuracy is None else f"{row.accuracy:.0%} of {row.correct + row.incorrect}"
        )
        table.add_row(
            row.name,
            row.label,
            row.polarity,
            f"{row.coverage:.1%}",
            f"{row.overlaps:.1%}",
            f"{row.conflicts:.1%}",
            accuracy,
        )
    console = Console()
    console.print(table)
    if apply:
        written = labelling_functions.apply(store)
        console.print(f"{written} weak labels written (origin rule)")
