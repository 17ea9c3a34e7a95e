"""Commands of the labels stage: `moderate labels ...` (and H3's `moderate label`)."""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.console import Console
from rich.table import Table

from moderate.cli import audit_cmds, label_session_cmds
from moderate.cli.common import err_console, fail
from moderate.labels import importers
from moderate.labels.store import LabelError, LabelStore, TornRecordWarning, parse_value
from moderate.seeds.errors import InputError
from moderate.settings import load_settings

if TYPE_CHECKING:
    import pandas as pd

# labels.stats (scikit-learn, krippendorff) and pandas are imported inside the commands
# that need them: importing them here would slow down every `moderate` command.
console = Console()

DataOption = Annotated[
    Path | None,
    typer.Option("--data", help="Dataset directory (default: MODERATE_DATA_DIR or labels/data)."),
]


def _data(data: Path | None) -> Path:
    return data if data is not None else load_settings().data_dir


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """Domain errors become one red line; skipped torn records one yellow line each."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TornRecordWarning)
        try:
            yield
        except (LabelError, InputError) as exc:
            fail(str(exc))
        finally:
            for warning in caught:
                if issubclass(warning.category, TornRecordWarning):
                    err_console.print(
                        f"[yellow]warning:[/] {warning.message}", highlight=False, soft_wrap=True
                    )


def _print_frame(frame: pd.DataFrame, title: str) -> None:
    import pandas as pd

    table = Table(title=title, title_justify="left")
    for column in frame.columns:
        justify: Literal["left", "right"] = (
            "right" if pd.api.types.is_numeric_dtype(frame[column]) else "left"
        )
        table.add_column(str(column), justify=justify, overflow="fold")
    for row in frame.itertuples(index=False):
        table.add_row(*(_cell(value) for value in row))
    console.print(table)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the app."""
    labels_app = typer.Typer(
        help="The labelled dataset: set, import, stats, agree, export.", no_args_is_help=True
    )
    app.add_typer(labels_app, name="labels")

    @labels_app.command("set")
    def set_labels(
        annotator: Annotated[str, typer.Option("--annotator", "-a", help="Your name.")],
        comment_id: Annotated[
            str | None, typer.Argument(metavar="[ID]", help="Comment id in the store.")
        ] = None,
        toxic: Annotated[
            str | None, typer.Option(help="1, 0, unsure, or none to withdraw an answer.")
        ] = None,
        conspiracy: Annotated[
            str | None, typer.Option(help="1, 0, unsure, or none to withdraw an answer.")
        ] = None,
        batch: Annotated[
            Path | None,
            typer.Option(
                "--batch",
                help="File of 'ID TOXIC CONSPIRACY' lines ('-' = stdin): many answers, "
                "one process, all or nothing.",
            ),
        ] = None,
        data: DataOption = None,
    ) -> None:
        """Label comments without the interactive labeller: one, or a batch.

        Example: moderate labels set 3f2a9c0d1e4b5a67 --toxic 1 --conspiracy 0 --annotator ana

        Example: printf '3f2a9c0d1e4b5a67 1 0\\n' | moderate labels set --batch - -a ana
        """
        if (batch is None) == (comment_id is None):
            fail("give either an ID with --toxic/--conspiracy, or --batch FILE")
        store = LabelStore(_data(data))
        with _user_errors():
            if batch is not None:
                written = _set_batch(store, batch, annotator)
            else:
                given = {"toxic": toxic, "conspiracy": conspiracy}
                answers = {label: parse_value(v) for label, v in given.items() if v is not None}
                written = store.set_labels(str(comment_id), answers, annotator)
        if batch is not None:
            comments = len({a.comment for a in written})
            typer.echo(f"{len(written)} answers for {comments} comments by {annotator}")
            return
        for a in written:
            typer.echo(f"{a.comment} {a.label}={a.value} by {a.annotator}")

    @labels_app.command("import")
    def import_(
        paths: Annotated[list[Path], typer.Argument(help="Corpus files, or a corpora directory.")],
        fmt: Annotated[
            str | None,
            typer.Option(
                "--format",
                "-f",
                help=f"One of: {', '.join(importers.FORMATS)} (default: from the file name).",
            ),
        ] = None,
        data: Annotated[
            Path | None,
            typer.Option(
                "--data",
                help="Store to import into (default: MODERATE_IMPORT_DIR or "
                "build/corpora-store; keeps corpus-derived data out of git).",
            ),
        ] = None,
        label: Annotated[
            str | None, typer.Option(help="generic: the label the file gives (toxic|conspiracy).")
        ] = None,
        text_col: Annotated[str | None, typer.Option(help="generic: text column.")] = None,
        label_col: Annotated[
            str | None, typer.Option(help="generic / wiki_context: label column.")
        ] = None,
        positive: Annotated[
            str | None, typer.Option(help="generic: comma-separated values meaning 1.")
        ] = None,
        threshold: Annotated[
            float | None, typer.Option(help="globe_c3: crowd toxicity level meaning toxic.")
        ] = None,
        neutral: Annotated[
            int | None,
            typer.Option(help="phillips2022: label for a neutral stance (default: unknown)."),
        ] = None,
    ) -> None:
        """Import labelled corpora in their own formats (idempotent, streaming).

        Example: moderate labels import --format olid ../shared/corpora/toxicity/olid_train.tsv

        Example: moderate labels import ../shared/corpora

        Example: moderate labels import -f generic --label toxic --text-col body mine.csv
        """
        store = LabelStore(data if data is not None else load_settings().import_dir)
        opts: dict[str, Any] = {
            "label": label,
            "text_col": text_col,
            "label_col": label_col,
            "threshold": threshold,
            "neutral": neutral,
        }
        if positive is not None:
            opts["positive"] = [v.strip() for v in positive.split(",") if v.strip()]
        with _user_errors():
            for path in paths:
                if path.is_dir() and fmt is None:
                    reports = importers.import_corpora(path, store)
                else:
                    chosen = fmt or importers.detect_format(path)
                    reports = [importers.import_file(chosen, path, store, **opts)]
                for report in reports:
                    typer.echo(report.summary())
                    for problem in report.problems:
                        err_console.print(
                            f"[yellow]skipped:[/] {problem}", highlight=False, soft_wrap=True
                        )

    @labels_app.command("formats")
    def formats() -> None:
        """List the corpus formats `labels import` reads, with the label each one gives.

        Example: moderate labels formats
        """
        import pandas as pd

        rows = [(f.name, f.label or "--label", f.help) for f in importers.FORMATS.values()]
        _print_frame(pd.DataFrame(rows, columns=["format", "label", "reads"]), "Import formats")

    @labels_app.command("add")
    def add(
        paths: Annotated[list[Path], typer.Argument(help="Thread pages or comment dumps.")],
        data: DataOption = None,
    ) -> None:
        """Add comments, unlabelled, from thread pages or dumps so they can be labelled.

        Example: moderate labels add seeds/threads/*.txt
        """
        from moderate.labels.session import ingest

        with _user_errors():
            found = ingest(paths, LabelStore(_data(data)))
        typer.echo(f"{len(found.ids)} comments read, {found.added} new")

    @labels_app.command("stats")
    def stats_(
        data: DataOption = None,
        origins: Annotated[
            str, typer.Option(help="Origins counted in the class balance (comma-separated).")
        ] = "human,import",
    ) -> None:
        """Answers per label, origin and annotator, and the dataset's class balance.

        A label nobody gave counts as unknown, never as 0.

        Example: moderate labels stats --data build/corpora-store
        """
        from moderate.labels import stats

        root = _data(data)
        with _user_errors():
            answers = stats.answer_counts(root)
            balance = stats.class_balance(root, _split(origins))
        _print_frame(answers, f"Latest answers in {root}")
        _print_frame(balance, f"Class balance ({origins})")

    @labels_app.command("agree")
    def agree(
        annotators: Annotated[
            list[str] | None,
            typer.Argument(help="Annotators to compare (default: every human annotator)."),
        ] = None,
        data: DataOption = None,
    ) -> None:
        """Agreement per label: Cohen's kappa for two annotators, Krippendorff's alpha for more.

        Example: moderate labels agree ana ben
        """
        from moderate.labels import stats

        with _user_errors():
            frame = stats.agreement(_data(data), annotators or None)
        _print_frame(frame, "Agreement on the comments they both (or several) answered")

    @labels_app.command("merge")
    def merge(
        sources: Annotated[list[Path], typer.Argument(help="Label stores to merge in.")],
        data: DataOption = None,
    ) -> None:
        """Merge other label stores (each annotator's own) into the dataset; repeatable.

        Example: moderate labels merge build/labelling/ana build/labelling/ben
        """
        from moderate.labels.store import merge_stores

        target = LabelStore(_data(data))
        with _user_errors():
            for source in sources:
                if not (source / "comments.jsonl").is_file():
                    raise LabelError(f"{source}: not a label store (no comments.jsonl)")
                comments, answers = merge_stores(target, LabelStore(source))
                typer.echo(f"{source}: {comments} new comments, {answers} new answers")

    @labels_app.command("export")
    def export(
        output: Annotated[Path, typer.Option("--output", "-o", help="File to write.")],
        fmt: Annotated[
            str | None,
            typer.Option("--format", "-f", help="csv, jsonl or parquet (default: from -o)."),
        ] = None,
        data: DataOption = None,
        origins: Annotated[
            str, typer.Option(help="Origins to include (comma-separated), e.g. human,import,rule.")
        ] = "human,import",
    ) -> None:
        """Export the dataset, one row per comment: id, source, thread, text, toxic, conspiracy.

        Example: moderate labels export --format parquet -o build/dataset.parquet
        """
        from moderate.labels import stats

        with _user_errors():
            rows = stats.export_dataset(_data(data), output, fmt, _split(origins))
        typer.echo(f"{rows} rows written to {output}")

    label_session_cmds.register(app, labels_app)
    audit_cmds.register_audit(labels_app)


def _set_batch(store: LabelStore, batch: Path, annotator: str) -> list[Any]:
    import sys

    from moderate.labels.store import parse_answer_lines

    if str(batch) == "-":
        return store.set_many(parse_answer_lines(sys.stdin, "<stdin>"), annotator)
    try:
        lines = batch.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelError(f"{batch}: cannot read: {exc}") from None
    return store.set_many(parse_answer_lines(lines, str(batch)), annotator)


def _split(origins: str) -> tuple[str, ...]:
    return tuple(o.strip() for o in origins.split(",") if o.strip())
