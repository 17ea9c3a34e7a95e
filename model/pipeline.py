"""The model for one label: one scikit-learn Pipeline, text in, calibrated probability out."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline

from moderate.model.features import HashedTfidf


class ConfigError(ValueError):
    """A model configuration file or value that cannot be used."""


def _default_source_weights() -> dict[str, float]:
    # Davidson was down-weighted to 0.25 while its 77 % "offensive language" class counted
    # as toxic; that class is now unknown (labels/importers.py) and full weight scores
    # better leave-one-source-out (model/EXPERIMENTS.md).
    return {}


@dataclass(frozen=True)
class ModelConfig:
    """Everything that decides a trained model besides the data; JSON/TOML serialisable."""

    labels: tuple[str, ...] = ("toxic", "conspiracy")
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    # The hashed feature space: 2**word_bits word columns, 2**char_bits char columns.
    word_bits: int = 20
    char_bits: int = 20
    # Defaults used by build_pipeline; train() replaces them with the cross-validated choice.
    C: float = 1.0
    use_char: bool = True
    min_df: int = 2
    grid_C: tuple[float, ...] = (0.5, 2.0, 8.0)
    grid_char: tuple[bool, ...] = (True, False)
    grid_min_df: tuple[int, ...] = (1, 2)
    # Model selection runs on a stratified sample of at most this many rows per label.
    search_rows: int = 12_000
    search_folds: int = 3
    # Prefer the cheaper feature set when it scores within this much of the best.
    simpler_within: float = 0.005
    # "loso": settings are chosen by leave-one-source-out ROC-AUC where a label's sample has
    # loso_min_sources sources with both classes; "cv": by cross-validated PR-AUC.
    select_by: str = "loso"
    loso_min_sources: int = 3
    folds: int = 5
    calibration: str = "auto"  # "sigmoid", "isotonic" or "auto" (isotonic from isotonic_min_rows)
    isotonic_min_rows: int = 20_000
    block_precision: float = 0.9
    review_recall: float = 0.9
    # The review band may hold at most this share of a typical comment section: the rows
    # of `typical_source` (the team's news-comment labels) when training has them.
    review_max_share: float = 0.25
    typical_source: str = "team_news"
    typical_min_rows: int = 200
    source_weights: Mapping[str, float] = field(default_factory=_default_source_weights)
    # Labels whose classes are balanced within each source: every source's positives and
    # negatives weigh the same, so a source's style (tweets, news) says nothing about the
    # label. Without it, 4,000 mostly negative team news comments taught "news talk is not
    # conspiracy" and cost the other sources 0.01-0.05 leave-one-source-out.
    balance_within_source: tuple[str, ...] = ("conspiracy",)
    # Adapting a trained model to a team's labels (model/adapt.py): the grid of C for the
    # team's correction to it, smallest (closest to the model) first. Its top is the prior's
    # weight: adapting the reference to labels/data with C up to 0.1 costs the public
    # sources at most 0.005 leave-one-source-out on average and 0.01 on any one; C = 0.5
    # already cost 0.012 and 0.023 (model/EXPERIMENTS.md). 100 labels still move it.
    adapt_grid_C: tuple[float, ...] = (0.02, 0.05, 0.1)
    max_iter: int = 1000
    # From this many rows a label is learnt by SGD (log loss, same objective as logistic
    # regression): 6x faster than liblinear on ~90k comments, same PR-AUC from ~10k rows
    # (measured on the reference corpora).
    sgd_min_rows: int = 5_000
    sgd_epochs: int = 12
    random_state: int = 13
    # Out-of-core training.
    chunk_rows: int = 10_000
    epochs: int = 3
    holdout_every: int = 10  # one row in this many (by id hash) calibrates, up to chunk_rows

    def source_row_weights(self, sources: Any) -> NDArray[np.float64]:
        """Each row's weight from its source alone (`source_weights`, else 1.0)."""
        source = pd.Series(np.asarray(sources, dtype=object)).astype("string").fillna("")
        return source.map(lambda s: self.source_weights.get(s, 1.0)).to_numpy(np.float64)

    def row_weights(
        self, sources: Any, y: Any, label: str, balanced: bool = True
    ) -> NDArray[np.float64]:
        """Each training row's weight for `label`: its source's weight, times the class
        balance within its source when the label is in `balance_within_source` (and
        `balanced`; the calibrator is fitted without it, so probabilities keep the real
        base rate)."""
        source = pd.Series(np.asarray(sources, dtype=object)).astype("string").fillna("")
        weights = self.source_row_weights(source)
        if balanced and label in self.balance_within_source:
            frame = pd.DataFrame({"source": source, "y": np.asarray(y)})
            size = frame.groupby("source")["y"].transform("size").to_numpy(np.float64)
            same = frame.groupby(["source", "y"])["y"].transform("size").to_numpy(np.float64)
            weights = weights * size / (2.0 * same)
        return weights

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = asdict(self)
        data["source_weights"] = dict(self.source_weights)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelConfig:
        """Build a config from a dict, refusing unknown keys."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(f"unknown model config keys: {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for key, value in data.items():
            values[key] = tuple(value) if isinstance(value, list) else value
        try:
            return cls(**values)
        except TypeError as error:
            raise ConfigError(str(error)) from error

    @classmethod
    def from_file(cls, path: Path) -> ModelConfig:
        """Read a .json or .toml config file."""
        try:
            text = path.read_text(encoding="utf-8")
            data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        except OSError as error:
            raise ConfigError(f"{path}: cannot read: {error.strerror}") from error
        except (ValueError, tomllib.TOMLDecodeError) as error:
            kind = path.suffix.lstrip(".") or "json"
            raise ConfigError(f"{path}: not valid {kind}: {error}") from error
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a table of settings")
        try:
            return cls.from_dict(data)
        except ConfigError as error:
            raise ConfigError(f"{path}: {error}") from error


class LogisticModel(ClassifierMixin, BaseEstimator):
    """Balanced-class logistic regression that picks its solver from the data size.

    Below `sgd_min_rows` rows: liblinear. From there: SGD on the log loss, the same
    objective with penalty alpha = 1 / (C * rows): 6x faster than liblinear on ~90k
    comments and the same PR-AUC from ~10k rows (measured on the reference corpora).
    """

    def __init__(
        self,
        C: float = 1.0,
        sgd_min_rows: int = 5_000,
        sgd_epochs: int = 12,
        max_iter: int = 1000,
        random_state: int = 13,
        sgd: bool | None = None,
    ) -> None:
        self.C = C
        self.sgd_min_rows = sgd_min_rows
        self.sgd_epochs = sgd_epochs
        self.max_iter = max_iter
        self.random_state = random_state
        self.sgd = sgd

    def _learner(self, rows: int, dual: bool) -> LogisticRegression | SGDClassifier:
        use_sgd = self.sgd if self.sgd is not None else rows >= self.sgd_min_rows
        if use_sgd:
            return SGDClassifier(
                loss="log_loss",
                alpha=1.0 / (self.C * max(rows, 1)),
                class_weight="balanced",
                max_iter=self.sgd_epochs,
                tol=None,
                random_state=self.random_state,
            )
        return LogisticRegression(
            C=self.C,
            solver="liblinear",
            dual=dual,  # the dual problem is much faster with more features than rows
            class_weight="balanced",
            max_iter=self.max_iter,
            random_state=self.random_state,
        )

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> LogisticModel:
        """Fit the solver suited to the number of rows."""
        learner = self._learner(X.shape[0], dual=X.shape[1] > X.shape[0])
        self.model_ = learner.fit(X, y, sample_weight=sample_weight)
        round_to_float32(self.model_)
        self.classes_ = self.model_.classes_
        self.coef_ = self.model_.coef_
        self.intercept_ = self.model_.intercept_
        return self

    def decision_function(self, X: Any) -> NDArray[np.float64]:
        """Log-odds: one sparse dot product."""
        return np.asarray(self.model_.decision_function(X), dtype=np.float64)

    def predict(self, X: Any) -> NDArray[np.float64]:
        """The class on the positive side of the decision."""
        return np.asarray(self.classes_[(self.decision_function(X) > 0).astype(int)])


def round_to_float32(linear: Any) -> None:
    """Round a fitted linear model's weights to float32, as the portable artifact stores
    them, so that scikit-learn and the engine score with the very same numbers."""
    linear.coef_ = np.asarray(linear.coef_, dtype=np.float32).astype(np.float64)


class PlattCalibrator:
    """Sigmoid calibration of decision values, with Platt's smoothed targets.

    The targets (N+ + 1) / (N+ + 2) and 1 / (N- + 2) keep a separable training set from
    giving probabilities of exactly 0 and 1. Soft targets are fitted as weighted copies.
    """

    def __init__(self) -> None:
        self.model = LogisticRegression(C=1e6, solver="lbfgs")

    def fit(
        self, decision: NDArray[np.float64], y: NDArray[np.float64], weight: Any
    ) -> PlattCalibrator:
        positives, negatives = float(y.sum()), float(len(y) - y.sum())
        target = np.where(y == 1, (positives + 1) / (positives + 2), 1 / (negatives + 2))
        base = np.ones(len(y)) if weight is None else np.asarray(weight, dtype=np.float64)
        column = decision.reshape(-1, 1)
        weights = np.concatenate([base * target, base * (1 - target)])
        classes = np.concatenate([np.ones(len(y)), np.zeros(len(y))])
        self.model.fit(np.vstack([column, column]), classes, sample_weight=weights)
        if self.model.coef_[0, 0] < 0:
            # A falling map would rank the comments backwards. The best increasing one is
            # then flat (the log loss is convex in the slope): the base rate for everyone.
            rate = float(np.sum(weights * classes) / np.sum(weights))
            self.model.coef_[0, 0] = 0.0
            self.model.intercept_[0] = float(np.log(rate / (1.0 - rate)))
        return self

    def predict(self, decision: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(self.model.predict_proba(decision.reshape(-1, 1))[:, 1])


def calibration_method(method: str, rows: int, isotonic_min_rows: int) -> str:
    """The calibration a method names for this many rows: "auto" is isotonic from
    `isotonic_min_rows` rows (enough for its steps), sigmoid below."""
    if method != "auto":
        return method
    return "isotonic" if rows >= isotonic_min_rows else "sigmoid"


def fit_calibrator(method: str, decision: Any, y: Any, weight: Any = None) -> Any:
    """An increasing map from decisions to probabilities: isotonic or Platt's sigmoid."""
    if method == "isotonic":
        calibrator: Any = IsotonicRegression(
            increasing=True, out_of_bounds="clip", y_min=0.0, y_max=1.0
        )
        return calibrator.fit(decision, y, sample_weight=weight)
    if method == "sigmoid":
        return PlattCalibrator().fit(decision, y, weight)
    raise ConfigError(f"calibration must be sigmoid, isotonic or auto: {method!r}")


