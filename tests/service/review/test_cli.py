"""`moderate review add` and `export` as a user runs them: idempotent, banded, one-line errors,
the second opinion by default when it can run."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

from moderate.labels.store import LabelStore
from moderate.model.artifacts import load
from moderate.service.review.queue import Filters, Queue
from moderate.service.run import read_output
from tests.conftest import ROOT
from tests.encoder import needs_encoder
from tests.service.helpers import artifacts_with
from tests.service.review.conftest import (
    Review,
    scored_rows,
    with_another_encoder,
    with_opinions,
    write_scored,
)

SEED = ROOT / "seeds" / "threads" / "003_8de303d2c4567213.txt"
TEXTS = [
    "You are a complete idiot, read before you type.",
    "They hide the truth about the vaccine.",
    "The bridge opens on Monday.",
    "Wake up, it is all staged by the elites.",
]
EVERY_BAND = ("--band", "allow,review,block")


def error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The single `error:` line of a failed command (no traceback)."""
    assert done.returncode != 0
    stderr = done.stderr
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr
    return errors[0]


def test_a_thread_page_queues_its_review_band_once(review: Review, tmp_path: Path) -> None:
    page = shutil.copy(SEED, tmp_path / SEED.name)
    review.run("score", page, "-o", tmp_path / "scored.csv")
    scored = read_output(tmp_path / "scored.csv")
    in_review = scored[
        (scored[[c for c in scored if c.endswith("_decision")]] == "review").any(axis=1)
    ]
    assert 0 < len(in_review) < len(scored)

    first = review.run("review", "add", page)
    assert f"queued {len(in_review)} new, 0 already queued" in first.stdout
    again = review.run("review", "add", page)
    assert f"queued 0 new, {len(in_review)} already queued" in again.stdout

    queue = Queue(review.db)
    items = queue.page(Filters(), limit=500)
    assert {i["id"] for i in items} == set(in_review["id"])
    shown = queue.get(items[0]["id"])
    assert shown["text"] and shown["spans"] is not None  # scored here, so explained here too
    assert shown["previous"] is not None or shown["position"] == 0


def test_a_scored_file_is_queued_as_scored_and_bands_choose(review: Review, tmp_path: Path) -> None:
    rows = scored_rows(30)
    blocks = sum(r["toxic_decision"] == "block" for r in rows)
    scored = write_scored(tmp_path / "scored.jsonl", rows)

    done = review.run("review", "add", scored, "--band", "block")
    assert f"30 comments, {blocks} in block: queued {blocks} new" in done.stdout
    done = review.run("review", "add", scored, "--band", "review,block")
    assert f"queued {30 - blocks} new, {blocks} already queued" in done.stdout

    item = Queue(review.db).get("item0007")
    assert item["scores"]["toxic"] == {"score": rows[7]["toxic"], "decision": "review"}
    assert item["source_id"] == "platform-7" and item["model_version"] == "fixture-model"
    assert item["previous"] == rows[4]["text"]  # the comment before it in thread-1


def test_bad_input_is_one_line_naming_the_line_and_keeps_the_queue(
    review: Review, tmp_path: Path
) -> None:
    good = write_scored(tmp_path / "good.jsonl", scored_rows(5))
    review.run("review", "add", good)
    rows = scored_rows(8)
    rows[3]["toxic"] = "very"
    bad = write_scored(tmp_path / "bad.jsonl", rows)
    assert f"{bad}:4: toxic must be a score" in error_line(
        review.run("review", "add", bad, check=False)
    )

    torn = tmp_path / "dump.jsonl"
    torn.write_text('{"body": "fine"}\n{"body": "torn\n{"body": "fine too"}\n')
    assert f"{torn}:2" in error_line(review.run("review", "add", torn, check=False))
    assert "bands are allow, review, block" in error_line(
        review.run("review", "add", good, "--band", "reveiw", check=False)
    )
    assert Queue(review.db).count(Filters()) == 5


