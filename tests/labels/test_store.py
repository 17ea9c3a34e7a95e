"""The label store: append-only, deduplicated, durable under kill -9 and concurrent writers."""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from moderate.labels.store import (
    Annotation,
    LabelError,
    LabelStore,
    TornRecordWarning,
    load_dataset,
    parse_value,
)
from moderate.seeds.comments import Comment, comment_id


def comment(text: str, thread: str = "t1", position: int = 0) -> Comment:
    """A seeds comment with a stable id."""
    cid = comment_id(thread, position, text)
    return Comment(id=cid, thread=thread, position=position, text=text, lines=(1, 1))


def ann(cid: str, label: str, value: int | str | None, who: str = "ann", **kw: str) -> Annotation:
    """An annotation with a fixed time unless given."""
    kw.setdefault("time", "2026-01-01T00:00:00.000Z")
    return Annotation(cid, label, value, who, **kw)


def test_comments_are_deduplicated_by_id_across_instances(tmp_path: Path) -> None:
    a, b = comment("hello"), comment("world", position=1)
    store = LabelStore(tmp_path)
    assert store.add_comments([a, b, a]) == 2
    other = LabelStore(tmp_path)
    extra = {"id": "x1", "text": "imported", "source": "olid"}
    assert other.add_comments([b, extra]) == 1
    assert store.add_comments([a, extra]) == 0
    stored = list(LabelStore(tmp_path).comments())
    assert [c["id"] for c in stored] == [a.id, b.id, "x1"]
    assert stored[0]["source"] == "t1" and stored[0]["thread"] == "t1"
    assert stored[2]["source"] == "olid" and stored[2]["thread"] == "olid"


def test_records_are_sorted_key_json_lines(tmp_path: Path) -> None:
    store = LabelStore(tmp_path)
    store.add_comments([comment("héllo")])
    store.annotate([ann("c", "toxic", 1)])
    for name in ("comments.jsonl", "annotations.jsonl"):
        text = (tmp_path / name).read_text(encoding="utf-8")
        assert text.endswith("\n")
        first = text.splitlines()[0]
        assert list(json.loads(first)) == sorted(json.loads(first))
    assert "héllo" in (tmp_path / "comments.jsonl").read_text(encoding="utf-8")


def test_later_answer_supersedes_and_history_is_kept(tmp_path: Path) -> None:
    store = LabelStore(tmp_path)
    store.annotate([ann("c", "toxic", 1), ann("c", "toxic", 0), ann("c", "toxic", 1, "bob")])
    store.annotate([ann("c", "conspiracy", 1), ann("c", "conspiracy", None)])
    latest = store.latest()
    assert latest[("c", "toxic", "ann")].value == 0
    assert latest[("c", "toxic", "bob")].value == 1
    assert latest[("c", "conspiracy", "ann")].value is None
    assert len(list(store.annotations())) == 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"label": "rude"}, "label must be one of toxic, conspiracy"),
        ({"value": 2}, "must be 1, 0, 'unsure' or None"),
        ({"value": True}, "must be 1, 0, 'unsure' or None"),
        ({"origin": "crowd"}, "origin must be human, rule, model or import:<format>"),
        ({"origin": "import:"}, "origin must be"),
        ({"time": "2026-01-01 10:00"}, "time must be ISO-8601 UTC"),
        ({"annotator": " "}, "annotator must be a non-empty name"),
    ],
)
def test_invalid_annotations_are_refused(kwargs: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {"comment": "c", "label": "toxic", "value": 1, "annotator": "a"}
    fields.update(kwargs)
    with pytest.raises(LabelError, match=message):
        Annotation(**fields)  # type: ignore[arg-type]


def test_parse_value() -> None:
    assert [parse_value(s) for s in ("1", "0", "Unsure", "none")] == [1, 0, "unsure", None]
    with pytest.raises(LabelError, match="value must be"):
        parse_value("yes")


def test_default_time_is_utc_iso_and_origin_human() -> None:
    a = Annotation("c", "toxic", 1, "me")
    assert a.time.endswith("Z") and a.origin == "human"


def test_torn_record_is_reported_skipped_and_fenced_off(tmp_path: Path) -> None:
    store = LabelStore(tmp_path)
    store.annotate([ann("c1", "toxic", 1), ann("c2", "toxic", 0)])
    path = tmp_path / "annotations.jsonl"
    with path.open("ab") as handle:
        handle.write(b'{"annotator": "ann", "comment": "c3", "lab')  # a kill -9 mid-write
    with pytest.warns(TornRecordWarning, match=r"annotations.jsonl:3: torn last record"):
        assert [a.comment for a in store.annotations()] == ["c1", "c2"]
    assert [str(p) for p in store.problems] == [f"{path}:3: torn last record skipped (no newline)"]
    LabelStore(tmp_path).annotate([ann("c4", "toxic", 1)])
    with pytest.warns(TornRecordWarning, match=r"annotations.jsonl:3: invalid record"):
        assert [a.comment for a in store.annotations()] == ["c1", "c2", "c4"]
    assert len(path.read_text().splitlines()) == 4


def test_invalid_line_in_the_middle_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "annotations.jsonl"
    good = json.dumps(ann("c", "toxic", 1).to_dict())
    path.write_text(f"{good}\nnot json\n{good.replace('toxic', 'rude')}\n{good}\n")
    store = LabelStore(tmp_path)
    with pytest.warns(TornRecordWarning):
        assert len(list(store.annotations())) == 2
    assert [(p.line, "label must be" in p.reason) for p in store.problems] == [
        (2, False),
        (3, True),
    ]


def test_skip_same_makes_reimport_add_nothing(tmp_path: Path) -> None:
    batch = [ann(f"c{i}", "toxic", i % 2, "import:x", origin="import:x") for i in range(10)]
    assert LabelStore(tmp_path).annotate(batch, skip_same=True) == 10
    assert LabelStore(tmp_path).annotate(batch, skip_same=True) == 0
    changed = [ann("c1", "toxic", 0, "import:x", origin="import:x")]
    assert LabelStore(tmp_path).annotate(changed + batch[:3], skip_same=True) == 1


def test_skip_same_sees_what_other_writers_appended(tmp_path: Path) -> None:
    mine, other = LabelStore(tmp_path), LabelStore(tmp_path)
    assert mine.annotate([ann("c", "toxic", 1)], skip_same=True) == 1
    assert other.annotate([ann("c", "toxic", 0)]) == 1
    assert mine.annotate([ann("c", "toxic", 1)], skip_same=True) == 1
    assert mine.annotate([ann("c", "toxic", 1)], skip_same=True) == 0
    assert [a.value for a in other.annotations()] == [1, 0, 1]


def _append_many(root: str, worker: str, count: int) -> None:
    store = LabelStore(Path(root))
    for i in range(count):
        store.annotate([Annotation(f"{worker}-{i}", "toxic", i % 2, worker)])


def test_two_processes_annotating_at_once_lose_nothing(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_append_many, args=(str(tmp_path), w, 500)) for w in "ab"]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
        assert w.exitcode == 0
    store = LabelStore(tmp_path)
    records = list(store.annotations())
    assert store.problems == []
    assert len(records) == 1000
    assert len({a.comment for a in records}) == 1000


