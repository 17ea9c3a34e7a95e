"""Honest evaluation: out-of-fold and leave-one-source-out metrics beside a naive baseline."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    average_precision_score,
    f1_score,
    matthews_corrcoef,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline

from moderate.labels.store import LABELS
from moderate.model.behaviour import Scorer, behaviour_results
from moderate.model.bias import run_bias
from moderate.model.metrics import expected_calibration_error, pick_thresholds

__all__ = [
    "EvaluationError",
    "Factory",
    "PipelineScorer",
    "Report",
    "baseline_factory",
    "config_factory",
    "evaluate",
    "label_metrics",
    "oof_probabilities",
]


Factory = Callable[[], Any]

# The kind of discussion each corpus comes from: leave-one-domain-out holds out every
# source of a domain at once, the closest proxy for a comment section the model never saw.
DOMAINS: dict[str, str] = {
    "jigsaw2018": "wikipedia",
    "wiki_context": "wikipedia",
    "civil_comments": "news comments",
    "toxic_spans": "news comments",
    "globe_c3": "news comments",
    "globe_ucc": "news comments",
    "impermium": "news comments",
    "covid_vaccine": "news comments",
    "davidson": "tweets",
    "olid": "tweets",
    "hatexplain": "tweets",
    "mediaeval2020": "tweets",
    "phillips2022": "tweets",
    "youtoxic": "youtube",
    "ethos": "youtube",
    "youtube_videos": "youtube",
    "stormfront": "forums",
    "psycomark": "reddit",
    "pan2024": "telegram",
    # The team's own labels (labels/data) on news comments: an evaluation domain of its own.
    "team_news": "team news labels",
}


def domain_of(source: str) -> str:
    """The domain of a source (a source not listed is a domain of its own)."""
    return DOMAINS.get(source, source)


class EvaluationError(ValueError):
    """The dataset cannot be evaluated (no label with two classes, missing columns)."""


@dataclass
class Report:
    """Everything `evaluate` measured; `write_report` turns it into files."""

    metrics: dict[str, dict[str, dict[str, Any]]]  # system -> label -> metric -> value
    by_source: dict[str, dict[str, list[dict[str, Any]]]]  # system -> label -> per source
    by_domain: dict[str, dict[str, list[dict[str, Any]]]]  # system -> label -> per domain
    oof: dict[str, pd.DataFrame]  # system -> out-of-fold probabilities (index id, col label)
    truth: pd.DataFrame  # index id: source and the known labels (NaN = unknown)
    behaviour: dict[str, float] = field(default_factory=dict)
    behaviour_cases: pd.DataFrame | None = None
    # Sets scored by the trained model only (never trained on): name -> label -> metrics.
    held_out: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    bias: pd.DataFrame | None = None
    # Per label: each row's log-odds from the model fitted without the row's source.
    loso_decisions: dict[str, pd.Series] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready summary (no per-comment probabilities)."""
        bias = None if self.bias is None else _records(self.bias)
        failures = None
        if self.behaviour_cases is not None:
            failed = self.behaviour_cases[~self.behaviour_cases["passed"]]
            failures = _records(failed[["capability", "label", "expected", "p", "text"]])
        return {
            "meta": self.meta,
            "metrics": self.metrics,
            "by_source": self.by_source,
            "by_domain": self.by_domain,
            "held_out": self.held_out,
            "behaviour": self.behaviour,
            "behaviour_topics": self.behaviour_topics(),
            "behaviour_failures": failures,
            "bias": bias,
            "notes": self.notes,
        }

    def behaviour_topics(self) -> dict[str, dict[str, float]]:
        """Pass rate per capability and topic, for the cases that have a topic."""
        cases = self.behaviour_cases
        if cases is None or "topic" not in cases or cases["topic"].isna().all():
            return {}
        rates = cases.dropna(subset=["topic"]).groupby(["capability", "topic"])["passed"].mean()
        out: dict[str, dict[str, float]] = {}
        for key, rate in rates.items():
            capability, topic = (str(part) for part in key)  # type: ignore[attr-defined]
            out.setdefault(capability, {})[topic] = float(rate)
        return out


