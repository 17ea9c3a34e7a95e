"""Tabular dumps: JSON Lines, CSV/TSV and Parquet, streamed record by record."""

from __future__ import annotations

import csv
import json
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from moderate.seeds.comments import Comment
from moderate.seeds.readers.context import (
    AUTHOR_FIELDS,
    CREATED_FIELDS,
    ID_FIELDS,
    PARENT_FIELDS,
    TEXT_FIELDS,
    THREAD_FIELDS,
    FileContext,
    as_created,
    as_id,
    as_text,
    find_field,
    missing_text_field,
)
from moderate.seeds.readers.source import is_gzip, open_text

# Reddit/Pushshift keep deleted comments as placeholders; they are not reader text.
DELETED = frozenset({"[deleted]", "[removed]"})
DELIMITERS = (",", ";", "\t", "|")
PARQUET_BATCH = 4096
_MAX_SHAPES = 1024


@dataclass(frozen=True)
class Columns:
    """Which field of a record holds what; only `text` is required."""

    text: str
    id: str | None
    parent: str | None
    author: str | None
    thread: str | None
    created: str | None

    def names(self) -> list[str]:
        """The fields in use, once each."""
        fields = (self.text, self.id, self.parent, self.author, self.thread, self.created)
        return list(dict.fromkeys(name for name in fields if name is not None))


def resolve_columns(names: Sequence[str], text_field: str | None) -> Columns | None:
    """Map a header (or a record's keys) to Columns; None when no text field is there."""
    text = find_field(names, (text_field,) if text_field else TEXT_FIELDS)
    if text is None:
        return None
    return Columns(
        text=text,
        id=find_field(names, ID_FIELDS),
        parent=find_field(names, PARENT_FIELDS),
        author=find_field(names, AUTHOR_FIELDS),
        thread=find_field(names, THREAD_FIELDS),
        created=find_field(names, CREATED_FIELDS),
    )


def read_jsonl(ctx: FileContext) -> Iterator[Comment]:
    """Comments from JSON Lines / NDJSON, one object per line (blank lines ignored)."""
    shapes: dict[tuple[str, ...], Columns | None] = {}
    position = -1
    ctx.line = 1
    with ctx.open_text() as stream:
        for lineno, line in enumerate(stream, 1):
            ctx.line = lineno + 1  # where a truncated .gz breaks off, if it does
            if not line.strip():
                continue
            position += 1
            raw = line.rstrip("\r\n")
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                # Some messages end in "at" ("Unterminated string starting at").
                reason = f"{error.msg.removesuffix(' at')} at column {error.colno}"
                ctx.reject(lineno, f"malformed JSON: {reason}", raw)
                continue
            except RecursionError:
                ctx.reject(lineno, "malformed JSON: nested too deeply", raw)
                continue
            if not isinstance(record, dict):
                ctx.reject(lineno, f"expected a JSON object, found {type(record).__name__}", raw)
                continue
            keys = tuple(record)
            if keys not in shapes:
                if len(shapes) >= _MAX_SHAPES:
                    shapes.clear()
                shapes[keys] = resolve_columns(keys, ctx.text_field)
            columns = shapes[keys]
            if columns is None:
                ctx.reject(lineno, missing_text_field(ctx.text_field, keys), raw)
                continue
            comment = record_comment(ctx, columns, record, position, (lineno, lineno), raw)
            if comment is not None:
                yield comment


def read_csv(ctx: FileContext) -> Iterator[Comment]:
    """Comments from CSV/TSV with a header row; quoted fields may span lines."""
    with ctx.open_text(newline="") as stream, RawLines(ctx) as raw:
        first = stream.readline()
        delimiter = "\t" if ctx.fmt == "tsv" else sniff_delimiter(first)
        # csv.reader pulls the lines itself (no Python call per line); the raw text of a
        # rejected row is read again, from its own cursor, only when one is rejected.
        reader = csv.reader(chain([first], stream), delimiter=delimiter, strict=True)
        yield from _csv_rows(ctx, reader, raw)


class RawLines:
    """The physical lines of a text file by number, read forward on demand (for rejects).

    Rejected rows come in file order, so one forward pass serves them all. A stream input
    (stdin, a pipe) cannot be read again: its rejected rows have no raw text.
    """

    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx
        self.stream: Any = None
        self.line = 0  # lines read so far

    def __enter__(self) -> RawLines:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.stream is not None:
            self.stream.close()

    def take(self, first: int, last: int) -> str | None:
        """Lines first..last (1-based, inclusive), without the final line break."""
        if self.ctx.once:
            return None
        if self.stream is None or first <= self.line:
            if self.stream is not None:
                self.stream.close()
            self.stream = open_text(self.ctx.path, self.ctx.errors, newline="")
            self.line = 0
        lines = []
        while self.line < last:
            line = self.stream.readline()
            if not line:
                break
            self.line += 1
            if self.line >= first:
                lines.append(line)
        return "".join(lines).rstrip("\r\n")


