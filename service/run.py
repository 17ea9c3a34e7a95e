"""The main job: score the seed threads with the model in use, return the scored rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from moderate.model.artifacts import REFERENCE, in_use, read_metadata
from moderate.service.batch import Summary, score_files
from moderate.service.writers import read_output


@dataclass
class RunResult:
    """The model used, what its metadata says of it, the summary and the scored rows."""

    model: Path
    metadata: dict[str, Any]
    summary: Summary
    rows: pd.DataFrame
    shipped: bool  # the shipped reference model scored: no team model trained yet


def run_seeds(
    threads: Sequence[Path],
    output: Path,
    *,
    artifacts_dir: Path,
    reference: Path | None = None,
) -> RunResult:
    """Score the thread pages into output (CSV with text) with the model in use: the
    artifacts' `current`, else the shipped reference model. Nothing is trained."""
    model = in_use(artifacts_dir, reference)
    summary = score_files(list(threads), output, model=model, include_text=True)
    rows = read_output(output) if summary.read else pd.DataFrame()
    shipped = model.resolve() == (reference or REFERENCE).resolve()
    return RunResult(model, read_metadata(model), summary, rows, shipped)
