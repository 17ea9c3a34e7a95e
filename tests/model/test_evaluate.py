"""Evaluation: out-of-fold honesty, leave-one-source-out, baseline beside the model, report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline

from moderate.model.evaluate import (
    EvaluationError,
    Report,
    baseline_factory,
    domain_of,
    evaluate,
    label_metrics,
    oof_probabilities,
)
from moderate.model.report import render_markdown, write_report

INSULTS = ["idiot", "moron", "stupid", "loser", "pathetic", "disgusting", "clown", "fool"]
PLAIN = [
    "park",
    "library",
    "bus",
    "recipe",
    "weather",
    "garden",
    "book",
    "music",
    "team",
    "river",
    "school",
    "bridge",
]
PLOTS = ["microchips", "plandemic", "elites", "chemtrails", "depopulation", "coverup"]


def synthetic_dataset(rows: int = 240, seed: int = 0, noise: float = 0.1) -> pd.DataFrame:
    """Toxic rows carry insults, conspiracy rows plot words; `noise` of labels are flipped."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(rows):
        toxic_row = i % 3 != 2
        positive = rng.random() < 0.4
        extra = INSULTS if toxic_row else PLOTS
        words = list(rng.choice(PLAIN, 6)) + (list(rng.choice(extra, 2)) if positive else [])
        label = float(positive != (rng.random() < noise))
        records.append(
            {
                "id": f"c{i:04d}",
                "source": ["forum", "tweets", "news"][(i // 3) % (3 if toxic_row else 2)],
                "thread": "",
                "text": " ".join(rng.permutation(words)),
                "toxic": label if toxic_row else np.nan,
                "conspiracy": np.nan if toxic_row else label,
            }
        )
    return pd.DataFrame(records)


def counts_factory() -> Pipeline:
    """A small fast estimator on raw texts, standing in for the project pipeline."""
    return make_pipeline(CountVectorizer(), LogisticRegression(C=10.0, max_iter=1000))


@pytest.fixture(scope="module")
def report() -> Report:
    return evaluate(synthetic_dataset(), counts_factory, folds=4, seed=0)


def test_out_of_fold_probabilities_do_not_memorise_random_labels() -> None:
    rng = np.random.default_rng(1)
    # Every comment is a unique random token: in-sample a flexible model scores ~1.0 AUC,
    # out of fold it cannot beat chance, which is what honest evaluation must show.
    frame = pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(200)],
            "source": "one",
            "text": [f"tok{i} tok{i}x" for i in range(200)],
            "toxic": rng.integers(0, 2, 200).astype(float),
            "conspiracy": np.nan,
        }
    )
    oof = oof_probabilities(frame, counts_factory, folds=5, seed=0)
    from sklearn.metrics import roc_auc_score

    fitted = counts_factory().fit(frame["text"], frame["toxic"])
    assert roc_auc_score(frame["toxic"], fitted.predict_proba(frame["text"])[:, 1]) > 0.95
    assert roc_auc_score(frame["toxic"], oof["toxic"]) < 0.65


def test_oof_covers_known_rows_only() -> None:
    data = synthetic_dataset()
    oof = oof_probabilities(data, counts_factory, folds=4)
    indexed = data.set_index("id")
    for label in ("toxic", "conspiracy"):
        assert oof[label].notna().to_numpy().tolist() == indexed[label].notna().tolist()
        assert oof[label].dropna().between(0, 1).all()


def test_metrics_for_model_and_baseline_side_by_side(report: Report) -> None:
    assert set(report.metrics) == {"model", "baseline"}
    for system in report.metrics.values():
        for label in ("toxic", "conspiracy"):
            m = system[label]
            assert 0.5 < m["roc_auc"] <= 1.0
            assert 0 <= m["ece"] <= 1
            assert m["review"]["threshold"] <= m["block"]["threshold"]
            assert m["review"]["recall"] >= 0.9
            assert -1 <= m["block"]["mcc"] <= 1
    assert report.metrics["model"]["toxic"]["n"] == 160


def test_leave_one_source_out_holds_out_every_source(report: Report) -> None:
    toxic = {r["source"]: r for r in report.by_source["model"]["toxic"]}
    assert set(toxic) == {"forum", "tweets", "news"}
    assert sum(r["n"] for r in toxic.values()) == 160
    assert all(r["roc_auc"] > 0.5 for r in toxic.values())
    assert {r["source"] for r in report.by_source["model"]["conspiracy"]} == {"forum", "tweets"}


def test_single_class_source_is_reported_without_auc() -> None:
    data = synthetic_dataset()
    positives_only = pd.DataFrame(
        {
            "id": [f"p{i}" for i in range(20)],
            "source": "spans",
            "thread": "",
            "text": [f"you {INSULTS[i % 8]} {PLAIN[i % 12]}" for i in range(20)],
            "toxic": 1.0,
            "conspiracy": np.nan,
        }
    )
    result = evaluate(pd.concat([data, positives_only]), counts_factory, folds=3, baseline=False)
    spans = next(r for r in result.by_source["model"]["toxic"] if r["source"] == "spans")
    assert spans["roc_auc"] is None
    assert spans["flagged"] > 0.5  # its recall at the review threshold
    assert any("spans" in note and "single class" in note for note in result.notes)


def test_tiny_label_uses_fewer_folds_and_says_so() -> None:
    data = synthetic_dataset(rows=60)
    data.loc[data["conspiracy"].notna(), "conspiracy"] = 0.0
    data.loc[data.index[data["conspiracy"].notna()][:2], "conspiracy"] = 1.0
    result = evaluate(data, counts_factory, folds=5, by_source=False)
    assert "conspiracy" in result.metrics["model"]
    assert any("2-fold" in note for note in result.notes)


