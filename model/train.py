"""Training: choose features and regularisation by cross-validation, fit, pick thresholds.

Reads one way: the engine's features and model.pipeline's estimators in, a `Trained`
out. Evaluation, reports and artifacts come after it (model/jobs.py runs them in order).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from joblib import Parallel, delayed
from numpy.typing import NDArray
from sklearn.base import clone
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import cross_val_predict, train_test_split
from sklearn.pipeline import Pipeline

from moderate.model import engine
from moderate.model.features import idf_of
from moderate.model.metrics import choose_thresholds, headline_metrics, ranking_problem
from moderate.model.pipeline import (
    ConfigError,
    ModelConfig,
    calibrated,
    featurizer,
    folds,
    linear_classifier,
)
from moderate.model.second_opinion import SecondOpinion

__all__ = [
    "ConfigError",
    "ModelConfig",
    "Trained",
    "TrainingError",
    "evaluation_config",
    "train",
]

Floats = NDArray[np.float64]


class TrainingError(Exception):
    """The dataset cannot train a model (no usable label, missing columns)."""


@dataclass
class Trained:
    """A fitted model in memory: one pipeline per label, its thresholds and metadata."""

    pipelines: dict[str, Pipeline]
    thresholds: dict[str, dict[str, float]]
    metadata: dict[str, Any]
    # Per label: id, y, the out-of-fold calibrated probability p (for audits and plots) and
    # the out-of-fold log-odds `decision` (for adapting the model to rows it trained on).
    oof: dict[str, pd.DataFrame] = field(default_factory=dict)
    # The second opinion's heads (model/second_opinion.py), when trained.
    second: SecondOpinion | None = None


def dataset_hash(dataset: pd.DataFrame, labels: Sequence[str]) -> str:
    """sha256 of the rows (id, text, labels) in id order: same data, same hash."""
    columns = ["id", "text", *[label for label in labels if label in dataset.columns]]
    canonical = dataset[columns].sort_values("id", kind="stable").to_csv(index=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def sample_weights(
    dataset: pd.DataFrame,
    targets: dict[str, tuple[NDArray[np.int64], Floats]],
    config: ModelConfig,
    balanced: bool = True,
) -> dict[str, Floats]:
    """Per label, each row's training weight (ModelConfig.row_weights; 1.0 where unknown).

    `balanced` False leaves out the class balance within sources: the calibrator's weights.
    """
    sources = (
        dataset["source"].to_numpy(dtype=object)
        if "source" in dataset.columns
        else np.full(len(dataset), "", dtype=object)
    )
    out = {}
    for label, (index, y) in targets.items():
        weights = np.ones(len(dataset))
        weights[index] = config.row_weights(sources[index], y, label, balanced=balanced)
        out[label] = weights
    return out


def label_problem(y: Floats) -> str | None:
    """Why a label cannot be trained on these known values, or None if it can."""
    positives = int(y.sum())
    negatives = len(y) - positives
    if min(positives, negatives) < 2:
        return f"needs at least 2 positive and 2 negative rows, has {positives} and {negatives}"
    return None


def _stratified_sample(index: NDArray[np.int64], y: Floats, rows: int, seed: int) -> Any:
    if len(index) <= rows:
        return index
    kept, _ = train_test_split(index, train_size=rows, stratify=y, random_state=seed)
    return np.sort(kept)


def _search_matrices(
    texts: list[str], config: ModelConfig
) -> dict[tuple[bool, int], sp.csr_matrix]:
    """Feature matrix per (use_char, min_df) of the grid, counting document frequencies once.

    The IDF is learnt on the whole search sample, test folds included: harmless for ranking
    settings (no labels involved) and cheaper than refitting per fold. min_df applies to
    words. A matrix without characters is the word block of one with them (each block is
    normalised on its own), so each min_df is featurised once.
    """
    spec = featurizer(replace(config, use_char=True in config.grid_char)).spec
    df = engine.document_frequency(texts, spec)
    matrices: dict[tuple[bool, int], sp.csr_matrix] = {}
    for min_df in config.grid_min_df:
        X = engine.transform(texts, spec, idf_of(df, len(texts), spec, min_df))
        for use_char in config.grid_char:
            matrices[use_char, min_df] = X if use_char else X[:, : spec.word_size].tocsr()
    return matrices


def _cheapness(option: tuple[bool, int]) -> tuple[bool, int]:
    use_char, min_df = option
    return use_char, -min_df


def select(
    texts: list[str],
    targets: dict[str, tuple[NDArray[np.int64], Floats]],
    weights: dict[str, Floats],
    config: ModelConfig,
    sources: NDArray[Any] | None = None,
) -> dict[str, Any]:
    """Choose the grid's features (shared by the labels) and C (per label) by generalisation.

    With `select_by` "loso" and at least `loso_min_sources` sources with both classes in a
    label's search sample, an option scores the mean ROC-AUC of the sources each held out
    in turn (a model must rank comments of a source it never saw); otherwise, as for one
    team's own dataset, the cross-validated PR-AUC.
    """
    criteria: dict[str, str] = {}
    samples = {
        label: _stratified_sample(index, y, config.search_rows, config.random_state)
        for label, (index, y) in targets.items()
    }
    union = np.unique(np.concatenate(list(samples.values())))
    position = {row: i for i, row in enumerate(union)}
    matrices = _search_matrices([texts[i] for i in union], config)
    scores: dict[str, dict[str, dict[str, float]]] = {}
    for option, matrix in matrices.items():
        key = f"char={option[0]},min_df={option[1]}"
        scores[key] = {}
        for label, rows in samples.items():
            index, y_all = targets[label]
            y = pd.Series(y_all, index=index).loc[rows].to_numpy()
            X = matrix[[position[r] for r in rows]]
            n_splits = min(config.search_folds, int(y.sum()), int(len(y) - y.sum()))
            groups = None if sources is None else sources[rows]
            held = _held_sources(groups, y, config) if config.select_by == "loso" else []
            criteria[label] = "loso_roc_auc" if held else "cv_pr_auc"
            scores[key][label] = {}
            for C in config.grid_C:
                sgd = len(index) >= config.sgd_min_rows  # the learner the full label gets
                learner = linear_classifier(config, C, sgd=sgd)
                if held and groups is not None:
                    aucs = held_out_aucs(learner, X, y, weights[label][rows], groups, held)
                    score = float(np.mean(list(aucs.values())))
                else:
                    decision = cross_val_predict(
                        learner,
                        X,
                        y,
                        cv=folds(config, n_splits),
                        method="decision_function",
                        params={"sample_weight": weights[label][rows]},
                    )
                    score = float(average_precision_score(y, decision))
                scores[key][label][str(C)] = score
    return _choose(scores, matrices, config, criteria)


def _held_sources(groups: NDArray[Any] | None, y: Floats, config: ModelConfig) -> list[str]:
    """The sources to hold out in turn, when the sample has enough of them (else none)."""
    if groups is None:
        return []
    held = [
        str(s)
        for s in np.unique(groups)
        if len(np.unique(y[groups == s])) == 2 and len(np.unique(y[groups != s])) == 2
    ]
    return held if len(held) >= config.loso_min_sources else []


def held_out_aucs(
    learner: Any,
    X: Any,
    y: Floats,
    w: Floats,
    groups: NDArray[Any],
    held: Sequence[str],
    n_jobs: int = 1,
) -> dict[str, float]:
    """ROC-AUC of each held-out source for the learner fit on the other sources."""

    def one(source: str) -> float:
        test = groups == source
        fitted = clone(learner).fit(X[~test], y[~test], sample_weight=w[~test])
        return float(roc_auc_score(y[test], fitted.decision_function(X[test])))

    scores = Parallel(n_jobs=n_jobs, prefer="threads")(delayed(one)(s) for s in held)
    return dict(zip(held, scores, strict=True))


CRITERIA = {
    "loso_roc_auc": "mean leave-one-source-out ROC-AUC",
    "cv_pr_auc": "cross-validated PR-AUC",
}


def _choose(
    scores: dict[str, dict[str, dict[str, float]]],
    matrices: dict[tuple[bool, int], Any],
    config: ModelConfig,
    criteria: dict[str, str],
) -> dict[str, Any]:
    options = {f"char={o[0]},min_df={o[1]}": o for o in matrices}
    mean_best = {
        key: float(np.mean([max(by_c.values()) for by_c in per_label.values()]))
        for key, per_label in scores.items()
    }
    best = max(mean_best, key=lambda k: mean_best[k])
    close = [k for k in mean_best if mean_best[k] >= mean_best[best] - config.simpler_within]
    chosen = min(close, key=lambda k: _cheapness(options[k]))
    use_char, min_df = options[chosen]
    C = {
        label: float(max(by_c, key=lambda c: (by_c[c], -float(c))))
        for label, by_c in scores[chosen].items()
    }
    measured = ", ".join(f"{label}: {CRITERIA[c]}" for label, c in criteria.items())
    why = (
        f"{chosen} has mean score {mean_best[chosen]:.4f} over the labels ({measured}); "
        f"best was {best} at {mean_best[best]:.4f}; the cheapest setting within "
        f"{config.simpler_within} of the best is kept (fewer features score faster). "
        "C per label is the best of the grid for that setting."
    )
    return {
        "use_char": use_char,
        "min_df": min_df,
        "C": C,
        "why": why,
        "criteria": criteria,
        "mean_score": mean_best,
        "scores": scores,
        "search_rows": config.search_rows,
        "search_folds": config.search_folds,
    }


def _targets(
    dataset: pd.DataFrame, config: ModelConfig
) -> tuple[dict[str, tuple[NDArray[np.int64], Floats]], dict[str, str]]:
    targets: dict[str, tuple[NDArray[np.int64], Floats]] = {}
    skipped: dict[str, str] = {}
    for label in config.labels:
        if label not in dataset.columns:
            skipped[label] = "no such column in the dataset"
            continue
        values = pd.to_numeric(dataset[label], errors="coerce").to_numpy(dtype=np.float64)
        index = np.flatnonzero(~np.isnan(values))
        y = values[index]
        if not np.isin(y, (0.0, 1.0)).all():
            raise TrainingError(f"column {label!r} must hold 1, 0 or NaN (unknown)")
        problem = label_problem(y)
        if problem:
            skipped[label] = problem
        else:
            targets[label] = (index, y)
    return targets, skipped


def _check_columns(dataset: pd.DataFrame) -> None:
    missing = [c for c in ("id", "text") if c not in dataset.columns]
    if missing:
        raise TrainingError(f"dataset lacks column(s) {', '.join(missing)}")
    if dataset["id"].duplicated().any():
        first = dataset["id"][dataset["id"].duplicated()].iloc[0]
        raise TrainingError(f"dataset has duplicate ids, e.g. {first}")


def _label_counts(targets: dict[str, tuple[Any, Floats]]) -> dict[str, dict[str, int]]:
    return {
        label: {"rows": len(y), "positive": int(y.sum()), "negative": int(len(y) - y.sum())}
        for label, (_, y) in targets.items()
    }


def train(dataset: pd.DataFrame, config: ModelConfig | None = None) -> Trained:
    """Fit one calibrated pipeline per label on the rows where that label is known."""
    config = config or ModelConfig()
    started = time.perf_counter()
    _check_columns(dataset)
    dataset = dataset.reset_index(drop=True)
    targets, skipped = _targets(dataset, config)
    if not targets:
        reasons = "; ".join(f"{label}: {why}" for label, why in skipped.items())
        raise TrainingError(f"no label can be trained ({reasons})")
    texts = dataset["text"].astype(str).tolist()
    weights = sample_weights(dataset, targets, config)
    calibration = sample_weights(dataset, targets, config, balanced=False)
    sources = dataset["source"].astype(str).to_numpy() if "source" in dataset else None
    selection = select(texts, targets, weights, config, sources)
    chosen = replace(config, use_char=selection["use_char"], min_df=selection["min_df"])
    used = np.unique(np.concatenate([index for index, _ in targets.values()]))
    # One featuriser for every label: one engine pass scores them all.
    features = featurizer(chosen)
    if len(used) == len(texts):
        X_all = features.fit_transform(texts)
    else:
        X_all = features.fit([texts[i] for i in used]).transform(texts)
    pipelines, thresholds, rules, metrics, oof = {}, {}, {}, {}, {}
    for label, (index, y) in targets.items():
        classifier = calibrated(chosen, selection["C"][label])
        classifier.fit(
            X_all[index],
            y,
            sample_weight=weights[label][index],
            calibration_weight=calibration[label][index],
        )
        refused = ranking_problem(y, classifier.oof_decision_)
        if refused:
            skipped[label] = refused
            continue
        p = classifier.oof_proba_
        thresholds[label], rules[label] = choose_thresholds(
            y,
            p,
            config.block_precision,
            config.review_recall,
            typical=_typical(dataset, index, p, config),
            review_max_share=config.review_max_share,
        )
        metrics[label] = headline_metrics(y, p, thresholds[label])
        oof[label] = pd.DataFrame(
            {
                "id": dataset["id"].to_numpy()[index],
                "y": y,
                "p": p,
                "decision": classifier.oof_decision_,
            }
        )
        pipelines[label] = Pipeline([("features", features), ("classify", classifier)])
        selection.setdefault("learner", {})[label] = {
            "estimator": type(classifier.estimator_.model_).__name__,
            "calibration": classifier.method_,
            "folds": classifier.folds_,
        }
    if not pipelines:
        reasons = "; ".join(f"{label}: {why}" for label, why in skipped.items())
        raise TrainingError(f"no label can be trained ({reasons})")
    metadata = {
        "method": "batch",
        "dataset_hash": dataset_hash(dataset, config.labels),
        "rows": len(dataset),
        "label_counts": _label_counts(targets),
        "sources": _source_counts(dataset),
        "config": config.to_dict(),
        "selection": selection,
        "features": {"columns": int(X_all.shape[1]), "in_use": int((features.idf_ > 0).sum())},
        **outcome(thresholds, rules, metrics, skipped, started),
    }
    return Trained(pipelines=pipelines, thresholds=thresholds, metadata=metadata, oof=oof)


def outcome(
    thresholds: dict[str, Any],
    rules: dict[str, Any],
    metrics: dict[str, Any],
    skipped: dict[str, str],
    started: float,
) -> dict[str, Any]:
    """What a trainer's metadata says of its result: thresholds and why, metrics, the
    labels it skipped (as warnings too) and the time it took since `started`."""
    return {
        "thresholds": thresholds,
        "threshold_rules": rules,
        "metrics": metrics,
        "skipped": skipped,
        "warnings": [f"label {label!r} skipped: {why}" for label, why in skipped.items()],
        "training_seconds": round(time.perf_counter() - started, 2),
    }


def _typical(
    dataset: pd.DataFrame, index: NDArray[np.int64], p: Floats, config: ModelConfig
) -> Floats | None:
    """The out-of-fold probabilities of the typical comment section's rows, if enough."""
    if "source" not in dataset.columns:
        return None
    mine = dataset["source"].astype(str).to_numpy()[index] == config.typical_source
    return p[mine] if mine.sum() >= config.typical_min_rows else None


def _source_counts(dataset: pd.DataFrame) -> dict[str, int]:
    if "source" not in dataset.columns:
        return {}
    counts = dataset["source"].astype("string").fillna("").value_counts()
    return {str(k): int(v) for k, v in counts.sort_index().items()}


def load_config(path: Path | None) -> ModelConfig:
    """The config in a .json/.toml file, or the defaults."""
    return ModelConfig() if path is None else ModelConfig.from_file(path)


def evaluation_config(config: ModelConfig, selection: dict[str, Any]) -> ModelConfig:
    """The config with the cross-validated choice, for re-fitting in evaluation.

    Evaluation re-fits one pipeline type for every label, so it takes the first label's C.
    """
    if not selection.get("C"):
        return config
    first = next(iter(selection["C"].values()))
    return replace(config, use_char=selection["use_char"], min_df=selection["min_df"], C=first)
