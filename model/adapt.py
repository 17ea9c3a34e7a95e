"""Adapting a trained model to a team's own labels, with its log-odds as an offset.

Per label, a logistic regression learns on the reference model's features (its hashed
space and IDF) plus one more column, the reference's log-odds. Its weights are then folded
back, w = dw + a * w_ref and b = db + a * b_ref: still one linear model in the same
feature space, which the engine scores in one pass as it scored the reference. The L2
penalty falls on dw, the team's correction, so a small C keeps the model at the reference;
C is chosen per label by cross-validation on the team's labels, with the reference itself
(dw = 0) as a candidate, so adapting never picks a model that validates below it.

The team rows the reference trained on (labels/data is part of the reference build) get
its out-of-fold log-odds (`trained_on.npz`) instead of its in-sample ones, stacking's
rule: an offset that has seen the answer would leave the correction nothing to learn and
make the reference look better on those rows than it is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import Pipeline

from moderate.model import engine
from moderate.model.features import HashedTfidf
from moderate.model.metrics import choose_thresholds, headline_metrics, ranking_problem
from moderate.model.pipeline import (
    FixedLinear,
    ModelConfig,
    OutOfFoldCalibrated,
    calibration_method,
    fit_calibrator,
    folds,
    linear_classifier,
)
from moderate.model.predict import Model
from moderate.model.train import (
    Trained,
    TrainingError,
    _check_columns,
    _label_counts,
    _source_counts,
    _targets,
    dataset_hash,
    outcome,
)

Floats = NDArray[np.float64]
REFERENCE = "reference"  # the candidate that keeps the reference's weights (dw = 0)


@dataclass(frozen=True)
class Fitted:
    """One label's adapted linear model, with what chose it."""

    coef: NDArray[np.float32]
    intercept: float
    offset_weight: float  # a: the reference log-odds' weight in the adapted model
    oof_decision: Floats
    chosen: str
    search: dict[str, dict[str, float]]


def offsets(
    reference: Model, texts: list[str], ids: NDArray[Any], trained_on: dict[str, Any]
) -> Floats:
    """The reference's log-odds per text and label; out-of-fold ones where it has them."""
    out = reference.log_odds(texts)
    if not trained_on:
        return out
    where = pd.Series(np.arange(len(trained_on["ids"])), index=trained_on["ids"].astype(str))
    found = where.reindex(ids.astype(str)).to_numpy()
    rows = np.flatnonzero(~np.isnan(found))
    for j, label in enumerate(reference.labels):
        stored = trained_on.get(f"logodds.{label}")
        if stored is None:
            continue
        values = stored[found[rows].astype(np.int64)]
        known = ~np.isnan(values)
        out[rows[known], j] = values[known]
    return out


def _scores(y: Floats, decision: Floats) -> dict[str, float]:
    return {
        "pr_auc": float(average_precision_score(y, decision)),
        "roc_auc": float(roc_auc_score(y, decision)),
    }


def _n_folds(y: Floats, config: ModelConfig) -> int:
    return min(config.folds, int(y.sum()), int(len(y) - y.sum()))


def _cv_decision(X: Any, y: Floats, w: Floats, C: float, config: ModelConfig, seed: int) -> Floats:
    splitter = folds(config, _n_folds(y, config))
    splitter.random_state = seed
    learner = linear_classifier(config, C, sgd=False)
    return np.asarray(
        cross_val_predict(
            learner, X, y, cv=splitter, method="decision_function", params={"sample_weight": w}
        )
    )


def with_offset(X: Any, offset: Floats) -> Any:
    """The features with the reference's log-odds as one more column (CSR)."""
    return sp.hstack([X, sp.csr_matrix(offset.reshape(-1, 1))]).tocsr()


def fit_label(
    augmented: Any, offset: Floats, y: Floats, w: Floats, reference_coef: Floats,
    reference_b: float, config: ModelConfig,
) -> Fitted:  # fmt: skip
    """Choose C (or the reference) by cross-validated PR-AUC; fit and fold the offset in."""
    decisions = {REFERENCE: offset}
    for C in config.adapt_grid_C:
        decisions[f"C={C:g}"] = _cv_decision(augmented, y, w, C, config, config.random_state)
    search = {name: _scores(y, decision) for name, decision in decisions.items()}
    # Ties go to the reference, then to the smaller correction (the grid is ascending).
    chosen = max(search, key=lambda name: search[name]["pr_auc"])
    if chosen == REFERENCE:
        coef = reference_coef.astype(np.float32)
        return Fitted(coef, reference_b, 1.0, offset, chosen, search)
    C = float(chosen.removeprefix("C="))
    linear = linear_classifier(config, C, sgd=False).fit(augmented, y, sample_weight=w)
    weights = np.ravel(linear.coef_)
    a = float(weights[-1])
    coef = (weights[:-1] + a * reference_coef).astype(np.float32)
    intercept = float(np.ravel(linear.intercept_)[0]) + a * reference_b
    return Fitted(coef, intercept, a, decisions[chosen], chosen, search)


