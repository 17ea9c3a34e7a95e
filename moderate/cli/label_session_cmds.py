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

from moderate.cli.common import err_console, fail
from moderate.labels import rules as labelling_functions
from moderate.labels import tui
from moderate.labels.session import (
    ORDERS,
    Scorer,
    Session,
    SessionError,
    guideline_summaries,
    ingest,
)
from moderate.labels.session import pick as pick_comments
from moderate.labels.store import LABELS, LabelError, LabelStore, TornRecordWarning
from moderate.seeds.errors import InputError
from moderate.settings import load_settings

DataOption = Annotated[
    Path | None, typer.Option("--data", help="Dataset directory [default: MODERATE_DATA_DIR]")
]


def register(app: typer.Typer, labels_app: typer.Typer) -> None:
    """Add `label` to the app and `rules` to the `labels` group."""
    app.command("label")(label)
    labels_app.command("rules")(rules)
    labels_app.command("pick")(pick)
    labels_app.command("tasks")(tasks)


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
    scorer, model_note = load_scorer(settings.artifacts_dir, settings.reference_model)
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


def pick(
    source_store: Annotated[
        Path, typer.Argument(help="Label store to pick from, e.g. build/corpora-store")
    ],
    n: Annotated[int, typer.Option("-n", help="How many comments to pick")],
    source: Annotated[
        list[str] | None, typer.Option(help="Only comments of this source (repeatable)")
    ] = None,
    data: DataOption = None,
    random_share: Annotated[float, typer.Option(help="Share picked at random")] = 0.3,
    seed: Annotated[int, typer.Option(help="Seed of the random share")] = 0,
    max_chars: Annotated[int | None, typer.Option(help="Leave out longer comments")] = None,
    label: Annotated[
        str | None, typer.Option(help="Rank by this label's doubt alone (a rare label)")
    ] = None,
) -> None:
    """Add comments from another store to the dataset, to be labelled by the team.

    The model's least certain comments are picked (as --order uncertain
    would show them) plus a share at random, so the labels stay
    representative. Only text and provenance are copied: the source
    store's labels stay behind. Without a model every pick is random.
    Comments already in the dataset are not picked again, so a second
    round brings new ones.

    Example: moderate labels pick build/corpora-store -n 1600 --source globe_c3
    """
    settings = load_settings()
    target = LabelStore(data or settings.data_dir)
    if not (source_store / "comments.jsonl").is_file():
        fail(f"{source_store}: not a label store (no comments.jsonl)")
    if label is not None and label not in LABELS:
        fail(f"unknown label {label!r}; the labels are {', '.join(LABELS)}")
    scorer, model_note = load_scorer(settings.artifacts_dir, settings.reference_model)
    if model_note:
        err_console.print(f"[yellow]warning:[/] {model_note}", highlight=False)
    wanted = set(source or ())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TornRecordWarning)
        present = {str(c["id"]) for c in target.comments()}
        pool = [
            c
            for c in LabelStore(source_store).comments()
            if not wanted or c.get("source") in wanted
        ]
    try:
        picked = pick_comments(
            pool,
            n,
            random_share=random_share,
            scorer=scorer,
            seed=seed,
            max_chars=max_chars,
            label=label,
            exclude=present,
        )
    except SessionError as exc:
        fail(str(exc))
    added = target.add_comments(picked.records)
    typer.echo(
        f"{len(picked.uncertain)} least certain and {len(picked.random)} random comments "
        f"picked from {len(pool)}; {added} new in {target.root}"
    )


def tasks(
    annotator: Annotated[str, typer.Option("--annotator", "-a", help="Whose queue")],
    data: DataOption = None,
    order: Annotated[str, typer.Option(help="file, random or uncertain")] = "file",
    seed: Annotated[int, typer.Option(help="Seed of --order random")] = 0,
    limit: Annotated[int | None, typer.Option(help="At most this many tasks")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines instead of text")] = False,
) -> None:
    """Print an annotator's queue, as `moderate label` would show it, for scripted labelling.

    Each task has the comment id, the thread title and the comment it answers;
    answer with `moderate labels set ID --toxic V --conspiracy V -a NAME`, or many at
    once with `moderate labels set --batch FILE -a NAME`.
    The queue shrinks as answers are written, so it resumes like the labeller.

    Example: moderate labels tasks -a ana --limit 20
    """
    import json

    settings = load_settings()
    store = LabelStore(data or settings.data_dir)
    scorer, _ = (
        load_scorer(settings.artifacts_dir, settings.reference_model)
        if order == "uncertain"
        else (None, None)
    )
    try:
        session = Session(store, annotator, order=order, seed=seed, scorer=scorer)
    except SessionError as exc:
        fail(str(exc))
    shown = 0
    for task in session.stream():
        if limit is not None and shown >= limit:
            break
        shown += 1
        if as_json:
            record = {"id": task.id, "title": task.title, "previous": task.previous}
            typer.echo(json.dumps({**record, "text": task.comment["text"]}, ensure_ascii=False))
            continue
        typer.echo(f"=== {task.id}  ({shown}; {session.done}/{session.total} done)")
        if task.title:
            typer.echo(f"title: {task.title}")
        if task.previous:
            typer.echo(f"previous: {_one_line(task.previous, PREVIOUS_CHARS)}")
        typer.echo(task.comment["text"].strip() + "\n")


# Annotators found 300 characters of the previous comment cut off what mattered.
PREVIOUS_CHARS = 1200


def _one_line(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "\u2026"


def load_scorer(
    artifacts_dir: Path, reference: Path | None = None
) -> tuple[Scorer | None, str | None]:
    """The model in use as a scorer (the team's, else the shipped reference model; None
    without a usable model) and why it is off."""
    try:
        # Imported here, not at the top: labelling works before any model code or model exists.
        artifacts = importlib.import_module("moderate.model.artifacts")
        model = artifacts.load(artifacts.in_use(artifacts_dir, reference))
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
