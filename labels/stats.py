"""What is in the dataset: counts and class balance, agreement between annotators, export."""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import krippendorff
import numpy as np
import pandas as pd
from sklearn.metrics import cohen_kappa_score

from moderate.labels.store import LABELS, LabelError, LabelStore, load_dataset

EXPORT_FORMATS = ("csv", "jsonl", "parquet")
ANSWER_COLUMNS = ["label", "origin", "annotator", "answers", "pos", "neg", "unsure"]


def answer_counts(root: Path) -> pd.DataFrame:
    """Latest answers per label, origin and annotator: counts of 1, 0 and unsure."""
    store = LabelStore(root)
    rows = [
        {"label": a.label, "origin": a.origin, "annotator": a.annotator, "value": a.value}
        for a in store.latest().values()
        if a.value is not None
    ]
    if not rows:
        return pd.DataFrame(columns=[*ANSWER_COLUMNS, "pos_rate"])
    frame = pd.DataFrame(rows)
    frame["pos"] = frame["value"].eq(1)
    frame["neg"] = frame["value"].eq(0)
    frame["unsure"] = frame["value"].eq("unsure")
    grouped = frame.groupby(["label", "origin", "annotator"], sort=True)
    counts = grouped[["pos", "neg", "unsure"]].sum().reset_index()
    counts.insert(3, "answers", counts[["pos", "neg", "unsure"]].sum(axis=1))
    known = counts["pos"] + counts["neg"]
    counts["pos_rate"] = (counts["pos"] / known.where(known > 0)).round(3)
    return counts


def class_balance(root: Path, origins: Sequence[str] = ("human", "import")) -> pd.DataFrame:
    """Per label, over the dataset's comments: known, positive, negative, unknown, rate."""
    dataset = load_dataset(root, origins)
    total = sum(1 for _ in LabelStore(root).comments())
    rows = []
    for label in LABELS:
        values = dataset[label]
        positive, negative = int((values == 1.0).sum()), int((values == 0.0).sum())
        known = positive + negative
        rows.append(
            {
                "label": label,
                "known": known,
                "pos": positive,
                "neg": negative,
                "unknown": total - known,
                "pos_rate": round(positive / known, 3) if known else math.nan,
            }
        )
    return pd.DataFrame(rows)


def human_annotators(root: Path) -> list[str]:
    """Names of the annotators with at least one human answer, sorted."""
    return sorted({a.annotator for a in LabelStore(root).latest().values() if a.origin == "human"})


def agreement(root: Path, annotators: Sequence[str] | None = None) -> pd.DataFrame:
    """Per label: Cohen's kappa for two annotators on their overlap, Krippendorff's alpha
    for three or more. "unsure" and withdrawn answers count as no answer."""
    chosen = list(dict.fromkeys(annotators)) if annotators else human_annotators(root)
    if len(chosen) < 2:
        raise LabelError(
            f"agreement needs at least two annotators, found {len(chosen)}: "
            f"{', '.join(chosen) or 'none'}"
        )
    table: dict[tuple[str, str], dict[str, int]] = {}
    for a in LabelStore(root).latest().values():
        if a.annotator in chosen and isinstance(a.value, int):
            table.setdefault((a.label, a.comment), {})[a.annotator] = a.value
    known = {a for answers in table.values() for a in answers}
    missing = [a for a in chosen if a not in known]
    if missing:
        raise LabelError(f"no 1/0 answers from annotator(s): {', '.join(missing)}")
    rows = []
    for label in LABELS:
        items = [answers for (lab, _), answers in table.items() if lab == label]
        rows.append(_agree_on(label, chosen, items))
    return pd.DataFrame(rows)


def _agree_on(label: str, chosen: list[str], items: list[dict[str, int]]) -> dict[str, object]:
    shared = [answers for answers in items if sum(a in answers for a in chosen) >= 2]
    row: dict[str, object] = {"label": label, "annotators": ", ".join(chosen)}
    row["items"] = len(shared)
    if len(chosen) == 2:
        first = [answers[chosen[0]] for answers in shared]
        second = [answers[chosen[1]] for answers in shared]
        row["metric"] = "cohen_kappa"
        row["agreement"] = _kappa(first, second)
        row["observed"] = _observed(first, second)
        return row
    matrix = np.array([[answers.get(a, np.nan) for answers in shared] for a in chosen], dtype=float)
    row["metric"] = "krippendorff_alpha"
    row["agreement"] = _alpha(matrix)
    row["observed"] = math.nan
    return row


def _kappa(first: list[int], second: list[int]) -> float:
    # Kappa is undefined when both raters used a single, identical class (no variance).
    if not first or len(set(first) | set(second)) < 2:
        return math.nan
    return round(float(cohen_kappa_score(first, second)), 4)


def _observed(first: list[int], second: list[int]) -> float:
    if not first:
        return math.nan
    return round(sum(x == y for x, y in zip(first, second, strict=True)) / len(first), 4)


def _alpha(matrix: np.ndarray) -> float:
    values = matrix[~np.isnan(matrix)]
    if matrix.shape[1] == 0 or len(set(values.tolist())) < 2:
        return math.nan
    return round(
        float(krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")), 4
    )


def export_dataset(
    root: Path,
    output: Path,
    fmt: str | None = None,
    origins: Sequence[str] = ("human", "import"),
) -> int:
    """Write the dataset (one row per comment) as csv, jsonl or parquet; return its rows.

    The file is written beside its destination and renamed into place, so an existing
    export is never left half-written.
    """
    fmt = fmt or output.suffix.lstrip(".").lower()
    if fmt not in EXPORT_FORMATS:
        raise LabelError(f"export format must be one of {', '.join(EXPORT_FORMATS)}, not {fmt!r}")
    dataset = load_dataset(root, origins)
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.")
    os.close(fd)
    try:
        if fmt == "csv":
            dataset.to_csv(temporary, index=False)
        elif fmt == "jsonl":
            dataset.to_json(temporary, orient="records", lines=True, force_ascii=False)
        else:
            dataset.to_parquet(temporary, index=False)
        os.replace(temporary, output)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return len(dataset)
