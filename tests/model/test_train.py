"""Training on a small hand-written dataset: thresholds, reproducibility, tiny data."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from moderate.model.metrics import choose_thresholds, pick_thresholds
from moderate.model.pipeline import ConfigError, ModelConfig, build_pipeline
from moderate.model.train import Trained, TrainingError, dataset_hash, train

# A smaller grid keeps the suite fast; the default grid is exercised by test_default_grid.
FAST = ModelConfig(grid_C=(1.0,), grid_min_df=(1,))


@pytest.fixture(scope="module")
def dataset() -> pd.DataFrame:
    path = Path(__file__).resolve().parent.parent / "fixtures" / "model" / "comments.jsonl"
    return pd.read_json(path, lines=True, dtype={"id": str})


@pytest.fixture(scope="module")
def trained(dataset: pd.DataFrame) -> Trained:
    return train(dataset, FAST)


def test_trains_one_pipeline_per_label_on_its_known_rows(
    trained: Trained, dataset: pd.DataFrame
) -> None:
    assert set(trained.pipelines) == {"toxic", "conspiracy"}
    for label in ("toxic", "conspiracy"):
        known = dataset[label].notna().sum()
        assert trained.metadata["label_counts"][label]["rows"] == known
        assert len(trained.oof[label]) == known


def test_separates_insults_from_civil_comments(trained: Trained) -> None:
    p = trained.pipelines["toxic"].predict_proba(["you pathetic idiot", "thanks for the article"])[
        :, 1
    ]
    assert p[0] > 0.5 > p[1]
    p = trained.pipelines["conspiracy"].predict_proba(
        ["the vaccine microchip tracks everyone, wake up", "the council votes on bus lanes"]
    )[:, 1]
    assert p[0] > p[1]


def test_thresholds_are_ordered_probabilities(trained: Trained) -> None:
    for label, chosen in trained.thresholds.items():
        assert 0.0 <= chosen["review"] <= chosen["block"] <= 1.0, label
        assert label in trained.metadata["threshold_rules"]


def test_metadata_records_the_choice_and_why(trained: Trained) -> None:
    selection = trained.metadata["selection"]
    assert set(selection["C"]) == {"toxic", "conspiracy"}
    assert "PR-AUC" in selection["why"]
    assert trained.metadata["dataset_hash"] and trained.metadata["config"]["folds"] == 5
    json.dumps(trained.metadata)  # must be JSON-serialisable as is


def test_same_data_and_config_give_the_same_metrics(
    trained: Trained, dataset: pd.DataFrame
) -> None:
    again = train(dataset, FAST)
    assert again.metadata["metrics"] == trained.metadata["metrics"]
    assert again.thresholds == trained.thresholds


def test_default_grid_picks_from_the_grid(dataset: pd.DataFrame) -> None:
    result = train(dataset, ModelConfig())
    selection = result.metadata["selection"]
    assert len(selection["scores"]) == 4  # char on/off x min_df 1/2
    assert set(selection["C"].values()) <= set(ModelConfig().grid_C)


def test_label_with_one_class_is_skipped_with_a_warning(dataset: pd.DataFrame) -> None:
    only_negative = dataset.assign(conspiracy=dataset["conspiracy"].where(lambda c: c == 0))
    result = train(only_negative, FAST)
    assert set(result.pipelines) == {"toxic"}
    assert "conspiracy" in result.metadata["skipped"]
    assert any("conspiracy" in w for w in result.metadata["warnings"])


def test_no_trainable_label_is_a_clear_error(dataset: pd.DataFrame) -> None:
    tiny = dataset.head(3)
    with pytest.raises(TrainingError, match="no label can be trained"):
        train(tiny, FAST)


def test_missing_text_column_is_a_clear_error(dataset: pd.DataFrame) -> None:
    with pytest.raises(TrainingError, match="text"):
        train(dataset.drop(columns=["text"]), FAST)


def test_few_minority_rows_lower_the_number_of_folds(dataset: pd.DataFrame) -> None:
    positives = dataset.index[dataset["toxic"] == 1]
    few = dataset.drop(index=positives[3:])  # three toxic rows left
    result = train(few, FAST)
    assert result.metadata["selection"]["learner"]["toxic"]["folds"] == 3


def test_row_weights_apply_source_weights_and_balance_classes_within_sources() -> None:
    sources = ["davidson"] * 4 + ["news"] * 6
    y = np.array([1, 1, 1, 0, 1, 0, 0, 0, 0, 0], dtype=float)
    plain = ModelConfig(balance_within_source=())
    assert set(plain.row_weights(sources, y, "toxic")) == {1.0}  # nothing down-weighted
    down = ModelConfig(source_weights={"davidson": 0.25}, balance_within_source=())
    assert down.row_weights(sources, y, "toxic").tolist() == [0.25] * 4 + [1.0] * 6
    balanced = ModelConfig(balance_within_source=("conspiracy",))
    w = balanced.row_weights(sources, y, "conspiracy")
    # In each source the positives and the negatives now weigh the same, half the source.
    for source in ("davidson", "news"):
        rows = np.array(sources) == source
        assert w[rows & (y == 1)].sum() == pytest.approx(rows.sum() / 2)
        assert w[rows & (y == 0)].sum() == pytest.approx(rows.sum() / 2)
    assert set(balanced.row_weights(sources, y, "toxic")) == {1.0}  # another label
    assert set(balanced.row_weights(sources, y, "conspiracy", balanced=False)) == {1.0}


def test_training_balances_learning_but_calibrates_on_the_real_base_rate() -> None:
    # Labels nearly unrelated to the text (one weak cue, so the model ranks better than
    # chance and is not refused): a calibrated model says about the base rate on average,
    # 70 of 300 (0.23). Had the calibrator seen the within-source balance it would say 0.5.
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(40)]
    rows = []
    for source, n, positives in (("news", 200, 20), ("tweets", 100, 50)):
        y = np.zeros(n)
        y[rng.choice(n, positives, replace=False)] = 1
        for i in range(n):
            text = " ".join(rng.choice(words, 6))
            if rng.random() < (0.6 if y[i] else 0.1):
                text += " cue"
            rows.append({"id": f"{source}{i}", "source": source, "text": text, "toxic": y[i]})
    noise = pd.DataFrame(rows).assign(conspiracy=np.nan)
    config = replace(FAST, labels=("toxic",), balance_within_source=("toxic",))
    result = train(noise, config)
    assert result.oof["toxic"]["p"].mean() == pytest.approx(70 / 300, abs=0.06)


def test_pick_thresholds_block_at_precision_and_review_at_recall() -> None:
    y = np.array([0, 0, 0, 0, 1, 0, 1, 1, 1, 1], dtype=float)
    p = np.linspace(0.05, 0.95, 10)
    chosen, rules = choose_thresholds(y, p, 0.9, 0.9)
    assert chosen["block"] == pytest.approx(p[6])  # at p[5] precision is 4/5, at p[6] 4/4
    assert chosen["review"] == pytest.approx(p[4])  # at p[4] recall is 5/5, at p[5] 4/5
    assert pick_thresholds(y, p) == chosen
    assert "precision" in rules["block"]


def test_review_is_raised_so_a_typical_section_is_not_swallowed() -> None:
    y = np.array([0, 0, 0, 0, 1, 0, 1, 1, 1, 1], dtype=float)
    p = np.linspace(0.05, 0.95, 10)
    typical = np.linspace(0.0, 0.7, 100)  # an ordinary comment section, mostly low scores
    chosen, rules = choose_thresholds(y, p, 0.9, 0.9, typical=typical, review_max_share=0.2)
    assert (typical >= chosen["review"]).mean() <= 0.2
    assert chosen["review"] > p[4] and "typical comment section" in rules["review"]
    loose, _ = choose_thresholds(y, p, 0.9, 0.9, typical=typical, review_max_share=0.9)
    assert loose["review"] == pytest.approx(p[4])  # the cap only ever raises review
    high = np.full(50, 0.99)
    capped, rules = choose_thresholds(y, p, 0.9, 0.9, typical=high, review_max_share=0.1)
    assert capped["review"] == capped["block"] and "capped at block" in rules["review"]


def test_pick_thresholds_falls_back_to_max_f1() -> None:
    y = np.array([1, 0, 1, 0, 1, 0], dtype=float)
    p = np.array([0.9, 0.9, 0.8, 0.8, 0.7, 0.7])
    _, rules = choose_thresholds(y, p, 0.9, 0.9)
    assert "max-F1" in rules["block"]


def test_build_pipeline_fits_raw_text(dataset: pd.DataFrame) -> None:
    rows = dataset[dataset["toxic"].notna()]
    pipeline = build_pipeline(FAST).fit(rows["text"].tolist(), rows["toxic"].to_numpy())
    assert pipeline.predict_proba(["hello"]).shape == (1, 2)


def test_dataset_hash_ignores_row_order(dataset: pd.DataFrame) -> None:
    labels = ("toxic", "conspiracy")
    assert dataset_hash(dataset, labels) == dataset_hash(dataset.iloc[::-1], labels)
    assert dataset_hash(dataset, labels) != dataset_hash(dataset.head(50), labels)


def test_config_round_trips_and_refuses_unknown_keys(tmp_path: Path) -> None:
    config = ModelConfig(grid_C=(0.5, 2.0), source_weights={"davidson": 0.1})
    path = tmp_path / "model.json"
    path.write_text(json.dumps(config.to_dict()))
    assert ModelConfig.from_file(path) == config
    (tmp_path / "bad.toml").write_text("folds = 3\nfoldz = 4\n")
    with pytest.raises(ConfigError, match="foldz"):
        ModelConfig.from_file(tmp_path / "bad.toml")
