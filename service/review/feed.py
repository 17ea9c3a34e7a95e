"""Feeding the queue: files scored by `moderate score`, or anything it reads, scored here.

A scored file (CSV, JSON Lines or Parquet with `id`, per-label scores and decisions and
`model_version`) is queued as it is; any other input is read by the seeds readers and
scored with the model, in batches, as `moderate score` does. Either way only the
comments with a label in the chosen bands are queued, each with the comment before it in
its thread (and the article title of a thread page) for context. Ids are the readers'
stable ids, so adding the same input twice adds nothing.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from labels.store import LABELS
from model.artifacts import load
from model.predict import Model
from seeds.comments import Comment
from seeds.errors import InputError
from seeds.readers import detect_format, is_stream, read_comments, read_threads
from service.review.queue import BANDS, NewItem, Queue
from service.run import read_output
from service.writers import FORMATS

BATCH = 8000
TOP_SPANS = 5


@dataclass
class AddSummary:
    """What an add did: comments read, in the bands, newly queued, already queued."""

    read: int = 0
    in_bands: int = 0
    added: int = 0
    without_text: int = 0
    versions: set[str] = field(default_factory=set)

    @property
    def already(self) -> int:
        """Comments in the bands that were queued before."""
        return self.in_bands - self.added


def check_bands(bands: Iterable[str]) -> tuple[str, ...]:
    """The bands to queue, validated (allow, review, block)."""
    chosen = tuple(dict.fromkeys(b.strip() for b in bands if b.strip()))
    wrong = [b for b in chosen if b not in BANDS]
    if wrong or not chosen:
        raise InputError("--band", f"bands are {', '.join(BANDS)}, not {','.join(wrong) or '-'}")
    return chosen


def scored_columns(path: Path) -> list[str] | None:
    """The columns of a file `moderate score` wrote, or None when it is not one."""
    if is_stream(path) or FORMATS.get(path.suffix.lower()) is None or not path.is_file():
        return None
    fmt = FORMATS[path.suffix.lower()]
    try:
        if fmt == "parquet":
            names = list(pq.read_schema(path).names)
        elif fmt == "csv":
            with path.open(encoding="utf-8", newline="") as file:
                names = next(csv.reader(file), [])
        else:
            with path.open(encoding="utf-8") as file:
                first = next((line for line in file if line.strip()), "{}")
            record = json.loads(first)
            names = list(record) if isinstance(record, dict) else []
    except (OSError, UnicodeDecodeError, ValueError, StopIteration):
        return None  # not ours: the readers say what is wrong with it
    decided = any(f"{label}_decision" in names for label in LABELS)
    return names if decided and {"id", "model_version"} <= set(names) else None


def add_inputs(
    inputs: Sequence[str | Path],
    queue: Queue,
    *,
    model: Path | None,
    bands: Sequence[str] = ("review",),
    who: str = "moderate review add",
    text_field: str | None = None,
    fmt: str | None = None,
) -> AddSummary:
    """Queue the comments of inputs whose decision for some label is in bands.

    `model` scores the inputs that are not scored files (and is loaded only for them).
    """
    chosen = check_bands(bands)
    summary = AddSummary()
    scorer: Model | None = None
    for item in inputs:
        path = Path(item)
        names = None if fmt is not None else scored_columns(path)
        if names is not None:
            items = _from_scored(path, names, chosen, summary)
        else:
            if model is None:
                raise InputError(str(path), "not a scored file, and there is no model to score it")
            scorer = scorer or load(model)
            items = _from_raw(path, scorer, chosen, summary, text_field, fmt)
        summary.added += queue.add(items, who)
    return summary


def _from_raw(
    path: Path,
    model: Model,
    bands: tuple[str, ...],
    summary: AddSummary,
    text_field: str | None,
    fmt: str | None,
) -> Iterator[NewItem]:
    titles = _titles(path, fmt)
    previous: dict[str, str] = {}
    comments = read_comments([path], text_field=text_field, fmt=fmt)
    while batch := list(islice(comments, BATCH)):
        probabilities, decisions = model.score_columns([c.text for c in batch])
        for i, comment in enumerate(batch):
            before = previous.get(comment.thread)
            previous[comment.thread] = comment.text
            decided: dict[str, str] = {label: decisions[label][i] for label in model.labels}
            if not any(d in bands for d in decided.values()):
                continue
            summary.in_bands += 1
            yield _raw_item(comment, model, probabilities, decided, i, before, titles)
        summary.read += len(batch)
        summary.versions.add(model.version)


def _raw_item(
    comment: Comment,
    model: Model,
    probabilities: dict[str, Any],
    decided: dict[str, str],
    row: int,
    before: str | None,
    titles: dict[str, str],
) -> NewItem:
    return NewItem(
        id=comment.id,
        thread=comment.thread,
        position=comment.position,
        text=comment.text,
        scores={label: float(probabilities[label][row]) for label in model.labels},
        decisions=decided,
        model_version=model.version,
        source_id=comment.source_id,
        title=comment.meta.get("title") or titles.get(comment.thread),
        previous=before,
        spans=spans_of(model, comment.text),
    )


def spans_of(model: Model, text: str) -> dict[str, list[dict[str, Any]]]:
    """The spans that pushed each label's score up most: start, end, weight (log-odds).

    At most TOP_SPANS per label, and only those with a quarter of the strongest's weight
    or more: a highlight on every word would say nothing.
    """
    out = {}
    for label, spans in model.explain(text).items():
        up = [s for s in spans if s.weight > 0]
        floor = up[0].weight / 4 if up else 0.0
        out[label] = [
            {"start": s.start, "end": s.end, "weight": round(s.weight, 4)}
            for s in up[:TOP_SPANS]
            if s.weight >= floor
        ]
    return out


def _titles(path: Path, fmt: str | None) -> dict[str, str]:
    """Article titles of a thread page (a stream is read once, by the readers, so none)."""
    if is_stream(path) or (fmt or detect_format(path)) != "thread":
        return {}
    return {thread.name: thread.title for thread in read_threads([path], fmt) if thread.title}


def _from_scored(
    path: Path, names: list[str], bands: tuple[str, ...], summary: AddSummary
) -> Iterator[NewItem]:
    labels = [label for label in LABELS if f"{label}_decision" in names and label in names]
    header = 1 if FORMATS[path.suffix.lower()] == "csv" else 0
    try:
        rows = read_output(path)
    except (OSError, ValueError, UnicodeDecodeError, gzip.BadGzipFile) as error:
        raise InputError(str(path), f"cannot read this scored file: {error}") from None
    has_text = "text" in rows.columns
    previous: dict[str, str] = {}
    for number, record in enumerate(rows.to_dict("records"), start=1 + header):
        summary.read += 1
        item = _scored_item(path, number, record, labels, has_text, previous)
        if item is None or not any(d in bands for d in item.decisions.values()):
            continue
        summary.in_bands += 1
        summary.without_text += item.text is None
        summary.versions.add(item.model_version)
        yield item


def _scored_item(
    path: Path,
    number: int,
    record: Mapping[Any, Any],
    labels: list[str],
    has_text: bool,
    previous: dict[str, str],
) -> NewItem | None:
    thread = _cell(record.get("thread")) or "-"
    text = _cell(record.get("text")) if has_text else None
    before = previous.get(thread)
    if text is not None:
        previous[thread] = text
    scores, decisions = {}, {}
    for label in labels:
        score, decision = record.get(label), _cell(record.get(f"{label}_decision"))
        if not isinstance(score, int | float) or math.isnan(score) or not 0 <= score <= 1:
            raise InputError(str(path), f"{label} must be a score from 0 to 1", number)
        if decision not in BANDS:
            raise InputError(str(path), f"{label}_decision must be one of {BANDS}", number)
        scores[label], decisions[label] = float(score), decision
    item_id, version = _cell(record.get("id")), _cell(record.get("model_version"))
    if not item_id or not version:
        raise InputError(str(path), "a scored row needs an id and a model_version", number)
    position = record.get("position")
    return NewItem(
        id=item_id,
        thread=thread,
        position=int(position) if isinstance(position, int | float) and position == position else 0,
        text=text,
        scores=scores,
        decisions=decisions,
        model_version=version,
        source_id=_cell(record.get("source_id")),
        previous=before,
    )


def _cell(value: Any) -> str | None:
    """A text cell as str, or None when empty (pandas reads an empty CSV cell as NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value)
    return text if text else None
