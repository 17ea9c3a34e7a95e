"""The review queue in SQLite: items, their scores, the moderators' decisions and history.

One file in WAL mode, one connection per thread; the schema is created and migrated here
and only here (`MIGRATIONS`, counted by `PRAGMA user_version`). Every change to an item
appends to `history` (who, what, when, the state and labels before and after); an undo
is a new entry pointing at the one it reverts, never a deletion.

A decision and the labels are separate: the decision (approve or reject) is for the
platform, the two labels (prefilled from the model's decisions, confirmed or corrected by
the moderator) go to the label store as human annotations under the moderator's name.
They are appended there inside the queue's write transaction, just before it commits, so
a kill -9 loses at most the decision in flight (its labels are re-stated when the
moderator decides again). Scores live in their own table, one row per item, label and
scorer; each score row mirrors its item's state, so that a label's list, count and score
range are read from one index (measured: 400 ms -> a few ms to count one label's pending
items of 100,000). With the second opinion (issue 15) the model's row holds the score that
decided, so lists, counts, bulk ranges and the prefilled labels follow the decision the
moderator sees, and beside it the n-gram score and which of the two decided (NULL: scored
without it). Not a row of its own per scorer: that would need an n-gram decision a scored
file does not carry, and every list would read twice the rows.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any, Literal

from moderate.labels.store import LABELS, Annotation, LabelStore, Value

State = Literal["pending", "approved", "rejected"]
STATES: tuple[str, ...] = ("pending", "approved", "rejected")
DECISIONS: dict[str, State] = {"approve": "approved", "reject": "rejected"}
BANDS: tuple[str, ...] = ("allow", "review", "block")
SORTS: tuple[str, ...] = ("score", "uncertainty")
SCORER = "model"  # the scoring model (with the second opinion: the cascade)
# Items per transaction when adding: larger batches with a larger WAL between checkpoints
# took 100,000 scored rows from 9.0 s to 5.7 s of SQLite time (a kill -9 loses one batch,
# which adding again restores: adding is idempotent).
INSERT_BATCH = 20_000
ADD_CHECKPOINT_PAGES = 20_000

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE items (
        id TEXT PRIMARY KEY,
        source_id TEXT,
        thread TEXT NOT NULL,
        position INTEGER NOT NULL,
        text TEXT,
        title TEXT,
        previous TEXT,
        model_version TEXT NOT NULL,
        scores TEXT NOT NULL,
        spans TEXT,
        band TEXT NOT NULL,
        top_score REAL NOT NULL,
        uncertainty REAL NOT NULL,
        prefill TEXT NOT NULL,
        labels TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        decided_by TEXT,
        decided_at TEXT,
        changed_at TEXT,
        rev INTEGER NOT NULL DEFAULT 0,
        lease_by TEXT,
        lease_until REAL,
        added_at TEXT NOT NULL
    );
    CREATE INDEX items_by_score ON items (state, top_score, id);
    CREATE INDEX items_by_doubt ON items (state, uncertainty, id);
    CREATE INDEX items_by_thread ON items (thread, state);
    CREATE INDEX items_changed ON items (changed_at) WHERE changed_at IS NOT NULL;
    CREATE INDEX items_leased ON items (lease_by) WHERE lease_by IS NOT NULL;
    CREATE TABLE scores (
        item TEXT NOT NULL REFERENCES items (id),
        label TEXT NOT NULL,
        scorer TEXT NOT NULL,
        score REAL NOT NULL,
        decision TEXT NOT NULL,
        uncertainty REAL NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        PRIMARY KEY (item, label, scorer)
    ) WITHOUT ROWID;
    CREATE INDEX scores_by_score ON scores (scorer, label, state, score, decision);
    CREATE INDEX scores_by_doubt ON scores (scorer, label, state, uncertainty, decision);
    CREATE TABLE history (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        item TEXT NOT NULL REFERENCES items (id),
        at TEXT NOT NULL,
        who TEXT NOT NULL,
        action TEXT NOT NULL,
        state_before TEXT,
        state_after TEXT,
        labels_before TEXT,
        labels_after TEXT,
        by_before TEXT,
        rev_after INTEGER NOT NULL,
        wrote_labels INTEGER NOT NULL DEFAULT 0,
        batch TEXT,
        undoes INTEGER REFERENCES history (seq)
    );
    CREATE INDEX history_by_item ON history (item, seq);
    CREATE INDEX history_undoable ON history (who, seq) WHERE action IN ('decide', 'labels');
    CREATE INDEX history_decided ON history (at) WHERE action = 'decide';
    CREATE INDEX history_undoes ON history (undoes) WHERE undoes IS NOT NULL;
    CREATE TABLE sessions (
        token TEXT PRIMARY KEY,
        moderator TEXT NOT NULL,
        csrf TEXT NOT NULL,
        expires REAL NOT NULL
    );
    """,
    # 2, the second opinion: a label's n-gram score and which score decided (ngrams or
    # second_opinion); NULL in the rows of items scored without it, as all were before.
    """
    ALTER TABLE scores ADD COLUMN first_score REAL;
    ALTER TABLE scores ADD COLUMN decided_by TEXT;
    """,
)