class FixedLinear(ClassifierMixin, BaseEstimator):
    """A linear model given by its weights, e.g. the reference adapted to a team's labels.

    `fit` learns nothing: the weights were found elsewhere (model/adapt.py).
    """

    def __init__(self, coef: Any = None, intercept: float = 0.0) -> None:
        self.coef = coef
        self.intercept = intercept

    def fit(self, X: Any = None, y: Any = None, sample_weight: Any = None) -> FixedLinear:
        """Take the given weights as the fitted ones."""
        self.coef_ = np.asarray(self.coef, dtype=np.float32).astype(np.float64).reshape(1, -1)
        self.intercept_ = np.array([float(self.intercept)])
        self.classes_ = np.array([0.0, 1.0])
        return self

    def decision_function(self, X: Any) -> NDArray[np.float64]:
        """Log-odds: one sparse dot product."""
        return np.asarray(X @ self.coef_[0] + self.intercept_[0], dtype=np.float64)


class OutOfFoldCalibrated(ClassifierMixin, BaseEstimator):
    """A linear model fitted on all rows, calibrated on its out-of-fold decisions.

    The same scheme as CalibratedClassifierCV(ensemble=False): one linear model, so scoring
    is one sparse dot product and its weights explain a score exactly. Written out because
    training needs the out-of-fold calibrated probabilities (`oof_proba_`) to pick the
    thresholds, which CalibratedClassifierCV computes but does not keep (getting them again
    would double the training time), and because tiny datasets need fewer folds.
    `method` "auto" is isotonic from `isotonic_min_rows` rows, sigmoid (Platt) below;
    `cv` is the number of stratified folds, lowered to the smaller class's count.
    """

    def __init__(
        self,
        estimator: Any = None,
        method: str = "auto",
        cv: int = 5,
        isotonic_min_rows: int = 20_000,
        random_state: int = 13,
    ) -> None:
        self.estimator = estimator
        self.method = method
        self.cv = cv
        self.isotonic_min_rows = isotonic_min_rows
        self.random_state = random_state

    def fit(
        self, X: Any, y: Any, sample_weight: Any = None, calibration_weight: Any = None
    ) -> OutOfFoldCalibrated:
        """Out-of-fold decisions -> calibrator; then the linear model on all rows.

        `calibration_weight` weighs the calibrator's rows when it differs from the
        learner's `sample_weight` (a class balance for learning must not move the base
        rate of the probabilities).
        """
        y = np.asarray(y, dtype=np.float64)
        smaller = int(min(y.sum(), len(y) - y.sum()))
        if smaller < 2:
            raise ValueError("calibration needs at least 2 rows of each class")
        self.folds_ = min(self.cv, smaller)
        splitter = StratifiedKFold(self.folds_, shuffle=True, random_state=self.random_state)
        params = {} if sample_weight is None else {"sample_weight": sample_weight}
        base = self.estimator if self.estimator is not None else LogisticModel()
        decision = cross_val_predict(
            clone(base), X, y, cv=splitter, method="decision_function", params=params
        )
        self.method_ = calibration_method(self.method, len(y), self.isotonic_min_rows)
        weight = sample_weight if calibration_weight is None else calibration_weight
        self.calibrator_ = fit_calibrator(self.method_, decision, y, weight)
        self.oof_decision_ = decision
        self.oof_proba_ = np.clip(self.calibrator_.predict(decision), 0.0, 1.0)
        self.estimator_ = clone(base).fit(X, y, **params)
        self.classes_ = self.estimator_.classes_
        return self

    @classmethod
    def from_parts(
        cls, linear: Any, calibrator: Any, method: str, oof_decision: Any, folds: int
    ) -> OutOfFoldCalibrated:
        """A fitted instance from a fitted linear model and its calibrator (model/adapt.py)."""
        fitted = cls(linear, method=method, cv=folds)
        fitted.estimator_, fitted.calibrator_, fitted.method_ = linear, calibrator, method
        fitted.folds_, fitted.oof_decision_ = folds, np.asarray(oof_decision)
        fitted.oof_proba_ = np.clip(calibrator.predict(fitted.oof_decision_), 0.0, 1.0)
        fitted.classes_ = linear.classes_
        return fitted

    def decision_function(self, X: Any) -> NDArray[np.float64]:
        """The linear model's raw score (log-odds before calibration)."""
        return np.asarray(self.estimator_.decision_function(X), dtype=np.float64)

    def predict_proba(self, X: Any) -> NDArray[np.float64]:
        """Calibrated probabilities of [negative, positive]."""
        return self.proba_of(self.decision_function(X))

    def proba_of(self, decision: NDArray[np.float64]) -> NDArray[np.float64]:
        """Calibrated [negative, positive] probabilities for raw decisions."""
        positive = np.clip(self.calibrator_.predict(decision), 0.0, 1.0)
        return np.column_stack([1.0 - positive, positive])

    def predict(self, X: Any) -> NDArray[np.float64]:
        """The more probable class."""
        proba = self.predict_proba(X)
        return np.asarray(self.classes_[proba.argmax(axis=1)])


