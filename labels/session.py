"""An annotation session, Prodigy-style: a stream of tasks and the answers written back.

The terminal loop (labels.tui) only reads keys and draws; everything that touches the
store is here, so it is tested without a terminal.
"""

from __future__ import annotations

import random
import warnings
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from moderate.labels.rules import RULES, Rule, Vote, combine, conflicts, votes
from moderate.labels.store import LABELS, Annotation, LabelStore, TornRecordWarning, Value
from moderate.seeds.comments import Comment, Thread
from moderate.seeds.readers import detect_format, read_comments, read_threads

Order = Literal["file", "random", "uncertain"]
ORDERS: tuple[str, ...] = ("file", "random", "uncertain")
# Texts in, one {label: probability} per text out; the CLI builds it from the current model.
Scorer = Callable[[Sequence[str]], list[dict[str, float]]]
GUIDELINES = Path(__file__).with_name("GUIDELINES.md")


class SessionError(Exception):
    """A labelling session that cannot start (bad order, unknown source, ...)."""


@dataclass(frozen=True)
class Suggestion:
    """What the rules (and the model, when there is one) say about a comment."""

    rules: dict[str, Vote]
    fired: dict[str, list[str]]
    model: dict[str, float] | None = None


@dataclass(frozen=True)
class Task:
    """One comment to label, with its thread context."""

    comment: dict[str, Any]
    title: str | None
    previous: str | None
    suggestion: Suggestion

    @property
    def id(self) -> str:
        """The comment id."""
        return str(self.comment["id"])


@dataclass
class _Answered:
    comment: str
    before: dict[str, Annotation | None]


