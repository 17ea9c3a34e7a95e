"""Commands of the service stage: serve, score, run."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from moderate.cli.common import fail
from moderate.settings import Settings, describe_error, documented, load_settings

console = Console()


class EngineName(StrEnum):
    """Where batch scoring runs."""

    local = "local"
    dask = "dask"


class OnError(StrEnum):
    """What to do with a malformed input record."""

    raise_ = "raise"
    skip = "skip"


def _model_path(settings: Settings, model: Path | None) -> Path:
    """The artifact to use: --model, else MODERATE_MODEL_PATH, else artifacts_dir/current,
    else the shipped reference model."""
    from moderate.model.artifacts import in_use

    chosen = model or settings.model_path
    if chosen is not None:
        return chosen.resolve()
    return in_use(settings.artifacts_dir, settings.reference_model)


def serve_settings_help() -> str:
    """The epilog of `moderate serve --help`: every MODERATE_* setting the server reads."""
    lines = [
        f"- `{name}` {text}" + (f" [default: {default}]" if default else "")
        for name, default, text in documented()
    ]
    return "Settings from the environment (a flag wins):\n\n" + "\n".join(lines)


def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind [default: 127.0.0.1].")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port [default: 8000].")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes [default: 1].")
    ] = None,
    model: Annotated[Path | None, typer.Option(help="Artifact directory to serve.")] = None,
) -> None:
    """Serve the moderation API (docs at /docs); SIGHUP or POST /v1/model:reload loads the
    `current` model in every worker.

    Example: moderate serve --port 8000 --workers 2
    """
    from pydantic import ValidationError

    from moderate.model.artifacts import ArtifactError, load
    from moderate.service.limits import KeyConfigError, read_keys

    overrides = {"HOST": host, "PORT": port, "WORKERS": workers, "MODEL_PATH": model}
    for key, value in overrides.items():
        if value is not None:
            os.environ[f"MODERATE_{key}"] = str(value)  # the workers read settings from here
    # Refuse to start without a good model (and let a rolling SIGHUP restart keep old workers).
    os.environ["MODERATE_REQUIRE_MODEL"] = "true"
    os.environ.pop("MODERATE_SUPERVISOR_PID", None)  # the server sets it for its own workers
    try:
        settings = load_settings()
        read_keys(settings.api_keys, settings.api_key_file)
        load(_model_path(settings, None))
    except ValidationError as exc:
        fail(describe_error(exc))
    except (ArtifactError, KeyConfigError, OSError) as exc:
        fail(str(exc))
    # The server is a fresh interpreter in this very process (same pid, so signals reach
    # it): it imports what serving needs, not every command of the CLI.
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "moderate.asgi"])


def score(
    inputs: Annotated[list[str], typer.Argument(help="Comment dumps: paths or fsspec URLs.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output .csv/.jsonl/.parquet.")],
    engine: Annotated[EngineName, typer.Option(help="local or dask.")] = EngineName.local,
    scheduler: Annotated[str | None, typer.Option(help="Dask scheduler address.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted run.")] = False,
    include_text: Annotated[bool, typer.Option(help="Write each comment's text.")] = False,
    on_error: Annotated[OnError, typer.Option(help="Malformed records.")] = OnError.raise_,
    rejects: Annotated[
        Path | None, typer.Option(help="JSONL file of skipped records (implies skip).")
    ] = None,
    text_field: Annotated[str | None, typer.Option(help="Field/column of the text.")] = None,
    model: Annotated[Path | None, typer.Option(help="Artifact directory to use.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Comments per batch.")] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="The inputs' format, e.g. csv for stdin.")
    ] = None,
    second_opinion: Annotated[
        bool,
        typer.Option(
            help="Re-score each label's unsure band with the model's second opinion "
            "(needs `make semantic`; about 50 ms a re-scored comment)."
        ),
    ] = False,
) -> None:
    """Score comment dumps into a CSV, JSONL or Parquet file (by extension).

    `-` (or a pipe) is read from stdin, once: zcat dump.csv.gz | moderate score - --format csv

    With --second-opinion the comments in a label's band are re-scored by the sentence
    encoder's head, which decides them; `<label>_first` keeps the n-gram score and
    `<label>_decided_by` says which decided.

    Example: moderate score dump.jsonl.gz -o build/scored.parquet --on-error skip
    """
    from moderate.model.artifacts import ArtifactError
    from moderate.seeds.errors import InputError
    from moderate.seeds.readers import FORMATS
    from moderate.service.batch import BatchError, score_files
    from moderate.service.writers import OutputError

    if fmt is not None and fmt not in FORMATS:
        fail(f"unknown format {fmt!r}; one of: {', '.join(FORMATS)}")
    settings = load_settings()
    try:
        summary = score_files(
            inputs,
            output,
            model=_model_path(settings, model),
            engine=engine.value,
            scheduler=scheduler,
            text_field=text_field,
            on_error="skip" if rejects is not None else on_error.value,
            rejects=rejects,
            resume=resume,
            include_text=include_text,
            batch_size=settings.batch_size if batch_size is None else batch_size,
            progress=True,
            fmt=fmt,
            second_opinion=second_opinion,
        )
    except (ArtifactError, BatchError, InputError, OutputError, OSError) as exc:
        fail(str(exc))
    flagged = ", ".join(f"{k} {v:,}" for k, v in summary.flagged.items())
    console.print(
        f"read {summary.read:,} comments, scored {summary.scored:,} "
        f"({summary.rate:,.0f}/s), already done {summary.resumed:,}, "
        f"flagged {flagged}, skipped {summary.skipped:,}, rejected {summary.rejected:,} "
        f"-> {summary.output}"
    )


def run(
    threads: Annotated[
        list[Path] | None, typer.Argument(help="Thread pages [default: the shipped seed threads].")
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o")] = Path("build/seeds-scored.csv"),
) -> None:
    """The main job: score the seed threads with the model in use, show and save them.

    The model in use is the team's (`make train`), else the shipped reference model.

    Example: moderate run seeds/threads/*.txt -o build/seeds-scored.csv
    """
    from moderate.model.artifacts import ArtifactError
    from moderate.seeds import seed_threads
    from moderate.seeds.errors import InputError
    from moderate.service.run import run_seeds

    settings = load_settings()
    pages = threads or seed_threads()
    try:
        result = run_seeds(
            pages, output, artifacts_dir=settings.artifacts_dir, reference=settings.reference_model
        )
    except (ArtifactError, InputError, OSError) as exc:
        fail(str(exc))
    table = Table(title=f"{result.summary.read} comments scored by {result.summary.model_version}")
    labels = [c.removesuffix("_decision") for c in result.rows.columns if c.endswith("_decision")]
    table.add_column("thread", no_wrap=True, min_width=8, max_width=14, overflow="ellipsis")
    table.add_column("#", justify="right", no_wrap=True, min_width=2)
    # One line per comment keeps the table scannable; the full text is in the output file.
    others = 14 + 4 + 13 * len(labels) + 3 * (3 + len(labels)) + 1
    width = max(16, min(60, console.width - others))
    table.add_column("comment", width=width, no_wrap=True, overflow="ellipsis")
    for label in labels:
        table.add_column(label, no_wrap=True, min_width=12, max_width=12)
    colours = {"allow": "green", "review": "yellow", "block": "bold red"}
    for record in result.rows.to_dict("records"):
        cells = []
        for label in labels:
            decision = str(record[f"{label}_decision"])
            cells.append(f"{record[label]:.2f} [{colours[decision]}]{decision}[/]")
        text = " ".join(str(record["text"]).split())
        text = text if len(text) <= 120 else text[:117] + "..."
        table.add_row(Path(str(record["thread"])).stem, str(record["position"]), text, *cells)
    console.print(table)
    which = "the shipped reference model" if result.shipped else "the team's model"
    console.print(f"scored by {which}: {result.model}")
    console.print(f"  {result.metadata.get('summary') or 'no summary in its metadata'}")
    if result.shipped:
        console.print(
            "  `make train` (or `moderate train`) adapts it to your labels in labels/data"
        )
    console.print(f"wrote {result.summary.scored} scored comments to {output}")


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the app."""
    app.command(epilog=serve_settings_help())(serve)
    app.command()(score)
    app.command()(run)