def linear_classifier(
    config: ModelConfig, C: float | None = None, sgd: bool | None = None
) -> LogisticModel:
    """The config's logistic model (solver chosen by data size unless `sgd` forces it)."""
    return LogisticModel(
        C=config.C if C is None else C,
        sgd_min_rows=config.sgd_min_rows,
        sgd_epochs=config.sgd_epochs,
        max_iter=config.max_iter,
        random_state=config.random_state,
        sgd=sgd,
    )


def folds(config: ModelConfig, n_splits: int | None = None) -> StratifiedKFold:
    """Shuffled stratified folds with the config's seed."""
    return StratifiedKFold(
        n_splits=n_splits or config.folds, shuffle=True, random_state=config.random_state
    )


def calibrated(config: ModelConfig, C: float | None = None) -> OutOfFoldCalibrated:
    """The classifier step: balanced logistic model with out-of-fold calibration."""
    return OutOfFoldCalibrated(
        linear_classifier(config, C),
        method=config.calibration,
        cv=config.folds,
        isotonic_min_rows=config.isotonic_min_rows,
        random_state=config.random_state,
    )


def featurizer(config: ModelConfig) -> HashedTfidf:
    """The config's unfitted featuriser (the engine normalises the text itself)."""
    return HashedTfidf(
        word_ngrams=config.word_ngrams,
        char_ngrams=config.char_ngrams if config.use_char else None,
        word_bits=config.word_bits,
        char_bits=config.char_bits,
        min_df=config.min_df,
    )


def build_pipeline(config: ModelConfig) -> Pipeline:
    """Unfitted pipeline for one label: raw text -> hashed TF-IDF -> calibrated linear."""
    return Pipeline([("features", featurizer(config)), ("classify", calibrated(config))])
