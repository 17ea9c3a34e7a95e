"""Prediction from plain arrays: scores, decisions and explanations, list in, list out.

A `Model` is what the portable artifact holds: the feature space (model/engine.py's spec),
one row per hashed column [idf, w_label0, w_label1, ...], an intercept, a calibration map
and thresholds per label. Scoring is one engine pass over the batch for every label at
once, then the calibration (Platt's sigmoid or an isotonic step line, both plain numpy) and
the decision. Nothing here imports scikit-learn: the API and the batch scorer load this.

Explanations are exact for the linear model: a feature's contribution to the log-odds is
its weight times its value. Each word n-gram's contribution is shared among the words it
covers, each character n-gram's goes to the word it falls in; words are mapped back to
character offsets in the ORIGINAL text. The weights of one text and label add up to its
log-odds minus the intercept.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from moderate.model import engine
from moderate.model.second_opinion import NGRAMS, SECOND, SecondOpinion, SecondOpinionError

Decision = Literal["allow", "review", "block"]
DECISIONS: tuple[Decision, ...] = ("allow", "review", "block")
Floats = NDArray[np.float64]


@dataclass(frozen=True)
class Span:
    """A stretch of the original text and how much it pushed a score (log-odds)."""

    start: int
    end: int
    text: str
    weight: float


@dataclass(frozen=True)
class Opinion:
    """With the second opinion: a label's n-gram score, the second opinion's (None when it
    was not asked: outside the label's band, or no head for the label) and which decided."""

    first_score: float
    second_score: float | None
    decided_by: str


@dataclass(frozen=True)
class Scored:
    """The model's answer for one text (`second_opinion` only when it was asked for)."""

    scores: dict[str, float]
    decisions: dict[str, Decision]
    spans: dict[str, list[Span]] | None
    model_version: str
    second_opinion: dict[str, Opinion] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def decide(p: Floats, review: float, block: float) -> NDArray[np.str_]:
    """allow / review / block for each probability."""
    return np.where(p >= block, "block", np.where(p >= review, "review", "allow"))


@dataclass(frozen=True)
class Calibration:
    """A monotone map from log-odds to probability: a sigmoid, or an isotonic step line."""

    kind: Literal["sigmoid", "isotonic"]
    a: float = 1.0
    b: float = 0.0
    x: Floats = field(default_factory=lambda: np.zeros(0))
    y: Floats = field(default_factory=lambda: np.zeros(0))

    def __call__(self, decision: Floats) -> Floats:
        """Calibrated probabilities of the decisions, clipped to [0, 1]."""
        if self.kind == "sigmoid":
            p = 1.0 / (1.0 + np.exp(-(self.a * decision + self.b)))
        else:
            p = np.interp(np.clip(decision, self.x[0], self.x[-1]), self.x, self.y)
        return np.clip(p, 0.0, 1.0)

    def predict(self, decision: Floats) -> Floats:
        """The calibrator interface of scikit-learn's (a label carried over unchanged)."""
        return self(np.asarray(decision, dtype=np.float64))

    def describe(self) -> dict[str, Any]:
        """The JSON part (the isotonic points go in the arrays file)."""
        if self.kind == "sigmoid":
            return {"kind": "sigmoid", "a": self.a, "b": self.b}
        return {"kind": "isotonic", "points": len(self.x)}


@dataclass(frozen=True)
class Judged:
    """Probabilities and decisions per label as columns in the order of the texts; with
    the second opinion also the n-gram probabilities and which score decided each."""

    probabilities: dict[str, Floats]
    decisions: dict[str, list[Decision]]
    first: dict[str, Floats] | None = None
    second: dict[str, Floats] | None = None
    decided_by: dict[str, list[str]] | None = None


class Model:
    """A trained model as plain arrays: every label scored in one compiled pass.

    `second` is the optional second opinion (model/second_opinion.py) its artifact holds.
    """

    def __init__(
        self,
        spec: engine.FeatureSpec,
        params: NDArray[np.float32],
        labels: Sequence[str],
        intercepts: dict[str, float],
        calibrations: dict[str, Calibration],
        thresholds: dict[str, dict[str, float]],
        metadata: dict[str, Any],
        version: str,
        n_threads: int | None = None,
    ) -> None:
        if params.shape != (spec.n_features, 1 + len(labels)):
            raise ValueError(
                f"parameters of shape {params.shape}, expected {(spec.n_features, 1 + len(labels))}"
            )
        self.spec = spec
        self.params = np.ascontiguousarray(params, dtype=np.float32)
        self.labels: tuple[str, ...] = tuple(labels)
        self.intercepts = intercepts
        self.calibrations = calibrations
        self.thresholds = thresholds
        self.metadata = metadata
        self.version = version
        self.n_threads = n_threads
        self.second: SecondOpinion | None = None

    @classmethod
    def from_trained(cls, trained: Any, version: str = "unsaved") -> Model:
        """The portable model of a model.train.Trained (its pipelines share one featuriser)."""
        return cls(**portable_parts(trained.pipelines), thresholds=trained.thresholds,
                   metadata=trained.metadata, version=version)  # fmt: skip

    def log_odds(self, texts: Sequence[str]) -> Floats:
        """Each text's log-odds per label (columns in self.labels' order)."""
        raw = engine.logits(texts, self.spec, self.params, self.n_threads)
        return raw + np.array([self.intercepts[label] for label in self.labels])

    def probabilities(self, texts: Sequence[str]) -> dict[str, Floats]:
        """Calibrated probability per label, as arrays in the order of texts."""
        decision = self.log_odds(texts)
        return {
            label: self.calibrations[label](decision[:, j]) for j, label in enumerate(self.labels)
        }

    def score_columns(
        self, texts: Sequence[str]
    ) -> tuple[dict[str, Floats], dict[str, list[Decision]]]:
        """Probabilities and decisions per label, as columns in the order of the texts.

        What `score` returns without an object per text: batch scoring writes columns.
        """
        probabilities = self.probabilities(texts)
        decisions = {label: self.decide(label, p) for label, p in probabilities.items()}
        return probabilities, decisions

    def second_opinion_problem(self) -> str | None:
        """Why this model cannot give a second opinion here, or None if it can."""
        if self.second is None:
            return f"model {self.version} has no second opinion (train it with the extra installed)"
        return self.second.problem()

    def judge(self, texts: Sequence[str], second_opinion: bool = False) -> Judged:
        """Every label's columns; with `second_opinion`, the comments in a label's band are
        re-scored by its head, which then decides them (the n-gram score kept beside)."""
        if not second_opinion:
            return Judged(*self.score_columns(texts))
        problem = self.second_opinion_problem()
        if problem is not None or self.second is None:
            raise SecondOpinionError(problem)
        log_odds = self.log_odds(texts)
        first = {
            label: self.calibrations[label](log_odds[:, j]) for j, label in enumerate(self.labels)
        }
        rescored = self.second.rescore(texts, self.labels, log_odds, first)
        probabilities = {
            label: np.where(rescored.asked[label], rescored.second[label], first[label])
            for label in self.labels
        }
        decided_by = {
            label: np.where(rescored.asked[label], SECOND, NGRAMS).tolist() for label in self.labels
        }
        decisions = {label: self.decide(label, p) for label, p in probabilities.items()}
        return Judged(probabilities, decisions, first, rescored.second, decided_by)

    def score(
        self,
        texts: Sequence[str],
        explain: bool = False,
        top: int = 10,
        second_opinion: bool = False,
    ) -> list[Scored]:
        """Scores and decisions per text; with explain, the top spans per label (always the
        n-gram model's); with second_opinion, each label's n-gram and second-opinion scores."""
        if not len(texts):
            return []
        labels = self.labels
        judged = self.judge(texts, second_opinion)
        scores = zip(*(judged.probabilities[label].tolist() for label in labels), strict=True)
        decisions = zip(*(judged.decisions[label] for label in labels), strict=True)
        return [
            Scored(
                scores=dict(zip(labels, row, strict=True)),
                decisions=dict(zip(labels, verdicts, strict=True)),
                spans=(
                    {label: spans[:top] for label, spans in self.explain(text).items()}
                    if explain
                    else None
                ),
                model_version=self.version,
                second_opinion=_opinions(judged, labels, n) if second_opinion else None,
            )
            for n, (text, row, verdicts) in enumerate(zip(texts, scores, decisions, strict=True))
        ]

    def decide(self, label: str, p: Floats) -> list[Decision]:
        """allow / review / block for a label's probabilities, by its thresholds."""
        thresholds = self.thresholds[label]
        decided: list[Decision] = decide(p, thresholds["review"], thresholds["block"]).tolist()
        return decided

    def explain(self, text: str) -> dict[str, list[Span]]:
        """Every span's contribution per label, strongest first (they sum to log-odds - b)."""
        starts, ends, weights = engine.explain(text, self.spec, self.params)
        out = {}
        for j, label in enumerate(self.labels):
            merged: dict[tuple[int, int], float] = defaultdict(float)
            for start, end, weight in zip(
                starts.tolist(), ends.tolist(), weights[:, j].tolist(), strict=True
            ):
                merged[start, end] += weight
            spans = [Span(s, e, text[s:e], w) for (s, e), w in merged.items() if w != 0]
            spans.sort(key=lambda span: (-abs(span.weight), span.start))
            out[label] = spans
        return out


def _opinions(judged: Judged, labels: Sequence[str], n: int) -> dict[str, Opinion]:
    assert judged.first is not None and judged.second is not None and judged.decided_by
    out = {}
    for label in labels:
        second = float(judged.second[label][n])
        out[label] = Opinion(
            first_score=float(judged.first[label][n]),
            second_score=None if np.isnan(second) else second,
            decided_by=judged.decided_by[label][n],
        )
    return out


def portable_parts(pipelines: dict[str, Any]) -> dict[str, Any]:
    """Spec, parameters, intercepts and calibrations of fitted per-label pipelines.

    The pipelines must share one fitted featuriser (model.train fits one for all labels):
    that is what lets one pass score every label.
    """
    labels = list(pipelines)
    features = [pipelines[label].named_steps["features"] for label in labels]
    if any(
        f.spec != features[0].spec or not np.array_equal(f.idf_, features[0].idf_) for f in features
    ):
        raise ValueError("the labels' pipelines do not share one featuriser")
    columns = [np.asarray(features[0].idf_, dtype=np.float32)]
    intercepts, calibrations = {}, {}
    for label in labels:
        classifier = pipelines[label].named_steps["classify"]
        linear = getattr(classifier, "estimator_", classifier)
        columns.append(np.asarray(linear.coef_, dtype=np.float32).ravel())
        intercepts[label] = float(np.ravel(linear.intercept_)[0])
        calibrations[label] = calibration_of(classifier.calibrator_)
    return {
        "spec": features[0].spec,
        "params": np.column_stack(columns),
        "labels": labels,
        "intercepts": intercepts,
        "calibrations": calibrations,
    }


def calibration_of(calibrator: Any) -> Calibration:
    """The plain-array form of a fitted PlattCalibrator or IsotonicRegression."""
    if isinstance(calibrator, Calibration):
        return calibrator
    if hasattr(calibrator, "X_thresholds_"):
        return Calibration(
            "isotonic",
            x=np.asarray(calibrator.X_thresholds_, dtype=np.float64),
            y=np.asarray(calibrator.y_thresholds_, dtype=np.float64),
        )
    sigmoid = calibrator.model
    return Calibration(
        "sigmoid", a=float(sigmoid.coef_[0, 0]), b=float(np.ravel(sigmoid.intercept_)[0])
    )