class QueueError(Exception):
    """A request the queue cannot carry out: unknown item, bad value (names what is wrong)."""


class NotFound(QueueError):
    """No item with that id, or nothing to undo."""


class Conflict(QueueError):
    """Someone else holds or changed the item: the message says who and what."""


def now_iso() -> str:
    """The current UTC time as ISO-8601 with a trailing Z, to the microsecond."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_time(text: str) -> str:
    """A user's ISO-8601 time (Z, an offset, or naive = UTC) in the queue's own format."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise QueueError(f"not an ISO-8601 time: {text!r} (e.g. 2026-12-01T10:00:00Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def uncertainty(score: float) -> float:
    """1 for a coin toss (0.5), 0 for a certain 0 or 1."""
    return 1.0 - abs(2.0 * score - 1.0)


def band_of(decisions: Mapping[str, str]) -> str:
    """The highest band any label is in: block over review over allow."""
    return max(decisions.values(), key=BANDS.index, default="allow")


def prefill(scores: Mapping[str, float], decisions: Mapping[str, str]) -> dict[str, int]:
    """The labels the model's decisions suggest: block is 1, allow 0, review its likelier side.

    The review band is where the model is unsure, and it can reach far below 0.5 (a label
    tuned for recall); a moderator should not have to undo a 1 for a score of 0.04.
    """
    return {
        label: int(
            decisions.get(label) == "block"
            or (decisions.get(label) == "review" and scores.get(label, 0.0) >= 0.5)
        )
        for label in LABELS
    }


@dataclass(frozen=True)
class NewItem:
    """A scored comment to enqueue, with its context.

    Scored with the second opinion, `first` holds each label's n-gram score and
    `decided_by` which score decided it (ngrams or second_opinion): `scores` and
    `decisions` are then the ones that decided.
    """

    id: str
    thread: str
    position: int
    text: str | None
    scores: dict[str, float]
    decisions: dict[str, str]
    model_version: str
    source_id: str | None = None
    title: str | None = None
    previous: str | None = None
    spans: dict[str, list[dict[str, Any]]] | None = None
    first: dict[str, float] | None = None
    decided_by: dict[str, str] | None = None


@dataclass(frozen=True)
class Filters:
    """Which items a list or a bulk action covers; a score range needs a label."""

    state: str = "pending"
    label: str | None = None
    band: str | None = None
    thread: str | None = None
    low: float | None = None
    high: float | None = None

    def __post_init__(self) -> None:
        if self.state not in (*STATES, "all"):
            raise QueueError(f"state must be one of {', '.join(STATES)} or all, not {self.state!r}")
        if self.label is not None and self.label not in LABELS:
            raise QueueError(f"label must be one of {', '.join(LABELS)}, not {self.label!r}")
        if self.band is not None and self.band not in BANDS:
            raise QueueError(f"band must be one of {', '.join(BANDS)}, not {self.band!r}")
        if (self.low is not None or self.high is not None) and self.label is None:
            raise QueueError("a score range needs a label")


@dataclass
class _Local(threading.local):
    db: sqlite3.Connection | None = None


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating and migrating) the queue file: WAL, foreign keys, a busy timeout."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode survives a killed process (only a power cut can lose the last
    # commits); FULL would fsync every decision for nothing more against kill -9.
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA cache_size=-65536")  # 64 MB: adding 100,000 items touches every index
    _migrate(db)
    return db