def test_export_writes_decisions_and_since_only_the_new(review: Review, tmp_path: Path) -> None:
    review.run("review", "add", write_scored(tmp_path / "s.jsonl", scored_rows(6)))
    queue = Queue(review.db, LabelStore(review.labels))
    labels = {"toxic": 1, "conspiracy": 0}
    queue.decide("item0001", "alice", "reject", labels, rev=0)
    queue.decide("item0002", "bob", "approve", {"toxic": 0, "conspiracy": 0}, rev=0)

    out = review.run("review", "export", "-o", tmp_path / "d.jsonl")
    exported = [json.loads(line) for line in (tmp_path / "d.jsonl").read_text().splitlines()]
    assert [(e["source_id"], e["decision"], e["toxic"], e["moderator"]) for e in exported] == [
        ("platform-1", "reject", 1, "alice"),
        ("platform-2", "approve", 0, "bob"),
    ]
    since = out.stdout.split("--since ")[1].split()[0]

    queue.decide("item0003", "alice", "approve", labels, rev=0)
    queue.undo("bob")
    review.run("review", "export", "-o", tmp_path / "d.csv", "--since", since)
    with (tmp_path / "d.csv").open() as file:
        new = list(csv.DictReader(file))
    assert [(r["id"], r["decision"]) for r in new] == [
        ("item0003", "approve"),
        ("item0002", "withdrawn"),
    ]
    assert "not an ISO-8601 time" in error_line(
        review.run(
            "review", "export", "-o", tmp_path / "x.csv", "--since", "yesterday", check=False
        )
    )


def test_add_scores_with_the_shipped_model_when_the_team_has_none(
    review: Review, tmp_path: Path
) -> None:
    from moderate.model.artifacts import REFERENCE, load

    empty = tmp_path / "no-artifacts"
    env = {"MODERATE_ARTIFACTS_DIR": str(empty)}
    first = review.run("review", "add", SEED, env_extra=env)
    assert "queued 0 new" not in first.stdout
    assert not empty.exists()  # nothing was trained
    queue = Queue(review.db)
    items = [queue.get(i["id"]) for i in queue.page(Filters(), limit=500)]
    assert items and {i["model_version"] for i in items} == {load(REFERENCE).version}
    again = review.run("review", "add", SEED, env_extra=env)
    assert "queued 0 new" in again.stdout


def test_a_queue_file_that_is_not_one_is_refused_untouched(review: Review, tmp_path: Path) -> None:
    review.db.write_bytes(b"these are somebody's notes, not a database\n" * 100)
    before = review.db.read_bytes()
    scored = write_scored(tmp_path / "s.jsonl", scored_rows(3))
    assert "not a review queue" in error_line(review.run("review", "add", scored, check=False))
    assert "not a review queue" in error_line(
        review.run("review", "export", "-o", tmp_path / "d.csv", check=False)
    )
    assert review.db.read_bytes() == before


def write_dump(path: Path, texts: list[str]) -> Path:
    """A raw JSON Lines dump, as a platform exports its comments."""
    path.write_text("".join(json.dumps({"body": t}) + "\n" for t in texts), encoding="utf-8")
    return path


def queued_scores(db: Path) -> dict[str, dict[str, dict[str, object]]]:
    """Each queued comment's text and its scores as the queue shows them."""
    queue = Queue(db)
    return {
        item["text"]: item["scores"]
        for item in (queue.get(i["id"]) for i in queue.page(Filters(state="all"), limit=500))
    }


