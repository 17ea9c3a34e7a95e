"""Training: choose features and regularisation by cross-validation, fit, pick thresholds."""

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
from numpy.typing import NDArray
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
from sklearn.metrics import (
    average_precision_score,
    f1_score,
    matthews_corrcoef,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import cross_val_predict, train_test_split
from sklearn.pipeline import FeatureUnion, Pipeline

from model.features import TOKEN_PATTERN, char_hasher, tfidf_features
from model.normalize import TextNormalizer
from model.pipeline import ConfigError, ModelConfig, calibrated, folds, linear_classifier

__all__ = [
    "ConfigError",
    "ModelConfig",
    "TrainResult",
    "Trained",
    "TrainingError",
    "train",
    "train_corpora",
    "train_store",
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
    # Per label: id, y and the out-of-fold calibrated probability p (for audits and plots).
    oof: dict[str, pd.DataFrame] = field(default_factory=dict)


def dataset_hash(dataset: pd.DataFrame, labels: Sequence[str]) -> str:
    """sha256 of the rows (id, text, labels) in id order: same data, same hash."""
    columns = ["id", "text", *[label for label in labels if label in dataset.columns]]
    canonical = dataset[columns].sort_values("id", kind="stable").to_csv(index=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def sample_weights(dataset: pd.DataFrame, config: ModelConfig) -> Floats:
    """Per-row weight from the row's source (1.0 unless the config says otherwise)."""
    if "source" not in dataset.columns or not config.source_weights:
        return np.ones(len(dataset))
    sources = dataset["source"].astype("string").fillna("")
    return sources.map(lambda s: config.source_weights.get(s, 1.0)).to_numpy(dtype=np.float64)


def label_problem(y: Floats) -> str | None:
    """Why a label cannot be trained on these known values, or None if it can."""
    positives = int(y.sum())
    negatives = len(y) - positives
    if min(positives, negatives) < 2:
        return f"needs at least 2 positive and 2 negative rows, has {positives} and {negatives}"
    return None


def choose_thresholds(
    y: Floats, p: Floats, block_precision: float = 0.9, review_recall: float = 0.9
) -> tuple[dict[str, float], dict[str, str]]:
    """Thresholds and the rule that gave each.

    block: lowest threshold with precision >= block_precision (else the max-F1 point);
    review: highest threshold with recall >= review_recall, never above block.
    """
    precision, recall, thresholds = precision_recall_curve(y, p)
    precision, recall = precision[:-1], recall[:-1]
    reached = np.flatnonzero(precision >= block_precision)
    if reached.size:
        block = float(thresholds[reached[0]])
        block_rule = f"lowest threshold with out-of-fold precision >= {block_precision}"
    else:
        f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
        block = float(thresholds[int(np.argmax(f1))])
        block_rule = f"max-F1 point: out-of-fold precision never reached {block_precision}"
    covered = np.flatnonzero(recall >= review_recall)
    review = float(thresholds[covered[-1]]) if covered.size else float(thresholds[0])
    review_rule = f"highest threshold with out-of-fold recall >= {review_recall}"
    if review > block:
        review, review_rule = block, f"{review_rule}, capped at block"
    return {"review": review, "block": block}, {"review": review_rule, "block": block_rule}


def pick_thresholds(
    y: Floats, p: Floats, block_precision: float = 0.9, review_recall: float = 0.9
) -> dict[str, float]:
    """{"review": x, "block": y} from out-of-fold probabilities (see choose_thresholds)."""
    return choose_thresholds(y, p, block_precision, review_recall)[0]


def expected_calibration_error(y: Floats, p: Floats, bins: int = 10) -> float:
    """Mean |accuracy - confidence| over equal-width probability bins, weighted by size."""
    edges = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in np.unique(edges):
        inside = edges == b
        total += inside.sum() * abs(float(y[inside].mean()) - float(p[inside].mean()))
    return float(total / len(y))


def headline_metrics(y: Floats, p: Floats, thresholds: dict[str, float]) -> dict[str, float]:
    """Out-of-fold quality at the chosen thresholds."""
    block = p >= thresholds["block"]
    flagged = p >= thresholds["review"]
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "ece": expected_calibration_error(y, p),
        "precision_block": float(precision_score(y, block, zero_division=0)),
        "recall_block": float(recall_score(y, block, zero_division=0)),
        "f1_block": float(f1_score(y, block, zero_division=0)),
        "mcc_block": float(matthews_corrcoef(y, block)),
        "precision_review": float(precision_score(y, flagged, zero_division=0)),
        "recall_review": float(recall_score(y, flagged, zero_division=0)),
    }


def _stratified_sample(index: NDArray[np.int64], y: Floats, rows: int, seed: int) -> Any:
    if len(index) <= rows:
        return index
    kept, _ = train_test_split(index, train_size=rows, stratify=y, random_state=seed)
    return np.sort(kept)


def _limit(counts: sp.csr_matrix, min_df: int, max_features: int) -> sp.csr_matrix:
    """What TfidfVectorizer(min_df, max_features, sublinear_tf) would give, from counts."""
    df = np.asarray((counts > 0).sum(axis=0)).ravel()
    total = np.asarray(counts.sum(axis=0)).ravel()
    columns = np.flatnonzero(df >= min_df)
    if len(columns) > max_features:
        columns = columns[np.argsort(-total[columns], kind="stable")[:max_features]]
    return TfidfTransformer(sublinear_tf=True).fit_transform(counts[:, np.sort(columns)])


def _search_matrices(
    texts: list[str], config: ModelConfig
) -> dict[tuple[bool, int], sp.csr_matrix]:
    """Feature matrix per (use_char, min_df) of the grid, counting each analyzer once.

    The vectorizers see the whole search sample, test folds included: harmless for
    ranking settings (no labels involved) and 4x cheaper than refitting per fold. min_df
    applies to words; character n-grams are hashed.
    """
    word = CountVectorizer(
        lowercase=False, token_pattern=TOKEN_PATTERN, ngram_range=config.word_ngrams
    ).fit_transform(texts)
    chars = None
    if True in config.grid_char:
        hashed = char_hasher(config.char_ngrams, config.char_hash_features, norm=None)
        chars = TfidfTransformer(sublinear_tf=True).fit_transform(hashed.transform(texts))
    matrices: dict[tuple[bool, int], sp.csr_matrix] = {}
    for min_df in config.grid_min_df:
        words = _limit(word, min_df, config.max_word_features)
        for use_char in config.grid_char:
            if use_char and chars is not None:
                matrices[use_char, min_df] = sp.hstack([words, chars]).tocsr()
            else:
                matrices[use_char, min_df] = words
    return matrices


def _cheapness(option: tuple[bool, int]) -> tuple[bool, int]:
    use_char, min_df = option
    return use_char, -min_df


def select(
    normalized: list[str],
    targets: dict[str, tuple[NDArray[np.int64], Floats]],
    weights: Floats,
    config: ModelConfig,
) -> dict[str, Any]:
    """Cross-validated PR-AUC over the grid; features shared by the labels, C per label."""
    samples = {
        label: _stratified_sample(index, y, config.search_rows, config.random_state)
        for label, (index, y) in targets.items()
    }
    union = np.unique(np.concatenate(list(samples.values())))
    position = {row: i for i, row in enumerate(union)}
    matrices = _search_matrices([normalized[i] for i in union], config)
    scores: dict[str, dict[str, dict[str, float]]] = {}
    for option, matrix in matrices.items():
        key = f"char={option[0]},min_df={option[1]}"
        scores[key] = {}
        for label, rows in samples.items():
            index, y_all = targets[label]
            y = pd.Series(y_all, index=index).loc[rows].to_numpy()
            X = matrix[[position[r] for r in rows]]
            n_splits = min(config.search_folds, int(y.sum()), int(len(y) - y.sum()))
            scores[key][label] = {}
            for C in config.grid_C:
                sgd = len(index) >= config.sgd_min_rows  # the learner the full label gets
                learner = linear_classifier(config, C, sgd=sgd)
                decision = cross_val_predict(
                    learner,
                    X,
                    y,
                    cv=folds(config, n_splits),
                    method="decision_function",
                    params={"sample_weight": weights[rows]},
                )
                scores[key][label][str(C)] = float(average_precision_score(y, decision))
    return _choose(scores, matrices, config)


def _choose(
    scores: dict[str, dict[str, dict[str, float]]],
    matrices: dict[tuple[bool, int], Any],
    config: ModelConfig,
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
    why = (
        f"{chosen} has mean cross-validated PR-AUC {mean_best[chosen]:.4f} over the labels; "
        f"best was {best} at {mean_best[best]:.4f}; the cheapest setting within "
        f"{config.simpler_within} of the best is kept (fewer features score faster). "
        "C per label is the best of the grid for that setting."
    )
    return {
        "use_char": use_char,
        "min_df": min_df,
        "C": C,
        "why": why,
        "mean_pr_auc": mean_best,
        "cv_pr_auc": scores,
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
    normalizer = TextNormalizer()
    normalized = normalizer.transform(dataset["text"].astype(str))
    weights = sample_weights(dataset, config)
    selection = select(normalized, targets, weights, config)
    chosen = replace(config, use_char=selection["use_char"], min_df=selection["min_df"])
    used = np.unique(np.concatenate([index for index, _ in targets.values()]))
    features = _features(chosen)
    if len(used) == len(normalized):
        X_all = features.fit_transform(normalized)
    else:
        X_all = features.fit([normalized[i] for i in used]).transform(normalized)
    pipelines, thresholds, rules, metrics, oof = {}, {}, {}, {}, {}
    for label, (index, y) in targets.items():
        classifier = calibrated(chosen, selection["C"][label])
        classifier.fit(X_all[index], y, sample_weight=weights[index])
        p = classifier.oof_proba_
        thresholds[label], rules[label] = choose_thresholds(
            y, p, config.block_precision, config.review_recall
        )
        metrics[label] = headline_metrics(y, p, thresholds[label])
        oof[label] = pd.DataFrame({"id": dataset["id"].to_numpy()[index], "y": y, "p": p})
        pipelines[label] = Pipeline(
            [("normalize", normalizer), ("features", features), ("classify", classifier)]
        )
        selection.setdefault("learner", {})[label] = {
            "estimator": type(classifier.estimator_.model_).__name__,
            "calibration": classifier.method_,
            "folds": classifier.folds_,
        }
    metadata = {
        "method": "batch",
        "dataset_hash": dataset_hash(dataset, config.labels),
        "rows": len(dataset),
        "label_counts": _label_counts(targets),
        "sources": _source_counts(dataset),
        "config": config.to_dict(),
        "selection": selection,
        "features": {"count": int(X_all.shape[1])},
        "thresholds": thresholds,
        "threshold_rules": rules,
        "metrics": metrics,
        "skipped": skipped,
        "warnings": [f"label {label!r} skipped: {why}" for label, why in skipped.items()],
        "training_seconds": round(time.perf_counter() - started, 2),
    }
    return Trained(pipelines=pipelines, thresholds=thresholds, metadata=metadata, oof=oof)


def _features(config: ModelConfig) -> FeatureUnion:
    return tfidf_features(
        config.word_ngrams,
        config.char_ngrams if config.use_char else None,
        config.min_df,
        config.max_word_features,
        config.char_hash_features,
    )


def _source_counts(dataset: pd.DataFrame) -> dict[str, int]:
    if "source" not in dataset.columns:
        return {}
    counts = dataset["source"].astype("string").fillna("").value_counts()
    return {str(k): int(v) for k, v in counts.sort_index().items()}


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced: the artifact directory and its metadata."""

    path: Path
    metadata: dict[str, Any]
    report_files: list[Path] = field(default_factory=list)


def load_config(path: Path | None) -> ModelConfig:
    """The config in a .json/.toml file, or the defaults."""
    return ModelConfig() if path is None else ModelConfig.from_file(path)


def read_store(data_dir: Path) -> pd.DataFrame:
    """The labelled dataset of a label store directory."""
    from labels.store import load_dataset

    if not data_dir.is_dir():
        raise TrainingError(f"{data_dir}: no such label store directory")
    return load_dataset(data_dir)


def evaluation_config(config: ModelConfig, selection: dict[str, Any]) -> ModelConfig:
    """The config with the cross-validated choice, for re-fitting in evaluation.

    Evaluation re-fits one pipeline type for every label, so it takes the first label's C.
    """
    if not selection.get("C"):
        return config
    first = next(iter(selection["C"].values()))
    return replace(config, use_char=selection["use_char"], min_df=selection["min_df"], C=first)


def train_store(
    data_dir: Path,
    artifacts_dir: Path,
    config: ModelConfig | None = None,
    out_of_core: bool = False,
    evaluate: bool = True,
) -> TrainResult:
    """Train on a label store, evaluate, save the artifact and point `current` at it."""
    from model.artifacts import save

    config = config or ModelConfig()
    if out_of_core:
        from model.outofcore import train_out_of_core

        trained = train_out_of_core(data_dir, config)
        return TrainResult(save(trained, artifacts_dir), trained.metadata)
    dataset = read_store(data_dir)
    trained = train(dataset, config)
    if not evaluate:
        return TrainResult(save(trained, artifacts_dir), trained.metadata)
    written: list[Path] = []

    def add_report(folder: Path) -> None:
        written.extend(_evaluate_into(dataset, trained, config, folder))

    path = save(trained, artifacts_dir, extra=add_report)
    return TrainResult(path, trained.metadata, [path / p.name for p in written])


def _evaluate_into(
    dataset: pd.DataFrame, trained: Trained, config: ModelConfig, folder: Path
) -> list[Path]:
    from model.evaluate import evaluate
    from model.predict import Model
    from model.report import write_report

    report = evaluate(
        dataset,
        evaluation_config(config, trained.metadata["selection"]),
        folds=config.folds,
        seed=config.random_state,
        model=Model.from_trained(trained),
        # Training already has the model's out-of-fold probabilities: refitting it `folds`
        # times again would double the training time for the same numbers.
        oof=trained.oof,
        n_jobs=2,
    )
    return write_report(report, folder)


def evaluate_store(data_dir: Path, model_path: Path, out_dir: Path | None = None) -> list[Path]:
    """Evaluate a saved model's settings on a label store; write the report files.

    The report goes to `out_dir`, by default `<artifact>/evaluations/<dataset hash>/` so the
    training-time report beside the model is never overwritten.
    """
    from model.artifacts import artifact_dir, load
    from model.evaluate import evaluate
    from model.report import write_report

    model = load(model_path)
    dataset = read_store(data_dir)
    config = ModelConfig.from_dict(model.metadata.get("config", {}))
    config = evaluation_config(config, model.metadata.get("selection", {}))
    if out_dir is None:
        folder = artifact_dir(model_path)
        out_dir = folder / "evaluations" / dataset_hash(dataset, config.labels)[:12]
    report = evaluate(dataset, config, folds=config.folds, seed=config.random_state, model=model)
    return write_report(report, out_dir)


def train_corpora(
    corpora_dir: Path,
    scratch_dir: Path,
    artifacts_dir: Path,
    config: ModelConfig | None = None,
    evaluate: bool = True,
) -> TrainResult:
    """Import every corpus into a fresh scratch store, then train the reference model on it."""
    from labels.importers import import_corpora
    from labels.store import LabelStore

    if not corpora_dir.is_dir():
        raise TrainingError(f"{corpora_dir}: no such corpora directory")
    _reset_scratch(scratch_dir)
    import_corpora(corpora_dir, LabelStore(scratch_dir))
    return train_store(scratch_dir, artifacts_dir, config, evaluate=evaluate)


SCRATCH_FILES = frozenset({"comments.jsonl", "annotations.jsonl"})


def _reset_scratch(scratch_dir: Path) -> None:
    """Empty the scratch store, refusing to touch a directory holding anything else."""
    if scratch_dir.exists():
        others = sorted(p.name for p in scratch_dir.iterdir() if p.name not in SCRATCH_FILES)
        if others:
            raise TrainingError(
                f"{scratch_dir}: not a scratch label store (holds {', '.join(others[:3])}); "
                "pass an empty or new --scratch directory"
            )
        for name in SCRATCH_FILES:
            (scratch_dir / name).unlink(missing_ok=True)
    scratch_dir.mkdir(parents=True, exist_ok=True)
