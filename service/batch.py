"""Batch scoring of comment dumps: `score_files` reads with the seeds readers, scores with
`Model.score` (locally or on a dask.distributed cluster) and writes CSV, JSONL or Parquet."""

from __future__ import annotations

import contextlib
import functools
import gzip
import shutil
import tempfile
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Literal

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from moderate.model.artifacts import load
from moderate.model.predict import Judged, Model
from moderate.seeds.comments import Comment
from moderate.seeds.errors import InputError
from moderate.seeds.readers import ReadStats, is_stream, read_comments
from moderate.service.writers import (
    Columns,
    Done,
    columns,
    ensure_parent,
    open_writer,
    output_format,
)

Engine = Literal["local", "dask"]


class BatchError(Exception):
    """A batch run that cannot go on (e.g. an output that does not match its inputs)."""


@dataclass
class Summary:
    """What a run did: comments read, scored now, already in the output, flagged, rejected.

    `skipped` counts records that are not comments to score (no text, deleted, spam).
    """

    output: Path
    model_version: str
    read: int = 0
    scored: int = 0
    resumed: int = 0
    skipped: int = 0
    rejected: int = 0
    flagged: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        """Comments scored per second in this run."""
        return self.scored / self.seconds if self.seconds > 0 else 0.0


def score_files(
    inputs: Sequence[str | Path],
    output: Path,
    *,
    model: Path,
    engine: Engine = "local",
    scheduler: str | None = None,
    text_field: str | None = None,
    on_error: Literal["raise", "skip"] = "raise",
    rejects: Path | None = None,
    resume: bool = False,
    include_text: bool = False,
    batch_size: int = 8000,
    progress: bool = False,
    fmt: str | None = None,
    second_opinion: bool = False,
) -> Summary:
    """Score every comment of the inputs with the artifact at `model` and write them to output.

    An input `-` is stdin; stdin, pipes and FIFOs are read once, as they come.
    fmt: the inputs' format (one of seeds.readers.FORMATS) instead of detecting it.
    second_opinion: re-score each label's band with the model's second opinion; the output
    then also has `<label>_first` (the n-gram score) and `<label>_decided_by`.
    """
    output_format(output)  # bad arguments fail before any work or any write
    ensure_parent(output)
    if batch_size < 1:
        raise BatchError(f"the batch size must be at least 1, not {batch_size}")
    if engine not in ("local", "dask"):
        raise BatchError(f"engine must be local or dask, not {engine!r}")
    if engine == "dask" and scheduler is None:
        raise BatchError("--engine dask needs --scheduler ADDRESS (e.g. tcp://127.0.0.1:8786)")
    scorer = load(model)
    labels = list(scorer.labels)
    if second_opinion and (problem := scorer.second_opinion_problem()):
        raise BatchError(f"--second-opinion: {problem}")
    writer, done = open_writer(
        output, columns(labels, include_text, second_opinion), labels, resume
    )
    if done.rows and done.model_version != scorer.version:
        writer.abandon()
        raise BatchError(
            f"{output}: written by model {done.model_version}, not {scorer.version}; "
            "score again without --resume"
        )
    summary = Summary(output=output, model_version=scorer.version, resumed=done.rows)
    flagged: Counter[str] = Counter(done.flagged)
    stats = ReadStats()
    start = time.perf_counter()
    try:
        with contextlib.ExitStack() as stack:
            pool = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="moderate-score"))
            # Load the compiled engine from numba's cache while the first batch is read.
            pool.submit(scorer.judge, [""])
            paths = _localize_all(inputs, stack)
            bar = stack.enter_context(_Bar(paths, progress))
            comments = read_comments(
                paths,
                text_field=text_field,
                on_error=on_error,
                rejects=rejects,
                stats=stats,
                fmt=fmt,
            )
            batches = _batched(_skip_done(comments, done, bar), batch_size)
            if engine == "dask":
                scored = _score_dask(
                    batches, model, scorer.version, str(scheduler), stack, second_opinion
                )
            else:
                scored = _score_local(batches, scorer, pool, second_opinion)
            for batch, judged in scored:
                writer.write(_columns(batch, judged, scorer.version, include_text))
                for label in labels:
                    decisions = judged.decisions[label]
                    flagged[label] += len(decisions) - decisions.count("allow")
                summary.scored += len(batch)
                bar.advance(batch, summary.scored / max(time.perf_counter() - start, 1e-9))
    except BaseException:
        writer.abandon()
        raise
    writer.close()
    summary.read = stats.comments
    summary.skipped = stats.skipped
    summary.rejected = stats.rejected
    summary.flagged = {label: flagged[label] for label in labels}
    summary.seconds = time.perf_counter() - start
    return summary


