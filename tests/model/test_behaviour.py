"""Behavioural tests: the team's cases, pass rates, and floors for the reference model."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from moderate.model.behaviour import Case, load_cases, run_behaviour
from moderate.model.bias import run_bias
from moderate.model.predict import Model

# The capabilities the team's suite must cover, each with at least 20 cases.
REQUIRED = {
    "negation",
    "counter_speech",
    "quotation",
    "profanity_without_target",
    "capitals",
    "obfuscated_insult",
    "identity_neutral_positive",
    "slurs_dehumanisation",
    "threats",
    "insult_commenter",
    "public_figure",
    "conspiracy_claim",
    "conspiracy_debunking",
    "critical_not_conspiracy",
}
TOPICS = {"geopolitics", "elections", "health", "finance", "media", "science"}


@dataclass(frozen=True)
class _Scored:
    scores: dict[str, float]


class ConstantScorer:
    """Gives every text the same probability for each of its labels."""

    def __init__(self, p: float, labels: Sequence[str] = ("toxic", "conspiracy")) -> None:
        self.p, self.labels = p, tuple(labels)

    def score(self, texts: Sequence[str]) -> list[_Scored]:
        """Same score for everything."""
        return [_Scored(dict.fromkeys(self.labels, self.p)) for _ in texts]


def test_cases_cover_every_required_capability() -> None:
    cases = load_cases()
    counts = {c: sum(case.capability == c for case in cases) for c in REQUIRED}
    assert all(n >= 20 for n in counts.values()), counts
    assert len(cases) >= 300
    for capability, least in (("conspiracy_claim", 8), ("conspiracy_debunking", 5)):
        topics = Counter(c.topic for c in cases if c.capability == capability)
        assert set(topics) == TOPICS and min(topics.values()) >= least, topics
    assert all(c.topic in TOPICS for c in cases if c.label == "conspiracy")
    assert all(case.label in ("toxic", "conspiracy") for case in cases)
    assert all(case.expected in (0, 1) for case in cases)
    assert len({case.text for case in cases}) == len(cases)


def test_pass_rate_is_the_share_on_the_expected_side() -> None:
    cases = load_cases()
    rates = run_behaviour(ConstantScorer(0.9))
    for capability, rate in rates.items():
        mine = [c for c in cases if c.capability == capability]
        assert rate == pytest.approx(sum(c.expected == 1 for c in mine) / len(mine))
    assert rates["obfuscated_insult"] == 1.0
    assert rates["conspiracy_debunking"] == 0.0


def test_capabilities_of_a_label_the_model_lacks_are_left_out() -> None:
    rates = run_behaviour(ConstantScorer(0.1, labels=("toxic",)))
    assert "conspiracy_debunking" not in rates
    assert rates["negation"] > 0


def test_custom_cases() -> None:
    cases = [Case("x", "toxic", "a", 1), Case("x", "toxic", "b", 0)]
    assert run_behaviour(ConstantScorer(0.6), cases) == {"x": 0.5}


# Floors for the shipped reference model (make reference-model: ../shared/corpora and
# labels/data), set about one case under its pass rate on 2026-12-01 (in brackets) so that
# small changes to the model do not fail the suite. The low ones are known weaknesses of a
# bag-of-n-grams model, recorded in the model card and in model/EXPERIMENTS.md.
FLOORS = {
    "capitals": 0.95,  # [1.00]
    "conspiracy_claim": 0.20,  # [0.23] claims outside COVID and vaccines are missed
    "conspiracy_debunking": 0.76,  # [0.79] debunking shares the claim's vocabulary
    "counter_speech": 0.72,  # [0.77]
    "critical_not_conspiracy": 0.95,  # [1.00]
    "direct_insult": 0.83,  # [0.92]
    "identity_neutral_positive": 0.91,  # [0.96]
    "insult_commenter": 0.80,  # [0.86]
    "long_benign_one_insult": 0.41,  # [0.50] one insult diluted by a long benign text
    "negation": 0.55,  # [0.62] negated insults still score as insults
    "obfuscated_insult": 0.85,  # [0.91]
    "profanity_without_target": 0.68,  # [0.73]
    "public_figure": 0.90,  # [0.96]
    "quotation": 0.40,  # [0.45] quoting an insult reads as using it
    "slurs_dehumanisation": 0.68,  # [0.73]
    "threats": 0.33,  # [0.38] threats without insult words score low
}
BPSN_FLOOR = 0.85  # [lowest 0.90: transgender, muslim]


@pytest.fixture(scope="module")
def reference() -> Model:
    """The shipped reference model (model/reference; `make reference-model` rebuilds it)."""
    from moderate.model.artifacts import REFERENCE, load

    return load(REFERENCE)


def test_reference_model_meets_behaviour_floors(reference: Model) -> None:
    rates = run_behaviour(reference)
    assert set(rates) == set(FLOORS)
    below = {c: round(r, 2) for c, r in rates.items() if r < FLOORS[c]}
    assert not below, f"capabilities below their floor: {below}"


def test_reference_model_bias_floor(reference: Model) -> None:
    table = run_bias(reference)
    assert (table["subgroup_auc"] > 0.9).all()
    low = table[table["bpsn_auc"] < BPSN_FLOOR]
    assert low.empty, low[["identity", "bpsn_auc", "mean_p_benign"]].to_string()