class PipelineScorer:
    """One fitted estimator per label behind the `Scorer` interface (list in, list out)."""

    def __init__(self, estimators: dict[str, Any]) -> None:
        self.estimators = estimators

    @property
    def labels(self) -> list[str]:
        """The labels this scorer predicts."""
        return list(self.estimators)

    def score(self, texts: Sequence[str]) -> list[_Scores]:
        """Probability per label for each text."""
        probs = {k: est.predict_proba(list(texts))[:, 1] for k, est in self.estimators.items()}
        return [_Scores({k: float(v[i]) for k, v in probs.items()}) for i in range(len(texts))]


@dataclass(frozen=True)
class _Scores:
    scores: dict[str, float]


def baseline_factory() -> Pipeline:
    """The naive baseline: word TF-IDF + logistic regression, default settings."""
    return make_pipeline(TfidfVectorizer(), LogisticRegression())


def _thresholds(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """The artifact's threshold rule, so evaluation matches deployment."""
    chosen = pick_thresholds(y, p)
    return {"review": float(chosen["review"]), "block": float(chosen["block"])}


def _at(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    pred = (p >= threshold).astype(int)
    return {
        "threshold": float(threshold),
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "f1": float(f1_score(y, pred, zero_division=0)),
        "mcc": float(matthews_corrcoef(y, pred)),
    }


def label_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """ROC-AUC, PR-AUC, ECE and F1/MCC at the review and block thresholds."""
    chosen = _thresholds(y, p)
    return {
        "n": len(y),
        "positives": int(y.sum()),
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "ece": expected_calibration_error(y.astype(float), p),
        "review": _at(y, p, chosen["review"]),
        "block": _at(y, p, chosen["block"]),
    }


# Fit parameters of an estimator's final step with one value per row: the learner's
# `sample_weight` and the calibrator's `calibration_weight` (model.pipeline).
RowWeights = dict[str, np.ndarray]


def _fit(estimator: Any, texts: Sequence[str], y: np.ndarray, weights: RowWeights | None) -> Any:
    if weights is None:
        return estimator.fit(list(texts), y)
    if isinstance(estimator, Pipeline):
        step = estimator.steps[-1][0]
        return estimator.fit(list(texts), y, **{f"{step}__{k}": v for k, v in weights.items()})
    return estimator.fit(list(texts), y, **weights)


def _fit_predict(
    factory: Factory,
    train: Sequence[str],
    y: np.ndarray,
    test: Sequence[str],
    weights: RowWeights | None = None,
) -> np.ndarray:
    return _fit_scores(factory, train, y, test, weights)[0]


def _fit_scores(
    factory: Factory,
    train: Sequence[str],
    y: np.ndarray,
    test: Sequence[str],
    weights: RowWeights | None = None,
    decision: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The test rows' probabilities, and with `decision` their log-odds too."""
    estimator = _fit(clone(factory()), train, y, weights)
    p = np.asarray(estimator.predict_proba(list(test))[:, 1], dtype=float)
    if not decision:
        return p, None
    return p, np.asarray(estimator.decision_function(list(test)), dtype=float)


def _weights(rows: pd.DataFrame, label: str, weighting: Any) -> RowWeights | None:
    """Per-row training weights as training gives them (ModelConfig.row_weights): the
    learner's, and the calibrator's without the class balance; None when all are 1."""
    if weighting is None:
        return None
    sources, y = rows["source"].to_numpy(dtype=object), rows[label].to_numpy()
    learn = weighting.row_weights(sources, y, label)
    calibrate = weighting.row_weights(sources, y, label, balanced=False)
    if np.all(learn == 1.0) and np.all(calibrate == 1.0):
        return None
    return {"sample_weight": learn, "calibration_weight": calibrate}


def _known(dataset: pd.DataFrame, label: str) -> tuple[pd.DataFrame, np.ndarray]:
    rows = dataset[dataset[label].notna()]
    return rows, rows[label].to_numpy().astype(int)


def oof_probabilities(
    dataset: pd.DataFrame,
    factory: Factory,
    *,
    folds: int = 5,
    seed: int = 0,
    n_jobs: int = 1,
    notes: list[str] | None = None,
    weighting: Any = None,
) -> pd.DataFrame:
    """Stratified k-fold out-of-fold probabilities; index id, one column per label (NaN unknown).

    `weighting` (a ModelConfig) weighs the training rows as training does.
    """
    out = pd.DataFrame(index=pd.Index(dataset["id"], name="id"))
    for label in _labels(dataset):
        rows, y = _known(dataset, label)
        k = min(folds, int(np.bincount(y, minlength=2).min()))
        if k < 2:
            _note(notes, f"{label}: fewer than 2 examples of a class, no cross-validation")
            continue
        texts, w = rows["text"].to_numpy(), _weights(rows, label, weighting)
        splits = list(StratifiedKFold(k, shuffle=True, random_state=seed).split(texts, y))
        parts = Parallel(n_jobs=n_jobs)(
            delayed(_fit_predict)(factory, texts[tr], y[tr], texts[te], _take(w, tr))
            for tr, te in splits
        )
        p = np.full(len(y), np.nan)
        for (_, te), part in zip(splits, parts, strict=True):
            p[te] = part
        out.loc[rows["id"].to_numpy(), label] = p
        if k < folds:
            _note(notes, f"{label}: {k}-fold instead of {folds}-fold (smallest class has {k})")
    return out


def _given_oof(dataset: pd.DataFrame, given: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Precomputed per-label (id, p) frames as the wide frame oof_probabilities returns."""
    out = pd.DataFrame(index=pd.Index(dataset["id"], name="id"))
    for label, frame in given.items():
        known = int(dataset[label].notna().sum()) if label in dataset else 0
        out[label] = frame.set_index("id")["p"].reindex(out.index)
        if int(out[label].notna().sum()) != known:
            raise EvaluationError(f"{label}: the given out-of-fold probabilities miss rows")
    return out


def _take(weights: RowWeights | None, index: np.ndarray) -> RowWeights | None:
    return None if weights is None else {k: v[index] for k, v in weights.items()}


def _labels(dataset: pd.DataFrame) -> list[str]:
    return [label for label in LABELS if label in dataset and dataset[label].notna().any()]


def _note(notes: list[str] | None, message: str) -> None:
    if notes is not None and message not in notes:
        notes.append(message)


def leave_group_out(
    dataset: pd.DataFrame,
    factory: Factory,
    label: str,
    review: float,
    n_jobs: int,
    notes: list[str],
    weighting: Any = None,
    groups: str = "source",
    decisions: dict[str, float] | None = None,
) -> list[dict[str, Any]]:
    """Leave-one-group-out: train on every other source (or domain), test on this one.

    `decisions`, when given, receives each held-out row's log-odds by id.
    """
    rows, y = _known(dataset, label)
    sources = sorted(rows[groups].astype(str).unique())
    if len(sources) < 2:
        _note(notes, f"{label}: one {groups} only, no leave-one-{groups}-out evaluation")
        return []
    texts, src = rows["text"].to_numpy(), rows[groups].astype(str).to_numpy()
    w = _weights(rows, label, weighting)
    held = [s for s in sources if len(np.unique(y[src != s])) == 2]
    for s in sorted(set(sources) - set(held)):
        _note(notes, f"{label}: {groups} {s} not held out, the others have one class")
    parts = Parallel(n_jobs=n_jobs)(
        delayed(_fit_scores)(
            factory,
            texts[src != s],
            y[src != s],
            texts[src == s],
            _take(w, src != s),
            decisions is not None,
        )
        for s in held
    )
    results = []
    ids = rows["id"].astype(str).to_numpy()
    for s, (p, decision) in zip(held, parts, strict=True):
        if decisions is not None and decision is not None:
            decisions.update(zip(ids[src == s].tolist(), decision.tolist(), strict=True))
        ys = y[src == s]
        entry: dict[str, Any] = {"source": s, "n": len(ys), "positives": int(ys.sum())}
        entry["flagged"] = float((p >= review).mean())  # share sent to review or block
        if len(np.unique(ys)) == 2:
            entry["roc_auc"] = float(roc_auc_score(ys, p))
            entry["pr_auc"] = float(average_precision_score(ys, p))
        else:
            entry["roc_auc"] = entry["pr_auc"] = None
            _note(notes, f"{label}: {groups} {s} has a single class, AUC undefined (see flagged)")
        results.append(entry)
    return results


def _add_in_distribution(
    entries: list[dict[str, Any]], dataset: pd.DataFrame, oof: pd.Series, label: str
) -> None:
    """Beside each held-out score, the cross-validated one on the same source's rows.

    The gap between the two is how much of a source's score came from seeing that source.
    """
    frame = dataset.set_index("id")
    for entry in entries:
        rows = frame.index[(frame["source"].astype(str) == entry["source"]).to_numpy()]
        y = frame.loc[rows, label]
        p = oof.reindex(rows)
        known = (y.notna() & p.notna()).to_numpy()
        ys = y.to_numpy()[known].astype(int)
        both = len(np.unique(ys)) == 2
        entry["cv_roc_auc"] = float(roc_auc_score(ys, p.to_numpy()[known])) if both else None


def config_factory(config: Any = None) -> Factory:
    """A factory for the project's pipeline (model.pipeline.build_pipeline) with `config`."""
    from moderate.model.pipeline import ModelConfig, build_pipeline

    chosen = ModelConfig() if config is None else config
    return partial(build_pipeline, chosen)


def _as_factory(config_or_factory: Any) -> tuple[Factory, str, Any]:
    """The factory, its description, and what weighs its training rows (the config)."""
    if callable(config_or_factory):
        name = getattr(config_or_factory, "__name__", "custom estimator factory")
        return config_or_factory, name, None
    weighting = config_or_factory if hasattr(config_or_factory, "row_weights") else None
    return config_factory(config_or_factory), _describe(config_or_factory), weighting


def _describe(config: Any) -> str:
    keys = (
        "word_ngrams",
        "char_ngrams",
        "use_char",
        "min_df",
        "C",
        "source_weights",
        "balance_within_source",
    )
    shown = ", ".join(f"{k}={getattr(config, k)!r}" for k in keys if hasattr(config, k))
    return f"moderate.model.pipeline.build_pipeline({type(config).__name__}({shown}))"


def _model_meta(model: Scorer | None) -> dict[str, Any]:
    """What a trained Model says about itself: version, why these settings, thresholds."""
    metadata = getattr(model, "metadata", None) or {}
    out: dict[str, Any] = {}
    if getattr(model, "version", "unsaved") != "unsaved":
        out["artifact version"] = model.version  # type: ignore[union-attr]
    why = metadata.get("selection", {}).get("why")
    if why:
        out["settings chosen by cross-validation"] = why
    if metadata.get("thresholds"):
        out["deployed thresholds"] = metadata["thresholds"]
    return out


def _fit_all(dataset: pd.DataFrame, factory: Factory, weighting: Any) -> PipelineScorer:
    estimators = {}
    for label in _labels(dataset):
        rows, y = _known(dataset, label)
        if len(np.unique(y)) == 2:
            w = _weights(rows, label, weighting)
            estimators[label] = _fit(clone(factory()), rows["text"].tolist(), y, w)
    return PipelineScorer(estimators)


def evaluate(
    dataset: pd.DataFrame,
    config_or_factory: Any,
    *,
    folds: int = 5,
    seed: int = 0,
    model: Scorer | None = None,
    baseline: bool = True,
    by_source: bool = True,
    n_jobs: int = 1,
    oof: Mapping[str, pd.DataFrame] | None = None,
    by_domain: bool = True,
    held_out: Mapping[str, pd.DataFrame] | None = None,
) -> Report:
    """Cross-validated, leave-one-source-out, behavioural and bias evaluation of a model.

    `config_or_factory` is a ModelConfig (fed to model.pipeline.build_pipeline) or a callable
    returning an unfitted estimator on raw texts. `model` is the trained model to run the
    behavioural and bias tests on; when None, the factory is fitted on the whole dataset.
    `oof` (per label: columns id and p, as in model.train.Trained.oof) reuses the model's
    out-of-fold probabilities from training instead of refitting it `folds` times.
    `by_domain` adds leave-one-domain-out (see DOMAINS) when sources share domains.
    `held_out` names labelled sets (columns text and labels) that only the trained model
    scores, e.g. the seed threads a reference model was trained without.
    """
    missing = {"id", "source", "text"} - set(dataset.columns)
    if missing:
        raise EvaluationError(f"dataset lacks column(s) {', '.join(sorted(missing))}")
    factory, described, weights = _as_factory(config_or_factory)
    systems: dict[str, Factory] = {"model": factory}
    if baseline:
        systems["baseline"] = baseline_factory
    notes: list[str] = []
    probs = {
        name: _given_oof(dataset, oof)
        if name == "model" and oof is not None
        else oof_probabilities(
            dataset,
            f,
            folds=folds,
            seed=seed,
            n_jobs=n_jobs,
            notes=notes,
            weighting=weights if name == "model" else None,
        )
        for name, f in systems.items()
    }
    if oof is not None:
        notes.append("model: out-of-fold probabilities reused from training")
    truth = dataset.set_index("id")[["source", *_labels(dataset)]]
    metrics: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in systems}
    sources: dict[str, dict[str, list[dict[str, Any]]]] = {name: {} for name in systems}
    domains: dict[str, dict[str, list[dict[str, Any]]]] = {name: {} for name in systems}
    loso: dict[str, pd.Series] = {}
    dataset = dataset.assign(domain=dataset["source"].astype(str).map(domain_of))
    by_domain = by_domain and dataset["domain"].nunique() < dataset["source"].nunique()
    for name, f in systems.items():
        for label in probs[name].columns:
            known = probs[name][label].notna().to_numpy()
            y = truth[label].to_numpy()[known].astype(int)
            metrics[name][label] = label_metrics(y, probs[name][label].to_numpy()[known])
            if by_source:
                review = metrics[name][label]["review"]["threshold"]
                w = weights if name == "model" else None
                kept: dict[str, float] | None = {} if name == "model" else None
                sources[name][label] = leave_group_out(
                    dataset, f, label, review, n_jobs, notes, w, decisions=kept
                )
                if kept:
                    loso[label] = pd.Series(kept, dtype=float)
                _add_in_distribution(sources[name][label], dataset, probs[name][label], label)
            if by_source and by_domain:
                domains[name][label] = leave_group_out(
                    dataset, f, label, review, n_jobs, notes, w, groups="domain"
                )
    if not any(metrics["model"].values()):
        raise EvaluationError("no label has at least 2 examples of each class")
    scorer = model if model is not None else _fit_all(dataset, factory, weights)
    cases = behaviour_results(scorer)
    rates = cases.groupby("capability", sort=True)["passed"].mean()
    bias = run_bias(scorer) if "toxic" in scorer.labels else None
    meta = {
        "rows": len(dataset),
        "folds": folds,
        "seed": seed,
        "model": described,
        "baseline": "TfidfVectorizer() + LogisticRegression(), default settings",
        "sources": {str(k): int(v) for k, v in dataset["source"].value_counts().items()},
        "labelled": {label: int(dataset[label].notna().sum()) for label in _labels(dataset)},
        **_model_meta(model),
    }
    return Report(
        metrics=metrics,
        by_source=sources,
        by_domain=domains,
        held_out={name: held_out_metrics(scorer, rows) for name, rows in (held_out or {}).items()},
        oof=probs,
        truth=truth,
        behaviour={str(k): float(v) for k, v in rates.items()},
        behaviour_cases=cases,
        bias=bias,
        loso_decisions=loso,
        notes=notes,
        meta=meta,
    )


def held_out_metrics(scorer: Scorer, rows: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """ROC-AUC and where the decisions fall on a labelled set the model never trained on."""
    thresholds = (getattr(scorer, "metadata", None) or {}).get("thresholds", {})
    scored = scorer.score(rows["text"].astype(str).tolist())
    out: dict[str, dict[str, Any]] = {}
    for label in scorer.labels:
        if label not in rows:
            continue
        known = rows[label].notna().to_numpy()
        if not known.any():
            continue
        y = rows[label].to_numpy()[known].astype(int)
        p = np.array([s.scores[label] for s in scored], dtype=float)[known]
        entry: dict[str, Any] = {"n": len(y), "positives": int(y.sum())}
        entry["roc_auc"] = float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else None
        cut = thresholds.get(label)
        if cut:
            entry["review_or_block"] = float((p >= cut["review"]).mean())
            entry["block"] = float((p >= cut["block"]).mean())
        out[label] = entry
    return out


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """DataFrame rows as JSON-safe dicts (NaN becomes None)."""
    clean = frame.astype(object).where(frame.notna(), None)
    return [{str(k): v for k, v in row.items()} for row in clean.to_dict(orient="records")]