def _migrate(db: sqlite3.Connection) -> None:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise QueueError(f"queue schema version {version} is newer than this moderate's")
    if version == len(MIGRATIONS):
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]  # another process may have
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in script.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version={number}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


@dataclass
class _Change:
    """One item's change, ready to write: the new row values and the history entry."""

    item: str
    who: str
    action: str
    state: str
    labels: dict[str, int]
    decided_by: str | None
    annotations: list[Annotation] = field(default_factory=list)
    undoes: int | None = None


class Queue:
    """The queue in one SQLite file; labels of decided items go to `labels` (a LabelStore)."""

    def __init__(
        self, path: Path, labels: LabelStore | None = None, lease_seconds: float = 300.0
    ) -> None:
        self.path = Path(path)
        self.labels = labels
        self.lease_seconds = lease_seconds
        self._local = _Local()
        self.db  # noqa: B018 - create and migrate now, so a bad file fails at once

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection."""
        if self._local.db is None:
            try:
                self._local.db = connect(self.path)
            except sqlite3.DatabaseError as error:
                raise QueueError(f"{self.path}: not a review queue ({error})") from None
        return self._local.db

    def close(self) -> None:
        """Close this thread's connection."""
        if self._local.db is not None:
            self._local.db.close()
            self._local.db = None

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # -- feeding ---------------------------------------------------------------------------

    def add(self, items: Iterable[NewItem], who: str = "moderate review add") -> int:
        """Enqueue items whose id is not queued yet; return how many were new."""
        added = 0
        iterator = iter(items)
        self.db.execute(f"PRAGMA wal_autocheckpoint={ADD_CHECKPOINT_PAGES}")
        try:
            while batch := list(islice(iterator, INSERT_BATCH)):
                added += self._add_batch(batch, who)
        finally:
            self.db.execute("PRAGMA wal_autocheckpoint=1000")
        return added

    def _add_batch(self, batch: list[NewItem], who: str) -> int:
        """Insert one transaction's worth of items (those not queued yet) and their history."""
        now = now_iso()
        with self._write() as db:
            known = _queued(db, [item.id for item in batch])
            fresh = list({i.id: i for i in batch if i.id not in known}.values())
            rows = [_item_row(item, now) for item in fresh]
            db.executemany(_INSERT_ITEM, rows)
            db.executemany(
                "INSERT INTO scores (item, label, scorer, score, decision, uncertainty,"
                " first_score, decided_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (item.id, label, SCORER, score, item.decisions[label], uncertainty(score),
                     *_opinion(item, label))
                    for item in fresh
                    for label, score in item.scores.items()
                ],
            )  # fmt: skip
            db.executemany(
                "INSERT INTO history (item, at, who, action, state_after, labels_after,"
                " rev_after) VALUES (?, ?, ?, 'add', 'pending', ?, 0)",
                [(row[0], now, who, row[-2]) for row in rows],
            )
        return len(fresh)

    def set_spans(self, item_id: str, spans: dict[str, list[dict[str, Any]]]) -> None:
        """Store the spans of an item computed after it was queued."""
        self.db.execute("UPDATE items SET spans = ? WHERE id = ?", (json.dumps(spans), item_id))

    # -- reading ---------------------------------------------------------------------------

    def page(
        self, filters: Filters, sort: str = "score", limit: int = 50, offset: int = 0
    ) -> list[dict[str, Any]]:
        """One page of items matching filters, most flagged (or least certain) first."""
        if sort not in SORTS:
            raise QueueError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
        source, where, params = _selection(filters)
        # In the order of the index that serves each list, so LIMIT stops early.
        if filters.label is not None:
            key = "s.score" if sort == "score" else "s.uncertainty"
            order = f"{key} DESC, s.decision DESC, s.item DESC"
        else:
            key = "i.top_score" if sort == "score" else "i.uncertainty"
            order = f"{key} DESC, i.id DESC"
        rows = self.db.execute(
            f"SELECT i.* FROM {source} WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
            (*params, max(0, limit), max(0, offset)),
        ).fetchall()
        return [summary(row) for row in rows]

    def count(self, filters: Filters) -> int:
        """How many items match filters."""
        source, where, params = _selection(filters, rows=False)
        return _scalar(self.db, f"SELECT COUNT(*) FROM {source} WHERE {where}", params)

    def get(self, item_id: str) -> dict[str, Any]:
        """Everything about one item: text, context, scores, spans, labels and history."""
        row = self._row(self.db, item_id)
        history = self.db.execute(
            "SELECT seq, at, who, action, state_after, labels_after, undoes, batch "
            "FROM history WHERE item = ? ORDER BY seq",
            (item_id,),
        ).fetchall()
        return {
            **summary(row),
            "text": row["text"],
            "title": row["title"],
            "previous": row["previous"],
            "spans": json.loads(row["spans"]) if row["spans"] else None,
            "history": [
                {
                    "seq": h["seq"],
                    "at": h["at"],
                    "who": h["who"],
                    "action": h["action"],
                    "state": h["state_after"],
                    "labels": json.loads(h["labels_after"]) if h["labels_after"] else None,
                    "undoes": h["undoes"],
                    "batch": h["batch"],
                }
                for h in history
            ],
        }

    def threads(self) -> list[str]:
        """The threads that have items, in name order."""
        return [r[0] for r in self.db.execute("SELECT DISTINCT thread FROM items ORDER BY 1")]

    def stats(self, who: str | None = None) -> dict[str, Any]:
        """Items left and total; decisions in the last hour, not undone (everyone's, who's)."""
        db = self.db
        hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="microseconds")
        since = hour_ago.replace("+00:00", "Z")
        decided = (
            "SELECT COUNT(*) FROM history h WHERE action = 'decide' AND at >= ? AND NOT EXISTS "
            "(SELECT 1 FROM history u WHERE u.undoes = h.seq)"
        )
        return {
            "left": _scalar(db, "SELECT COUNT(*) FROM items WHERE state = 'pending'"),
            "total": _scalar(db, "SELECT COUNT(*) FROM items"),
            "per_hour": _scalar(db, decided, (since,)),
            "mine_per_hour": _scalar(db, decided + " AND who = ?", (since, who)),
        }

    def export(self, since: str | None = None) -> list[dict[str, Any]]:
        """Decisions for the platform: decided items, or every item changed after `since`.

        With since, an item whose decision was undone since then is listed as withdrawn.
        """
        where, params = "state != 'pending'", tuple[str, ...]()
        if since is not None:
            where, params = "changed_at > ?", (parse_time(since),)
        rows = self.db.execute(
            "SELECT id, source_id, thread, state, labels, decided_by, decided_at, changed_at "
            f"FROM items WHERE {where} AND changed_at IS NOT NULL ORDER BY changed_at, id",
            params,
        ).fetchall()
        decision = {"approved": "approve", "rejected": "reject", "pending": "withdrawn"}
        return [
            {
                "id": r["id"],
                "source_id": r["source_id"],
                "thread": r["thread"],
                "decision": decision[r["state"]],
                **{label: value for label, value in json.loads(r["labels"]).items()},
                "moderator": r["decided_by"],
                "time": r["changed_at"],
            }
            for r in rows
        ]

    # -- sessions (the page's sign-in) -----------------------------------------------------

    def save_session(self, token: str, moderator: str, csrf: str, seconds: float) -> None:
        """Remember a signed-in browser for `seconds`."""
        with self._write() as db:
            db.execute("DELETE FROM sessions WHERE expires < ?", (time.time(),))
            db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?)",
                (token, moderator, csrf, time.time() + seconds),
            )

    def session(self, token: str) -> tuple[str, str] | None:
        """(moderator, csrf token) of a live session, or None."""
        row = self.db.execute(
            "SELECT moderator, csrf FROM sessions WHERE token = ? AND expires >= ?",
            (token, time.time()),
        ).fetchone()
        return (row["moderator"], row["csrf"]) if row else None

    def end_session(self, token: str) -> None:
        """Forget a session (sign out)."""
        self.db.execute("DELETE FROM sessions WHERE token = ?", (token,))

    # -- changing --------------------------------------------------------------------------

    def lease(self, item_id: str, who: str) -> dict[str, Any]:
        """Open an item for `who` for lease_seconds (releasing their other one); 409 if taken."""
        now = time.time()
        with self._write() as db:
            row = self._row(db, item_id)
            _check_lease(row, who, now)
            db.execute("UPDATE items SET lease_by = NULL, lease_until = NULL WHERE lease_by = ?",
                       (who,))  # fmt: skip
            db.execute(
                "UPDATE items SET lease_by = ?, lease_until = ? WHERE id = ?",
                (who, now + self.lease_seconds, item_id),
            )
        return self.get(item_id)

    def decide(
        self, item_id: str, who: str, decision: str, labels: Mapping[str, Any], rev: int
    ) -> dict[str, Any]:
        """Approve or reject an item with its labels, as of revision `rev` (409 if stale)."""
        if decision not in DECISIONS:
            raise QueueError(f"decision must be approve or reject, not {decision!r}")
        checked = check_labels(labels)
        with self._write() as db:
            row = self._row(db, item_id)
            _check_current(db, row, who, rev)
            change = _Change(item_id, who, "decide", DECISIONS[decision], checked, who)
            change.annotations = _annotations(item_id, checked, who)
            self._apply(db, [(row, change)])
        return summary(self._row(self.db, item_id))

    def relabel(
        self, item_id: str, who: str, labels: Mapping[str, Any], rev: int
    ) -> dict[str, Any]:
        """Correct an item's labels; on a decided item they go to the label store at once."""
        checked = check_labels(labels)
        with self._write() as db:
            row = self._row(db, item_id)
            _check_current(db, row, who, rev)
            change = _Change(item_id, who, "labels", row["state"], checked, row["decided_by"])
            if row["state"] != "pending":
                change.annotations = _annotations(item_id, checked, who)
            self._apply(db, [(row, change)])
        return summary(self._row(self.db, item_id))

    def bulk(self, filters: Filters, decision: str, who: str, expected: int) -> list[str]:
        """Decide every pending item in filters (not open by someone else) with its labels.

        `expected` is the count the moderator confirmed; if the selection holds another
        number now (someone decided some meanwhile), nothing is done (409).
        """
        if decision not in DECISIONS:
            raise QueueError(f"decision must be approve or reject, not {decision!r}")
        if filters.state != "pending":
            raise QueueError("a bulk action applies to pending items only")
        source, where, params = _selection(filters)
        batch = f"bulk-{now_iso()}-{who}"
        with self._write() as db:
            rows = [
                row
                for row in db.execute(f"SELECT i.* FROM {source} WHERE {where}", params)
                if not _leased_by_other(row, who, time.time())
            ]
            if len(rows) != expected:
                raise Conflict(
                    f"the selection holds {len(rows)} items now, not {expected}; nothing was "
                    "decided: look again and confirm"
                )
            changes = []
            for row in rows:
                labels = json.loads(row["labels"])
                change = _Change(row["id"], who, "decide", DECISIONS[decision], labels, who)
                change.annotations = _annotations(row["id"], labels, who)
                changes.append((row, change))
            self._apply(db, changes, batch)
        return [row["id"] for row in rows]

    def undo(self, who: str) -> list[str]:
        """Revert `who`'s last decision or correction (a whole bulk action at once).

        Appends an undo entry per item; 409 if someone changed an item since, 404 if
        there is nothing left to undo. Returns the ids of the items put back.
        """
        with self._write() as db:
            last = db.execute(_LAST_UNDOABLE, (who,)).fetchone()
            if last is None:
                raise NotFound(f"{who} has nothing to undo")
            entries = [last]
            if last["batch"]:
                entries = db.execute(_BATCH_UNDOABLE, (last["batch"],)).fetchall()
            changes = []
            for entry in entries:
                row = self._row(db, entry["item"])
                other = db.execute(
                    "SELECT who FROM history WHERE item = ? AND seq > ? AND who != ? LIMIT 1",
                    (row["id"], entry["seq"], who),
                ).fetchone()
                if other is not None:
                    raise Conflict(f"cannot undo: {other['who']} changed this comment since")
                labels = json.loads(entry["labels_before"])
                change = _Change(
                    row["id"], who, "undo", entry["state_before"], labels, entry["by_before"],
                    undoes=entry["seq"],
                )  # fmt: skip
                if entry["wrote_labels"]:
                    restate = entry["state_before"] != "pending" and entry["by_before"] == who
                    values: Mapping[str, Value] = labels if restate else dict.fromkeys(LABELS)
                    change.annotations = _annotations(row["id"], values, who)
                changes.append((row, change))
            self._apply(db, changes, last["batch"])
        return [entry["item"] for entry in entries]

    def _apply(
        self,
        db: sqlite3.Connection,
        changes: Sequence[tuple[sqlite3.Row, _Change]],
        batch: str | None = None,
    ) -> None:
        """Write the changes and their history; the labels last, just before the commit."""
        now = now_iso()
        annotations = [a for _, change in changes for a in change.annotations]
        for row, change in changes:
            decided_at = now if change.state != "pending" else None
            if change.action == "labels":
                decided_at = row["decided_at"]
            db.execute(
                "UPDATE items SET state = ?, labels = ?, decided_by = ?, decided_at = ?, "
                "changed_at = ?, rev = rev + 1, lease_by = NULL, lease_until = NULL "
                "WHERE id = ?",
                (change.state, json.dumps(change.labels), change.decided_by, decided_at,
                 now if change.action != "labels" or change.annotations else row["changed_at"],
                 change.item),
            )  # fmt: skip
            if change.state != row["state"]:
                db.execute(
                    "UPDATE scores SET state = ? WHERE item = ?", (change.state, change.item)
                )
            db.execute(
                "INSERT INTO history (item, at, who, action, state_before, state_after, "
                "labels_before, labels_after, by_before, rev_after, wrote_labels, batch, undoes) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (change.item, now, change.who, change.action, row["state"], change.state,
                 row["labels"], json.dumps(change.labels), row["decided_by"], row["rev"] + 1,
                 int(bool(change.annotations)), batch, change.undoes),
            )  # fmt: skip
        if annotations and self.labels is not None:
            self._store_comments(db, {a.comment for a in annotations})
            self.labels.annotate(annotations)

    def _store_comments(self, db: sqlite3.Connection, ids: set[str]) -> None:
        if self.labels is None:
            return
        records = []
        for item_id in sorted(ids):
            row = self._row(db, item_id)
            if row["text"] is None:
                raise Conflict(
                    f"comment {item_id} was queued without its text, so its labels cannot "
                    "go to the label store; queue it again with its text"
                )
            record = {"id": row["id"], "text": row["text"], "thread": row["thread"],
                      "source": row["thread"], "position": row["position"]}  # fmt: skip
            if row["source_id"] is not None:
                record["source_id"] = row["source_id"]
            if row["title"]:
                record["title"] = row["title"]
            records.append(record)
        self.labels.add_comments(records)

    @staticmethod
    def _row(db: sqlite3.Connection, item_id: str) -> sqlite3.Row:
        row = db.execute("SELECT * FROM items WHERE id = ?", (item_id,)).fetchone()
        if row is None:
            raise NotFound(f"no queued comment with id {item_id!r}")
        return row


