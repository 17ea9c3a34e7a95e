"""The queue file itself: the second opinion's scores stored beside the model's, and a queue
written before them (schema version 1) migrated in place, its items read as before."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from moderate.service.review.queue import MIGRATIONS, Filters, NewItem, Queue

SCORES = {"toxic": 0.73, "conspiracy": 0.05}
DECISIONS = {"toxic": "review", "conspiracy": "allow"}


def rescored(item_id: str) -> NewItem:
    """A comment whose toxic score is the second opinion's (its n-gram score 0.41)."""
    return NewItem(
        id=item_id, thread="t", position=1, text="a re-scored comment", scores=SCORES,
        decisions=DECISIONS, model_version="m1", first={"toxic": 0.41, "conspiracy": 0.05},
        decided_by={"toxic": "second_opinion", "conspiracy": "ngrams"},
    )  # fmt: skip


def version_1(path: Path) -> None:
    """A queue as moderate wrote it before the second opinion: its schema and one item."""
    db = sqlite3.connect(path, isolation_level=None)
    for statement in MIGRATIONS[0].split(";"):
        if statement.strip():
            db.execute(statement)
    db.execute("PRAGMA user_version=1")
    scores = '{"toxic": {"score": 0.62, "decision": "review"}, ' + (
        '"conspiracy": {"score": 0.1, "decision": "allow"}}'
    )
    labels = '{"toxic": 1, "conspiracy": 0}'
    db.execute(
        "INSERT INTO items (id, source_id, thread, position, text, title, previous, "
        "model_version, scores, spans, band, top_score, uncertainty, prefill, labels, added_at) "
        "VALUES ('old', 'p-old', 't', 0, 'an old comment', NULL, NULL, 'm0', ?, NULL, 'review', "
        "0.62, 0.76, ?, ?, '2026-11-30T10:00:00.000000Z')",
        (scores, labels, labels),
    )
    db.executemany(
        "INSERT INTO scores (item, label, scorer, score, decision, uncertainty) "
        "VALUES ('old', ?, 'model', ?, ?, ?)",
        [("toxic", 0.62, "review", 0.76), ("conspiracy", 0.1, "allow", 0.2)],
    )
    db.execute(
        "INSERT INTO history (item, at, who, action, state_after, labels_after, rev_after) "
        "VALUES ('old', '2026-11-30T10:00:00.000000Z', 'add', 'add', 'pending', ?, 0)",
        (labels,),
    )
    db.close()


def columns(db: sqlite3.Connection, table: str) -> list[tuple[str, str]]:
    """A table's columns and their types."""
    return [(row[1], row[2]) for row in db.execute(f"PRAGMA table_info({table})")]


def test_a_rescored_item_keeps_both_scores_and_which_decided(tmp_path: Path) -> None:
    queue = Queue(tmp_path / "review.sqlite")
    plain = NewItem("plain", "t", 0, "a comment", SCORES, DECISIONS, "m1")
    assert queue.add([rescored("again"), plain]) == 2

    item = queue.get("again")
    assert item["scores"] == {
        "toxic": {"score": 0.73, "decision": "review", "first_score": 0.41,
                  "decided_by": "second_opinion"},
        "conspiracy": {"score": 0.05, "decision": "allow", "first_score": 0.05,
                       "decided_by": "ngrams"},
    }  # fmt: skip
    assert queue.get("plain")["scores"]["toxic"] == {"score": 0.73, "decision": "review"}
    stored = queue.db.execute(
        "SELECT item, label, score, first_score, decided_by FROM scores ORDER BY item, label"
    ).fetchall()
    assert [tuple(row) for row in stored] == [
        ("again", "conspiracy", 0.05, 0.05, "ngrams"),
        ("again", "toxic", 0.73, 0.41, "second_opinion"),
        ("plain", "conspiracy", 0.05, None, None),
        ("plain", "toxic", 0.73, None, None),
    ]
    # Lists, ranges and the prefilled label go by the score that decided, not the n-grams'.
    assert queue.count(Filters(label="toxic", low=0.7, high=0.8)) == 2
    assert queue.count(Filters(label="toxic", low=0.4, high=0.45)) == 0
    assert item["prefill"]["toxic"] == 1


def test_a_queue_from_before_the_second_opinion_is_migrated_and_reads_as_before(
    tmp_path: Path,
) -> None:
    path = tmp_path / "review.sqlite"
    version_1(path)

    queue = Queue(path)
    assert queue.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 2
    fresh = Queue(tmp_path / "fresh.sqlite")
    for table in ("items", "scores", "history", "sessions"):
        assert columns(queue.db, table) == columns(fresh.db, table)
    old = queue.get("old")
    assert old["scores"] == {
        "toxic": {"score": 0.62, "decision": "review"},
        "conspiracy": {"score": 0.1, "decision": "allow"},
    }
    assert [h["action"] for h in old["history"]] == ["add"]

    assert queue.add([rescored("new"), rescored("old")]) == 1  # the old item is still known
    listed = {i["id"]: i["scores"]["toxic"] for i in queue.page(Filters(label="toxic"))}
    assert listed == {
        "new": {"score": 0.73, "decision": "review", "first_score": 0.41,
                "decided_by": "second_opinion"},
        "old": {"score": 0.62, "decision": "review"},
    }  # fmt: skip
    decided = queue.decide("old", "alice", "approve", {"toxic": 0, "conspiracy": 0}, rev=0)
    assert decided["state"] == "approved"
    assert queue.count(Filters(label="toxic")) == 1
    queue.close()
    assert Queue(path).db.execute("PRAGMA user_version").fetchone()[0] == 2  # once only
    raw = sqlite3.connect(path).execute("SELECT scores FROM items WHERE id = 'new'").fetchone()
    assert json.loads(raw[0])["toxic"]["first_score"] == 0.41
