"""Quality at thresholds: the thresholds themselves, calibration error, headline metrics."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import (
    average_precision_score,
    f1_score,
    matthews_corrcoef,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
)

Floats = NDArray[np.float64]


def choose_thresholds(
    y: Floats,
    p: Floats,
    block_precision: float = 0.9,
    review_recall: float = 0.9,
    typical: Floats | None = None,
    review_max_share: float = 1.0,
) -> tuple[dict[str, float], dict[str, str]]:
    """Thresholds and the rule that gave each.

    block: lowest threshold with precision >= block_precision (else the max-F1 point);
    review: highest threshold with recall >= review_recall, never above block, and raised
    when needed so that at most `review_max_share` of `typical` (the out-of-fold
    probabilities of an ordinary comment section) lands in review or block.
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
    if typical is not None and len(typical) and review_max_share < 1.0:
        cap = float(np.quantile(typical, 1.0 - review_max_share, method="higher"))
        if cap > review:
            review = cap
            review_rule += (
                f", raised so that at most {review_max_share:.0%} of a typical comment "
                f"section ({len(typical)} in-domain comments) is flagged"
            )
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


def ranking_problem(y: Floats, decision: Floats) -> str | None:
    """Why a label's model must not ship: it ranks its own held-out rows no better than chance.

    A tiny, overfit model can score its out-of-fold rows backwards (the seed threads' 50
    labels once gave a conspiracy ROC-AUC of 0.07); calibrating that would block the
    innocent. None when the ranking is better than chance.
    """
    auc = float(roc_auc_score(y, decision))
    if auc > 0.5:
        return None
    return (
        f"refused: its out-of-fold ROC-AUC on its own labels is {auc:.2f}, no better than "
        "chance (0.5), so it would rank comments backwards or at random; label more comments"
    )
