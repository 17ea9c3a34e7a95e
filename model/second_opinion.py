"""The second opinion (issue 15): a calibrated linear head per label on a sentence
encoder's embedding and the n-gram model's log-odds, asked about the comments in that
label's band (by default its review band), where the n-grams are unsure.

The n-gram engine scores every comment. A comment whose n-gram probability for a label
falls in the label's band is embedded (model/semantic.py, the optional extra) and the
head's calibrated probability becomes its score and decision for that label; the n-gram
score is kept beside it. A head is a few hundred numbers (one weight per embedding
dimension, one for the n-gram log-odds, an intercept, a calibration), kept in the
artifact as `second_opinion.json` and `second_opinion.npz` with the encoder's identity.
Nothing here imports the encoder, scikit-learn or pandas: `moderate score` without the
second opinion loads this module and must not get slower (model/second_train.py fits).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from moderate.model.semantic import DIM, Encoder, EncoderError, Identity, installed

if TYPE_CHECKING:
    from moderate.model.predict import Calibration

FILE = "second_opinion.json"
ARRAYS = "second_opinion.npz"
NGRAMS = "ngrams"
SECOND = "second_opinion"
Floats = NDArray[np.float64]


class SecondOpinionError(Exception):
    """The second opinion was asked for and cannot answer (none trained, no encoder)."""


@dataclass(frozen=True)
class Band:
    """The n-gram probabilities [low, high) whose comments are re-scored (high > 1: all)."""

    low: float
    high: float

    def holds(self, p: Floats) -> NDArray[np.bool_]:
        """Which probabilities are inside."""
        return np.asarray((p >= self.low) & (p < self.high), dtype=bool)

    def to_dict(self) -> dict[str, float]:
        """A JSON-ready dict."""
        return {"low": self.low, "high": self.high}


@dataclass(frozen=True)
class Head:
    """One label's second opinion: log-odds = E·w + first·z + b, then a calibration."""

    weights: NDArray[np.float32]
    first: float
    intercept: float
    calibration: Calibration
    band: Band

    def log_odds(self, embeddings: NDArray[np.float32], first: Floats) -> Floats:
        """The head's log-odds from the embeddings and the n-gram log-odds."""
        E = np.asarray(embeddings, dtype=np.float64)
        w = np.asarray(self.weights, dtype=np.float64)
        # Row by row, not E @ w: BLAS blocks a matrix product by its shape, so a comment
        # would score a last bit differently alone than in a batch.
        dot = (E * w).sum(axis=1)
        return np.asarray(dot + self.first * first + self.intercept, dtype=np.float64)

    def probability(self, embeddings: NDArray[np.float32], first: Floats) -> Floats:
        """Calibrated probabilities."""
        return self.calibration(self.log_odds(embeddings, first))


@dataclass(frozen=True)
class Rescored:
    """Which comments each label re-scored, and the second opinion's probabilities there."""

    asked: dict[str, NDArray[np.bool_]]
    second: dict[str, Floats]  # NaN where not asked


class SecondOpinion:
    """The heads of a model and the encoder they were trained with (loaded when needed)."""

    def __init__(
        self,
        identity: Identity,
        heads: dict[str, Head],
        described: dict[str, Any] | None = None,
    ) -> None:
        self.identity = identity
        self.heads = heads
        self.described = described or {}
        self._encoder: Encoder | None = None
        self._lock = threading.Lock()
        self._problem: tuple[str | None] | None = None

    def problem(self) -> str | None:
        """Why this machine cannot give the second opinion, or None if it can (found out
        once: it hashes the encoder's weights)."""
        if self._problem is None:
            self._problem = (self._find_problem(),)
        return self._problem[0]

    def _find_problem(self) -> str | None:
        if not self.heads:
            return "it re-scores no label (none gained leave-one-source-out)"
        try:
            found = installed()
        except EncoderError as error:
            return str(error)
        if found != self.identity:
            try:
                Encoder(self.identity)
            except EncoderError as error:
                return str(error)
        return None

    def describe(self) -> dict[str, Any]:
        """What /v1/model says: the encoder, each re-scored label's band, whether it runs."""
        problem = self.problem()
        return {
            "encoder": self.identity.to_dict(),
            "bands": {label: head.band.to_dict() for label, head in self.heads.items()},
            "available": problem is None,
            "problem": problem,
        }

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """The encoder's embeddings (one encoder per model, one call at a time)."""
        with self._lock:
            if self._encoder is None:
                self._encoder = Encoder(self.identity)
            return self._encoder.embed(texts)

    def rescore(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        log_odds: Floats,
        first: dict[str, Floats],
    ) -> Rescored:
        """Embed the comments in any label's band once; each head re-scores its own."""
        asked = {
            label: (
                self.heads[label].band.holds(first[label])
                if label in self.heads
                else np.zeros(len(texts), dtype=bool)
            )
            for label in labels
        }
        any_asked = np.flatnonzero(
            np.vstack([np.zeros(len(texts), dtype=bool), *asked.values()]).any(axis=0)
        )
        second = {label: np.full(len(texts), np.nan) for label in labels}
        if len(any_asked):
            E = np.zeros((len(texts), DIM), dtype=np.float32)
            E[any_asked] = self.embed([texts[i] for i in any_asked.tolist()])
            for j, label in enumerate(labels):
                rows = np.flatnonzero(asked[label])
                if len(rows):
                    second[label][rows] = self.heads[label].probability(E[rows], log_odds[rows, j])
        return Rescored(asked, second)