@needs_encoder
def test_raw_inputs_get_the_second_opinion_by_default_and_not_when_told(
    review: Review, tmp_path: Path, second_opinion_model: Path
) -> None:
    env = {"MODERATE_ARTIFACTS_DIR": str(artifacts_with(tmp_path / "a", [second_opinion_model]))}
    dump = write_dump(tmp_path / "dump.jsonl", TEXTS)

    done = review.run("review", "add", dump, *EVERY_BAND, env_extra=env)
    assert f"the second opinion re-scored {len(TEXTS)} comments" in done.stdout
    cascade = queued_scores(review.db)
    ngrams = load(second_opinion_model).probabilities(TEXTS)
    assert set(cascade) == set(TEXTS)
    for n, text in enumerate(TEXTS):
        for label, shown in cascade[text].items():
            assert shown["decided_by"] == "second_opinion"  # its band is every comment
            assert shown["first_score"] == ngrams[label][n]
            assert shown["score"] != shown["first_score"]

    # moderate score --second-opinion, then the scored file: the same scores, queued as read.
    scored = tmp_path / "scored.csv"
    review.run("score", dump, "--second-opinion", "--include-text", "-o", scored, env_extra=env)
    from_file = tmp_path / "from-file.sqlite"
    review.run(
        "review",
        "add",
        scored,
        *EVERY_BAND,
        env_extra={**env, "MODERATE_REVIEW_DB": str(from_file)},
    )
    assert queued_scores(from_file) == cascade

    without = tmp_path / "without.sqlite"
    env_without = {**env, "MODERATE_REVIEW_DB": str(without)}
    done = review.run(
        "review", "add", dump, *EVERY_BAND, "--no-second-opinion", env_extra=env_without
    )
    assert "second opinion" not in done.stdout
    plain = queued_scores(without)
    for n, text in enumerate(TEXTS):
        assert plain[text] == {
            label: {"score": ngrams[label][n], "decision": shown["decision"]}
            for label, shown in plain[text].items()
        }


def test_an_asked_for_second_opinion_that_cannot_run_is_refused_in_one_line(
    review: Review, tmp_path: Path, model: Path
) -> None:
    dump = write_dump(tmp_path / "dump.jsonl", TEXTS)
    refused = error_line(review.run("review", "add", dump, "--second-opinion", check=False))
    assert refused == (
        f"error: --second-opinion: model {load(model).version} has no second opinion "
        "(train it with the extra installed)"
    )

    elsewhere = with_another_encoder(model, tmp_path / "elsewhere" / model.name)
    env = {"MODERATE_ARTIFACTS_DIR": str(artifacts_with(tmp_path / "a", [elsewhere]))}
    refused = error_line(
        review.run("review", "add", dump, "--second-opinion", env_extra=env, check=False)
    )
    assert refused.startswith("error: --second-opinion: ") and "make semantic" in refused
    assert Queue(review.db).count(Filters(state="all")) == 0

    by_default = review.run("review", "add", dump, *EVERY_BAND, env_extra=env)
    assert f"queued {len(TEXTS)} new" in by_default.stdout
    assert "without the second opinion: " in by_default.stdout  # it has one, and says why not
    assert all(
        "decided_by" not in shown
        for scores in queued_scores(review.db).values()
        for shown in scores.values()
    )


def test_a_scored_file_brings_its_second_opinion_along(review: Review, tmp_path: Path) -> None:
    rows = with_opinions(scored_rows(6))
    scored = write_scored(tmp_path / "s.jsonl", rows)
    review.run("review", "add", scored, *EVERY_BAND, "--second-opinion")  # no model asked
    queue = Queue(review.db)
    assert queue.get("item0001")["scores"]["toxic"] == {
        "score": rows[1]["toxic"], "decision": "review",
        "first_score": rows[1]["toxic_first"], "decided_by": "second_opinion",
    }  # fmt: skip
    assert queue.get("item0002")["scores"]["toxic"]["decided_by"] == "ngrams"

    rows[3]["toxic_decided_by"] = "a hunch"
    bad = write_scored(tmp_path / "bad.jsonl", rows)
    assert error_line(review.run("review", "add", bad, check=False)) == (
        f"error: {bad}:4: toxic_decided_by must be ngrams or second_opinion"
    )
