"""Feeding the queue: files scored by `moderate score`, or anything it reads, scored here.

A scored file (CSV, JSON Lines or Parquet with `id`, per-label scores and decisions and
`model_version`) is queued as it is; any other input is read by the seeds readers and
scored with the model, in batches, as `moderate score` does, and by default with the
model's second opinion when it has one that can run here (issue 15: it re-scores each
label's unsure band, about 50 ms a re-scored comment on 2 cores). A scored file written
with `--second-opinion` brings its `<label>_first` and `<label>_decided_by` columns along.
Either way only the comments with a label in the chosen bands are queued, each with the
comment before it in its thread (and the article title of a thread page) for context.
Ids are the readers' stable ids, so adding the same input twice adds nothing.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from moderate.labels.store import LABELS
from moderate.model.artifacts import load
from moderate.model.predict import Judged, Model
from moderate.model.second_opinion import NGRAMS, SECOND, SecondOpinionError
from moderate.seeds.comments import Comment
from moderate.seeds.errors import InputError
from moderate.seeds.readers import detect_format, is_stream, read_comments, read_threads
from moderate.service.review.queue import BANDS, NewItem, Queue
from moderate.service.writers import FORMATS, read_output

BATCH = 8000
TOP_SPANS = 5
DECIDERS = (NGRAMS, SECOND)


@dataclass
class AddSummary:
    """What an add did: comments read, in the bands, newly queued, already queued; whether
    the second opinion scored the raw inputs (and how many it re-scored), or why the
    model's second opinion could not."""

    read: int = 0
    in_bands: int = 0
    added: int = 0
    without_text: int = 0
    versions: set[str] = field(default_factory=set)
    second_opinion: bool = False
    rescored: int = 0
    second_opinion_off: str | None = None

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
    second_opinion: bool | None = None,
) -> AddSummary:
    """Queue the comments of inputs whose decision for some label is in bands.

    `model` scores the inputs that are not scored files (and is loaded only for them);
    `second_opinion` True or False asks its second opinion or not, None asks it when the
    model has one that can run here (SecondOpinionError when asked and it cannot).
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
            if scorer is None:
                scorer = load(model)
                summary.second_opinion = _asks_second_opinion(scorer, second_opinion, summary)
            items = _from_raw(path, scorer, chosen, summary, text_field, fmt)
        summary.added += queue.add(items, who)
    return summary


def _asks_second_opinion(model: Model, wanted: bool | None, summary: AddSummary) -> bool:
    """Whether to ask the model's second opinion; by default when it can run here (a model
    that has one and cannot says why in the summary)."""
    if wanted is False:
        return False
    problem = model.second_opinion_problem()
    if problem is not None and wanted:
        raise SecondOpinionError(problem)
    if problem is not None and model.second is not None:
        summary.second_opinion_off = problem
    return problem is None


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
        judged = model.judge([c.text for c in batch], summary.second_opinion)
        if judged.decided_by is not None:
            summary.rescored += sum(
                SECOND in by for by in zip(*judged.decided_by.values(), strict=True)
            )
        for i, comment in enumerate(batch):
            before = previous.get(comment.thread)
            previous[comment.thread] = comment.text
            decided: dict[str, str] = {label: judged.decisions[label][i] for label in model.labels}
            if not any(d in bands for d in decided.values()):
                continue
            summary.in_bands += 1
            yield _raw_item(comment, model, judged, decided, i, before, titles)
        summary.read += len(batch)
        summary.versions.add(model.version)


def _raw_item(
    comment: Comment,
    model: Model,
    judged: Judged,
    decided: dict[str, str],
    row: int,
    before: str | None,
    titles: dict[str, str],
) -> NewItem:
    first, decided_by = judged.first, judged.decided_by
    return NewItem(
        id=comment.id,
        thread=comment.thread,
        position=comment.position,
        text=comment.text,
        scores={label: float(judged.probabilities[label][row]) for label in model.labels},
        decisions=decided,
        model_version=model.version,
        source_id=comment.source_id,
        title=comment.meta.get("title") or titles.get(comment.thread),
        previous=before,
        spans=spans_of(model, comment.text),
        first=None if first is None else {k: float(v[row]) for k, v in first.items()},
        decided_by=None if decided_by is None else {k: v[row] for k, v in decided_by.items()},
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
    rescored = [label for label in labels if f"{label}_first" in names]
    header = 1 if FORMATS[path.suffix.lower()] == "csv" else 0
    try:
        rows = read_output(path)
    except (OSError, ValueError, UnicodeDecodeError, gzip.BadGzipFile) as error:
        raise InputError(str(path), f"cannot read this scored file: {error}") from None
    # Checked and converted a column at a time: row by row in Python took seconds at 100k.
    columns = _checked_columns(path, rows, labels, 1 + header)
    previous: dict[str, str] = {}
    for i in range(len(rows)):
        summary.read += 1
        decisions = {label: columns[f"{label}_decision"][i] for label in labels}
        thread = columns["thread"][i] or "-"
        text = columns["text"][i]
        before = previous.get(thread)
        if text is not None:
            previous[thread] = text
        if not any(d in bands for d in decisions.values()):
            continue
        summary.in_bands += 1
        summary.without_text += text is None
        summary.versions.add(columns["model_version"][i])
        yield NewItem(
            id=columns["id"][i],
            thread=thread,
            position=columns["position"][i],
            text=text,
            scores={label: columns[label][i] for label in labels},
            decisions=decisions,
            model_version=columns["model_version"][i],
            source_id=columns["source_id"][i],
            previous=before,
            first={label: columns[f"{label}_first"][i] for label in rescored} or None,
            decided_by={label: columns[f"{label}_decided_by"][i] for label in rescored} or None,
        )


def _checked_columns(
    path: Path, rows: pd.DataFrame, labels: list[str], first: int
) -> dict[str, list[Any]]:
    """The scored file's columns as Python lists (with the second opinion's, when it has
    them); InputError names the first bad line."""

    def bad(mask: pd.Series, reason: str) -> None:
        if mask.any():
            raise InputError(str(path), reason, first + int(mask.to_numpy().argmax()))

    out: dict[str, list[Any]] = {}
    for label in labels:
        scores = pd.to_numeric(rows[label], errors="coerce")
        bad(~scores.between(0, 1), f"{label} must be a score from 0 to 1")
        out[label] = scores.astype(float).tolist()
        decisions = rows[f"{label}_decision"]
        bad(~decisions.isin(BANDS), f"{label}_decision must be one of {', '.join(BANDS)}")
        out[f"{label}_decision"] = decisions.astype(str).tolist()
        if f"{label}_first" not in rows.columns:
            continue
        if f"{label}_decided_by" not in rows.columns:
            raise InputError(str(path), f"{label}_first needs {label}_decided_by beside it")
        first_scores = pd.to_numeric(rows[f"{label}_first"], errors="coerce")
        bad(~first_scores.between(0, 1), f"{label}_first must be a score from 0 to 1")
        out[f"{label}_first"] = first_scores.astype(float).tolist()
        deciders = rows[f"{label}_decided_by"]
        bad(~deciders.isin(DECIDERS), f"{label}_decided_by must be {' or '.join(DECIDERS)}")
        out[f"{label}_decided_by"] = deciders.astype(str).tolist()
    for name in ("id", "model_version", "thread", "text", "source_id"):
        column = rows[name] if name in rows.columns else pd.Series([None] * len(rows))
        out[name] = [_cell(value) for value in column.tolist()]
    bad(pd.Series([v is None for v in out["id"]]), "a scored row needs an id")
    bad(pd.Series([v is None for v in out["model_version"]]), "a scored row needs a model_version")
    position = pd.to_numeric(rows["position"], errors="coerce") if "position" in rows else None
    out["position"] = (
        [0] * len(rows) if position is None else position.fillna(0).astype(int).tolist()
    )
    return out


def _cell(value: Any) -> str | None:
    """A text cell as str, or None when empty (pandas reads an empty CSV cell as NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value)
    return text if text else None
