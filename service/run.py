"""The main job: make sure a model exists, score the seed threads, return the scored rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from labels.store import load_dataset
from model.artifacts import current, save
from model.train import ModelConfig, train
from service.batch import Summary, score_files
from service.writers import read_output


@dataclass
class RunResult:
    """The model used (and whether it was trained now), the summary and the scored rows."""

    model: Path
    trained: bool
    summary: Summary
    rows: pd.DataFrame


def ensure_model(data_dir: Path, artifacts_dir: Path) -> tuple[Path, bool]:
    """The artifact `current` points at; train one from data_dir first if there is none."""
    if (artifacts_dir / "current").exists():
        return current(artifacts_dir), False
    trained = train(load_dataset(data_dir), ModelConfig())
    save(trained, artifacts_dir)
    return current(artifacts_dir), True


def run_seeds(
    threads: Sequence[Path], output: Path, *, data_dir: Path, artifacts_dir: Path
) -> RunResult:
    """Score the thread pages into output (CSV with text), training a model if none exists."""
    model, trained = ensure_model(data_dir, artifacts_dir)
    summary = score_files(list(threads), output, model=model, include_text=True)
    rows = read_output(output) if summary.read else pd.DataFrame()
    return RunResult(model=model, trained=trained, summary=summary, rows=rows)
