"""Fitting and choosing the second opinion (model/second_train.py): the band and C are
chosen leave-one-source-out and refused when a source loses; the calibration keeps the
real base rates; `train --from scratch` fits it with the encoder and caches embeddings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from moderate.model.artifacts import load
from moderate.model.pipeline import ModelConfig
from moderate.model.second_train import MAX_LOSS, choose, label_rows
from moderate.model.semantic import DIM
from tests.encoder import needs_encoder
from tests.service.helpers import dataset


def _table(gains: dict[str, list[float]]) -> pd.DataFrame:
    rows = []
    for band, values in gains.items():
        for n, gain in enumerate(values):
            source = "team_news" if n == 0 else f"s{n}"
            rows.append({"source": source, "head": "h", "band": band, "gain": gain, "asked": 0.2,
                         "ngrams_in_band": 0.6, "cascade_in_band": 0.6 + gain})  # fmt: skip
    return pd.DataFrame(rows)


def test_the_band_with_the_best_mean_gain_wins_unless_a_source_loses_too_much() -> None:
    chosen, summary = choose(
        _table({"narrow": [0.01, 0.02, 0.0], "wide": [0.05, 0.06, -(MAX_LOSS + 0.005)]}),
        "team_news",
    )
    assert chosen == "h; narrow"  # wide gains more on average but loses a source
    assert summary["h; wide"]["worst_gain"] == pytest.approx(-(MAX_LOSS + 0.005))
    assert summary["h; narrow"]["team_news_gain"] == pytest.approx(0.01)


def test_a_tie_goes_to_the_team_news_gain_then_to_the_cheaper_band() -> None:
    table = _table({"narrow": [0.010, 0.020, 0.0], "wide": [0.004, 0.026, 0.003]})
    assert choose(table, "team_news")[0] == "h; narrow"  # wide is 0.001 better: a tie
    table.loc[table["band"] == "wide", "asked"] = 0.1
    table.loc[table["band"] == "wide", "gain"] = [0.010, 0.020, 0.0]
    assert choose(table, "team_news")[0] == "h; wide"  # the same gains, asks fewer


def test_no_band_is_chosen_when_none_gains() -> None:
    chosen, _ = choose(_table({"narrow": [0.0, -0.002, 0.001], "wide": [-0.01, 0.0, 0.0]}), "x")
    assert chosen is None


def test_calibration_weights_give_each_source_and_class_its_full_share() -> None:
    full = pd.DataFrame(
        {
            "id": [str(i) for i in range(100)],
            "source": ["a"] * 60 + ["b"] * 40,
            "toxic": [1.0] * 10 + [0.0] * 50 + [1.0] * 20 + [0.0] * 20,
        }
    )
    sample = full.groupby(["source", "toxic"]).head(5).reset_index(drop=True)
    E = np.zeros((len(sample), DIM), dtype=np.float32)
    rows = label_rows(sample, full, E, np.zeros(len(sample)), "toxic", ModelConfig())
    frame = pd.DataFrame({"s": rows.groups, "y": rows.y, "w": rows.calibrate})
    totals = frame.groupby(["s", "y"])["w"].sum()
    assert totals.to_dict() == pytest.approx(
        {("a", 0.0): 50, ("a", 1.0): 10, ("b", 0.0): 20, ("b", 1.0): 20}
    )


@needs_encoder
def test_training_from_scratch_fits_and_stores_a_second_opinion(tmp_path: Path) -> None:
    from moderate.model.jobs import train_dataset

    rows = dataset()
    rows["source"] = np.where(np.arange(len(rows)) % 2 == 0, "forum", "news")
    cache = tmp_path / "cache"
    result = train_dataset(rows, tmp_path / "artifacts", ModelConfig(), True, None, cache)
    model = load(result.path)
    assert model.second is not None
    labels = model.second.described["labels"]
    assert set(labels) == {"toxic", "conspiracy"}
    for info in labels.values():  # each label says what was chosen by the two sources
        assert "loso" in info or "why" in info
    assert set(model.second.heads) == {k for k, v in labels.items() if v["chosen"]}
    assert (result.path / "SECOND_OPINION.md").read_text().startswith("# The second opinion")
    shards = sorted(cache.rglob("shard-*.npz"))
    assert shards
    train_dataset(rows, tmp_path / "again", ModelConfig(), False, None, cache)
    assert sorted(cache.rglob("shard-*.npz")) == shards  # the second run embeds nothing