@dataclass
class Session:
    """Label the comments `ids` of `store` as `annotator`, resuming where they stopped."""

    store: LabelStore
    annotator: str
    ids: Sequence[str] | None = None
    order: str = "file"
    seed: int = 0
    scorer: Scorer | None = None
    rules: Sequence[Rule] = RULES
    titles: Mapping[str, str] = field(default_factory=dict)
    answered: int = 0
    skipped: int = 0

    def __post_init__(self) -> None:
        if self.order not in ORDERS:
            raise SessionError(f"order must be one of {', '.join(ORDERS)}, not {self.order!r}")
        if not self.annotator.strip():
            raise SessionError("annotator must be a non-empty name")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TornRecordWarning)  # kept in store.problems
            self._comments = {c["id"]: c for c in self.store.comments()}
            latest = self.store.latest()
        missing = [i for i in self.ids or () if i not in self._comments]
        if missing:
            raise SessionError(f"{len(missing)} comments are not in the store, e.g. {missing[0]}")
        self._mine: dict[tuple[str, str], Annotation] = {
            (a.comment, a.label): a for a in latest.values() if a.annotator == self.annotator
        }
        scope = list(dict.fromkeys(self.ids)) if self.ids is not None else list(self._comments)
        self._scope = scope
        self._done = {i for i in scope if self._is_done(i)}
        self._neighbours = _neighbours(self._comments.values())
        self._probabilities: dict[str, dict[str, float]] = {}
        self._queue = deque(self._ordered([i for i in scope if i not in self._done]))
        self._history: list[_Answered] = []

    @property
    def total(self) -> int:
        """How many comments the session covers."""
        return len(self._scope)

    @property
    def done(self) -> int:
        """How many of them this annotator has answered for every label."""
        return len(self._done)

    @property
    def problems(self) -> list[str]:
        """Invalid store lines that were skipped when the session started."""
        return [str(problem) for problem in self.store.problems]

    def stream(self) -> Iterator[Task]:
        """Yield the comments still to label; undo puts comments back at the front."""
        while self._queue:
            comment_id = self._queue.popleft()
            if comment_id not in self._done:
                yield self.task(comment_id)

    def task(self, comment_id: str) -> Task:
        """The task for one comment: text, title, previous comment and suggestion."""
        comment = self._comments[comment_id]
        thread = comment.get("thread")
        title = comment.get("title") or comment.get("meta", {}).get("title")
        return Task(
            comment=comment,
            title=title or self.titles.get(str(thread)),
            previous=self._neighbours.get(comment_id),
            suggestion=self.suggest(comment_id),
        )

    def suggest(self, comment_id: str) -> Suggestion:
        """The rules' combined votes (with the rules that fired) and the model's scores."""
        text = self._comments[comment_id]["text"]
        rule_votes = votes(text, self.rules)
        fired: dict[str, list[str]] = {label: [] for label in LABELS}
        for rule in self.rules:
            if rule_votes[rule.name] is not None:
                fired[rule.label].append(f"{rule.name}={rule_votes[rule.name]}")
        model = self._probabilities.get(comment_id)
        if model is None and self.scorer is not None:
            model = self.scorer([text])[0]
        return Suggestion(rules=combine(rule_votes, self.rules), fired=fired, model=model)

    def answer(self, comment_id: str, values: Mapping[str, Value]) -> None:
        """Write this annotator's answer for every label; it can be undone."""
        if set(values) != set(LABELS) or any(v is None for v in values.values()):
            raise SessionError(f"an answer needs a value for each of {', '.join(LABELS)}")
        before = {label: self._mine.get((comment_id, label)) for label in LABELS}
        self._write(
            [Annotation(comment_id, label, values[label], self.annotator) for label in LABELS]
        )
        self._history.append(_Answered(comment_id, before))
        self._done.add(comment_id)
        self.answered += 1

    def skip(self, comment_id: str) -> None:
        """Leave a comment unanswered; it comes back in the next session."""
        self.skipped += 1

    def undo(self, current: str | None = None) -> str | None:
        """Withdraw the last answer of this session (or restore what it replaced).

        The store is append-only, so undo appends: the answer that was in force before,
        re-stated, or a withdrawal (value None). The comment comes back next, before
        `current`. Returns the comment id, or None when there is nothing to undo.
        """
        if not self._history:
            return None
        last = self._history.pop()
        restored = [
            Annotation(last.comment, label, None, self.annotator)
            if before is None
            else Annotation(last.comment, label, before.value, self.annotator, origin=before.origin)
            for label, before in last.before.items()
        ]
        self._write(restored)
        if self._is_done(last.comment):
            self._done.add(last.comment)
        else:
            self._done.discard(last.comment)
        if current is not None:
            self._queue.appendleft(current)
        self._queue.appendleft(last.comment)
        self.answered -= 1
        return last.comment

    def _write(self, annotations: list[Annotation]) -> None:
        self.store.annotate(annotations)
        for annotation in annotations:
            self._mine[(annotation.comment, annotation.label)] = annotation

    def _is_done(self, comment_id: str) -> bool:
        answers = [self._mine.get((comment_id, label)) for label in LABELS]
        return all(a is not None and a.value is not None for a in answers)

    def _ordered(self, ids: list[str]) -> list[str]:
        if self.order == "random":
            random.Random(self.seed).shuffle(ids)
            return ids
        if self.order == "file":
            return ids
        if self.scorer is not None:
            texts = [self._comments[i]["text"] for i in ids]
            self._probabilities = dict(zip(ids, self.scorer(texts), strict=True))
            return sorted(ids, key=lambda i: _margin(self._probabilities[i]))
        disagreement = {i: conflicts(votes(self._comments[i]["text"], self.rules)) for i in ids}
        return sorted(ids, key=lambda i: -disagreement[i])


def _margin(probabilities: Mapping[str, float]) -> float:
    """How far the model's least certain label is from 0.5 (small = unsure)."""
    return min((abs(p - 0.5) for p in probabilities.values()), default=0.5)


def _neighbours(comments: Iterable[dict[str, Any]]) -> dict[str, str]:
    """The text each comment answers: its parent when known, else the one before it."""
    threads: dict[Any, list[dict[str, Any]]] = {}
    by_source_id: dict[tuple[Any, str], str] = {}
    for comment in comments:
        threads.setdefault(comment.get("thread"), []).append(comment)
        if comment.get("source_id") is not None:
            by_source_id[(comment.get("thread"), str(comment["source_id"]))] = comment["text"]
    previous = {}
    for thread, members in threads.items():
        members.sort(key=lambda c: c["position"] if isinstance(c.get("position"), int) else 0)
        for before, comment in zip([None, *members], members, strict=False):
            parent = _parent_text(by_source_id, thread, comment.get("parent"))
            text = parent if parent is not None else (before or {}).get("text")
            if text is not None:
                previous[comment["id"]] = text
    return previous


def _parent_text(
    by_source_id: Mapping[tuple[Any, str], str], thread: Any, parent: Any
) -> str | None:
    if parent is None:
        return None
    # Reddit's parent_id carries a kind prefix ("t1_abc") that the comment's own id lacks.
    bare = str(parent).split("_", 1)[-1] if str(parent)[:3] in ("t1_", "t3_") else str(parent)
    return by_source_id.get((thread, str(parent)), by_source_id.get((thread, bare)))


