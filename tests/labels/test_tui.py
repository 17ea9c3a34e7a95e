"""`moderate label` driven through a real pseudo-terminal: keys in, screen out, answers on disk."""

from __future__ import annotations

import os
import signal
import sys
import warnings
from pathlib import Path

import pexpect
import pytest
from typer.testing import CliRunner

from moderate.cli import build_app
from moderate.cli.label_session_cmds import load_scorer
from moderate.labels.store import LabelStore, TornRecordWarning

# Each test starts the real CLI (a few seconds of imports) on a pseudo-terminal.
pytestmark = pytest.mark.slow

MODERATE = Path(sys.executable).with_name("moderate")
TEXTS = ["First comment, nothing to see.", "You are an idiot.", "The deep state did it."]
PAGE = """Council approves new bridge

The city council voted on Tuesday to fund a new bridge over the river.

Work starts next spring and should take two years.

COMMENTS

Finally, this took them long enough!
You are all idiots if you think it will be done in two years.
Who is really paying for this? Follow the money, the bankers planned it.
"""


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A dataset of three comments of one thread, nothing labelled."""
    root = tmp_path / "data"
    LabelStore(root).add_comments(
        {"id": f"c{i}", "thread": "t1", "position": i, "title": "Big news", "text": text}
        for i, text in enumerate(TEXTS)
    )
    return root


def spawn(data: Path, *args: str, annotator: str = "ann") -> pexpect.spawn:
    """Start the labeller on a pseudo-terminal with no team model (the shipped one scores)."""
    env = {**os.environ, "MODERATE_ARTIFACTS_DIR": str(data.parent / "no-model")}
    argv = ["label", "--annotator", annotator, "--data", str(data), *args]
    return pexpect.spawn(
        str(MODERATE),
        argv,
        cwd=str(data.parent),
        env=env,
        dimensions=(50, 200),
        encoding="utf-8",
        timeout=30,
    )


def answers(data: Path, annotator: str = "ann") -> dict[tuple[str, str], object]:
    """This annotator's latest value per (comment, label), read back with the store."""
    latest = LabelStore(data).latest()
    return {(c, label): a.value for (c, label, who), a in latest.items() if who == annotator}


def quit_cleanly(child: pexpect.spawn) -> str:
    """Press q and return what was printed after the loop ended."""
    child.send("q")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    return str(child.before)


def test_keys_in_screen_out_answers_on_disk(data: Path) -> None:
    child = spawn(data)
    child.expect("0/3 done")
    child.expect("title: .*Big news")
    child.expect(r"previous: .*\(first comment\)")
    child.expect("comment c0")
    child.expect("rude, disrespectful")  # the guideline line
    child.send("t")
    child.expect(r"\[x\] toxic")
    child.send("\r")
    child.expect("1/3 done")
    child.expect("previous: .*First comment, nothing to see")
    child.expect("comment c1")
    child.expect("suggestion: .*toxic 1 .*insult_lexicon")
    child.send("c")
    child.expect(r"\[x\] conspiracy")
    child.send("\r")
    child.expect("2/3 done")
    child.send("u")
    child.expect("3/3 done")
    child.expect("All comments are labelled")
    assert "3 answered, 0 skipped this session; 3/3 done by ann" in quit_cleanly(child)
    assert answers(data) == {
        ("c0", "toxic"): 1,
        ("c0", "conspiracy"): 0,
        ("c1", "toxic"): 0,
        ("c1", "conspiracy"): 1,
        ("c2", "toxic"): "unsure",
        ("c2", "conspiracy"): "unsure",
    }
    assert {a.origin for a in LabelStore(data).annotations()} == {"human"}


def test_question_mark_shows_the_help_and_any_key_goes_back(data: Path) -> None:
    child = spawn(data)
    child.expect("comment c0")
    child.send("?")
    child.expect("toggle toxic")
    child.expect("undo the last answer")
    child.expect("Press any key")
    child.send(" ")
    child.expect("comment c0")
    quit_cleanly(child)
    assert answers(data) == {}


def test_undo_quit_and_resume_where_the_annotator_stopped(data: Path) -> None:
    child = spawn(data)
    child.expect("comment c0")
    child.send("n")
    child.expect("comment c1")
    child.send("n")
    child.expect("comment c2")
    child.send("z")
    child.expect("1/3 done")
    child.expect("comment c1")
    child.expect("undone: c1")
    assert "1 answered" in quit_cleanly(child)
    assert answers(data) == {
        ("c0", "toxic"): 0,
        ("c0", "conspiracy"): 0,
        ("c1", "toxic"): None,
        ("c1", "conspiracy"): None,
    }

    child = spawn(data)
    child.expect("1/3 done")
    child.expect("comment c1")
    child.send("s")
    child.expect("comment c2")
    child.send("n")
    child.expect(r"No more comments in this session \(1 left unlabelled\)")
    assert "1 answered, 1 skipped this session; 2/3 done" in quit_cleanly(child)

    other = spawn(data, annotator="bob")  # another annotator starts from the beginning
    other.expect("0/3 done")
    other.expect("comment c0")
    quit_cleanly(other)


