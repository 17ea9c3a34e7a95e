"""Unintended-bias audit: subgroup, BPSN and BNSP AUC over identity-term templates."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.metrics import roc_auc_score

from moderate.model.behaviour import Scorer, probabilities

TEMPLATES = "identity_templates.jsonl"
TERMS = "identity_terms.txt"


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC-AUC, or NaN when only one class is present (the metric is undefined)."""
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, p))


def subgroup_auc(y: ArrayLike, p: ArrayLike, in_group: ArrayLike) -> float:
    """AUC on the comments that mention the identity only."""
    ya, pa, ga = np.asarray(y), np.asarray(p, dtype=float), np.asarray(in_group, dtype=bool)
    return _auc(ya[ga], pa[ga])


def bpsn_auc(y: ArrayLike, p: ArrayLike, in_group: ArrayLike) -> float:
    """Background Positive, Subgroup Negative: low when benign identity mentions score high."""
    ya, pa, ga = np.asarray(y), np.asarray(p, dtype=float), np.asarray(in_group, dtype=bool)
    keep = (ga & (ya == 0)) | (~ga & (ya == 1))
    return _auc(ya[keep], pa[keep])


def bnsp_auc(y: ArrayLike, p: ArrayLike, in_group: ArrayLike) -> float:
    """Background Negative, Subgroup Positive: low when toxic identity mentions score low."""
    ya, pa, ga = np.asarray(y), np.asarray(p, dtype=float), np.asarray(in_group, dtype=bool)
    keep = (ga & (ya == 1)) | (~ga & (ya == 0))
    return _auc(ya[keep], pa[keep])


def bias_metrics(frame: pd.DataFrame) -> pd.DataFrame:
    """Per identity (columns identity, y, p in `frame`): size, subgroup, BPSN and BNSP AUC."""
    y, p = frame["y"].to_numpy(), frame["p"].to_numpy(dtype=float)
    rows: list[dict[str, Any]] = []
    for identity in sorted(frame["identity"].unique()):
        group = (frame["identity"] == identity).to_numpy()
        rows.append(
            {
                "identity": identity,
                "n": int(group.sum()),
                "subgroup_auc": subgroup_auc(y, p, group),
                "bpsn_auc": bpsn_auc(y, p, group),
                "bnsp_auc": bnsp_auc(y, p, group),
                "mean_p_benign": float(p[group & (y == 0)].mean()),
                "mean_p_toxic": float(p[group & (y == 1)].mean()),
            }
        )
    return pd.DataFrame(rows)


def identity_cases() -> pd.DataFrame:
    """Every template filled with every identity term: columns text, identity, y."""
    data = resources.files("moderate.model") / "data"
    terms = [t.strip() for t in (data / TERMS).read_text("utf-8").splitlines()]
    terms = [t for t in terms if t and not t.startswith("#")]
    rows: list[dict[str, Any]] = []
    for line in (data / TEMPLATES).read_text("utf-8").splitlines():
        if not line.strip():
            continue
        template = json.loads(line)
        for term in terms:
            text = template["template"].format(identity=term)
            rows.append({"text": text, "identity": term, "y": int(template["toxic"])})
    return pd.DataFrame(rows)


def run_bias(model: Scorer, label: str = "toxic") -> pd.DataFrame:
    """Score the identity templates with `model` and return the per-identity bias metrics."""
    cases = identity_cases()
    cases["p"] = probabilities(model, cases["text"].tolist(), label)
    return bias_metrics(cases)