def _columns(batch: list[Comment], judged: Judged, version: str, include_text: bool) -> Columns:
    out: Columns = {
        "id": [c.id for c in batch],
        "source_id": [c.source_id for c in batch],
        "thread": [c.thread for c in batch],
        "position": [c.position for c in batch],
    }
    if include_text:
        out["text"] = [c.text for c in batch]
    for label, p in judged.probabilities.items():
        out[label] = p.tolist()
        out[f"{label}_decision"] = list(judged.decisions[label])
        if judged.first is not None and judged.decided_by is not None:
            out[f"{label}_first"] = judged.first[label].tolist()
            out[f"{label}_decided_by"] = judged.decided_by[label]
    out["model_version"] = [version] * len(batch)
    return out


def _score_local(
    batches: Iterator[list[Comment]],
    scorer: Model,
    pool: ThreadPoolExecutor,
    second_opinion: bool = False,
) -> Iterator[tuple[list[Comment], Judged]]:
    """Score each batch in the background thread while the next is read; yield in order."""
    pending: deque[tuple[list[Comment], Any]] = deque()
    for batch in batches:
        texts = [c.text for c in batch]
        pending.append((batch, pool.submit(scorer.judge, texts, second_opinion)))
        if len(pending) >= 2:
            head, future = pending.popleft()
            yield head, future.result()
    while pending:
        head, future = pending.popleft()
        yield head, future.result()


def _skip_done(comments: Iterator[Comment], done: Done, bar: _Bar) -> Iterator[Comment]:
    """Skip the comments a previous run wrote, checking the last one's id matches."""
    if done.rows:
        skipped = list(islice(comments, done.rows - 1))
        last = next(comments, None)
        if len(skipped) < done.rows - 1 or last is None or last.id != done.last_id:
            raise BatchError(
                f"the output holds {done.rows} rows ending with id {done.last_id}, which the "
                "inputs do not match; score again without --resume"
            )
        bar.advance([*skipped[-1:], last], 0.0)
    yield from comments


def _batched(comments: Iterable[Comment], size: int) -> Iterator[list[Comment]]:
    iterator = iter(comments)
    while batch := list(islice(iterator, size)):
        yield batch


def _is_url(item: str | Path) -> bool:
    text = str(item)
    return "://" in text and not text.startswith("file://")


def _localize_all(inputs: Sequence[str | Path], stack: contextlib.ExitStack) -> list[Path]:
    """Local paths for the inputs: fsspec URLs (s3://, https://, memory://...) copied once."""
    tmp = None
    if any(_is_url(item) for item in inputs):
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="moderate-score-")))
    return [
        _fetch(str(item), tmp, i) if tmp is not None and _is_url(item)
        else Path(str(item).removeprefix("file://"))
        for i, item in enumerate(inputs)
    ]  # fmt: skip


def _fetch(url: str, tmp: Path, index: int) -> Path:
    # Keep the base name: comment ids are derived from it, so they match a local run.
    target = tmp / str(index) / (url.rstrip("/").rsplit("/", 1)[-1] or "input")
    target.parent.mkdir()
    scheme = url.split("://", 1)[0]
    try:
        with fsspec.open(url, "rb") as source, target.open("wb") as sink:
            shutil.copyfileobj(source, sink, length=1 << 20)
    except ImportError as error:  # fsspec names the optional package the scheme needs
        raise InputError(url, f"reading {scheme}:// URLs needs an extra package: {error}") from None
    except FileNotFoundError:
        # A fresh process's memory:// filesystem is always empty: it lives inside one process.
        hint = " (memory:// holds only what this same process wrote)" if scheme == "memory" else ""
        raise InputError(url, f"no such file{hint}") from None
    except (OSError, ValueError) as error:
        if str(error).startswith("Protocol not known"):
            raise InputError(url, f"unknown URL scheme {scheme}://") from None
        raise InputError(url, f"cannot read: {error}") from None
    return target


