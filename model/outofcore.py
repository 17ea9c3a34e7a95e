"""Out-of-core training: hashed features and an incremental linear learner over chunks.

Only the labels (a few bytes per comment) are held in memory; texts stream from the label
store's comments.jsonl (or a CSV / JSON Lines file) chunk by chunk. A held-out set of one
row in `holdout_every`, picked by a hash of the id (a store is ordered by source, so its
tail would be one corpus) and capped at `chunk_rows` rows, calibrates the probabilities
and sets the thresholds. The result has the same artifact format and Model API as batch
training.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import Pipeline

from moderate.model import engine
from moderate.model.features import HashedTfidf, idf_of
from moderate.model.metrics import choose_thresholds, headline_metrics, ranking_problem
from moderate.model.pipeline import (
    ModelConfig,
    OutOfFoldCalibrated,
    PlattCalibrator,
    featurizer,
    round_to_float32,
)
from moderate.model.train import Trained, TrainingError, label_problem, outcome


def _store_labels(root: Path, labels: Sequence[str]) -> dict[str, dict[str, float]]:
    """Majority label per comment from the store's annotations (texts are not read)."""
    from moderate.labels.store import LabelStore, majority, origin_matches

    votes: dict[str, dict[str, list[int]]] = {}
    for annotation in LabelStore(root).latest().values():
        if not isinstance(annotation.value, int) or annotation.label not in labels:
            continue
        if not origin_matches(annotation.origin, ("human", "import")):
            continue
        votes.setdefault(annotation.comment, {}).setdefault(annotation.label, []).append(
            annotation.value
        )
    decided = {}
    for comment, per_label in votes.items():
        known = {label: majority(v) for label, v in per_label.items()}
        known = {label: v for label, v in known.items() if not math.isnan(v)}
        if known:
            decided[comment] = known
    return decided


def _store_chunks(root: Path, config: ModelConfig) -> Iterator[pd.DataFrame]:
    from moderate.labels.store import LabelStore

    decided = _store_labels(root, config.labels)
    comments = (c for c in LabelStore(root).comments() if c["id"] in decided)
    while rows := list(islice(comments, config.chunk_rows)):
        frame = pd.DataFrame(
            {
                "id": [c["id"] for c in rows],
                "source": [c.get("source") for c in rows],
                "text": [str(c.get("text") or "") for c in rows],
            }
        )
        for label in config.labels:
            frame[label] = [decided[c["id"]].get(label, np.nan) for c in rows]
        yield frame


def _file_chunks(path: Path, config: ModelConfig) -> Iterator[pd.DataFrame]:
    if path.suffix == ".csv":
        reader: Any = pd.read_csv(path, chunksize=config.chunk_rows)
    elif path.suffix in (".jsonl", ".json"):
        reader = pd.read_json(path, lines=True, chunksize=config.chunk_rows)
    else:
        raise TrainingError(f"{path}: out-of-core reads a label store, .csv or .jsonl")
    for frame in reader:
        missing = [c for c in ("id", "text") if c not in frame.columns]
        if missing:
            raise TrainingError(f"{path}: lacks column(s) {', '.join(missing)}")
        frame["text"] = frame["text"].fillna("").astype(str)
        frame["id"] = frame["id"].astype(str)
        yield frame


def chunks(source: Path, config: ModelConfig) -> Iterator[pd.DataFrame]:
    """The labelled rows of a label store directory or a CSV/JSONL file, chunk by chunk."""
    if source.is_dir():
        return _store_chunks(source, config)
    if source.is_file():
        return _file_chunks(source, config)
    raise TrainingError(f"{source}: no such label store or file")


def _held_out(ids: pd.Series, every: int) -> np.ndarray:
    digest = ids.map(lambda i: int(hashlib.sha256(str(i).encode()).hexdigest()[:8], 16))
    return np.array(digest % every == 0, dtype=bool)


def _weights(frame: pd.DataFrame, config: ModelConfig) -> np.ndarray:
    if "source" not in frame.columns:
        return np.ones(len(frame))
    return config.source_row_weights(frame["source"])


