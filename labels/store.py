"""The labelled dataset on disk: append-only JSONL files of comments and annotations.

`<root>/comments.jsonl` holds one comment per line, deduplicated by id;
`<root>/annotations.jsonl` holds one answer per line and is never rewritten: a later
answer for the same (comment, label, annotator) supersedes the earlier one, and an undo
appends a record whose value is None. Writers append whole lines under an exclusive
`flock` on the data file itself (no stray lock file to commit) and fsync before
releasing it, so a `kill -9` loses at most the record being written and two annotators
never interleave. A torn last record is fenced off with a newline before the next
append, and readers report and skip it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moderate.seeds.comments import Comment

if TYPE_CHECKING:
    import pandas as pd

LABELS: tuple[str, ...] = ("toxic", "conspiracy")
VALUES: tuple[int | str, ...] = (1, 0, "unsure")
ORIGINS: tuple[str, ...] = ("human", "rule", "model", "import:<format>")
COMMENTS_FILE = "comments.jsonl"
ANNOTATIONS_FILE = "annotations.jsonl"
DATASET_COLUMNS: tuple[str, ...] = ("id", "source", "thread", "text", *LABELS)
# Lines per lock/fsync for bulk writes: amortises the fsync without holding the lock long.
BATCH = 5000

Value = int | str | None
Key = tuple[str, str, str]


class LabelError(Exception):
    """An annotation or comment that breaks the dataset's rules."""


class TornRecordWarning(UserWarning):
    """A line of a store file that is not a valid record (e.g. torn by a kill -9)."""


@dataclass(frozen=True)
class Problem:
    """An invalid line met while reading a store file; it was skipped."""

    path: Path
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


def utc_now() -> str:
    """The current UTC time as ISO-8601 with a trailing Z, to the millisecond."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_value(text: str) -> Value:
    """Turn a user's answer ("1", "0", "unsure", "none") into an annotation value."""
    cleaned = text.strip().lower()
    table: dict[str, Value] = {"1": 1, "0": 0, "unsure": "unsure", "none": None}
    if cleaned not in table:
        raise LabelError(f"value must be 1, 0, unsure or none, not {text!r}")
    return table[cleaned]


def parse_answer_lines(lines: Iterable[str], name: str) -> list[tuple[str, dict[str, Value]]]:
    """Lines of "ID TOXIC CONSPIRACY" (1, 0, unsure or none; '-' leaves a label alone).

    Blank lines and lines starting with # are skipped; a bad line raises LabelError
    naming `name` and the line number, before anything is written.
    """
    rows = []
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) != 1 + len(LABELS):
            raise LabelError(
                f"{name}:{number}: expected ID {' '.join(label.upper() for label in LABELS)}, "
                f"got {len(fields)} fields"
            )
        try:
            answers = {
                label: parse_value(v)
                for label, v in zip(LABELS, fields[1:], strict=True)
                if v != "-"
            }
        except LabelError as exc:
            raise LabelError(f"{name}:{number}: {exc}") from None
        rows.append((fields[0], answers))
    return rows


def check_origin(origin: str) -> None:
    """Raise LabelError unless origin is human, rule, model or import:<format>."""
    if origin in ("human", "rule", "model"):
        return
    if origin.startswith("import:") and len(origin) > len("import:"):
        return
    raise LabelError(f"origin must be human, rule, model or import:<format>, not {origin!r}")


@dataclass(frozen=True)
class Annotation:
    """One answer: comment id, label, value (1, 0, "unsure"; None = withdrawn), who, when."""

    comment: str
    label: str
    value: Value
    annotator: str
    time: str = field(default_factory=utc_now)
    origin: str = "human"

    def __post_init__(self) -> None:
        if not isinstance(self.comment, str) or not self.comment:
            raise LabelError(f"comment id must be a non-empty string, not {self.comment!r}")
        if self.label not in LABELS:
            raise LabelError(f"label must be one of {', '.join(LABELS)}, not {self.label!r}")
        if not _valid_value(self.value):
            raise LabelError(
                f"value of {self.label} must be 1, 0, 'unsure' or None, not {self.value!r}"
            )
        if not isinstance(self.annotator, str) or not self.annotator.strip():
            raise LabelError("annotator must be a non-empty name")
        if not isinstance(self.time, str) or not _valid_time(self.time):
            raise LabelError(f"time must be ISO-8601 UTC ending in Z, not {self.time!r}")
        if not isinstance(self.origin, str):
            raise LabelError(f"origin must be a string, not {self.origin!r}")
        check_origin(self.origin)

    @property
    def key(self) -> Key:
        """(comment, label, annotator): what a later answer supersedes."""
        return (self.comment, self.label, self.annotator)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        # Spelled out: dataclasses.asdict deep-copies and dominated bulk imports.
        return {
            "comment": self.comment,
            "label": self.label,
            "value": self.value,
            "annotator": self.annotator,
            "time": self.time,
            "origin": self.origin,
        }


