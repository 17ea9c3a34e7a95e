"""Labelling rules: each votes or abstains, the report counts them, weak labels stay apart."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from moderate.cli import build_app
from moderate.labels.rules import RULES, analyse, apply, combine, report, votes
from moderate.labels.store import Annotation, LabelStore, load_dataset

NEUTRAL = "The convoy left the city in October, according to the report."


@pytest.mark.parametrize(
    ("rule", "text", "vote"),
    [
        ("insult_lexicon", "Only a moron would believe the mayor.", 1),
        ("second_person_attack", "You are so stupid it hurts.", 1),
        ("slur_lexicon", "Hollywood makes films for the goyim.", 1),
        ("dehumanising", "Why are these vermin still alive?", 1),
        ("threat", "Kill them all and let God sort them out!", 1),
        ("civil_markers", "Thanks for the article, good point about the budget.", 0),
        ("counter_speech", "That's racist, please be respectful.", 0),
        ("deep_state", "The DEEP STATE runs this war.", 1),
        ("false_flag", "Obviously a false flag with crisis actors.", 1),
        ("hidden_truth", "Wake up, they don't want you to know the truth.", 1),
        ("funds_and_trains", "The US FUNDS AND TRAINS ISIS FIGHTERS...", 1),
        ("funds_and_trains", "ISIS is Obama's creation.", 1),
        ("puppet", "The president is just a puppet of the bankers.", 1),
        ("new_world_order", "It is all part of the New World Order.", 1),
        ("pseudoscience", "The plandemic was planned for depopulation.", 1),
        ("debunking", "That conspiracy theory was debunked years ago.", 0),
    ],
)
def test_each_rule_votes_on_its_pattern_and_abstains_on_neutral_text(
    rule: str, text: str, vote: int
) -> None:
    assert votes(text)[rule] == vote
    assert votes(NEUTRAL)[rule] is None


def test_words_match_whole_words_only() -> None:
    assert votes("Scunthorpe is a town; skillful cockpit crews.")["insult_lexicon"] is None
    assert votes("the moronic plan")["insult_lexicon"] == 1


def test_debunking_abstains_when_plot_vocabulary_is_there() -> None:
    text = "They call it a conspiracy theory but the deep state is real."
    assert votes(text)["debunking"] is None
    assert votes(text)["deep_state"] == 1


def test_combine_takes_the_majority_and_leaves_ties_and_silence_unknown() -> None:
    assert combine({"insult_lexicon": 1, "threat": 1, "civil_markers": 0})["toxic"] == 1
    assert combine({"insult_lexicon": 1, "civil_markers": 0})["toxic"] is None
    assert combine({})["conspiracy"] is None
    assert combine({"debunking": 0})["conspiracy"] == 0


def test_analyse_counts_coverage_overlaps_conflicts_and_accuracy() -> None:
    texts = [
        "Thanks for the article, what a clown.",  # insult + civil: conflict
        "You are a stupid idiot.",  # insult + second person: overlap, no conflict
        NEUTRAL,
        "The deep state did it.",
    ]
    gold = [{"toxic": 1.0}, {"toxic": 1.0}, {}, {"conspiracy": float("nan")}]
    stats = {row.name: row for row in analyse(texts, gold)}
    insult = stats["insult_lexicon"]
    assert insult.coverage == pytest.approx(0.5)
    assert insult.overlaps == pytest.approx(0.5)
    assert insult.conflicts == pytest.approx(0.25)
    assert (insult.correct, insult.incorrect, insult.accuracy) == (2, 0, 1.0)
    assert stats["civil_markers"].incorrect == 1
    assert stats["deep_state"].accuracy is None  # NaN gold is unknown, not wrong
    assert stats["threat"].coverage == 0
    assert stats["threat"].polarity == "-"


def _store(root: Path) -> LabelStore:
    store = LabelStore(root)
    store.add_comments(
        [
            {"id": "a", "thread": "t", "position": 0, "text": "You idiot."},
            {"id": "b", "thread": "t", "position": 1, "text": "The deep state did it."},
            {"id": "c", "thread": "t", "position": 2, "text": NEUTRAL},
        ]
    )
    store.annotate([Annotation("a", "toxic", 1, "team"), Annotation("b", "toxic", 0, "team")])
    return store


def test_report_scores_rules_against_the_human_labels(tmp_path: Path) -> None:
    stats = {row.name: row for row in report(_store(tmp_path))}
    assert stats["insult_lexicon"].coverage == pytest.approx(1 / 3)
    assert stats["insult_lexicon"].correct == 1
    assert stats["deep_state"].correct == 0  # nobody gave b a conspiracy label


def test_weak_labels_are_stored_apart_and_applying_twice_adds_nothing(tmp_path: Path) -> None:
    store = _store(tmp_path)
    written = apply(store)
    rule_answers = [a for a in store.annotations() if a.origin == "rule"]
    assert written == len(rule_answers) > 0
    assert {a.annotator for a in rule_answers} >= {"rule:insult_lexicon", "rule:deep_state"}
    assert all(a.annotator.startswith("rule:") for a in rule_answers)
    assert apply(store) == 0
    dataset = load_dataset(tmp_path).set_index("id")
    assert "b" in dataset.index
    assert dataset["conspiracy"].isna().all()  # unknown: rule votes are left out
    with_rules = load_dataset(tmp_path, origins=("human", "rule")).set_index("id")
    assert with_rules.loc["b", "conspiracy"] == 1.0


def test_a_vote_the_rules_no_longer_cast_is_withdrawn(tmp_path: Path) -> None:
    store = _store(tmp_path)
    apply(store)
    deep_state = [rule for rule in RULES if rule.name == "deep_state"]
    silenced = [replace(deep_state[0], vote=lambda text: None)]
    assert apply(store, rules=silenced) == 1
    assert store.latest()[("b", "conspiracy", "rule:deep_state")].value is None
    assert apply(store, rules=silenced) == 0
    assert apply(store, rules=deep_state) == 1


def test_cli_reports_every_rule_and_applies_on_request(tmp_path: Path) -> None:
    _store(tmp_path)
    runner = CliRunner(env={"COLUMNS": "200"})
    result = runner.invoke(build_app(), ["labels", "rules", "--data", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for rule in RULES:
        assert rule.name in result.output
    assert "33.3%" in result.output
    assert not [a for a in LabelStore(tmp_path).annotations() if a.origin == "rule"]
    applied = runner.invoke(build_app(), ["labels", "rules", "--data", str(tmp_path), "--apply"])
    assert applied.exit_code == 0, applied.output
    assert "weak labels written" in applied.output
    assert [a for a in LabelStore(tmp_path).annotations() if a.origin == "rule"]
