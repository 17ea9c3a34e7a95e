"""Commands of the review queue: `moderate review` serves the page; add and export."""

from __future__ import annotations

import csv
import getpass
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from moderate.cli.common import fail
from moderate.settings import Settings, describe_error, load_settings

console = Console()
review_app = typer.Typer(
    name="review",
    no_args_is_help=False,
    rich_markup_mode="markdown",
)
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _settings() -> Settings:
    from pydantic import ValidationError

    try:
        return load_settings()
    except ValidationError as exc:
        fail(describe_error(exc))


def _moderator(settings: Settings) -> str:
    """The moderator without keys: MODERATE_REVIEW_MODERATOR, else the login name."""
    return settings.review_moderator or getpass.getuser()


@review_app.callback(invoke_without_command=True)
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to bind [default: 127.0.0.1].")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port [default: 8001].")
    ] = None,
) -> None:
    """The moderators' review queue: serve its page (no subcommand), add, export.

    With no subcommand, serves the page on http://127.0.0.1:8001/. Moderators sign in
    with a key from MODERATE_API_KEY_FILE (`KEY  # name` lines) or MODERATE_API_KEYS;
    without any key the page binds to loopback only.

    Example: moderate review --port 8001
    """
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from moderate.service.limits import KeyConfigError, read_key_names
    from moderate.service.review.app import create_review_app
    from moderate.service.review.queue import QueueError

    settings = _settings()
    bind = host or settings.review_host
    try:
        keys = read_key_names(settings.api_keys, settings.api_key_file)
        app = create_review_app(settings, _moderator(settings))
    except (KeyConfigError, QueueError, OSError) as exc:
        fail(str(exc))
    if not keys and bind not in LOOPBACK:
        fail(
            f"no moderator keys configured, so the review page binds to loopback only, not "
            f"{bind}; set MODERATE_API_KEY_FILE to sign moderators in"
        )
    where = f"http://{'127.0.0.1' if bind in LOOPBACK else bind}:{port or settings.review_port}/"
    left = app.state.review.queue.stats()["left"]
    console.print(f"review queue {settings.review_db}: {left:,} pending, at {where}")
    if keys:
        console.print(f"{len(keys)} moderator keys: {', '.join(sorted(set(keys.values())))}")
    else:
        console.print(
            f"no moderator keys configured: loopback only, everyone is {_moderator(settings)}"
        )
    uvicorn.run(app, host=bind, port=port or settings.review_port, log_level="info")


@review_app.command()
def add(
    inputs: Annotated[
        list[str], typer.Argument(help="Scored files (moderate score) or anything it reads.")
    ],
    band: Annotated[
        str, typer.Option(help="Comma-separated bands to queue: review, block, allow.")
    ] = "review",
    model: Annotated[Path | None, typer.Option(help="Artifact to score raw inputs with.")] = None,
    text_field: Annotated[str | None, typer.Option(help="Field/column of the text.")] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="The inputs' format, e.g. csv for stdin.")
    ] = None,
    second_opinion: Annotated[
        bool | None,
        typer.Option(
            "--second-opinion/--no-second-opinion",
            help="Re-score raw inputs' unsure band with the model's second opinion "
            "[default: on when the model has one and `make semantic` installed it].",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Queue the comments whose decision for a label is in the bands (idempotent by id).

    Raw inputs are scored with the model in use (the team's, else the shipped reference
    model), and with its second opinion when it has one and the encoder is installed:
    about 50 ms more per re-scored comment on 2 cores. A scored file is queued as
    `moderate score` scored it (with or without `--second-opinion`).

    Example: moderate review add build/scored.csv seeds/threads/*.txt --band review,block
    """
    from moderate.model.artifacts import ArtifactError
    from moderate.model.second_opinion import SecondOpinionError
    from moderate.seeds.errors import InputError
    from moderate.seeds.readers import FORMATS
    from moderate.service.review.feed import add_inputs, check_bands, scored_columns
    from moderate.service.review.queue import Queue, QueueError

    if fmt is not None and fmt not in FORMATS:
        fail(f"unknown format {fmt!r}; one of: {', '.join(FORMATS)}")
    settings = _settings()
    try:
        bands = check_bands(band.split(","))
        raw = fmt is not None or any(scored_columns(Path(p)) is None for p in inputs)
        artifact = _scoring_model(settings, model) if raw else None
        queue = Queue(settings.review_db)
        summary = add_inputs(
            inputs, queue, model=artifact, bands=bands, who=getpass.getuser(),
            text_field=text_field, fmt=fmt, second_opinion=second_opinion,
        )  # fmt: skip
    except SecondOpinionError as exc:
        fail(f"--second-opinion: {exc}")
    except (ArtifactError, InputError, QueueError, OSError) as exc:
        fail(str(exc))
    without = f", {summary.without_text:,} without text" if summary.without_text else ""
    console.print(
        f"read {summary.read:,} comments, {summary.in_bands:,} in {'/'.join(bands)}: queued "
        f"{summary.added:,} new, {summary.already:,} already queued{without} "
        f"-> {settings.review_db}",
        soft_wrap=True,
    )
    if summary.second_opinion:
        console.print(f"the second opinion re-scored {summary.rescored:,} comments", soft_wrap=True)
    elif summary.second_opinion_off is not None:
        console.print(f"without the second opinion: {summary.second_opinion_off}", soft_wrap=True)


def _scoring_model(settings: Settings, model: Path | None) -> Path:
    """--model, else MODERATE_MODEL_PATH, else `current`, else the shipped reference model."""
    from moderate.cli.service_cmds import _model_path

    return _model_path(settings, model)


@review_app.command()
def export(
    output: Annotated[Path, typer.Option("--output", "-o", help="Output .jsonl or .csv.")],
    since: Annotated[
        str | None, typer.Option(help="Only what changed after this UTC time (ISO-8601).")
    ] = None,
) -> None:
    """Write the moderators' decisions for the platform: source id, decision, labels, who, when.

    With --since, an item whose decision was undone meanwhile is listed as `withdrawn`.

    Example: moderate review export -o build/decisions.jsonl --since 2026-12-01T09:00:00Z
    """
    from moderate.service.review.queue import Queue, QueueError

    suffix = output.suffix.lower()
    if suffix not in (".jsonl", ".csv"):
        fail(f"{output}: unknown output extension {output.suffix!r}; use .jsonl or .csv")
    settings = _settings()
    try:
        rows = Queue(settings.review_db).export(since)
        _write_atomically(output, _render(rows, suffix))
    except (QueueError, OSError) as exc:
        fail(str(exc))
    newest = rows[-1]["time"] if rows else since
    follow = f"; next time: --since {newest}" if newest else ""
    console.print(f"exported {len(rows):,} decisions -> {output}{follow}", soft_wrap=True)


def _render(rows: list[dict[str, object]], suffix: str) -> str:
    if suffix == ".jsonl":
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    buffer = io.StringIO()
    from moderate.labels.store import LABELS

    fields = ["id", "source_id", "thread", "decision", *LABELS, "moderator", "time"]
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _write_atomically(path: Path, text: str) -> None:
    """Write beside the output and rename over it: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as file:
            file.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def register(app: typer.Typer) -> None:
    """Add the review command group to the app."""
    app.add_typer(review_app)
