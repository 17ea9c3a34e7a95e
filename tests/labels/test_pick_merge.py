"""Building a team dataset from a corpus: pick comments, label them from a queue, merge stores."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
import typer

from moderate.labels.session import SessionError, pick
from moderate.labels.store import Annotation, LabelError, LabelStore, load_dataset, merge_stores
from tests.labels.cli import run


def corpus(n: int = 40) -> list[dict[str, object]]:
    return [
        {
            "id": f"c{i}",
            "source": "globe_c3",
            "thread": f"globe:{i % 3}",
            "position": i,
            "text": f"comment number {i}",
            "meta": {"toxicity_characteristics": {"abusive": 2}},
        }
        for i in range(n)
    ]


def doubt_scorer(texts: Sequence[str]) -> list[dict[str, float]]:
    """Comments numbered near 20 are the least certain (probability closest to 0.5)."""
    return [{"toxic": 0.5 + abs(int(t.split()[-1]) - 20) / 50} for t in texts]


def test_pick_takes_the_least_certain_and_a_random_share() -> None:
    picked = pick(corpus(), 10, random_share=0.3, scorer=doubt_scorer, seed=1)
    assert len(picked.random) == 3 and len(picked.uncertain) == 7
    ids = [r["id"] for r in picked.records]
    assert len(set(ids)) == 10

    def doubt(record: dict[str, object]) -> int:
        return abs(int(str(record["id"])[1:]) - 20)

    rest = [c for c in corpus() if c["id"] not in {r["id"] for r in picked.random}]
    closest = sorted(doubt(c) for c in rest)[:7]
    assert sorted(doubt(r) for r in picked.uncertain) == closest
    assert all("meta" not in r for r in picked.records)  # the crowd's votes stay behind
    again = pick(corpus(), 10, random_share=0.3, scorer=doubt_scorer, seed=1)
    assert [r["id"] for r in again.records] == ids


def two_label_scorer(texts: Sequence[str]) -> list[dict[str, float]]:
    """Toxic is in some doubt everywhere, most near 20; conspiracy is in doubt near 5 only."""
    numbers = [int(t.split()[-1]) for t in texts]
    return [
        {"toxic": 0.5 + abs(k - 20) / 1000, "conspiracy": 0.55 + abs(k - 5) / 50} for k in numbers
    ]


def test_pick_by_one_label_and_never_twice() -> None:
    def uncertain(**options: object) -> list[str]:
        picked = pick(corpus(), 3, random_share=0.0, scorer=two_label_scorer, **options)  # type: ignore[arg-type]
        return sorted(str(r["id"]) for r in picked.uncertain)

    assert uncertain() == ["c19", "c20", "c21"]  # the common label crowds the rare one out
    assert uncertain(label="conspiracy") == ["c4", "c5", "c6"]
    assert uncertain(label="conspiracy", exclude={"c4", "c5"}) == ["c3", "c6", "c7"]
    with pytest.raises(SessionError, match="does not predict 'insult'"):
        uncertain(label="insult")


def test_pick_without_a_model_is_random_and_checks_its_inputs() -> None:
    picked = pick(corpus(), 5, scorer=None)
    assert picked.uncertain == [] and len(picked.random) == 5
    with pytest.raises(SessionError, match="only 40 comments to pick from, 50 asked for"):
        pick(corpus(), 50)
    with pytest.raises(SessionError, match="random share"):
        pick(corpus(), 5, random_share=1.5)
    long = [*corpus(3), {"id": "x", "source": "s", "text": "y" * 500}]
    assert "x" not in {r["id"] for r in pick(long, 3, max_chars=100).records}


def test_pick_command_copies_text_not_labels(tmp_path: Path, cli: typer.Typer) -> None:
    source = LabelStore(tmp_path / "corpus")
    source.add_comments(corpus())
    source.add_comments([{"id": "o1", "source": "olid", "text": "a tweet"}])
    source.annotate(
        [
            Annotation(f"c{i}", "toxic", 1, "import:globe_c3", origin="import:globe_c3")
            for i in range(40)
        ]
    )

    def pick_six() -> tuple[int, str]:
        return run(
            cli, "pick", tmp_path / "corpus", "-n", "6", "--source", "globe_c3",
            "--data", tmp_path / "team",
        )  # fmt: skip

    code, out = pick_six()
    assert code == 0, out
    assert "6 new in" in out
    team = LabelStore(tmp_path / "team")
    picked = list(team.comments())
    assert len(picked) == 6 and {c["source"] for c in picked} == {"globe_c3"}
    assert list(team.annotations()) == []
    code, out = run(cli, "pick", tmp_path / "nowhere", "-n", "1", "--data", tmp_path / "team")
    assert code == 1 and "not a label store" in out
    # A second round brings only comments the dataset does not have yet.
    code, out = pick_six()
    assert code == 0 and "6 new in" in out, out
    assert len({c["id"] for c in team.comments()}) == 12
    code, out = run(
        cli,
        "pick",
        tmp_path / "corpus",
        "-n",
        "1",
        "--label",
        "insult",
        "--data",
        tmp_path / "team",
    )
    assert code == 1 and "unknown label 'insult'" in out


def test_tasks_lists_the_queue_and_shrinks_as_answers_arrive(
    tmp_path: Path, cli: typer.Typer
) -> None:
    store = LabelStore(tmp_path)
    store.add_comments(corpus(4))
    code, out = run(cli, "tasks", "-a", "ana", "--data", tmp_path, "--json")
    assert code == 0, out
    tasks = [json.loads(line) for line in out.splitlines()]
    assert [t["id"] for t in tasks] == ["c0", "c1", "c2", "c3"]
    assert tasks[3]["previous"] == "comment number 0"  # same article's discussion
    code, out = run(
        cli, "set", "c0", "--toxic", "0", "--conspiracy", "0", "-a", "ana", "--data", tmp_path
    )
    assert code == 0, out
    code, out = run(cli, "tasks", "-a", "ana", "--data", tmp_path, "--limit", "1")
    assert out.startswith("=== c1  (1; 1/4 done)") and "comment number 1" in out
    code, out = run(cli, "tasks", "-a", "ben", "--data", tmp_path, "--limit", "1")
    assert "=== c0" in out  # another annotator's queue is their own


def test_merge_keeps_each_annotator_and_can_be_repeated(tmp_path: Path, cli: typer.Typer) -> None:
    for name, value in (("ana", 1), ("eli", 0)):
        own = LabelStore(tmp_path / name)
        own.add_comments(corpus(2))
        own.set_labels("c0", {"toxic": value, "conspiracy": 0}, name)
    team = tmp_path / "team"
    code, out = run(cli, "merge", tmp_path / "ana", tmp_path / "eli", "--data", team)
    assert code == 0, out
    assert (
        "ana: 2 new comments, 2 new answers" in out and "eli: 0 new comments, 2 new answers" in out
    )
    code, out = run(cli, "merge", tmp_path / "ana", tmp_path / "eli", "--data", team)
    assert "0 new comments, 0 new answers" in out
    answers = {(a.annotator, a.label): a.value for a in LabelStore(team).annotations()}
    assert answers == {
        ("ana", "toxic"): 1,
        ("ana", "conspiracy"): 0,
        ("eli", "toxic"): 0,
        ("eli", "conspiracy"): 0,
    }
    code, out = run(cli, "merge", tmp_path / "nowhere", "--data", team)
    assert code == 1 and "not a label store" in out


def test_merge_refuses_answers_about_unknown_comments(tmp_path: Path) -> None:
    own = LabelStore(tmp_path / "own")
    own.add_comments(corpus(1))
    own.annotate([Annotation("ghost", "toxic", 1, "ana")])
    with pytest.raises(LabelError, match="unknown comment ghost"):
        merge_stores(LabelStore(tmp_path / "team"), own)


def test_the_teams_answer_supersedes_an_imported_label(tmp_path: Path) -> None:
    store = LabelStore(tmp_path)
    store.add_comments(corpus(2))
    imported = "import:globe_c3"
    store.annotate(
        [
            Annotation("c0", "toxic", 1, imported, origin=imported),
            Annotation("c1", "toxic", 1, imported, origin=imported),
            Annotation("c0", "toxic", 0, "ana"),
        ]
    )
    dataset = load_dataset(tmp_path).set_index("id")
    assert dataset.loc["c0", "toxic"] == 0  # not a 1-1 tie with the crowd
    assert dataset.loc["c1", "toxic"] == 1


def test_set_batch_writes_many_answers_in_one_process_or_none(
    tmp_path: Path, cli: typer.Typer
) -> None:
    store = LabelStore(tmp_path)
    store.add_comments(corpus(3))
    answers = tmp_path / "answers.txt"
    answers.write_text("# id toxic conspiracy\nc0 1 0\n\nc1 0 unsure\nc2 - 1\n")
    code, out = run(cli, "set", "--batch", answers, "-a", "ana", "--data", tmp_path)
    assert code == 0, out
    assert "5 answers for 3 comments by ana" in out
    latest = {(a.comment, a.label): a.value for a in LabelStore(tmp_path).latest().values()}
    assert latest == {
        ("c0", "toxic"): 1,
        ("c0", "conspiracy"): 0,
        ("c1", "toxic"): 0,
        ("c1", "conspiracy"): "unsure",
        ("c2", "conspiracy"): 1,
    }
    bad = tmp_path / "bad.txt"
    bad.write_text("c0 0 0\nc1 yes 0\n")
    code, out = run(cli, "set", "--batch", bad, "-a", "ben", "--data", tmp_path)
    assert code == 1 and f"{bad}:2: value must be 1, 0, unsure or none" in out
    bad.write_text("c0 0 0\nghost 1 1\n")
    code, out = run(cli, "set", "--batch", bad, "-a", "ben", "--data", tmp_path)
    assert code == 1 and "1 ids not in" in out and "nothing written" in out
    assert not [a for a in LabelStore(tmp_path).annotations() if a.annotator == "ben"]
    code, out = run(cli, "set", "-a", "ben", "--data", tmp_path)
    assert code == 1 and "give either an ID" in out
