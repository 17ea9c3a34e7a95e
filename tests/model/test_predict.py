"""Prediction: list in, list out; decisions from thresholds; explanations on the original text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from moderate.model.artifacts import load, save
from moderate.model.outofcore import train_out_of_core
from moderate.model.pipeline import ModelConfig
from moderate.model.predict import Model, decide
from moderate.model.train import Trained, train

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "model" / "comments.jsonl"
FAST = ModelConfig(grid_C=(1.0,), grid_min_df=(1,), grid_char=(True,))  # word + char features


@pytest.fixture(scope="module")
def trained() -> Trained:
    return train(pd.read_json(FIXTURE, lines=True, dtype={"id": str}), FAST)


@pytest.fixture(scope="module")
def model(trained: Trained) -> Model:
    return Model.from_trained(trained, version="test-version")


def test_empty_list_gives_empty_list(model: Model) -> None:
    assert model.score([]) == []
    assert model.score([], explain=True) == []


def test_same_length_and_order(model: Model) -> None:
    texts = ["you pathetic idiot", "thanks for the article", "", "you pathetic idiot"]
    results = model.score(texts)
    assert len(results) == 4
    assert results[0].scores == results[3].scores
    assert results[0].scores["toxic"] > results[1].scores["toxic"]
    assert all(set(r.scores) == {"toxic", "conspiracy"} for r in results)
    assert all(r.spans is None and r.model_version == "test-version" for r in results)


def test_decisions_follow_the_thresholds(model: Model) -> None:
    texts = ["you pathetic idiot", "thanks for the article", "wake up, 5G spreads the virus"]
    for result in model.score(texts):
        for label, p in result.scores.items():
            review, block = model.thresholds[label]["review"], model.thresholds[label]["block"]
            expected = "block" if p >= block else "review" if p >= review else "allow"
            assert result.decisions[label] == expected


def test_decide_is_vectorised() -> None:
    p = np.array([0.1, 0.5, 0.9])
    assert decide(p, 0.4, 0.8).tolist() == ["allow", "review", "block"]


@pytest.mark.parametrize(
    ("text", "insult"),
    [
        ("Honestly, you are a pathetic idiot.", "idiot"),
        ("Honestly, you are a pathetic I D I O T.", "I D I O T"),
        ("Honestly you are such an 1d1ot, m0r0n", "m0r0n"),
        ("Read it again, you st*pid m*ron!!", "m*ron"),
    ],
)
def test_explanation_points_at_the_insult_in_the_original(
    model: Model, text: str, insult: str
) -> None:
    [result] = model.score([text], explain=True)
    assert result.spans is not None
    spans = result.spans["toxic"]
    start = text.index(insult)
    pushing_up = [s for s in spans if s.weight > 0]
    assert any(s.start == start and s.end == start + len(insult) for s in pushing_up), spans
    for span in spans:
        assert text[span.start : span.end] == span.text
    weights = [abs(s.weight) for s in spans]
    assert weights == sorted(weights, reverse=True)


def test_explanation_weights_add_up_to_the_log_odds(model: Model, trained: Trained) -> None:
    texts = ["You are an I D I O T!!", "5G towers spread the virus, wake up", "!!! ??", ""]
    texts += ["a a a a b", "ｆｕｃｋ you @someone http://x.y/z 𝐬𝐭𝐮𝐩𝐢𝐝 ¢ool"]
    for label, pipeline in trained.pipelines.items():
        decision = pipeline[-1].decision_function(pipeline[:-1].transform(texts))
        for row, text in enumerate(texts):
            total = sum(s.weight for s in model.explain(text)[label])
            assert total + model.intercepts[label] == pytest.approx(decision[row], abs=1e-9), (
                label,
                text,
            )


def test_top_limits_the_spans(model: Model) -> None:
    [result] = model.score(["you are a pathetic lying stupid idiot and a moron"], True, top=2)
    assert result.spans is not None
    assert all(len(spans) <= 2 for spans in result.spans.values())


def test_out_of_core_trains_saves_and_explains(tmp_path: Path) -> None:
    config = ModelConfig(chunk_rows=16, holdout_every=3, word_bits=16, char_bits=16, epochs=5)
    trained = train_out_of_core(FIXTURE, config)
    assert trained.metadata["method"] == "out-of-core"
    assert "toxic" in trained.pipelines
    loaded = load(save(trained, tmp_path))
    texts = ["you pathetic idiot", "thanks for the article"]
    results = loaded.score(texts, explain=True)
    assert len(results) == 2
    assert results[0].scores["toxic"] > results[1].scores["toxic"]
    assert results[0].spans is not None
    assert any(s.text == "idiot" for s in results[0].spans["toxic"])


def test_out_of_core_reads_a_label_store(tmp_path: Path) -> None:
    from tests.model.test_train_cli import fixture_store

    config = ModelConfig(chunk_rows=16, holdout_every=3, word_bits=16, char_bits=16, epochs=5)
    trained = train_out_of_core(fixture_store(tmp_path / "store", ("toxic",)), config)
    assert list(trained.pipelines) == ["toxic"]
    known = pd.read_json(FIXTURE, lines=True)["toxic"].notna().sum()
    assert 0 < trained.metadata["label_counts"]["toxic"]["rows"] < known  # minus held-out


@pytest.mark.shared_data
@pytest.mark.slow
def test_trains_on_a_real_corpus_subset(corpora: Path) -> None:
    frame = pd.read_csv(corpora / "toxicity" / "jigsaw2018_subset.csv", nrows=2000)
    dataset = pd.DataFrame(
        {
            "id": [f"j{i}" for i in range(len(frame))],
            "source": "jigsaw2018",
            "thread": "jigsaw2018",
            "text": frame["comment_text"].astype(str),
            "toxic": (frame["labels"] == 1).astype(float),
            "conspiracy": np.nan,
        }
    )
    trained = train(dataset, FAST)
    assert trained.metadata["metrics"]["toxic"]["roc_auc"] > 0.85
    assert trained.metadata["skipped"]["conspiracy"]
