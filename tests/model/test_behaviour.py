"""Behavioural tests: the team's cases, pass rates, and floors for the reference model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from model.behaviour import Case, load_cases, run_behaviour
from model.bias import run_bias
from model.predict import Model
from tests.conftest import CORPORA

REQUIRED = {
    "negation",
    "counter_speech_quotation",
    "profanity_without_target",
    "obfuscated_insult",
    "long_benign_one_insult",
    "identity_neutral_positive",
    "conspiracy_debunking",
}


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
    assert all(n >= 6 for n in counts.values()), counts
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


# Floors for the reference model (trained on ../shared/corpora), set about one case under the
# lowest of two trainings on 2026-11-21 (in brackets) so that small changes to the model do
# not fail the suite. The low
# ones are known weaknesses of a bag-of-n-grams model, recorded in the model card; a floor
# of 0.0 only documents that the capability is unsolved.
FLOORS = {
    "negation": 0.33,  # [0.42] negated insults still score as insults
    "counter_speech_quotation": 0.1,  # [0.20] quoting an insult reads as using it
    "profanity_without_target": 0.3,  # [0.40] the corpora label swearing as toxic
    "obfuscated_insult": 0.8,  # [0.90]
    "long_benign_one_insult": 0.5,  # [0.67] one insult diluted by a long benign text
    "identity_neutral_positive": 0.66,  # [0.75, 0.83]
    "conspiracy_debunking": 0.0,  # [0.10, 0.30] debunking shares the claim's vocabulary
    "conspiracy_claim": 0.83,  # [1.00]
    "direct_insult": 0.83,  # [1.00]
}
BPSN_FLOOR = 0.85  # [lowest 0.90: muslim, gay, transgender, disabled]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Model:
    from model.artifacts import load
    from model.jobs import train_corpora

    work = tmp_path_factory.mktemp("reference")
    result = train_corpora(CORPORA, work / "store", work / "artifacts", evaluate=False)
    return load(result.path)


@pytest.mark.shared_data
@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_reference_model_meets_behaviour_floors(reference: Model) -> None:
    rates = run_behaviour(reference)
    assert set(rates) == set(FLOORS)
    below = {c: round(r, 2) for c, r in rates.items() if r < FLOORS[c]}
    assert not below, f"capabilities below their floor: {below}"


@pytest.mark.shared_data
@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_reference_model_bias_floor(reference: Model) -> None:
    table = run_bias(reference)
    assert (table["subgroup_auc"] > 0.9).all()
    low = table[table["bpsn_auc"] < BPSN_FLOOR]
    assert low.empty, low[["identity", "bpsn_auc", "mean_p_benign"]].to_string()
