"""Behavioural tests in the CheckList style over the team's own cases in data/behaviour.jsonl."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Protocol

import numpy as np
import pandas as pd

CASES = "behaviour.jsonl"
# A case passes when the calibrated probability falls on the expected side of this cut.
CUT = 0.5


class ScoredLike(Protocol):
    """One scored text: at least a probability per label."""

    @property
    def scores(self) -> Mapping[str, float]: ...


class Scorer(Protocol):
    """Anything that scores texts list in, list out (model.predict.Model does)."""

    @property
    def labels(self) -> Sequence[str]: ...

    def score(self, texts: Sequence[str]) -> Sequence[ScoredLike]: ...


@dataclass(frozen=True)
class Case:
    """One behavioural case: does the model say `expected` for `label` on `text`?"""

    capability: str
    label: str
    text: str
    expected: int
    topic: str | None = None  # conspiracy cases: geopolitics, elections, health, ...


def load_cases() -> list[Case]:
    """The team-written cases shipped in model/data/behaviour.jsonl."""
    text = (resources.files("moderate.model") / "data" / CASES).read_text("utf-8")
    cases = []
    for line in text.splitlines():
        if line.strip():
            row = json.loads(line)
            cases.append(
                Case(
                    row["capability"],
                    row["label"],
                    row["text"],
                    int(row["expected"]),
                    row.get("topic"),
                )
            )
    return cases


def probabilities(model: Scorer, texts: Sequence[str], label: str) -> np.ndarray:
    """The model's probability for `label` on each text, as an array in input order."""
    return np.array([s.scores[label] for s in model.score(list(texts))], dtype=float)


def behaviour_results(
    model: Scorer, cases: Sequence[Case] | None = None, cut: float = CUT
) -> pd.DataFrame:
    """Score every case; one row per case with its probability and whether it passed."""
    cases = load_cases() if cases is None else list(cases)
    frame = pd.DataFrame([vars(c) for c in cases])
    frame = frame[frame["label"].isin(list(model.labels))].reset_index(drop=True)
    frame["p"] = np.nan
    for label, group in frame.groupby("label"):
        frame.loc[group.index, "p"] = probabilities(model, group["text"].tolist(), str(label))
    frame["passed"] = (frame["p"] >= cut).astype(int) == frame["expected"]
    return frame


def run_behaviour(
    model: Scorer, cases: Sequence[Case] | None = None, cut: float = CUT
) -> dict[str, float]:
    """Pass rate per capability (labels the model does not predict are left out)."""
    frame = behaviour_results(model, cases, cut)
    rates = frame.groupby("capability", sort=True)["passed"].mean()
    return {str(k): float(v) for k, v in rates.items()}
