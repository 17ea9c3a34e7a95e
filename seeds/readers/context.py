"""What every reader shares: counts, the rejects file, bad-record policy and comment building."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from moderate.seeds.comments import Comment, comment_id
from moderate.seeds.errors import InputError
from moderate.seeds.readers.source import open_bytes

OnError = Literal["raise", "skip"]

TEXT_FIELDS = ("body", "text", "comment_text", "message", "content")
ID_FIELDS = ("id", "comment_id", "_id")
# Not a bare `parent`: corpora use it for the parent comment's text.
PARENT_FIELDS = ("parent_id", "in_reply_to_id", "in_reply_to", "reply_to")
AUTHOR_FIELDS = ("author", "user", "username", "user_name", "author_name")
THREAD_FIELDS = ("link_id", "thread_id", "thread")
CREATED_FIELDS = ("created_utc", "created_at", "created", "timestamp", "date", "time")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SEPARATORS = re.compile(r"[_\- ]")
_USER_KEYS = ("screen_name", "username", "name", "id")


@dataclass
class FileCounts:
    """What reading one file gave."""

    format: str
    comments: int = 0
    skipped: int = 0
    rejected: int = 0
    replaced_bytes: int = 0


@dataclass
class ReadStats:
    """Totals over every file read, plus per-file counts keyed by the path as given.

    `skipped` counts records that are not comments to keep: blank or deleted texts,
    spam, unapproved or pingback comments. `rejected` counts malformed records. Both are
    listed, with their reason, in the rejects file when there is one.
    """

    files: int = 0
    comments: int = 0
    skipped: int = 0
    rejected: int = 0
    replaced_bytes: int = 0
    per_file: dict[str, FileCounts] = field(default_factory=dict)


class Rejects:
    """The rejects file: one JSON object per bad record (file, line, reason, raw)."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def write(self, path: Path, line: int | None, reason: str, raw: str | None) -> None:
        """Append one bad record, flushed so a crash keeps what was written."""
        record = {"file": str(path), "line": line, "reason": reason, "raw": raw}
        self.stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.stream.flush()


@dataclass
class FileContext:
    """One file being read: its name, the options, and where counts and rejects go."""

    path: Path
    name: str
    fmt: str
    stats: ReadStats
    counts: FileCounts
    text_field: str | None = None
    on_error: OnError = "raise"
    rejects: Rejects | None = None
    errors: str = "replace"
    line: int | None = None
    head: bytes = b""
    # A stream input (stdin, a pipe) opened once for sniffing, handed to its reader.
    stream: IO[bytes] | None = None
    once: bool = False

    def open_bytes(self) -> IO[bytes]:
        """The file's bytes, decompressed; a stream input gives its one stream, once."""
        if not self.once:
            return open_bytes(self.path)
        if self.stream is None:
            raise self.error("a stream (stdin, a pipe) can be read only once")
        stream, self.stream = self.stream, None
        return stream

    def open_text(
        self, newline: str | None = None, encoding: str = "utf-8-sig"
    ) -> io.TextIOWrapper:
        """A streaming text view of the file; bad bytes go to `errors`."""
        return io.TextIOWrapper(
            self.open_bytes(), encoding=encoding, errors=self.errors, newline=newline
        )

    def error(self, reason: str, line: int | None = None) -> InputError:
        """A file-level error (not skippable): names the file and, when known, the line."""
        return InputError(str(self.path), reason, line)

    def reject(self, line: int | None, reason: str, raw: str | None = None) -> None:
        """A malformed record: raise, or with on_error="skip" log it and carry on."""
        if self.on_error == "raise":
            raise InputError(str(self.path), reason, line)
        if self.rejects is not None:
            self.rejects.write(self.path, line, reason, raw)
        self.counts.rejected += 1
        self.stats.rejected += 1

    def skip(self, line: int | None, reason: str, raw: str | None = None) -> None:
        """A record that is not a comment to keep (blank, deleted, spam, unapproved)."""
        if self.rejects is not None:
            self.rejects.write(self.path, line, reason, raw)
        self.counts.skipped += 1
        self.stats.skipped += 1

    def comment(
        self,
        position: int,
        text: str,
        lines: tuple[int, int],
        *,
        thread: str | None = None,
        author: str | None = None,
        parent: str | None = None,
        source_id: str | None = None,
        created: Any = None,
        raw: str | None = None,
    ) -> Comment | None:
        """The Comment for one record, or None (counted as skipped) when its text is blank."""
        if not text.strip():
            self.skip(lines[0], "no text", raw)
            return None
        meta: dict[str, Any] = {"source": self.name, "format": self.fmt}
        if created is not None:
            meta["created"] = created
        return self.counted(
            Comment(
                id=comment_id(self.name, position, text),
                thread=thread or self.name,
                position=position,
                text=text,
                lines=lines,
                author=author,
                parent=parent,
                source_id=source_id,
                meta=meta,
            )
        )

    def counted(self, comment: Comment) -> Comment:
        """Count a comment as read and hand it on."""
        self.counts.comments += 1
        self.stats.comments += 1
        return comment


def find_field(names: Iterable[str], candidates: tuple[str, ...]) -> str | None:
    """The first candidate among `names`: exact match first, then ignoring case and _ - space.

    So `Text` is `text` and `CommentId` is `comment_id`.
    """
    names = list(names)
    for candidate in candidates:
        if candidate in names:
            return candidate
    loose = {_loose(name): name for name in reversed(names)}
    for candidate in candidates:
        if _loose(candidate) in loose:
            return loose[_loose(candidate)]
    return None


def _loose(name: str) -> str:
    return _SEPARATORS.sub("", name).lower()


def missing_text_field(text_field: str | None, found: Iterable[str]) -> str:
    """The reason for a record or header without a usable text field."""
    wanted = (
        f"field {text_field!r}" if text_field else "text field (" + ", ".join(TEXT_FIELDS) + ")"
    )
    listed = ", ".join(repr(name) for name in found) or "none"
    return f"no {wanted}; found: {listed}; name the text field to use"


def as_id(value: Any) -> str | None:
    """An id, author or parent as a string; None when missing, empty or not a scalar.

    A user object (as in tweets) gives its screen name, user name, name or id.
    """
    if type(value) is str:  # the common case first: a CSV field
        return value.strip() or None
    if isinstance(value, dict):
        value = next((value[key] for key in _USER_KEYS if value.get(key) is not None), None)
    if value is None or isinstance(value, bool | list | dict):
        return None
    text = str(value).strip()
    return text or None


def as_created(value: Any) -> Any:
    """A created time as given, JSON-ready (datetimes become ISO-8601)."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float):
        return value if value != "" else None
    return str(value)


def as_text(value: Any) -> str | None:
    """A text field as a string; None when it is not text (a list or an object)."""
    if value is None:
        return ""
    if isinstance(value, str):
        # JSON may carry escaped surrogate halves (e.g. a split emoji); they cannot be written.
        if not value.isascii() and _SURROGATE.search(value):
            return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def pick(record: Mapping[str, Any], candidates: tuple[str, ...]) -> Any:
    """The value of the first candidate field present in the record."""
    name = find_field(record.keys(), candidates)
    return record.get(name) if name is not None else None