def thread_records(thread: Thread) -> list[dict[str, Any]]:
    """A thread page's comments as store records that keep the article title."""
    title = {"title": thread.title} if thread.title else {}
    return [{**comment.to_dict(), "source": thread.name, **title} for comment in thread.comments]


def comment_records(comments: Iterable[Comment]) -> Iterator[dict[str, Any]]:
    """Comments from a dump as store records (source = the thread they belong to)."""
    for comment in comments:
        yield {**comment.to_dict(), "source": comment.meta.get("source", comment.thread)}


def guideline_summaries(path: Path = GUIDELINES) -> dict[str, str]:
    """The one-line summary of each label from GUIDELINES.md ("- **toxic**: ...")."""
    summaries = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        for label in LABELS:
            prefix = f"- **{label}**:"
            if line.startswith(prefix):
                summaries[label] = line[len(prefix) :].strip()
    return summaries


@dataclass(frozen=True)
class Ingested:
    """Comments read from sources: their ids in reading order and each thread's title."""

    ids: list[str]
    titles: dict[str, str]
    added: int


def ingest(paths: Sequence[Path], store: LabelStore) -> Ingested:
    """Read thread pages and dumps, add their comments to the store, return their ids."""
    ids: list[str] = []
    titles: dict[str, str] = {}
    added = 0
    for path in paths:
        if detect_format(path) == "thread":
            records: list[dict[str, Any]] = []
            for thread in read_threads([path]):
                titles[thread.name] = thread.title
                records += thread_records(thread)
        else:
            records = list(comment_records(read_comments([path])))
        added += store.add_comments(records)
        ids += [record["id"] for record in records]
    return Ingested(ids=ids, titles=titles, added=added)


@dataclass(frozen=True)
class Picked:
    """Comments chosen for labelling: by the model's doubt, and a share at random."""

    uncertain: list[dict[str, Any]]
    random: list[dict[str, Any]]

    @property
    def records(self) -> list[dict[str, Any]]:
        """All picked comments, the uncertain ones first."""
        return self.uncertain + self.random


# What a picked comment keeps: its text and where it comes from, never the corpus's labels
# or rating details (an annotator must judge without the crowd's answer in view).
PICKED_FIELDS = ("id", "source", "thread", "position", "source_id", "title", "text")


def pick(
    comments: Iterable[dict[str, Any]],
    n: int,
    *,
    random_share: float = 0.3,
    scorer: Scorer | None = None,
    seed: int = 0,
    max_chars: int | None = None,
    label: str | None = None,
    exclude: Collection[str] = (),
) -> Picked:
    """Choose n comments to label: the model's least certain ones and a share at random.

    The random share keeps the labelled set representative (the uncertain ones alone
    over-sample the model's blind spots); without a scorer every pick is random.
    `max_chars` leaves out very long comments, which cost an annotator the most.
    `label` ranks by that label's doubt alone: a rare label (conspiracy, 3 % of news
    comments) is otherwise crowded out by the common one's doubts. Comments whose id is
    in `exclude` (those already in the dataset) are never picked again.
    """
    if not 0.0 <= random_share <= 1.0:
        raise SessionError(f"the random share must be between 0 and 1, not {random_share}")
    pool = [
        {key: c[key] for key in PICKED_FIELDS if key in c}
        for c in comments
        if c.get("text", "").strip()
        and (max_chars is None or len(c["text"]) <= max_chars)
        and c.get("id") not in exclude
    ]
    if len(pool) < n:
        raise SessionError(f"only {len(pool)} comments to pick from, {n} asked for")
    rng = random.Random(seed)
    rng.shuffle(pool)
    at_random = n if scorer is None else round(n * random_share)
    chosen, rest = pool[:at_random], pool[at_random:]
    if scorer is None or at_random == n:
        return Picked([], chosen)
    probabilities = scorer([c["text"] for c in rest])
    if label is not None:
        if probabilities and label not in probabilities[0]:
            raise SessionError(f"the model does not predict {label!r}")
        probabilities = [{label: p[label]} for p in probabilities]
    doubt = sorted(range(len(rest)), key=lambda i: _margin(probabilities[i]))
    return Picked([rest[i] for i in doubt[: n - at_random]], chosen)