# --- the dask engine -------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def _worker_model(path: str, version: str) -> Model:
    """The model on a worker, loaded once per (artifact path, version) per process."""
    return load(Path(path))


def model_loads() -> int:
    """How many times this process has loaded a model for the dask engine (once per artifact)."""
    return _worker_model.cache_info().misses


def _score_on_worker(
    path: str, version: str, texts: list[str], second_opinion: bool = False
) -> Judged:
    return _worker_model(path, version).judge(texts, second_opinion)


def _score_dask(
    batches: Iterator[list[Comment]],
    model: Path,
    version: str,
    scheduler: str,
    stack: contextlib.ExitStack,
    second_opinion: bool = False,
) -> Iterator[tuple[list[Comment], Judged]]:
    """Submit batches to the cluster, a bounded number in flight, and yield them in order."""
    from distributed import Client

    client = stack.enter_context(Client(scheduler, timeout="20s"))
    window = 2 * max(sum(client.nthreads().values()), 1)
    pending: deque[tuple[list[Comment], Any]] = deque()
    artifact = str(model.resolve())
    for batch in batches:
        texts = [c.text for c in batch]
        pending.append(
            (
                batch,
                client.submit(
                    _score_on_worker, artifact, version, texts, second_opinion, pure=False
                ),
            )
        )
        if len(pending) >= window:
            head, future = pending.popleft()
            yield head, future.result()
    while pending:
        head, future = pending.popleft()
        yield head, future.result()


# --- progress ----------------------------------------------------------------------------


class _Bar:
    """A rich progress bar over the inputs' lines, with comments/s and ETA.

    The total is counted up front, except when an input is a stream (stdin, a pipe): that is
    read once, by the readers, so the bar then has no total.
    """

    def __init__(self, paths: Sequence[Path], enabled: bool) -> None:
        self.enabled = enabled
        streamed = any(is_stream(p) for p in paths)
        self.sizes = [_count_lines(p) for p in paths] if enabled and not streamed else []
        self.file = 0
        self.last_line = 0
        self.progress = Progress(
            TextColumn("scoring"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[comments]:,} comments, {task.fields[rate]}/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            disable=not enabled,
        )
        self.task = self.progress.add_task(
            "scoring", total=sum(self.sizes) or None, comments=0, rate="-"
        )

    def __enter__(self) -> _Bar:
        self.progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is None and self.enabled:
            self.progress.update(self.task, completed=sum(self.sizes))
        self.progress.stop()

    def advance(self, batch: Sequence[Comment], rate: float) -> None:
        """Move to the last line of the batch; a line number going down means the next file."""
        if not self.enabled or not batch:
            return
        count = self.progress.tasks[0].fields["comments"] + len(batch)
        if not self.sizes:
            self.progress.update(self.task, comments=count, rate=f"{rate:,.0f}")
            return
        line = batch[-1].lines[1]
        if line < self.last_line and self.file + 1 < len(self.sizes):
            self.file += 1
        self.last_line = line
        completed = sum(self.sizes[: self.file]) + min(line, self.sizes[self.file])
        self.progress.update(self.task, completed=completed, comments=count, rate=f"{rate:,.0f}")


def _count_lines(path: Path) -> int:
    """Lines of a text input (rows of a Parquet file): the progress bar's total."""
    name = path.name.lower()
    lines = 0
    try:
        if name.endswith(".parquet"):
            return int(pq.ParquetFile(path).metadata.num_rows)
        opener = gzip.open if name.endswith(".gz") else open
        last = b"\n"
        with opener(path, "rb") as file:
            while chunk := file.read(1 << 20):
                lines += chunk.count(b"\n")
                last = chunk[-1:]
    except (OSError, EOFError, ValueError, pa.ArrowException):
        return 0  # the readers report unreadable inputs properly; the bar just lacks a total
    return lines + (last != b"\n")