class _Pass:
    """State of the streaming fit: learners, class counts, the held-out rows."""

    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self.learners = {
            label: SGDClassifier(loss="log_loss", alpha=1e-6, random_state=config.random_state)
            for label in config.labels
        }
        self.counts = {label: np.zeros(2) for label in config.labels}
        self.holdout: list[pd.DataFrame] = []
        self.held = 0
        self.rows = 0
        self.digest = hashlib.sha256()

    def split(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Keep this chunk's held-out rows (first pass only); return the training rows."""
        held = _held_out(frame["id"], self.config.holdout_every)
        room = self.config.chunk_rows - self.held
        held &= np.cumsum(held) <= room
        if held.any():
            self.holdout.append(frame[held])
            self.held += int(held.sum())
        return frame[~held]


def train_out_of_core(source: Path, config: ModelConfig | None = None) -> Trained:
    """Stream `source` `config.epochs` times through hashed features and SGD (log loss)."""
    config = config or ModelConfig()
    started = time.perf_counter()
    features = featurizer(config)
    df = np.zeros(features.spec.n_features, np.int64)
    state = _Pass(config)
    # First pass: count classes and document frequencies, set the holdout apart.
    for frame in chunks(source, config):
        train_rows = state.split(frame)
        state.rows += len(frame)
        state.digest.update(frame[["id", "text"]].to_csv(index=False).encode())
        df += engine.document_frequency(frame["text"].tolist(), features.spec)
        for label in config.labels:
            if label in train_rows.columns:
                y = train_rows[label].dropna()
                state.counts[label] += [(y == 0).sum(), (y == 1).sum()]
    if state.rows == 0:
        raise TrainingError(f"{source}: no labelled rows")
    features.set_idf(idf_of(df, state.rows, features.spec, config.min_df), state.rows)
    held_ids = set(pd.concat(state.holdout)["id"]) if state.holdout else set()
    for _ in range(config.epochs):
        for frame in chunks(source, config):
            _learn(state, frame[~frame["id"].isin(held_ids)], features)
    return _finish(state, features, started)


def _class_weight(counts: np.ndarray) -> np.ndarray:
    return counts.sum() / (2 * np.maximum(counts, 1))


def _learn(state: _Pass, frame: pd.DataFrame, features: HashedTfidf) -> None:
    if frame.empty:
        return
    X = features.transform(frame["text"].tolist())
    weights = _weights(frame, state.config)
    for label, learner in state.learners.items():
        if label not in frame.columns or state.counts[label].min() == 0:
            continue
        known = frame[label].notna().to_numpy()
        if not known.any():
            continue
        y = frame[label].to_numpy()[known].astype(int)
        balance = _class_weight(state.counts[label])[y]
        learner.partial_fit(X[known], y, classes=[0, 1], sample_weight=weights[known] * balance)


def _finish(state: _Pass, features: HashedTfidf, started: float) -> Trained:
    config = state.config
    holdout = pd.concat(state.holdout) if state.holdout else pd.DataFrame(columns=["id", "text"])
    X = features.transform(holdout["text"].tolist()) if len(holdout) else None
    pipelines, thresholds, rules, metrics, oof, skipped = {}, {}, {}, {}, {}, {}
    for label, learner in state.learners.items():
        known = np.zeros(len(holdout), dtype=bool)
        if label in holdout.columns:
            known = holdout[label].notna().to_numpy()
        y = holdout[label].to_numpy()[known].astype(float) if known.any() else np.array([])
        problem = label_problem(y) if len(y) else "no held-out rows with this label"
        if problem is None and not hasattr(learner, "coef_"):
            problem = "no training rows with this label"
        if problem is not None or X is None:
            skipped[label] = f"held-out set: {problem}"
            continue
        round_to_float32(learner)
        decision = learner.decision_function(X[known])
        refused = ranking_problem(y, decision)
        if refused:
            skipped[label] = f"held-out set: {refused}"
            continue
        calibrator = PlattCalibrator().fit(decision, y, _weights(holdout.loc[known], config))
        p = calibrator.predict(decision)
        classifier = _prefit(learner, calibrator)
        thresholds[label], rules[label] = choose_thresholds(
            y, p, config.block_precision, config.review_recall
        )
        metrics[label] = headline_metrics(y, p, thresholds[label])
        oof[label] = pd.DataFrame({"id": holdout["id"].to_numpy()[known], "y": y, "p": p})
        pipelines[label] = Pipeline([("features", features), ("classify", classifier)])
    if not pipelines:
        reasons = "; ".join(f"{label}: {why}" for label, why in skipped.items())
        raise TrainingError(f"no label can be trained out of core ({reasons})")
    metadata = {
        "method": "out-of-core",
        "dataset_hash": state.digest.hexdigest(),
        "rows": state.rows,
        "label_counts": {
            label: {
                "rows": int(state.counts[label].sum()),
                "positive": int(state.counts[label][1]),
                "negative": int(state.counts[label][0]),
            }
            for label in pipelines
        },
        "config": config.to_dict(),
        "selection": {
            "why": "out of core: hashed word + char_wb TF-IDF (IDF from a first pass), SGD on "
            "log loss, no search",
            "holdout_rows": len(holdout),
        },
        "metrics_note": "on the held-out rows, which also fitted the (2-parameter) calibrator",
        **outcome(thresholds, rules, metrics, skipped, started),
    }
    return Trained(pipelines=pipelines, thresholds=thresholds, metadata=metadata, oof=oof)


def _prefit(learner: SGDClassifier, calibrator: PlattCalibrator) -> OutOfFoldCalibrated:
    """The fitted learner and calibrator in the batch classifier's shape (same Model API)."""
    classifier = OutOfFoldCalibrated(estimator=learner, method="sigmoid", cv=0)
    classifier.estimator_ = learner
    classifier.calibrator_ = calibrator
    classifier.classes_ = learner.classes_
    classifier.method_ = "sigmoid"
    classifier.folds_ = 0
    return classifier