def _team_check(
    augmented: Any, offset: Floats, y: Floats, w: Floats, fitted: Fitted,
    sources: NDArray[Any], config: ModelConfig,
) -> dict[str, Any]:  # fmt: skip
    """Reference and adapted model on the team's labels, cross-validated on other folds
    than the ones that chose C (so the choice does not flatter the adapted model)."""
    if fitted.chosen == REFERENCE:
        adapted = offset
    else:
        C = float(fitted.chosen.removeprefix("C="))
        adapted = _cv_decision(augmented, y, w, C, config, config.random_state + 1)
    by_source = []
    for source in sorted(set(sources.tolist())):
        mine = sources == source
        if len(np.unique(y[mine])) == 2:
            by_source.append(
                {
                    "source": str(source),
                    "n": int(mine.sum()),
                    "positives": int(y[mine].sum()),
                    "reference": _scores(y[mine], offset[mine]),
                    "adapted": _scores(y[mine], adapted[mine]),
                }
            )
    return {
        "reference": _scores(y, offset),
        "adapted": _scores(y, adapted),
        "by_source": by_source,
        "folds_seed": config.random_state + 1,
    }


def _features(reference: Model) -> HashedTfidf:
    spec = reference.spec
    return HashedTfidf(
        word_ngrams=spec.word_ngrams,
        char_ngrams=spec.char_ngrams,
        word_bits=spec.word_bits,
        char_bits=spec.char_bits,
    ).set_idf(reference.params[:, 0], int(reference.metadata.get("rows", 0)))


def _carried_over(reference: Model, label: str) -> OutOfFoldCalibrated:
    """A label the team did not label: the reference's, unchanged."""
    j = reference.labels.index(label)
    linear = FixedLinear(reference.params[:, 1 + j], reference.intercepts[label]).fit()
    calibration = reference.calibrations[label]
    return OutOfFoldCalibrated.from_parts(linear, calibration, calibration.kind, [], 0)


def adapt(
    dataset: pd.DataFrame,
    reference: Model,
    config: ModelConfig | None = None,
    trained_on: dict[str, Any] | None = None,
) -> Trained:
    """The reference model adapted to the labelled dataset (see the module docstring)."""
    config = config or ModelConfig()
    started = time.perf_counter()
    _check_columns(dataset)
    dataset = dataset.reset_index(drop=True)
    targets, skipped = _targets(dataset, config)
    for label in [label for label in targets if label not in reference.labels]:
        skipped[label] = "the reference model has no such label; train with --from scratch"
        del targets[label]
    if not targets:
        raise TrainingError(f"no label can be adapted ({_reasons(skipped)})")
    texts = dataset["text"].astype(str).tolist()
    ids = dataset["id"].astype(str).to_numpy()
    sources = (
        dataset["source"].astype(str).to_numpy()
        if "source" in dataset
        else np.full(len(texts), "", dtype=object)
    )
    features = _features(reference)
    X = engine.transform(texts, reference.spec, reference.params[:, 0])
    offset = offsets(reference, texts, ids, trained_on or {})
    weights = config.source_row_weights(sources)
    pipelines: dict[str, Pipeline] = {}
    thresholds, rules, metrics, oof = {}, {}, {}, {}
    report: dict[str, dict[str, Any]] = {}
    for label in reference.labels:
        if label not in targets:
            pipelines[label] = Pipeline(
                [("features", features), ("classify", _carried_over(reference, label))]
            )
            thresholds[label] = dict(reference.thresholds[label])
            rules[label] = {"review": "the reference's", "block": "the reference's"}
            report[label] = {"chosen": "unchanged: no team labels"}
            continue
        index, y = targets[label]
        j = reference.labels.index(label)
        augmented = with_offset(X[index], offset[index, j])
        fitted = fit_label(
            augmented, offset[index, j], y, weights[index],
            reference.params[:, 1 + j].astype(np.float64), reference.intercepts[label], config,
        )  # fmt: skip
        refused = ranking_problem(y, fitted.oof_decision)
        if refused:
            skipped[label] = refused
            continue
        method = calibration_method(config.calibration, len(y), config.isotonic_min_rows)
        calibrator = fit_calibrator(method, fitted.oof_decision, y, weights[index])
        linear = FixedLinear(fitted.coef, fitted.intercept).fit()
        classifier = OutOfFoldCalibrated.from_parts(
            linear, calibrator, method, fitted.oof_decision, _n_folds(y, config)
        )
        p = classifier.oof_proba_
        # The team's own labels are its typical comment section.
        thresholds[label], rules[label] = choose_thresholds(
            y, p, config.block_precision, config.review_recall, typical=p,
            review_max_share=config.review_max_share,
        )  # fmt: skip
        metrics[label] = headline_metrics(y, p, thresholds[label])
        oof[label] = pd.DataFrame({"id": ids[index], "y": y, "p": p})
        pipelines[label] = Pipeline([("features", features), ("classify", classifier)])
        team = _team_check(
            augmented, offset[index, j], y, weights[index], fitted, sources[index], config
        )
        report[label] = {
            "chosen": fitted.chosen,
            "offset_weight": fitted.offset_weight,
            "search": fitted.search,
            "team_cv": team,
        }
    if not any(label in targets for label in pipelines):
        raise TrainingError(f"no label can be adapted ({_reasons(skipped)})")
    metadata = {
        "method": "adapted",
        "adapted_from": {
            "version": reference.version,
            "summary": reference.metadata.get("summary", ""),
            "dataset_hash": reference.metadata.get("dataset_hash"),
        },
        "dataset_hash": dataset_hash(dataset, config.labels),
        "rows": len(dataset),
        "label_counts": _label_counts({k: v for k, v in targets.items() if k not in skipped}),
        "sources": _source_counts(dataset),
        "config": config.to_dict(),
        "selection": {"why": _why(report), "criteria": {k: "cv_pr_auc" for k in targets}},
        "adaptation": report,
        "features": reference.metadata.get("features", {}),
        **outcome(thresholds, rules, metrics, skipped, started),
    }
    return Trained(pipelines=pipelines, thresholds=thresholds, metadata=metadata, oof=oof)