def test_kill_9_mid_session_keeps_every_earlier_answer(data: Path) -> None:
    child = spawn(data)
    child.expect("comment c0")
    child.send("t")
    child.expect(r"\[x\] toxic")
    child.send("\r")
    child.expect("comment c1")
    child.send("c")
    child.expect(r"\[x\] conspiracy")
    child.send("\r")  # answered and, at once, killed: mid-write or just after
    child.kill(signal.SIGKILL)
    child.close(force=True)
    earlier = {
        ("c0", "toxic"): 1,
        ("c0", "conspiracy"): 0,
    }
    now = answers(data)
    assert {key: now[key] for key in earlier} == earlier
    assert set(now) - set(earlier) in (set(), {("c1", "toxic"), ("c1", "conspiracy")})

    path = data / "annotations.jsonl"
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"annotator": "ann", "comment": "c2", "lab')  # a torn last record
    store = LabelStore(data)
    with pytest.warns(TornRecordWarning, match="torn"):
        assert {(a.comment, a.label) for a in store.annotations()} >= set(earlier)
    assert [p.path for p in store.problems] == [path]

    child = spawn(data)
    child.expect("comment c[12]")
    child.expect("skipped invalid line .*annotations.jsonl:[35]")  # after c0, or c1 too
    child.send("n")
    quit_cleanly(child)
    store = LabelStore(data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        latest = {(a.comment, a.label): a.value for a in store.latest().values()}
    assert len(caught) == 1
    assert len(store.problems) == 1  # the fragment stays one invalid line, fenced off
    assert {key: latest[key] for key in earlier} == earlier
    assert len(latest) >= 4


def test_sources_are_added_first_with_their_article_title(tmp_path: Path) -> None:
    page = tmp_path / "bridge.txt"
    page.write_text(PAGE, encoding="utf-8")
    data = tmp_path / "data"
    child = spawn(data, str(page))
    child.expect("0/3 done")
    child.expect("title: .*Council approves new bridge")
    child.expect("Finally, this took them long enough!")
    child.send("n")
    child.expect("You are all idiots")
    quit_cleanly(child)
    comments = list(LabelStore(data).comments())
    assert [c["thread"] for c in comments] == ["bridge.txt"] * 3
    assert len(answers(data)) == 2


def test_uncertain_order_uses_the_shipped_model_from_the_first_session(data: Path) -> None:
    child = spawn(data, "--order", "uncertain")  # no team model: the shipped one suggests
    child.expect("0/3 done")
    child.expect("model: ")
    quit_cleanly(child)
    scorer, note = load_scorer(data.parent / "no-model")
    assert scorer is not None and note is None
    assert set(scorer(["you idiot"])[0]) == {"toxic", "conspiracy"}


def test_without_any_model_labelling_goes_on_without_suggestions(data: Path) -> None:
    scorer, note = load_scorer(data.parent / "no-model", reference=data.parent / "none")
    assert scorer is None and note is not None and "no trained model" in note


def test_a_model_that_does_not_load_turns_suggestions_off_but_labelling_goes_on(
    data: Path,
) -> None:
    artifacts = data.parent / "no-model"
    (artifacts / "current").mkdir(parents=True)  # a broken artifact
    scorer, note = load_scorer(artifacts)
    assert scorer is None
    assert note is not None and note.startswith("model suggestions off")
    child = spawn(data)
    child.expect("comment c0")
    child.expect("model suggestions off")
    child.send("n")
    child.expect("1/3 done")
    quit_cleanly(child)


def test_without_a_terminal_it_says_to_use_labels_set(data: Path) -> None:
    result = CliRunner().invoke(build_app(), ["label", "--annotator", "a", "--data", str(data)])
    assert result.exit_code == 1
    assert "needs a terminal" in result.output


def test_bad_order_and_missing_source_are_one_line_errors(data: Path, tmp_path: Path) -> None:
    child = spawn(data, "--order", "best")
    child.expect("--order must be one of file, random, uncertain")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    child = spawn(data, str(tmp_path / "missing.txt"))
    child.expect("error: .*missing.txt")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
