"""The labelling session without a terminal: order, resume, undo, context and key semantics."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from rich.console import Console

from moderate.labels import tui
from moderate.labels.session import Session, SessionError, guideline_summaries, ingest
from moderate.labels.store import LABELS, Annotation, LabelStore

TEXTS = [
    "First!",
    "You are an idiot.",
    "The deep state planned it all.",
    "Thanks for the article, what a clown.",
    "Nice weather today.",
]


def _store(root: Path) -> LabelStore:
    store = LabelStore(root)
    store.add_comments(
        {"id": f"c{i}", "thread": "t1", "position": i, "title": "Big news", "text": text}
        for i, text in enumerate(TEXTS)
    )
    return store


def _ids(session: Session) -> list[str]:
    return [task.id for task in session.stream()]


def _answers(store: LabelStore, annotator: str = "ann") -> dict[tuple[str, str], object]:
    return {
        (comment, label): a.value
        for (comment, label, who), a in store.latest().items()
        if who == annotator
    }


def test_file_order_with_title_previous_comment_and_rule_suggestion(tmp_path: Path) -> None:
    session = Session(_store(tmp_path), "ann")
    tasks = list(session.stream())
    assert [t.id for t in tasks] == ["c0", "c1", "c2", "c3", "c4"]
    assert tasks[0].title == "Big news"
    assert tasks[0].previous is None
    assert tasks[2].previous == "You are an idiot."
    assert tasks[1].suggestion.rules["toxic"] == 1
    assert "insult_lexicon=1" in tasks[1].suggestion.fired["toxic"]
    assert tasks[2].suggestion.rules["conspiracy"] == 1
    assert tasks[4].suggestion.rules == {"toxic": None, "conspiracy": None}
    assert tasks[4].suggestion.model is None


def test_parent_is_the_previous_comment_when_the_dump_names_it(tmp_path: Path) -> None:
    store = LabelStore(tmp_path)
    store.add_comments(
        [
            {"id": "p", "thread": "r", "position": 0, "text": "root", "source_id": "t1_a"},
            {"id": "q", "thread": "r", "position": 1, "text": "other", "source_id": "t1_b"},
            {"id": "r", "thread": "r", "position": 2, "text": "reply", "parent": "t1_a"},
        ]
    )
    session = Session(store, "ann", titles={"r": "From the sources"})
    task = session.task("r")
    assert task.previous == "root"
    assert task.title == "From the sources"


def test_ingest_adds_thread_pages_and_dumps_once_with_their_context(tmp_path: Path) -> None:
    page = tmp_path / "bridge.txt"
    page.write_text(
        "Council approves new bridge\n\nThe council voted to fund a bridge over the river.\n\n"
        "COMMENTS\n\nFinally, this took long enough!\nYou are all idiots.\n",
        encoding="utf-8",
    )
    dump = tmp_path / "reddit.jsonl"
    dump.write_text(
        '{"id": "a", "link_id": "t3_x", "body": "Root in x"}\n'
        '{"id": "b", "link_id": "t3_y", "body": "Root in y"}\n'
        '{"id": "c", "link_id": "t3_x", "body": "Second in x"}\n'
        '{"id": "d", "link_id": "t3_x", "parent_id": "t1_a", "body": "Reply to a"}\n',
        encoding="utf-8",
    )
    store = LabelStore(tmp_path / "data")
    found = ingest([page, dump], store)
    assert (len(found.ids), found.added) == (6, 6)
    assert found.titles == {"bridge.txt": "Council approves new bridge"}
    assert ingest([page, dump], store).added == 0
    session = Session(store, "ann", ids=found.ids)
    tasks = {task.comment["text"]: task for task in session.stream()}
    assert tasks["You are all idiots."].title == "Council approves new bridge"
    assert tasks["You are all idiots."].previous == "Finally, this took long enough!"
    assert tasks["Second in x"].previous == "Root in x"  # same thread, not the line before
    assert tasks["Reply to a"].previous == "Root in x"  # its parent, not the one before
    assert tasks["Root in y"].previous is None


def test_resume_skips_what_this_annotator_answered_for_every_label(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.annotate(
        [
            Annotation("c0", "toxic", 0, "ann"),
            Annotation("c0", "conspiracy", "unsure", "ann"),
            Annotation("c1", "toxic", 1, "ann"),  # one label only: not done
            Annotation("c2", "toxic", 0, "other"),
            Annotation("c2", "conspiracy", 1, "other"),
            Annotation("c3", "toxic", 1, "ann"),
            Annotation("c3", "conspiracy", 0, "ann"),
            Annotation("c3", "conspiracy", None, "ann"),  # withdrawn: not done
        ]
    )
    session = Session(store, "ann")
    assert (session.done, session.total) == (1, 5)
    assert _ids(session) == ["c1", "c2", "c3", "c4"]


def test_random_order_is_a_seeded_permutation(tmp_path: Path) -> None:
    store = _store(tmp_path)
    first = _ids(Session(store, "ann", order="random", seed=7))
    assert sorted(first) == [f"c{i}" for i in range(5)]
    assert first == _ids(Session(store, "ann", order="random", seed=7))
    others = {tuple(_ids(Session(store, "ann", order="random", seed=s))) for s in range(5)}
    assert len(others) > 1


def test_uncertain_order_puts_the_least_sure_model_scores_first(tmp_path: Path) -> None:
    margin = {text: abs(0.5 - i / 10) for i, text in enumerate(TEXTS)}  # c4 is nearest 0.5

    def scorer(texts: Sequence[str]) -> list[dict[str, float]]:
        return [{"toxic": 0.5 + margin[t], "conspiracy": 0.01} for t in texts]

    session = Session(_store(tmp_path), "ann", order="uncertain", scorer=scorer)
    tasks = list(session.stream())
    assert [t.id for t in tasks] == ["c4", "c3", "c2", "c1", "c0"]
    assert tasks[0].suggestion.model == {"toxic": pytest.approx(0.6), "conspiracy": 0.01}


def test_uncertain_order_without_a_model_puts_rule_disagreement_first(tmp_path: Path) -> None:
    session = Session(_store(tmp_path), "ann", order="uncertain")
    assert _ids(session)[0] == "c3"  # insult and civility rules disagree


def test_answer_writes_both_labels_and_undo_withdraws_them(tmp_path: Path) -> None:
    store = _store(tmp_path)
    session = Session(store, "ann")
    stream = session.stream()
    session.answer(next(stream).id, {"toxic": 1, "conspiracy": 0})
    current = next(stream)
    assert _answers(store)[("c0", "toxic")] == 1
    assert session.done == 1
    assert session.undo(current=current.id) == "c0"
    assert _answers(store) == {("c0", "toxic"): None, ("c0", "conspiracy"): None}
    assert session.done == 0
    assert [t.id for t in session.stream()][:2] == ["c0", "c1"]
    assert session.undo() is None
    assert len(list(store.annotations())) == 4  # history kept: nothing rewritten


def test_undo_restores_the_answer_that_was_in_force_before(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.annotate([Annotation("c0", "toxic", "unsure", "ann")])
    session = Session(store, "ann")
    session.answer("c0", {"toxic": 1, "conspiracy": 1})
    session.undo()
    assert _answers(store) == {("c0", "toxic"): "unsure", ("c0", "conspiracy"): None}


def test_answer_needs_every_label(tmp_path: Path) -> None:
    session = Session(_store(tmp_path), "ann")
    with pytest.raises(SessionError, match="toxic, conspiracy"):
        session.answer("c0", {"toxic": 1})


def test_bad_order_and_unknown_ids_are_refused(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with pytest.raises(SessionError, match="order must be one of"):
        Session(store, "ann", order="best")
    with pytest.raises(SessionError, match="not in the store"):
        Session(store, "ann", ids=["nope"])


def _keys(presses: str) -> tui.ReadKey:
    names = {"\r": "enter"}
    pressed: Iterator[str] = iter([names.get(p, p) for p in presses])
    return lambda: next(pressed, "q")


def _run(store: LabelStore, presses: str) -> tuple[tui.Summary, str]:
    out = io.StringIO()
    console = Console(file=out, width=120, color_system=None)
    summary = tui.run(Session(store, "ann"), console, _keys(presses), guideline_summaries())
    return summary, out.getvalue()


def test_keys_toggle_accept_neither_unsure_and_skip(tmp_path: Path) -> None:
    store = _store(tmp_path)
    summary, screen = _run(store, "tc\rtt\rnxsu")
    assert _answers(store) == {
        ("c0", "toxic"): 1,
        ("c0", "conspiracy"): 1,
        ("c1", "toxic"): 0,  # toggled twice: off again
        ("c1", "conspiracy"): 0,
        ("c2", "toxic"): 0,
        ("c2", "conspiracy"): 0,
        ("c4", "toxic"): "unsure",
        ("c4", "conspiracy"): "unsure",
    }
    assert (summary.answered, summary.skipped, summary.done, summary.total) == (4, 1, 4, 5)
    assert "[x] toxic" in screen
    assert "skipped c3" in screen
    assert "No more comments in this session (1 left unlabelled)" in screen
    assert "unknown key 'x'" in screen


def test_help_lists_every_key_and_the_guidelines(tmp_path: Path) -> None:
    _, screen = _run(_store(tmp_path), "?")
    for key, _meaning in tui.KEYS:
        assert key in screen
    assert "rude, disrespectful" in screen


def test_undo_after_the_last_comment_brings_it_back(tmp_path: Path) -> None:
    store = LabelStore(tmp_path)
    store.add_comments([{"id": "only", "thread": "t", "position": 0, "text": "hello"}])
    summary, screen = _run(store, "nzn")
    assert "undone: only" in screen
    assert (summary.answered, summary.done) == (1, 1)
    assert [a.value for a in store.annotations()] == [0, 0, None, None, 0, 0]


def test_guidelines_give_a_one_line_summary_per_label() -> None:
    summaries = guideline_summaries()
    assert set(summaries) == set(LABELS)
    assert "threatening" in summaries["toxic"]
    assert "secretly orchestrated" in summaries["conspiracy"]
