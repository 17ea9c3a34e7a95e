"""Commands of the seeds stage: split thread pages and comment dumps into comments."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from moderate.cli.common import err_console, fail
from moderate.seeds.errors import InputError
from moderate.seeds.readers import FORMATS, ReadStats, read_comments, read_threads
from moderate.service.writers import OutputError, ensure_parent, partial_path


class OnErrorChoice(StrEnum):
    """What to do with a malformed record."""

    raise_ = "raise"
    skip = "skip"


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the app."""
    app.command()(split)


def split(
    paths: Annotated[list[Path], typer.Argument(help="Thread pages (.txt) or comment dumps.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write JSON Lines here, not stdout.")
    ] = None,
    article: Annotated[
        bool, typer.Option("--article", help="Print each page's title and article instead.")
    ] = False,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help=f"Force a format: {', '.join(FORMATS)}."),
    ] = None,
    text_field: Annotated[
        str | None,
        typer.Option(
            "--text-field", "--text-column", help="Field or column holding the comment text."
        ),
    ] = None,
    on_error: Annotated[
        OnErrorChoice, typer.Option("--on-error", help="raise: stop at a bad record; skip.")
    ] = OnErrorChoice.raise_,
    rejects: Annotated[
        Path | None,
        typer.Option("--rejects", help="Write bad records here and go on (implies skip)."),
    ] = None,
) -> None:
    """Split thread pages and comment dumps into comments, one JSON object per line.

    Every comment has a stable id (source name, position and text), its thread, its
    0-based position, its text and the first and last lines it spans in its source.

    Example: moderate split seeds/threads/*.txt -o build/seeds.jsonl
    """
    if fmt is not None and fmt not in FORMATS:
        fail(f"unknown format {fmt!r}; one of: {', '.join(FORMATS)}")
    if rejects is not None:
        on_error = OnErrorChoice.skip
    stats = ReadStats()
    try:
        with _output(output) as out:
            if article:
                for thread in read_threads(paths, fmt=fmt):
                    _write(out, thread.article_dict())
            else:
                comments = read_comments(
                    paths,
                    text_field=text_field,
                    on_error=on_error.value,
                    rejects=rejects,
                    stats=stats,
                    fmt=fmt,
                )
                for comment in comments:
                    _write(out, comment.to_dict())
    except (InputError, OutputError) as error:
        fail(str(error))
    if not article:
        _summary(stats, output, rejects)


def _write(out: IO[str], record: dict[str, Any]) -> None:
    out.write(json.dumps(record, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def _output(path: Path | None) -> Iterator[IO[str]]:
    """stdout, or a file written beside its target and renamed only when complete."""
    if path is None:
        yield sys.stdout
        return
    ensure_parent(path)
    partial = partial_path(path)
    try:
        with partial.open("w", encoding="utf-8") as stream:
            yield stream
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _summary(stats: ReadStats, output: Path | None, rejects: Path | None) -> None:
    for name, counts in stats.per_file.items():
        err_console.print(
            f"{name}: {counts.comments} comments ({counts.format})"
            + (f", {counts.skipped} skipped" if counts.skipped else "")
            + (f", {counts.rejected} rejected" if counts.rejected else "")
            + (
                f", {counts.replaced_bytes} undecodable bytes replaced"
                if counts.replaced_bytes
                else ""
            ),
            highlight=False,
            markup=False,
        )
    where = f" -> {output}" if output else ""
    err_console.print(
        f"{stats.comments} comments from {stats.files} files{where}"
        + (f"; rejects in {rejects}" if rejects and stats.rejected else ""),
        highlight=False,
        markup=False,
    )
