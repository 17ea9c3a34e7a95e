"""Prediction: scores, decisions and explanations for a list of texts, in the same order.

Explanations are exact for the linear model: a feature's contribution to the log-odds is
its weight times its value. The weights are those of the single linear model fitted on all
training rows (calibration is a monotone map of its log-odds, so it ranks the same). Each
word n-gram's contribution is shared among the words it covers, each character n-gram's
goes to the word it falls in; words are then mapped back to character offsets in the
ORIGINAL text, through the normaliser's offsets. The weights of one text and label add up
to the model's log-odds minus its intercept.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, cast

import numpy as np
from numpy.typing import NDArray
from sklearn.feature_extraction import FeatureHasher
from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline

from model.features import TOKEN_PATTERN, CharWbAnalyzer
from model.normalize import normalize_spans

Decision = Literal["allow", "review", "block"]
DECISIONS: tuple[Decision, ...] = ("allow", "review", "block")
_CHUNK = re.compile(r"\S+")


@dataclass(frozen=True)
class Span:
    """A stretch of the original text and how much it pushed a score (log-odds)."""

    start: int
    end: int
    text: str
    weight: float


@dataclass(frozen=True)
class Scored:
    """The model's answer for one text."""

    scores: dict[str, float]
    decisions: dict[str, Decision]
    spans: dict[str, list[Span]] | None
    model_version: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def decide(p: NDArray[np.float64], review: float, block: float) -> NDArray[np.str_]:
    """allow / review / block for each probability."""
    return np.where(p >= block, "block", np.where(p >= review, "review", "allow"))


class Model:
    """A trained model: one calibrated pipeline per label, thresholds and metadata."""

    def __init__(
        self,
        pipelines: dict[str, Pipeline],
        thresholds: dict[str, dict[str, float]],
        metadata: dict[str, Any],
        version: str,
    ) -> None:
        self.pipelines = pipelines
        self.thresholds = thresholds
        self.metadata = metadata
        self.version = version
        self.labels: tuple[str, ...] = tuple(pipelines)

    @classmethod
    def from_trained(cls, trained: Any, version: str = "unsaved") -> Model:
        """Wrap a model.train.Trained that was not saved (tests, evaluation)."""
        return cls(trained.pipelines, trained.thresholds, trained.metadata, version)

    def probabilities(self, texts: Sequence[str]) -> dict[str, NDArray[np.float64]]:
        """Calibrated probability per label, as arrays in the order of texts."""
        return {label: p for label, (p, _, _) in self._run(list(texts)).items()}

    def score(self, texts: Sequence[str], explain: bool = False, top: int = 10) -> list[Scored]:
        """Scores and decisions per text; with explain, the top spans per label."""
        texts = list(texts)
        if not texts:
            return []
        runs = self._run(texts)
        decisions = {
            label: decide(p, self.thresholds[label]["review"], self.thresholds[label]["block"])
            for label, (p, _, _) in runs.items()
        }
        scores = {label: p.tolist() for label, (p, _, _) in runs.items()}
        labels = list(runs)
        results = []
        for i, text in enumerate(texts):
            spans = None
            if explain:
                spans = {
                    label: explain_row(text, runs[label][1], runs[label][2], i, top)
                    for label in labels
                }
            results.append(
                Scored(
                    scores={label: scores[label][i] for label in labels},
                    decisions={label: cast(Decision, str(decisions[label][i])) for label in labels},
                    spans=spans,
                    model_version=self.version,
                )
            )
        return results

    def _run(self, texts: list[str]) -> dict[str, tuple[NDArray[np.float64], Pipeline, Any]]:
        """Per label: probabilities, pipeline, feature matrix. Shared steps run once."""
        normalized: dict[int, list[str]] = {}
        features: dict[tuple[int, int], Any] = {}
        out = {}
        for label, pipeline in self.pipelines.items():
            normalizer, union, classifier = (step for _, step in pipeline.steps)
            key = id(normalizer)
            if key not in normalized:
                normalized[key] = normalizer.transform(texts)
            fkey = (key, id(union))
            if fkey not in features:
                features[fkey] = union.transform(normalized[key])
            X = features[fkey]
            p = classifier.predict_proba(X)[:, 1]
            out[label] = (np.asarray(p, dtype=np.float64), pipeline, X)
        return out


def linear_weights(pipeline: Pipeline) -> tuple[NDArray[np.float64], float]:
    """Coefficients and intercept of the linear model behind a calibrated pipeline."""
    classifier = pipeline.steps[-1][1]
    linear = getattr(classifier, "estimator_", classifier)
    return np.asarray(linear.coef_, dtype=np.float64).ravel(), float(linear.intercept_[0])


def _blocks(union: FeatureUnion) -> list[tuple[Any, int]]:
    """Each vectorizer of the union (the first step of a sub-pipeline) and its first column."""
    blocks, offset = [], 0
    for _, part in union.transformer_list:
        vectorizer = part.steps[0][1] if isinstance(part, Pipeline) else part
        blocks.append((vectorizer, offset))
        if isinstance(vectorizer, HashingVectorizer):
            offset += vectorizer.n_features
        else:
            offset += len(vectorizer.vocabulary_)
    return blocks


def _char_ngram_range(vectorizer: Any) -> tuple[int, int] | None:
    """The n-gram range when the vectorizer makes char_wb n-grams, else None."""
    if isinstance(vectorizer.analyzer, CharWbAnalyzer):
        low, high = vectorizer.analyzer.ngram_range
        return low, high
    if vectorizer.analyzer == "char_wb":
        low, high = vectorizer.ngram_range
        return low, high
    return None