WRITER = """
import sys
from pathlib import Path
from moderate.labels.store import Annotation, LabelStore
store = LabelStore(Path(sys.argv[1]))
i = 0
while True:
    store.annotate([Annotation(f"c{i}", "toxic", i % 2, "killer")])
    i += 1
    if i == 50:
        print("ready", flush=True)
"""


def test_kill_9_loses_at_most_the_record_being_written(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    lines = (tmp_path / "annotations.jsonl").read_bytes().split(b"\n")
    complete = lines[:-1]
    assert len(complete) >= 50
    ids = [json.loads(line)["comment"] for line in complete]
    assert ids == [f"c{i}" for i in range(len(ids))]
    store = LabelStore(tmp_path)
    store.annotate([ann("after", "toxic", 1)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TornRecordWarning)
        stored = [a.comment for a in store.annotations()]
    assert stored == [*ids, "after"]
    assert len(store.problems) == (1 if lines[-1] else 0)


def test_load_dataset_majority_ties_unsure_and_unknown(tmp_path: Path) -> None:
    store = LabelStore(tmp_path)
    texts = ["agreed", "tie", "unsure only", "withdrawn", "no labels", "imported"]
    cs = [comment(t, position=i) for i, t in enumerate(texts)]
    store.add_comments(cs)
    a, t, u, w, _, imp = (c.id for c in cs)
    store.annotate(
        [
            ann(a, "toxic", 1, "x"),
            ann(a, "toxic", 1, "y"),
            ann(a, "toxic", 0, "z"),
            ann(t, "toxic", 1, "x"),
            ann(t, "toxic", 0, "y"),
            ann(t, "conspiracy", 0, "x"),
            ann(u, "toxic", "unsure", "x"),
            ann(w, "toxic", 1, "x"),
            ann(w, "toxic", None, "x"),
            ann(imp, "conspiracy", 1, "import:p", origin="import:psycomark"),
            ann(imp, "toxic", 1, "rules", origin="rule"),
            ann(a, "conspiracy", 1, "y"),
            ann(a, "conspiracy", 0, "y"),  # supersedes y's earlier answer
        ]
    )
    frame = load_dataset(tmp_path)
    assert list(frame.columns) == ["id", "source", "thread", "text", "toxic", "conspiracy"]
    toxic = dict(zip(frame["text"], frame["toxic"], strict=True))
    conspiracy = dict(zip(frame["text"], frame["conspiracy"], strict=True))
    assert list(toxic) == ["agreed", "tie", "imported"]
    assert toxic["agreed"] == 1.0 and conspiracy["agreed"] == 0.0
    assert math.isnan(toxic["tie"]) and conspiracy["tie"] == 0.0
    assert conspiracy["imported"] == 1.0 and math.isnan(toxic["imported"])
    humans = load_dataset(tmp_path, origins=("human",))
    assert "imported" not in set(humans["text"])
    with_rules = load_dataset(tmp_path, origins=("rule",))
    assert list(with_rules["text"]) == ["imported"] and with_rules["toxic"].tolist() == [1.0]


def test_load_dataset_of_an_empty_store_has_the_columns(tmp_path: Path) -> None:
    frame = load_dataset(tmp_path / "missing")
    assert frame.empty and list(frame.columns)[-2:] == ["toxic", "conspiracy"]


def test_torn_comment_is_fenced_and_its_id_can_be_added_again(tmp_path: Path) -> None:
    store = LabelStore(tmp_path)
    store.add_comments([{"id": "a", "text": "first"}])
    with (tmp_path / "comments.jsonl").open("a") as handle:
        handle.write('{"id": "b", "text": "sec')
    assert store.add_comments([{"id": "b", "text": "second"}, {"id": "a", "text": "x"}]) == 1
    with pytest.warns(TornRecordWarning, match="comments.jsonl:2: invalid record"):
        assert [c["text"] for c in LabelStore(tmp_path).comments()] == ["first", "second"]
