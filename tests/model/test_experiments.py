"""The experiment helpers: leave-one-source-out on the engine's features, fast."""

from __future__ import annotations

import numpy as np

from moderate.model.experiments import balanced_weights, baseline_loso, features, loso, summary
from moderate.model.pipeline import ModelConfig
from tests.model.test_evaluate import synthetic_dataset


def test_loso_scores_every_source_beside_the_baseline() -> None:
    data = synthetic_dataset()
    rows = data[data["toxic"].notna()].reset_index(drop=True)
    config = ModelConfig(min_df=1)
    X = features(rows["text"].tolist(), config)
    assert X.shape == (len(rows), 2**config.word_bits + 2**config.char_bits)
    scores = loso(rows, X, "toxic", config, n_jobs=1)
    base = baseline_loso(rows, "toxic")
    assert set(scores) == set(base) == {"forum", "tweets", "news"}
    assert all(0.8 < s <= 1.0 for s in scores.values())
    result = summary(scores, base)
    assert result["worst"] == min(scores.values())
    assert result["mean_gain"] == np.mean([scores[s] - base[s] for s in scores])


def test_balanced_weights_give_every_source_the_same_total() -> None:
    data = synthetic_dataset()
    rows = data[data["toxic"].notna()].iloc[:100].reset_index(drop=True)
    w = balanced_weights(rows)
    totals = rows.assign(w=w).groupby("source")["w"].sum()
    assert np.allclose(totals, len(rows) / rows["source"].nunique())
    assert np.allclose(balanced_weights(rows, 0.0), 1.0)