def _csv_rows(ctx: FileContext, reader: Any, raw_lines: RawLines) -> Iterator[Comment]:
    header: list[str] | None = None
    columns: Columns | None = None
    position = -1
    last = 0
    while True:
        start = last + 1
        ctx.line = start
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            last = reader.line_num
            raw = raw_lines.take(start, last)
            if header is None:
                raise ctx.error(f"malformed CSV header: {error}", start) from error
            position += 1
            ctx.reject(start, f"malformed CSV row: {error}", raw)
            continue
        last = reader.line_num
        if not row:
            continue
        if header is None or columns is None:
            header = [name.strip() for name in row]
            columns = resolve_columns(header, ctx.text_field)
            if columns is None:
                raise ctx.error(missing_text_field(ctx.text_field, header), start)
            continue
        position += 1
        if len(row) != len(header):
            raw = raw_lines.take(start, last)
            ctx.reject(start, f"expected {len(header)} fields, found {len(row)}", raw)
            continue
        # A CSV field is always a string, so record_comment never rejects it.
        record = dict(zip(header, row, strict=True))
        comment = record_comment(ctx, columns, record, position, (start, last), None)
        if comment is not None:
            yield comment


def read_parquet(ctx: FileContext) -> Iterator[Comment]:
    """Comments from Parquet, batch by batch; `lines` is [row + 1, row + 1] (1-based row)."""
    with _seekable(ctx) as source:
        try:
            parquet = pq.ParquetFile(source)
        except (pa.ArrowException, OSError, ValueError) as error:
            raise ctx.error(f"not a readable Parquet file: {error}") from error
        names = parquet.schema_arrow.names
        columns = resolve_columns(names, ctx.text_field)
        if columns is None:
            raise ctx.error(missing_text_field(ctx.text_field, names))
        row = -1
        try:
            for batch in parquet.iter_batches(batch_size=PARQUET_BATCH, columns=columns.names()):
                for record in batch.to_pylist():
                    row += 1
                    ctx.line = row + 1
                    comment = record_comment(ctx, columns, record, row, (row + 1, row + 1), None)
                    if comment is not None:
                        yield comment
        except (pa.ArrowException, OSError) as error:
            # A corrupt row group cannot be resumed from: report it and stop this file.
            ctx.reject(row + 2, f"unreadable Parquet data: {error}")


def record_comment(
    ctx: FileContext,
    columns: Columns,
    record: Mapping[str, Any],
    position: int,
    lines: tuple[int, int],
    raw: str | None,
) -> Comment | None:
    """The comment of one tabular record (None when skipped or rejected)."""
    value = record.get(columns.text)
    if isinstance(value, bytes):
        value = value.decode("utf-8", ctx.errors)
    text = as_text(value)
    if text is None:
        kind = type(value).__name__
        ctx.reject(lines[0], f"field {columns.text!r} holds a {kind}, not text", raw)
        return None
    if text.strip() in DELETED:
        ctx.skip(lines[0], "deleted comment placeholder", raw)
        return None
    return ctx.comment(
        position,
        text,
        lines,
        thread=as_id(record.get(columns.thread)) if columns.thread else None,
        author=as_id(record.get(columns.author)) if columns.author else None,
        parent=as_id(record.get(columns.parent)) if columns.parent else None,
        source_id=as_id(record.get(columns.id)) if columns.id else None,
        created=as_created(record.get(columns.created)) if columns.created else None,
        raw=raw,
    )


def sniff_delimiter(header: str) -> str:
    """The most frequent of , ; tab | in the header line (comma when none)."""
    counts = {delimiter: header.count(delimiter) for delimiter in DELIMITERS}
    best = max(DELIMITERS, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


@contextmanager
def _seekable(ctx: FileContext) -> Iterator[str | IO[bytes]]:
    # Parquet reads its footer first, so a gzipped file or a stream goes to a temporary file.
    if not ctx.once and not is_gzip(ctx.path):
        yield str(ctx.path)
        return
    with tempfile.TemporaryFile() as scratch, ctx.open_bytes() as compressed:
        shutil.copyfileobj(compressed, scratch)
        scratch.seek(0)
        yield scratch