def _word_occurrences(
    vectorizer: Any, tokens: list[tuple[int, int]], normalized: str
) -> list[tuple[str, tuple[int, ...]]]:
    """Word n-grams as the vectorizer builds them, each with the tokens it covers."""
    words = [normalized[a:b] for a, b in tokens]
    low, high = vectorizer.ngram_range
    found = []
    for n in range(low, high + 1):
        for i in range(len(words) - n + 1):
            found.append((" ".join(words[i : i + n]), tuple(range(i, i + n))))
    return found


def _char_occurrences(
    ngram_range: tuple[int, int], units: list[tuple[int, int]], normalized: str
) -> list[tuple[str, tuple[int, ...]]]:
    """char_wb n-grams as sklearn builds them, each given to the word it overlaps most.

    A chunk of punctuation with no word in it becomes a unit of its own (appended to units).
    """
    low, high = ngram_range
    word_starts = [a for a, _ in units]  # words never cross whitespace, so never chunks
    found: list[tuple[str, tuple[int, ...]]] = []
    for chunk in _CHUNK.finditer(normalized):
        first = bisect_left(word_starts, chunk.start())
        inside = list(range(first, bisect_left(word_starts, chunk.end(), lo=first)))
        if not inside:
            units.append(chunk.span())
            inside = [len(units) - 1]
        padded = f" {chunk.group()} "
        for n in range(low, high + 1):
            offset = 0
            while True:
                gram = padded[offset : offset + n]
                lo = chunk.start() + offset - 1
                found.append((gram, (_owner(units, inside, lo, lo + len(gram)),)))
                if offset + n >= len(padded):
                    break
                offset += 1
            if offset == 0:  # sklearn counts a word shorter than n only once
                break
    return found


def _owner(units: list[tuple[int, int]], inside: list[int], lo: int, hi: int) -> int:
    """The unit sharing most characters with [lo, hi); the nearest one if none does."""

    def closeness(t: int) -> tuple[int, int]:
        a, b = units[t]
        return -(min(b, hi) - max(a, lo)), min(abs(a - lo), abs(b - hi))

    return min(inside, key=closeness)


def _columns(vectorizer: Any, grams: list[str]) -> list[int | None]:
    """Column of each n-gram in the vectorizer's output (None: not a feature)."""
    if isinstance(vectorizer, TfidfVectorizer):
        vocabulary = vectorizer.vocabulary_
        return [vocabulary.get(g) for g in grams]
    hasher = FeatureHasher(
        n_features=vectorizer.n_features, input_type="string", alternate_sign=False
    )
    hashed = hasher.transform([[g] for g in grams]).tocsr()
    return [int(hashed.indices[hashed.indptr[i]]) for i in range(len(grams))]


def contributions(text: str, pipeline: Pipeline, X: Any, row: int) -> list[Span]:
    """Every word's (or punctuation chunk's) contribution to the log-odds of one text."""
    normalized, starts, ends = normalize_spans(text)
    pattern = re.compile(_token_pattern(pipeline))
    tokens = [m.span() for m in pattern.finditer(normalized)]
    units = list(tokens)
    coef, _ = linear_weights(pipeline)
    values = X[row].tocsr()
    present = dict(zip(values.indices.tolist(), values.data.tolist(), strict=True))
    weights: dict[int, float] = defaultdict(float)
    for vectorizer, offset in _blocks(pipeline.named_steps["features"]):
        char_range = _char_ngram_range(vectorizer)
        if char_range is not None:
            found = _char_occurrences(char_range, units, normalized)
        elif vectorizer.analyzer == "word":
            found = _word_occurrences(vectorizer, tokens, normalized)
        else:
            raise ValueError(f"cannot explain features of analyzer {vectorizer.analyzer!r}")
        if not found:
            continue
        columns = _columns(vectorizer, [gram for gram, _ in found])
        counts: dict[int, int] = defaultdict(int)
        for column in columns:
            if column is not None:
                counts[column] += 1
        for (_, owners), column in zip(found, columns, strict=True):
            if column is None:
                continue
            value = present.get(offset + column, 0.0)
            share = coef[offset + column] * value / counts[column] / len(owners)
            for owner in owners:
                weights[owner] += share
    return _to_spans(text, weights, units, starts, ends)


def _to_spans(
    text: str,
    weights: dict[int, float],
    units: list[tuple[int, int]],
    starts: list[int],
    ends: list[int],
) -> list[Span]:
    merged: dict[tuple[int, int], float] = defaultdict(float)
    for unit, weight in weights.items():
        a, b = units[unit]
        merged[starts[a], ends[b - 1]] += weight
    return [
        Span(start=s, end=e, text=text[s:e], weight=float(w))
        for (s, e), w in merged.items()
        if w != 0
    ]


def _token_pattern(pipeline: Pipeline) -> str:
    for vectorizer, _ in _blocks(pipeline.named_steps["features"]):
        if vectorizer.analyzer == "word":
            return str(vectorizer.token_pattern)
    return TOKEN_PATTERN


def explain_row(text: str, pipeline: Pipeline, X: Any, row: int, top: int = 10) -> list[Span]:
    """The top spans of one text by |weight|, strongest first."""
    spans = contributions(text, pipeline, X, row)
    spans.sort(key=lambda s: (-abs(s.weight), s.start))
    return spans[:top]
