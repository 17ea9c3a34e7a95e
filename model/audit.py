"""Label audit: rank likely label errors by out-of-fold probabilities (confident learning)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from cleanlab.filter import find_label_issues
from cleanlab.rank import get_label_quality_scores

COLUMNS = ["label", "id", "source", "given", "p", "quality", "issue", "text"]


def audit_label(given: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per comment: label quality (low = likely wrong) and cleanlab's issue flag."""
    probs = np.column_stack([1.0 - p, p])
    quality = get_label_quality_scores(given, probs, method="self_confidence")
    issues = find_label_issues(given, probs, filter_by="prune_by_noise_rate")
    return quality, issues


def audit(dataset: pd.DataFrame, oof_probs: pd.DataFrame) -> pd.DataFrame:
    """Likely label errors, most suspicious first within each label.

    `oof_probs` is indexed by comment id with one column of out-of-fold probabilities per
    label (as in evaluate's Report.oof["model"]). Every comment whose label is known and
    scored appears once per label; `issue` marks those cleanlab's confident learning flags.
    """
    parts = []
    frame = dataset.set_index("id")
    for label in oof_probs.columns:
        if label not in frame:
            continue
        scored = oof_probs[label].dropna()
        known = frame.loc[frame.index.intersection(scored.index)]
        known = known[known[label].notna()]
        if known.empty or known[label].nunique() < 2:
            continue
        given = known[label].to_numpy().astype(int)
        p = scored.loc[known.index].to_numpy(dtype=float)
        quality, issues = audit_label(given, p)
        parts.append(
            pd.DataFrame(
                {
                    "label": label,
                    "id": known.index,
                    "source": known["source"].to_numpy(),
                    "given": given,
                    "p": p,
                    "quality": quality,
                    "issue": issues,
                    "text": known["text"].to_numpy(),
                }
            ).sort_values(["issue", "quality"], ascending=[False, True], kind="stable")
        )
    if not parts:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat(parts, ignore_index=True)[COLUMNS]


class AuditError(ValueError):
    """The store cannot be audited (missing, empty, or no label with two classes)."""


def audit_store(
    data_dir: Path,
    *,
    folds: int = 5,
    seed: int = 0,
    baseline: bool = False,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Audit a label store: out-of-fold probabilities from the model pipeline, then `audit`.

    With `baseline=True` the fast naive baseline gives the probabilities instead.
    """
    from moderate.labels.store import load_dataset
    from moderate.model.evaluate import baseline_factory, config_factory, oof_probabilities

    if not (data_dir / "annotations.jsonl").is_file():
        raise AuditError(f"{data_dir}: no label store here (annotations.jsonl is missing)")
    dataset = load_dataset(data_dir)
    if dataset.empty:
        raise AuditError(f"{data_dir}: no comment has a known label")
    factory = baseline_factory if baseline else config_factory()
    oof = oof_probabilities(dataset, factory, folds=folds, seed=seed, n_jobs=n_jobs)
    if oof.empty or oof.columns.empty:
        raise AuditError(f"{data_dir}: no label has at least 2 examples of each class")
    return audit(dataset, oof)
