"""Quality experiments by leave-one-source-out, on the fast path.

Every experiment is judged by how a model trained on the other sources ranks each held-out
source (ROC-AUC), beside the naive baseline, never by in-distribution cross-validation
alone. To make one run cheap the text is featurised once: the IDF is learnt on every row,
held-out sources included (no labels are involved, so the ranking of settings is fair, as
in model.train's search) and the linear model is left uncalibrated (ROC-AUC does not
change under a monotone calibration). The report that `make train-corpora` writes refits
the full pipeline per held-out source instead.

    python -m moderate.model.experiments --store build/corpora-store --label conspiracy
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from moderate.labels.store import load_dataset
from moderate.model.evaluate import baseline_factory, leave_group_out
from moderate.model.pipeline import ModelConfig, featurizer, linear_classifier
from moderate.model.train import held_out_aucs


def features(texts: list[str], config: ModelConfig) -> sp.csr_matrix:
    """The engine's TF-IDF of every text, IDF learnt on all of them."""
    return featurizer(config).fit_transform(texts)


def source_weights(rows: pd.DataFrame, config: ModelConfig, label: str) -> np.ndarray:
    """The config's weight of each row for `label`, as training applies them."""
    return config.row_weights(rows["source"].to_numpy(dtype=object), rows[label], label)


def balanced_weights(rows: pd.DataFrame, power: float = 1.0) -> np.ndarray:
    """Weights giving each source the same total weight (power 1) or a partial step to it.

    Within a source the classes are balanced later by the learner's class weights; here a
    source of 25,000 tweets no longer outweighs one of 1,000 news comments 25 to 1.
    """
    counts = rows["source"].astype(str).map(rows["source"].astype(str).value_counts())
    mean = len(rows) / rows["source"].nunique()
    return np.asarray((mean / counts.to_numpy(float)) ** power)


def loso(
    rows: pd.DataFrame,
    X: sp.csr_matrix,
    label: str,
    config: ModelConfig,
    weights: np.ndarray | None = None,
    C: float = 2.0,
    groups: str = "source",
    n_jobs: int = 2,
) -> dict[str, float]:
    """ROC-AUC per held-out group (source or domain) of a model fit on the other groups."""
    y = rows[label].to_numpy().astype(float)
    g = rows[groups].astype(str).to_numpy()
    w = np.ones(len(y)) if weights is None else weights
    held = [s for s in sorted(set(g)) if len(np.unique(y[g == s])) == 2]
    learner = linear_classifier(config, C, sgd=len(y) >= config.sgd_min_rows)
    return held_out_aucs(learner, X, y, w, g, held, n_jobs)


def baseline_loso(rows: pd.DataFrame, label: str, groups: str = "source") -> dict[str, float]:
    """The naive baseline (TfidfVectorizer + LogisticRegression, defaults) per held-out group."""
    entries = leave_group_out(rows, baseline_factory, label, 0.5, 1, [], groups=groups)
    return {e["source"]: e["roc_auc"] for e in entries if e["roc_auc"] is not None}


def summary(
    scores: Mapping[str, float], baseline: Mapping[str, float] | None = None
) -> dict[str, Any]:
    """Mean and worst ROC-AUC, and the mean and worst gain over the baseline."""
    out: dict[str, Any] = {
        "mean": float(np.mean(list(scores.values()))),
        "worst": float(min(scores.values())),
    }
    if baseline:
        gains = [scores[s] - baseline[s] for s in scores if s in baseline]
        out["mean_gain"] = float(np.mean(gains))
        out["worst_gain"] = float(min(gains))
    return out


def known(dataset: pd.DataFrame, label: str) -> pd.DataFrame:
    """The rows where the label is known, index reset."""
    return dataset[dataset[label].notna()].reset_index(drop=True)


def main() -> None:  # pragma: no cover - a research entry point
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=Path("build/corpora-store"))
    parser.add_argument("--label", default="conspiracy")
    parser.add_argument("--baseline", action="store_true")
    parser.add_argument("--C", type=float, default=2.0)
    parser.add_argument("--balanced", type=float, default=0.0, help="source balance power")
    args = parser.parse_args()
    rows = known(load_dataset(args.store), args.label)
    config = ModelConfig()
    started = time.perf_counter()
    X = features(rows["text"].astype(str).tolist(), config)
    w = source_weights(rows, config, args.label)
    if args.balanced:
        w = w * balanced_weights(rows, args.balanced)
    scores = loso(rows, X, args.label, config, w, args.C)
    base = baseline_loso(rows, args.label) if args.baseline else None
    result = {
        "scores": scores,
        "baseline": base,
        "summary": summary(scores, base),
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":  # pragma: no cover
    main()