def _reasons(skipped: dict[str, str]) -> str:
    return "; ".join(f"{label}: {why}" for label, why in skipped.items())


def _why(report: dict[str, Any]) -> str:
    parts = []
    for label, entry in report.items():
        if "search" in entry:
            best = entry["search"][entry["chosen"]]["pr_auc"]
            ref = entry["search"][REFERENCE]["pr_auc"]
            parts.append(f"{label}: {entry['chosen']} (PR-AUC {best:.3f}, reference {ref:.3f})")
        else:
            parts.append(f"{label}: {entry['chosen']}")
    return (
        "adapted from the reference model; per label the correction's C (or the reference "
        "itself) with the best cross-validated PR-AUC on the team's labels: " + "; ".join(parts)
    )


def public_check(
    loso: dict[str, pd.Series],
    rows: pd.DataFrame,
    reference: Model,
    adapted: Model,
    adaptation: dict[str, Any],
) -> dict[str, Any]:
    """Reference and adapted model on each public source, held out of the reference.

    `loso` holds, per label, each row's log-odds from the reference refitted without the
    row's source (model.evaluate's leave-one-source-out). The adapted model on that row is
    a * that + (adapted - a * reference)(row): the team's correction, fitted on the team's
    labels only, on top of the reference that never saw the source. (The correction was
    fitted against the full reference, which did see it: a second-order leak.)
    """
    by_source: list[dict[str, Any]] = []
    mean: dict[str, dict[str, float]] = {}
    for label, decisions in loso.items():
        if label not in adapted.labels or label not in reference.labels:
            continue
        frame = rows[rows["id"].astype(str).isin(decisions.index) & rows[label].notna()]
        texts = frame["text"].astype(str).tolist()
        held = decisions.reindex(frame["id"].astype(str)).to_numpy()
        a = float(adaptation.get(label, {}).get("offset_weight", 1.0))
        full = reference.log_odds(texts)[:, reference.labels.index(label)]
        new = adapted.log_odds(texts)[:, adapted.labels.index(label)]
        moved = a * held + (new - a * full)
        y = frame[label].to_numpy().astype(int)
        sources = frame["source"].astype(str).to_numpy()
        entries = []
        for source in sorted(set(sources.tolist())):
            mine = sources == source
            if len(np.unique(y[mine])) < 2:
                continue
            entries.append(
                {
                    "label": label,
                    "source": source,
                    "n": int(mine.sum()),
                    "reference": float(roc_auc_score(y[mine], held[mine])),
                    "adapted": float(roc_auc_score(y[mine], moved[mine])),
                }
            )
        if entries:
            mean[label] = {
                k: float(np.mean([e[k] for e in entries])) for k in ("reference", "adapted")
            }
        by_source += entries
    note = (
        "Leave-one-source-out ROC-AUC on each public source: the reference refitted without "
        "the source, and the same with the team's correction added (fitted on the team's "
        "labels only)."
    )
    return {"by_source": by_source, "mean": mean, "note": note}