def _valid_value(value: object) -> bool:
    if value is None or value == "unsure":
        return True
    return type(value) is int and value in (0, 1)


def _valid_time(text: str) -> bool:
    if not text.endswith("Z"):
        return False
    try:
        datetime.fromisoformat(text[:-1] + "+00:00")
    except ValueError:
        return False
    return True


def _line(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def _comment_record(item: Comment | dict[str, Any]) -> dict[str, Any]:
    if isinstance(item, Comment):
        record = item.to_dict()
        record.setdefault("source", item.meta.get("source", item.thread))
        return record
    if not isinstance(item, dict):
        raise LabelError(f"a comment must be a Comment or a dict, not {type(item).__name__}")
    record = dict(item)
    for key in ("id", "text"):
        if not isinstance(record.get(key), str) or (key == "id" and not record[key]):
            raise LabelError(f"comment {record.get('id')!r} needs a string {key!r}")
    record.setdefault("thread", record.get("source"))
    record.setdefault("source", record.get("thread"))
    return record


def _annotation_from(record: object) -> Annotation:
    if not isinstance(record, dict):
        raise LabelError("not a JSON object")
    try:
        return Annotation(**record)
    except TypeError as exc:
        raise LabelError(f"wrong fields: {exc}") from None


def _comment_from(record: object) -> dict[str, Any]:
    if not isinstance(record, dict) or not isinstance(record.get("id"), str):
        raise LabelError("not a comment object with an id")
    return record


class _Tail:
    """Reads a JSONL file incrementally from where it last stopped (complete lines only)."""

    def __init__(self, path: Path, parse: Callable[[object], Any]) -> None:
        self.path = path
        self.parse = parse
        self.offset = 0
        self.lineno = 0

    def read(self, fd: int | None = None) -> Iterator[tuple[int, Any] | Problem]:
        """Yield (line number, record) or a Problem for every new complete line."""
        if fd is None and not self.path.exists():
            return
        with open(self.path if fd is None else fd, "rb", closefd=fd is None) as handle:
            handle.seek(self.offset)
            for raw in handle:
                if not raw.endswith(b"\n"):
                    break  # an unfinished (or torn) last line: look again next time
                self.offset += len(raw)
                self.lineno += 1
                if not raw.strip():
                    continue
                try:
                    yield self.lineno, self.parse(json.loads(raw))
                except (ValueError, LabelError) as exc:
                    yield Problem(self.path, self.lineno, f"invalid record skipped: {exc}")

    def skip(self, fd: int, lines: int) -> None:
        """Move past lines we just appended ourselves, after a read() under the same lock."""
        if not lines:
            return
        self.offset = os.fstat(fd).st_size
        self.lineno += lines


def _read_all(path: Path, parse: Callable[[object], Any]) -> Iterator[tuple[int, Any] | Problem]:
    """Every line of a file, including a torn last line (reported as a Problem)."""
    tail = _Tail(path, parse)
    yield from tail.read()
    with contextlib.suppress(FileNotFoundError), open(path, "rb") as handle:
        handle.seek(tail.offset)
        rest = handle.read()
        if rest.strip():
            yield Problem(path, tail.lineno + 1, "torn last record skipped (no newline)")


class LabelStore:
    """The dataset under `root`: comments.jsonl and annotations.jsonl, append-only."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.comments_path = self.root / COMMENTS_FILE
        self.annotations_path = self.root / ANNOTATIONS_FILE
        self.problems: list[Problem] = []
        self._ids: set[str] = set()
        self._ids_tail = _Tail(self.comments_path, _comment_from)
        self._latest_values: dict[Key, Value] = {}
        self._latest_tail = _Tail(self.annotations_path, _annotation_from)

    # -- writing ---------------------------------------------------------------------------

    def add_comments(self, records: Iterable[Comment | dict[str, Any]]) -> int:
        """Append comments whose id is not stored yet; return how many were new."""
        added = 0
        items = iter(records)
        while batch := [_comment_record(item) for item in islice(items, BATCH)]:
            with self._locked(self.comments_path) as fd:
                for step in self._ids_tail.read(fd):
                    if not isinstance(step, Problem):
                        self._ids.add(step[1]["id"])
                lines = []
                for record in batch:
                    if record["id"] not in self._ids:
                        self._ids.add(record["id"])
                        lines.append(_line(record))
                self._ids_tail.skip(fd, self._append(fd, lines))
            added += len(lines)
        return added

    def annotate(self, annotations: Iterable[Annotation], *, skip_same: bool = False) -> int:
        """Append annotations; return how many were written.

        With skip_same, an annotation equal in value to the latest one for its
        (comment, label, annotator) is skipped, which makes re-imports add nothing.
        """
        written = 0
        items = iter(annotations)
        while batch := list(islice(items, BATCH)):
            for item in batch:
                if not isinstance(item, Annotation):
                    raise LabelError(f"expected an Annotation, not {type(item).__name__}")
            with self._locked(self.annotations_path) as fd:
                if skip_same:
                    self._refresh_latest(fd)
                    batch = [a for a in batch if not self._same_as_latest(a)]
                lines = [_line(a.to_dict()) for a in batch]
                appended = self._append(fd, lines)
                if skip_same:
                    self._latest_values.update((a.key, a.value) for a in batch)
                    self._latest_tail.skip(fd, appended)
            written += len(lines)
        return written

    def set_labels(
        self,
        comment_id: str,
        answers: Mapping[str, Value],
        annotator: str,
        origin: str = "human",
    ) -> list[Annotation]:
        """Record one annotator's answers for a stored comment; return what was written."""
        if not answers:
            raise LabelError(f"give at least one label: {', '.join(LABELS)}")
        if not self.has_comment(comment_id):
            raise LabelError(f"no comment with id {comment_id!r} in {self.comments_path}")
        now = utc_now()
        written = [
            Annotation(comment_id, label, value, annotator, now, origin)
            for label, value in answers.items()
        ]
        self.annotate(written)
        return written

    def set_many(
        self, rows: Sequence[tuple[str, Mapping[str, Value]]], annotator: str
    ) -> list[Annotation]:
        """Record one annotator's answers for many comments in one append (all or nothing)."""
        unknown = [cid for cid, _ in rows if not self.has_comment(cid)]
        if unknown:
            raise LabelError(
                f"{len(unknown)} ids not in {self.comments_path}, e.g. {unknown[0]!r}; "
                "nothing written"
            )
        now = utc_now()
        written = [
            Annotation(cid, label, value, annotator, now)
            for cid, answers in rows
            for label, value in answers.items()
        ]
        self.annotate(written)
        return written

    def has_comment(self, comment_id: str) -> bool:
        """Whether a comment with this id is stored."""
        for step in self._ids_tail.read():
            if not isinstance(step, Problem):
                self._ids.add(step[1]["id"])
        return comment_id in self._ids

    def _same_as_latest(self, annotation: Annotation) -> bool:
        key = annotation.key
        return key in self._latest_values and self._latest_values[key] == annotation.value

    def _refresh_latest(self, fd: int) -> None:
        for step in self._latest_tail.read(fd):
            if not isinstance(step, Problem):
                self._latest_values[step[1].key] = step[1].value

    @contextlib.contextmanager
    def _locked(self, path: Path) -> Iterator[int]:
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd
        finally:
            os.close(fd)  # closing releases the lock

    @staticmethod
    def _append(fd: int, lines: list[bytes]) -> int:
        """Write whole lines in one go and fsync; return how many lines the file gained."""
        if not lines:
            return 0
        size = os.fstat(fd).st_size
        payload = b"".join(lines)
        fenced = bool(size) and os.pread(fd, 1, size - 1) != b"\n"
        if fenced:
            payload = b"\n" + payload  # fence a torn record off as one invalid line
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        return len(lines) + fenced

    # -- reading ---------------------------------------------------------------------------

    def comments(self) -> Iterator[dict[str, Any]]:
        """Every stored comment once, in file order; invalid lines go to `problems`."""
        seen: set[str] = set()
        for step in self._read(self.comments_path, _comment_from):
            if step["id"] not in seen:
                seen.add(step["id"])
                yield step

    def annotations(self) -> Iterator[Annotation]:
        """Every stored annotation in file order; invalid lines go to `problems`."""
        yield from self._read(self.annotations_path, _annotation_from)

    def latest(self) -> dict[Key, Annotation]:
        """The last annotation per (comment, label, annotator), withdrawals included."""
        return {a.key: a for a in self.annotations()}

    def _read(self, path: Path, parse: Callable[[object], Any]) -> Iterator[Any]:
        self.problems = [p for p in self.problems if p.path != path]
        for step in _read_all(path, parse):
            if isinstance(step, Problem):
                self.problems.append(step)
                warnings.warn(str(step), TornRecordWarning, stacklevel=3)
            else:
                yield step[1]


def merge_stores(target: LabelStore, source: LabelStore) -> tuple[int, int]:
    """Append another store's comments and answers (an annotator's own store) to target.

    Answers keep their annotator, time and origin; comments already in target and answers
    equal to target's latest for their (comment, label, annotator) are skipped, so a merge
    can be repeated. An answer about a comment neither store holds is refused.
    Returns (comments added, annotations added).
    """
    comments = list(source.comments())
    added = target.add_comments(comments)
    known = {c["id"] for c in comments}
    annotations = list(source.annotations())
    for annotation in annotations:
        if annotation.comment not in known and not target.has_comment(annotation.comment):
            raise LabelError(
                f"{source.annotations_path}: answer about unknown comment {annotation.comment}"
            )
    return added, target.annotate(annotations, skip_same=True)


def origin_matches(origin: str, origins: Sequence[str]) -> bool:
    """Whether origin is one of origins or under one ("import" matches "import:olid")."""
    return any(origin == o or origin.startswith(o + ":") for o in origins)


def majority(values: Sequence[int]) -> float:
    """1.0 or 0.0 by majority over annotators; no answer or a tie is unknown (NaN)."""
    if not values:
        return math.nan
    share = sum(values) / len(values)
    if share == 0.5:
        return math.nan
    return 1.0 if share > 0.5 else 0.0


def load_dataset(root: Path, origins: Sequence[str] = ("human", "import")) -> pd.DataFrame:
    """One row per comment with at least one known label: id, source, thread, text, labels.

    Per label, each annotator's latest answer counts unless it is "unsure" or withdrawn;
    the majority over annotators decides and a tie is unknown (NaN), never 0. Where people
    answered (origin human), imported and rule labels of that comment and label are ignored.
    """
    import pandas as pd  # here, not at the top: the labeller starts faster without it

    store = LabelStore(root)
    votes: dict[str, dict[str, list[int]]] = {}
    human: set[tuple[str, str]] = set()
    latest = [
        a
        for a in store.latest().values()
        if isinstance(a.value, int) and origin_matches(a.origin, origins)
    ]
    for annotation in latest:
        if annotation.origin == "human":
            human.add((annotation.comment, annotation.label))
    for annotation in latest:
        # The team's own answers, given under GUIDELINES.md, supersede a corpus's label
        # for the same comment (its crowd followed other instructions).
        key = (annotation.comment, annotation.label)
        if annotation.origin != "human" and key in human:
            continue
        per_label = votes.setdefault(annotation.comment, {label: [] for label in LABELS})
        per_label[annotation.label].append(int(annotation.value))  # type: ignore[arg-type]
    rows = []
    for comment in store.comments():
        if comment["id"] not in votes:
            continue
        decided = {label: majority(v) for label, v in votes[comment["id"]].items()}
        if all(math.isnan(x) for x in decided.values()):
            continue
        rows.append(
            {
                "id": comment["id"],
                "source": comment.get("source"),
                "thread": comment.get("thread"),
                "text": comment.get("text"),
                **decided,
            }
        )
    frame = pd.DataFrame(rows, columns=list(DATASET_COLUMNS))
    return frame.astype({label: "float64" for label in LABELS})