def test_dataset_without_two_classes_is_refused() -> None:
    data = synthetic_dataset(rows=30)
    data["toxic"] = data["toxic"].where(data["toxic"].isna(), 0.0)
    data["conspiracy"] = data["conspiracy"].where(data["conspiracy"].isna(), 0.0)
    with pytest.raises(EvaluationError, match="2 examples of each class"):
        evaluate(data, counts_factory)


def test_behaviour_and_bias_are_part_of_the_report(report: Report) -> None:
    assert {"negation", "obfuscated_insult", "conspiracy_debunking"} <= set(report.behaviour)
    assert all(0 <= rate <= 1 for rate in report.behaviour.values())
    assert report.bias is not None
    assert {"subgroup_auc", "bpsn_auc", "bnsp_auc"} <= set(report.bias.columns)


def test_metrics_on_a_hand_made_case() -> None:
    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.7, 0.6, 0.8, 0.9])
    m = label_metrics(y, p)
    assert m["roc_auc"] == pytest.approx(8 / 9)  # 0.7 outranks one positive
    # Bins: 0.1 (0, 1 row), 0.2 (0), 0.6 (1), 0.7 (0), 0.8 (1), 0.9 (1); ECE = mean |y - p|.
    assert m["ece"] == pytest.approx(np.mean(np.abs(y - p)))
    assert m["block"]["precision"] >= 0.9 and m["block"]["threshold"] == 0.8
    assert m["review"]["recall"] >= 0.9 and m["review"]["threshold"] == 0.6
    assert m["review"]["f1"] == pytest.approx(6 / 7)  # 3 TP, 1 FP, 0 FN


def test_baseline_is_default_tfidf_logistic_regression() -> None:
    steps = baseline_factory().get_params()
    assert steps["tfidfvectorizer__ngram_range"] == (1, 1)
    assert steps["logisticregression__C"] == 1.0


def test_write_report_files(report: Report, tmp_path: Path) -> None:
    written = write_report(report, tmp_path / "eval")
    names = {p.name for p in written}
    assert names == {
        "report.json",
        "REPORT.md",
        "MODEL_CARD.md",
        "pr_curves.png",
        "reliability.png",
        "per_source.png",
    }
    for png in (tmp_path / "eval").glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert summary["metrics"]["baseline"]["toxic"]["roc_auc"] > 0.5
    markdown = (tmp_path / "eval" / "REPORT.md").read_text()
    assert "| metric | model | baseline |" in markdown
    assert "Leave-one-source-out" in markdown and "Behavioural tests" in markdown
    card = (tmp_path / "eval" / "MODEL_CARD.md").read_text()
    assert "Intended use" in card and "Human-assisted moderation" in card
    assert "Known limits" in card


def test_precomputed_out_of_fold_probabilities_are_reused() -> None:
    data = synthetic_dataset(rows=90)
    given = {
        label: pd.DataFrame({"id": rows["id"], "p": rows[label]})  # the truth: perfect scores
        for label in ("toxic", "conspiracy")
        for rows in [data[data[label].notna()]]
    }
    result = evaluate(data, counts_factory, oof=given, baseline=False, by_source=False)
    assert result.metrics["model"]["toxic"]["roc_auc"] == 1.0
    assert "reused from training" in " ".join(result.notes)
    given["toxic"] = given["toxic"].iloc[1:]
    with pytest.raises(EvaluationError, match="miss rows"):
        evaluate(data, counts_factory, oof=given, baseline=False, by_source=False)


def test_sources_of_one_domain_are_held_out_together() -> None:
    data = synthetic_dataset()
    renamed = {"forum": "stormfront", "tweets": "olid", "news": "davidson"}  # 2 tweet sources
    data["source"] = data["source"].map(renamed)
    result = evaluate(data, counts_factory, folds=3, baseline=False)
    toxic = {r["source"]: r for r in result.by_domain["model"]["toxic"]}
    assert set(toxic) == {"forums", "tweets"}
    tweets = data["source"].isin(["olid", "davidson"]) & data["toxic"].notna()
    assert toxic["tweets"]["n"] == tweets.sum()
    assert domain_of("globe_c3") == domain_of("impermium") == "news comments"
    assert domain_of("team_news") == "team news labels" and domain_of("mine") == "mine"


def test_no_domain_table_when_every_source_is_its_own_domain(report: Report) -> None:
    assert report.by_domain == {"model": {}, "baseline": {}}
    assert "Leave-one-domain-out" not in render_markdown(report)


def test_held_out_sets_are_scored_by_the_trained_model_only() -> None:
    data = synthetic_dataset()
    seeds = pd.DataFrame(
        {
            "text": ["you idiot moron", "the park by the river", "elites coverup plandemic"],
            "toxic": [1.0, 0.0, np.nan],
            "conspiracy": [np.nan, 0.0, 1.0],
        }
    )
    result = evaluate(
        data, counts_factory, folds=3, baseline=False, by_source=False, held_out={"seeds": seeds}
    )
    toxic = result.held_out["seeds"]["toxic"]
    assert (toxic["n"], toxic["positives"], toxic["roc_auc"]) == (2, 1, 1.0)
    assert result.held_out["seeds"]["conspiracy"]["n"] == 2
    assert "## Held-out sets" in render_markdown(result)
    assert result.to_dict()["held_out"]["seeds"]["toxic"]["roc_auc"] == 1.0


def test_each_source_also_has_its_cross_validated_score(report: Report) -> None:
    for entry in report.by_source["model"]["toxic"]:
        assert 0.5 < entry["cv_roc_auc"] <= 1.0
    assert "cross-validated" in render_markdown(report)
