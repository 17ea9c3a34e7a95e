"""Bias audit: the Jigsaw subgroup / BPSN / BNSP AUCs on cases small enough to do by hand."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from moderate.model.bias import (
    bias_metrics,
    bnsp_auc,
    bpsn_auc,
    identity_cases,
    run_bias,
    subgroup_auc,
)

# Identity A: benign comments at 0.8 and 0.3, a toxic one at 0.9.
# Identity B: benign comments at 0.1 and 0.2, toxic ones at 0.7 and 0.5.
Y = [0, 0, 1, 0, 0, 1, 1]
P = [0.8, 0.3, 0.9, 0.1, 0.2, 0.7, 0.5]
IN_A = [True, True, True, False, False, False, False]
IN_B = [not a for a in IN_A]


def test_subgroup_auc_only_looks_inside_the_group() -> None:
    assert subgroup_auc(Y, P, IN_A) == 1.0  # 0.9 beats 0.8 and 0.3
    assert subgroup_auc(Y, P, IN_B) == 1.0  # 0.7 and 0.5 beat 0.1 and 0.2


def test_bpsn_catches_benign_identity_mentions_scored_high() -> None:
    # A's benign {0.8, 0.3} against B's toxic {0.7, 0.5}: 2 of 4 pairs ordered right.
    assert bpsn_auc(Y, P, IN_A) == 0.5
    # B's benign {0.1, 0.2} against A's toxic {0.9}: all right.
    assert bpsn_auc(Y, P, IN_B) == 1.0


def test_bnsp_catches_toxic_identity_mentions_scored_low() -> None:
    # A's toxic {0.9} against B's benign {0.1, 0.2}.
    assert bnsp_auc(Y, P, IN_A) == 1.0
    # B's toxic {0.7, 0.5} against A's benign {0.8, 0.3}: 2 of 4.
    assert bnsp_auc(Y, P, IN_B) == 0.5


def test_single_class_group_gives_nan_not_an_error() -> None:
    assert np.isnan(subgroup_auc([0, 0, 1], [0.1, 0.2, 0.9], [True, True, False]))


def test_bias_metrics_table() -> None:
    frame = pd.DataFrame({"identity": ["a"] * 3 + ["b"] * 4, "y": Y, "p": P})
    table = bias_metrics(frame).set_index("identity")
    assert table.loc["a", "bpsn_auc"] == 0.5
    assert table.loc["b", "bnsp_auc"] == 0.5
    assert table.loc["a", "n"] == 3
    assert table.loc["b", "mean_p_toxic"] == pytest.approx(0.6)


def test_identity_cases_cross_every_template_with_every_term() -> None:
    cases = identity_cases()
    per_identity = cases.groupby("identity")["y"].agg(["count", "sum"])
    assert len(per_identity) >= 20
    assert per_identity["count"].nunique() == 1  # the same templates for every identity
    assert (per_identity["sum"] > 0).all() and (per_identity["sum"] < per_identity["count"]).all()
    assert not cases["text"].str.contains("{identity}", regex=False).any()


@dataclass(frozen=True)
class _Scored:
    scores: dict[str, float]


class WordScorer:
    """Scores toxic 0.9 when any of `words` is in the text, else 0.1."""

    labels = ("toxic",)

    def __init__(self, words: Sequence[str]) -> None:
        self.words = words

    def score(self, texts: Sequence[str]) -> list[_Scored]:
        """Score by keyword."""
        hit = [any(w in t.lower().split() for w in self.words) for t in texts]
        return [_Scored({"toxic": 0.9 if h else 0.1}) for h in hit]


def test_run_bias_exposes_a_model_that_learned_an_identity_term() -> None:
    insults = ["hate", "idiot", "moron", "loser", "disgusting", "filthy", "dumb", "trash"]
    table = run_bias(WordScorer([*insults, "muslim"]))
    bpsn = dict(zip(table["identity"], table["bpsn_auc"].astype(float), strict=True))
    assert bpsn["muslim"] < 0.6
    assert bpsn["christian"] > bpsn["muslim"]
