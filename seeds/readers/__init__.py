"""Readers for comment dumps: one entry point that yields comments from any supported source.

Supported: plain-text thread pages (split by seeds.split), JSON Lines/NDJSON, CSV/TSV,
Parquet, Disqus XML exports and WordPress WXR exports, each optionally gzipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import IO

from moderate.seeds.comments import Comment, Thread
from moderate.seeds.errors import InputError
from moderate.seeds.readers.context import FileContext, FileCounts, OnError, ReadStats, Rejects
from moderate.seeds.readers.source import (
    BINARY,
    FORMATS,
    detect_format,
    is_binary,
    is_stream,
    open_bytes,
    open_stream,
    read_head,
    replace_counter,
    source_name,
)
from moderate.seeds.readers.tabular import read_csv, read_jsonl, read_parquet
from moderate.seeds.readers.xmldump import read_disqus, read_wxr
from moderate.seeds.split import split_thread

__all__ = [
    "FORMATS",
    "FileCounts",
    "ReadStats",
    "detect_format",
    "is_stream",
    "read_comments",
    "read_threads",
]

MAX_PAGE_BYTES = 50 * 1024 * 1024
Reader = Callable[[FileContext], Iterator[Comment]]


def read_comments(
    paths: Sequence[str | Path],
    *,
    text_field: str | None = None,
    on_error: OnError = "raise",
    rejects: Path | None = None,
    stats: ReadStats | None = None,
    fmt: str | None = None,
) -> Iterator[Comment]:
    """Yield the comments of every file in order, streaming; see the module docstring.

    A path `-` is stdin; stdin, pipes and FIFOs are read once, front to back.

    Every comment's id is comment_id(file base name without .gz, position, text), where
    position is the 0-based index of the record among the file's records (posts, rows,
    lines), counting skipped and rejected ones so that they never shift other ids.
    `lines` are 1-based [first, last] source lines; for Parquet the 1-based row number.
    text_field: the field/column holding the text, else the first of body, text,
    comment_text, message, content. on_error="skip": malformed records are written to
    `rejects` if given (JSON Lines: file, line, reason, raw; the file is truncated when
    reading starts) and reading goes on; XML that is not well-formed and unreadable
    Parquet data stop that file at the bad spot. Problems with a whole file (binary,
    unknown format, no text column in a CSV/Parquet header) raise InputError either way.
    fmt: force one of FORMATS instead of detecting each file's format.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; one of: {', '.join(FORMATS)}")
    totals = stats if stats is not None else ReadStats()
    with ExitStack() as stack:
        sink = None
        if rejects is not None and on_error == "skip":
            sink = Rejects(stack.enter_context(Path(rejects).open("w", encoding="utf-8")))
        for path in paths:
            context = _open_context(Path(path), fmt, totals, text_field, on_error, sink)
            if context is not None:
                yield from _read_file(context)


def read_threads(paths: Sequence[str | Path], fmt: str | None = None) -> Iterator[Thread]:
    """Yield each plain-text thread page split into its article and comments.

    fmt: force a format (only "thread" gives pages), e.g. for stdin, instead of detecting it.
    """
    for item in paths:
        path = Path(item)
        head, stream = open_stream(path) if is_stream(path) else (read_head(path), None)
        kind = fmt or detect_format(path, head)
        if kind != "thread":
            _close(stream)
            raise InputError(str(path), f"a {kind} dump, not a plain-text thread page")
        with replace_counter() as counter:
            yield _split_page(path, counter.name, stream)


def _open_context(
    path: Path,
    fmt: str | None,
    stats: ReadStats,
    text_field: str | None,
    on_error: OnError,
    rejects: Rejects | None,
) -> FileContext | None:
    once = is_stream(path)
    head, stream = open_stream(path) if once else (read_head(path), None)
    counts = FileCounts(format=fmt or "empty")
    stats.files += 1
    stats.per_file[str(path)] = counts
    if not head:
        _close(stream)
        return None
    try:
        counts.format = fmt or detect_format(path, head)
        if counts.format != "parquet" and is_binary(head):
            raise InputError(str(path), BINARY)
    except InputError:
        _close(stream)
        raise
    return FileContext(
        path=path,
        name=source_name(path),
        fmt=counts.format,
        stats=stats,
        counts=counts,
        text_field=text_field,
        on_error=on_error,
        rejects=rejects,
        head=head,
        stream=stream,
        once=once,
    )


def _close(stream: IO[bytes] | None) -> None:
    if stream is not None:
        stream.close()


def _read_file(ctx: FileContext) -> Iterator[Comment]:
    with replace_counter() as counter:
        ctx.errors = counter.name
        try:
            yield from READERS[ctx.fmt](ctx)
        except (OSError, EOFError) as error:
            # Truncated or corrupt gzip shows up only once reading reaches it: an error, or
            # with on_error="skip" a reject that ends this file and keeps what came before.
            ctx.reject(ctx.line, f"cannot read: {error}")
        finally:
            _close(ctx.stream)  # a stream its reader never opened
            ctx.counts.replaced_bytes += counter.count
            ctx.stats.replaced_bytes += counter.count


def _read_thread_page(ctx: FileContext) -> Iterator[Comment]:
    for comment in _split_page(ctx.path, ctx.errors, ctx.open_bytes()).comments:
        yield ctx.counted(comment)


def _split_page(path: Path, errors: str, stream: IO[bytes] | None = None) -> Thread:
    try:
        with stream if stream is not None else open_bytes(path) as source:
            data = source.read(MAX_PAGE_BYTES + 1)
    except (OSError, EOFError) as error:
        raise InputError(str(path), f"cannot read: {error}") from error
    if len(data) > MAX_PAGE_BYTES:
        raise InputError(str(path), "thread page larger than 50 MB; is it really one page?")
    if is_binary(data[:8192]):
        raise InputError(str(path), BINARY)
    return split_thread(data.decode("utf-8-sig", errors), source_name(path))


READERS: dict[str, Reader] = {
    "thread": _read_thread_page,
    "jsonl": read_jsonl,
    "csv": read_csv,
    "tsv": read_csv,
    "parquet": read_parquet,
    "disqus": read_disqus,
    "wxr": read_wxr,
}