_INSERT_ITEM = (
    "INSERT INTO items (id, source_id, thread, position, text, title, previous, model_version,"
    " scores, spans, band, top_score, uncertainty, prefill, labels, added_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UNDOABLE = (
    "action IN ('decide', 'labels') AND NOT EXISTS (SELECT 1 FROM history u WHERE u.undoes = h.seq)"
)
_LAST_UNDOABLE = f"SELECT * FROM history h WHERE who = ? AND {_UNDOABLE} ORDER BY seq DESC LIMIT 1"
_BATCH_UNDOABLE = f"SELECT * FROM history h WHERE batch = ? AND {_UNDOABLE} ORDER BY seq"


def _scalar(db: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> int:
    return int(db.execute(sql, params).fetchone()[0])


def _queued(db: sqlite3.Connection, ids: list[str]) -> set[str]:
    """Which of ids are queued already (one query for a whole batch)."""
    found = db.execute(
        "SELECT id FROM items WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(ids),)
    )
    return {row[0] for row in found}


def _item_row(item: NewItem, now: str) -> tuple[Any, ...]:
    flagged = [s for label, s in item.scores.items() if item.decisions[label] != "allow"]
    labels = _flat_json(prefill(item.scores, item.decisions))
    # Spelled out, not json.dumps: labels, bands and deciders are fixed words, scores finite floats
    # (checked by the feeders), and this ran 300,000 times for 100,000 items.
    scores = ", ".join(
        f'"{label}": {{"score": {s!r}, "decision": "{item.decisions[label]}"'
        f"{_opinion_json(item, label)}}}"
        for label, s in item.scores.items()
    )
    return (
        item.id, item.source_id, item.thread, item.position, item.text, item.title,
        item.previous, item.model_version, "{" + scores + "}",
        json.dumps(item.spans) if item.spans is not None else None, band_of(item.decisions),
        max(flagged or item.scores.values(), default=0.0),
        max((uncertainty(s) for s in flagged or item.scores.values()), default=0.0),
        labels, labels, now,
    )  # fmt: skip


def _opinion(item: NewItem, label: str) -> tuple[float | None, str | None]:
    """A label's n-gram score and which score decided, or (None, None) without the second
    opinion."""
    if item.first is None or item.decided_by is None or label not in item.first:
        return None, None
    return item.first[label], item.decided_by[label]


def _opinion_json(item: NewItem, label: str) -> str:
    first, decided_by = _opinion(item, label)
    if first is None:
        return ""
    return f', "first_score": {first!r}, "decided_by": "{decided_by}"'


def _flat_json(values: Mapping[str, int]) -> str:
    return "{" + ", ".join(f'"{key}": {int(value)}' for key, value in values.items()) + "}"


def _selection(filters: Filters, rows: bool = True) -> tuple[str, str, list[Any]]:
    """FROM and WHERE clauses (and their parameters) of the items filters select.

    rows=False (for a count) leaves the items table out when the filters do not need it:
    a label's count then reads one index (45 ms -> a few at 100,000 items).
    """
    where: list[str] = ["1"]
    params: list[Any] = []
    if filters.label is not None:
        if rows or filters.thread is not None:
            source = "items i JOIN scores s ON s.item = i.id AND s.scorer = ? AND s.label = ?"
        else:
            source = "scores s"
            where += ["s.scorer = ?", "s.label = ?"]
        params += [SCORER, filters.label]
        if filters.state != "all":
            where.append("s.state = ?")
            params.append(filters.state)
        if filters.band is not None:
            where.append("s.decision = ?")
            params.append(filters.band)
        else:
            where.append("s.decision != 'allow'")
        if filters.low is not None:
            where.append("s.score >= ?")
            params.append(filters.low)
        if filters.high is not None:
            where.append("s.score <= ?")
            params.append(filters.high)
    else:
        source = "items i"
        if filters.band is not None:
            where.append("i.band = ?")
            params.append(filters.band)
        if filters.state != "all":
            where.append("i.state = ?")
            params.append(filters.state)
    if filters.thread is not None:
        where.append("i.thread = ?")
        params.append(filters.thread)
    return source, " AND ".join(where), params


def summary(row: sqlite3.Row) -> dict[str, Any]:
    """An item as the list shows it (no full text, context or history)."""
    text = row["text"]
    leased = row["lease_by"] if (row["lease_until"] or 0) > time.time() else None
    return {
        "id": row["id"],
        "source_id": row["source_id"],
        "thread": row["thread"],
        "position": row["position"],
        "excerpt": None if text is None else (text if len(text) <= 160 else text[:157] + "..."),
        "scores": json.loads(row["scores"]),
        "band": row["band"],
        "model_version": row["model_version"],
        "prefill": json.loads(row["prefill"]),
        "labels": json.loads(row["labels"]),
        "state": row["state"],
        "decided_by": row["decided_by"],
        "decided_at": row["decided_at"],
        "rev": row["rev"],
        "leased_by": leased,
    }


def check_labels(labels: Mapping[str, Any]) -> dict[str, int]:
    """Both labels as 0 or 1, or QueueError naming the one that is wrong."""
    if not isinstance(labels, Mapping) or set(labels) != set(LABELS):
        raise QueueError(f"labels must give 0 or 1 for each of {', '.join(LABELS)}")
    checked = {}
    for label in LABELS:
        value = labels[label]
        if type(value) is not int or value not in (0, 1):
            raise QueueError(f"label {label} must be 0 or 1, not {value!r}")
        checked[label] = value
    return checked


def _annotations(item_id: str, values: Mapping[str, Value], who: str) -> list[Annotation]:
    return [Annotation(item_id, label, values[label], who, origin="human") for label in LABELS]


def _leased_by_other(row: sqlite3.Row, who: str, now: float) -> bool:
    return row["lease_by"] not in (None, who) and (row["lease_until"] or 0) > now


def _check_lease(row: sqlite3.Row, who: str, now: float) -> None:
    if _leased_by_other(row, who, now):
        until = datetime.fromtimestamp(row["lease_until"], UTC).strftime("%H:%M:%S UTC")
        raise Conflict(f"{row['lease_by']} has this comment open until {until}")


def _check_current(db: sqlite3.Connection, row: sqlite3.Row, who: str, rev: int) -> None:
    _check_lease(row, who, time.time())
    if rev != row["rev"]:
        last = db.execute(
            "SELECT who, action, state_after, at FROM history WHERE item = ? ORDER BY seq DESC "
            "LIMIT 1",
            (row["id"],),
        ).fetchone()
        did = {"decide": str(last["state_after"]), "labels": "corrected the labels of",
               "undo": "undid a change to"}.get(last["action"], last["action"])  # fmt: skip
        raise Conflict(
            f"{last['who']} {did} this comment at {last['at'][11:19]} UTC, after you opened it; "
            "nothing was changed: look again"
        )
