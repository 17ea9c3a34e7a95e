"""The second-opinion experiment helpers: the band, the cascade and the subsample."""

from __future__ import annotations

import numpy as np
import pandas as pd

from moderate.model.experiments_semantic import band, cascade, sample, standardised


def test_the_band_is_each_sources_share_nearest_the_boundary() -> None:
    first = np.array([-3.0, -0.1, 0.2, 4.0, -2.0, 0.05, 1.0, 3.0])
    groups = np.array(["a"] * 4 + ["b"] * 4)
    inside = band(first, groups, 0.5)
    assert inside.tolist() == [False, True, True, False, False, True, True, False]


def test_cascade_replaces_averages_or_reorders_only_the_band() -> None:
    first = np.array([-3.0, -0.1, 0.2, 4.0])
    second = np.array([9.0, 2.0, -2.0, 9.0])
    groups = np.array(["a"] * 4)
    assert cascade(first, second, groups, 0.5, "replace").tolist() == [-3.0, 2.0, -2.0, 4.0]
    assert cascade(first, second, groups, 0.5, "mean").tolist() == [-3.0, 0.95, -0.9, 4.0]
    # Rerank: the band keeps its own scores (-0.1, 0.2), in the second model's order.
    assert cascade(first, second, groups, 0.5, "rerank").tolist() == [-3.0, 0.2, -0.1, 4.0]
    assert cascade(first, second, groups, 0.0).tolist() == first.tolist()


def test_standardised_block_has_about_the_given_row_norm() -> None:
    E = np.random.default_rng(0).normal(3.0, 5.0, size=(2000, 64)).astype(np.float32)
    norms = np.linalg.norm(standardised(E, 0.5), axis=1)
    assert abs(norms.mean() - 0.5) < 0.02


def test_sample_caps_each_source_and_class_and_keeps_team_conspiracy_positives() -> None:
    rows = [
        {"id": f"{s}{i}", "source": s, "text": "t", "toxic": float(i % 2), "conspiracy": None}
        for s in ("olid", "ethos")
        for i in range(20)
    ] + [
        {"id": f"n{i}", "source": "team_news", "text": "t", "toxic": 0.0, "conspiracy": 1.0}
        for i in range(9)
    ]
    dataset = pd.DataFrame(rows)
    seeds = pd.DataFrame([{"id": "s", "source": "x.txt", "text": "t", "toxic": 1.0}])
    picked = sample(dataset, seeds.assign(conspiracy=0.0), cap=3)
    train = picked[picked["part"] == "train"]
    assert (train[train["source"] == "olid"]["toxic"].value_counts() == 3).all()
    assert (train["source"] == "team_news").sum() == 9  # every conspiracy positive
    assert picked["part"].tolist().count("seed") == 1
