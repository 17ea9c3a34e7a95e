"""Scored-row files (CSV, JSON Lines, Parquet by extension) that a killed run can resume.

A run never touches an earlier output until it succeeds. CSV and JSONL are appended and
flushed batch by batch to `<output>.partial`, renamed over the output at the end; on
resume the complete rows are counted and a torn last row is cut off. Parquet cannot be
appended to and is unreadable without its footer, so a run writes complete part files
into `<output>.parts/` (each renamed into place when whole) and joins them, one row group
per part, at the end. A run that stops keeps its rows there for --resume.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    import pandas as pd

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
Row = dict[str, Any]
# A batch of rows as columns: every list the same length, in the output's column order.
Columns = dict[str, list[Any]]


class OutputError(Exception):
    """An output file that cannot be written or resumed: names the file and why."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        super().__init__(f"{path}: {reason}")


def output_format(path: Path) -> str:
    """csv, jsonl or parquet from the output's extension."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        known = ", ".join(sorted(FORMATS))
        raise OutputError(path, f"unknown output extension {path.suffix!r}; use one of {known}")
    return fmt


def columns(labels: Sequence[str], include_text: bool, second_opinion: bool = False) -> list[str]:
    """The output's columns, in order; `source_id` is the dump's own id (empty when none).

    With the second opinion, each label's n-gram score (`<label>_first`) and which score
    decided (`<label>_decided_by`: ngrams or second_opinion) follow the decisions.
    """
    head = ["id", "source_id", "thread", "position", *(["text"] if include_text else [])]
    second = [f"{label}_{part}" for label in labels for part in ("first", "decided_by")]
    return [
        *head,
        *labels,
        *(f"{label}_decision" for label in labels),
        *(second if second_opinion else []),
        "model_version",
    ]


@dataclass
class Done:
    """What a previous run already wrote: row count, last id, model version, flags."""

    rows: int = 0
    last_id: str | None = None
    model_version: str | None = None
    flagged: Counter[str] = field(default_factory=Counter)

    def add(self, row: Row, labels: Sequence[str]) -> None:
        """Account for one complete row."""
        self.rows += 1
        self.last_id = str(row["id"])
        self.model_version = str(row["model_version"])
        for label in labels:
            if row[f"{label}_decision"] != "allow":
                self.flagged[label] += 1


class Writer(Protocol):
    """Appends scored rows; close() makes the output complete, abandon() stops short."""

    def write(self, batch: Columns) -> None:
        """Append a batch of rows and make them durable enough to resume from."""

    def close(self) -> None:
        """Finish the file and put it in place of the output."""

    def abandon(self) -> None:
        """Stop without touching the output, keeping what --resume can use."""


def partial_path(path: Path) -> Path:
    """Where a CSV or JSONL output is written until the run succeeds."""
    return path.with_name(path.name + ".partial")


def ensure_parent(path: Path) -> None:
    """Create the output's directory, or say why it cannot be (e.g. a file is in the way)."""
    if "://" in str(path) or (len(path.parts) > 1 and path.parts[0].endswith(":")):
        raise OutputError(path, "outputs are written to a local path, not a URL")
    for parent in (path.parent, *path.parent.parents):
        if parent.exists() and not parent.is_dir():
            raise OutputError(path, f"cannot write there: {parent} is a file, not a directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(path, f"cannot create its directory: {error.strerror}") from error


def open_writer(
    path: Path, cols: list[str], labels: Sequence[str], resume: bool
) -> tuple[Writer, Done]:
    """A writer for path's format; with resume, also what the output already holds."""
    fmt = output_format(path)
    ensure_parent(path)
    if fmt == "parquet":
        parquet = ParquetParts(path, cols, labels)
        return parquet, parquet.recover() if resume else parquet.start()
    partial = partial_path(path)
    keep = resume and partial.exists()  # an earlier run's rows, kept even if this one fails
    done = Done()
    if resume and not keep and path.exists():
        shutil.copyfile(path, partial)  # a finished output is extended beside itself
    if resume and partial.exists():
        recover = _recover_csv if fmt == "csv" else _recover_jsonl
        try:
            done = recover(partial, cols, labels)
        except OutputError:
            if not keep:
                partial.unlink()  # only a copy of the finished output
            raise
    writer = CsvWriter if fmt == "csv" else JsonlWriter
    return writer(path, cols, append=done.rows > 0, keep=keep), done


class _TextWriter:
    """A CSV or JSONL output, appended to `<output>.partial` and renamed over it on close."""

    def __init__(self, path: Path, cols: list[str], append: bool, keep: bool = False) -> None:
        self.path = path
        self.partial = partial_path(path)
        self.file = self.partial.open("a" if append else "w", encoding="utf-8", newline="")
        self.cols = cols
        self.keep = keep
        self.written = 0

    def write(self, batch: Columns) -> None:
        """Append rows and flush them."""
        self.file.write(self.text(batch))
        self.file.flush()
        self.written += len(batch[self.cols[0]])

    def text(self, batch: Columns) -> str:
        """The rows of a batch as this format's text."""
        raise NotImplementedError

    def close(self) -> None:
        """Close the file and put it in place of the output."""
        self.file.close()
        os.replace(self.partial, self.path)

    def abandon(self) -> None:
        """Close the file; drop it unless it holds rows (this run's or an earlier one's)."""
        self.file.close()
        if not self.written and not self.keep:
            self.partial.unlink(missing_ok=True)


class CsvWriter(_TextWriter):
    """CSV with a header row; floats keep full precision; a missing value is empty."""

    def __init__(self, path: Path, cols: list[str], append: bool, keep: bool = False) -> None:
        super().__init__(path, cols, append, keep)
        self.writer = csv.writer(self.file)
        if not append:
            self.writer.writerow(cols)
            self.file.flush()

    def text(self, batch: Columns) -> str:
        """The rows as csv.writer writes them."""
        values = [batch[c] for c in self.cols]
        if any(_needs_quotes(column) for column in values):
            out = io.StringIO()
            csv.writer(out).writerows(zip(*values, strict=True))
            return out.getvalue()
        # What csv.writer writes for such rows, at twice its speed.
        values = [[""] * len(column) if _all_none(column) else column for column in values]
        return "".join(",".join(map(str, row)) + "\r\n" for row in zip(*values, strict=True))


class JsonlWriter(_TextWriter):
    """One JSON object per line."""

    def text(self, batch: Columns) -> str:
        """The rows as JSON objects, one per line."""
        rows = zip(*(batch[c] for c in self.cols), strict=True)
        return "".join(
            json.dumps(dict(zip(self.cols, row, strict=True)), ensure_ascii=False) + "\n"
            for row in rows
        )


_SPECIAL = re.compile(r'[,"\r\n]')


def _all_none(values: list[Any]) -> bool:
    return bool(values) and values[0] is None and values.count(None) == len(values)


def _needs_quotes(values: list[Any]) -> bool:
    """Whether csv.writer would quote any of these values (or write one differently)."""
    kinds = set(map(type, values))
    if kinds <= {int} or kinds <= {float} or kinds <= {type(None)}:
        return False
    if kinds != {str}:
        return True
    # One search over the distinct values joined: a column of one repeated value (the
    # model version, a file's thread name) costs nothing.
    return not all(values) or _SPECIAL.search("".join(set(values))) is not None


def _check_columns(path: Path, found: Sequence[str], cols: Sequence[str]) -> None:
    if list(found) != list(cols):
        raise OutputError(
            path,
            f"cannot resume: its columns {list(found)} differ from this run's {list(cols)} "
            "(same --include-text, --second-opinion and model labels needed)",
        )


def _csv_records(path: Path) -> Iterator[tuple[int, str]]:
    """(end byte offset, text) of each complete CSV record; a torn tail is not yielded."""
    offset = 0
    pending: list[str] = []
    quotes = 0
    with path.open("r", encoding="utf-8", newline="") as file:
        for line in file:
            offset += len(line.encode("utf-8"))
            pending.append(line)
            quotes += line.count('"')
            # A record ends at a newline outside quotes: an even count of quote characters.
            if line.endswith("\n") and quotes % 2 == 0:
                yield offset, "".join(pending)
                pending, quotes = [], 0


def _recover_csv(path: Path, cols: list[str], labels: Sequence[str]) -> Done:
    done = Done()
    end = 0
    for number, (offset, record) in enumerate(_csv_records(path)):
        fields = next(csv.reader(io.StringIO(record)))
        if number == 0:
            _check_columns(path, fields, cols)
        elif len(fields) != len(cols):
            raise OutputError(path, f"cannot resume: record {number + 1} has {len(fields)} fields")
        else:
            done.add(dict(zip(cols, fields, strict=True)), labels)
        end = offset
    _truncate(path, end)
    return done


def _recover_jsonl(path: Path, cols: list[str], labels: Sequence[str]) -> Done:
    done = Done()
    end = 0
    with path.open("rb") as file:
        for number, line in enumerate(file, start=1):
            try:
                row = json.loads(line) if line.endswith(b"\n") else None
            except ValueError:
                row = None
            if row is None:
                if file.read(1):
                    raise OutputError(path, f"cannot resume: line {number} is not a JSON row")
                break  # the torn last line of a killed run
            if done.rows == 0:
                _check_columns(path, list(row), cols)
            done.add(row, labels)
            end += len(line)
    _truncate(path, end)
    return done


def _truncate(path: Path, size: int) -> None:
    if path.stat().st_size != size:
        with path.open("r+b") as file:
            file.truncate(size)


class ParquetParts:
    """Parquet written as whole part files, joined into one file (a row group per part)."""

    def __init__(self, path: Path, cols: list[str], labels: Sequence[str]) -> None:
        self.path = path
        self.parts = path.with_name(path.name + ".parts")
        self.cols = cols
        self.labels = labels
        self.schema = pa.schema([(c, _arrow_type(c, labels)) for c in cols])
        self.count = 0
        self.keep = False  # whether the parts hold an earlier run's rows
        self.written = 0

    def start(self) -> Done:
        """Forget any earlier run's parts."""
        shutil.rmtree(self.parts, ignore_errors=True)
        self.parts.mkdir(parents=True)
        return Done()

    def recover(self) -> Done:
        """Count the rows of the whole parts (and of a finished output, which becomes part 0)."""
        self.parts.mkdir(parents=True, exist_ok=True)
        for tmp in self.parts.glob("*.tmp"):
            tmp.unlink()  # a part torn by a kill; its rows are scored again
        self.keep = any(self.parts.iterdir())
        if self.path.exists() and not self.keep:
            shutil.copyfile(self.path, self.parts / _part_name(0))
        done = Done()
        try:
            for part in sorted(self.parts.glob("part-*.parquet")):
                table = pq.read_table(part)
                _check_columns(part, table.column_names, self.cols)
                for row in table.select(["id", "model_version", *self._decisions()]).to_pylist():
                    done.add(row, self.labels)
                self.count += 1
        except OutputError:
            self.abandon()
            raise
        return done

    def _decisions(self) -> list[str]:
        return [f"{label}_decision" for label in self.labels]

    def write(self, batch: Columns) -> None:
        """Write rows as the next part, renamed into place only when complete."""
        if not batch or not batch[self.cols[0]]:
            return
        final = self.parts / _part_name(self.count)
        tmp = final.with_suffix(".tmp")
        pq.write_table(
            pa.Table.from_pydict({c: batch[c] for c in self.cols}, schema=self.schema), tmp
        )
        os.replace(tmp, final)
        self.count += 1
        self.written += 1

    def close(self) -> None:
        """Join the parts into the output file, then remove them."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        with pq.ParquetWriter(tmp, self.schema) as writer:
            for part in sorted(self.parts.glob("part-*.parquet")):
                writer.write_table(pq.read_table(part, schema=self.schema))
        os.replace(tmp, self.path)
        shutil.rmtree(self.parts)

    def abandon(self) -> None:
        """Keep the parts for --resume, unless there are none of this run or an earlier one."""
        if not self.written and not self.keep:
            shutil.rmtree(self.parts, ignore_errors=True)


def _part_name(index: int) -> str:
    return f"part-{index:06d}.parquet"


def _arrow_type(column: str, labels: Sequence[str]) -> pa.DataType:
    if column in labels or column.removesuffix("_first") in labels:
        return pa.float64()
    if column == "position":
        return pa.int64()
    return pa.string()


def read_output(path: Path) -> pd.DataFrame:
    """A scored file back as a DataFrame, whatever its format."""
    import pandas as pd  # here: writing rows needs only pyarrow

    fmt = output_format(path)
    if fmt == "parquet":
        return pd.read_parquet(path)
    ids = {"id": str, "source_id": str}
    if fmt == "jsonl":
        return pd.read_json(path, lines=True, dtype=ids, precise_float=True)
    return pd.read_csv(path, dtype=ids)
