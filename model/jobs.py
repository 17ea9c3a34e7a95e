"""The jobs the CLI runs: train a label store, evaluate it, write the artifact and report.

The one module that calls every step in order: train -> evaluate -> report -> artifacts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from labels.importers import FORMATS, import_corpora
from labels.store import LabelStore, load_dataset
from model.artifacts import artifact_dir, load, save
from model.evaluate import evaluate as run_evaluation
from model.outofcore import train_out_of_core
from model.predict import Model
from model.report import write_report
from model.train import (
    ModelConfig,
    Trained,
    TrainingError,
    dataset_hash,
    evaluation_config,
    load_config,
    train,
)

__all__ = ["TrainResult", "evaluate_store", "load_config", "train_corpora", "train_store"]


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced: the artifact directory and its metadata."""

    path: Path
    metadata: dict[str, Any]
    report_files: list[Path] = field(default_factory=list)


def read_store(data_dir: Path) -> pd.DataFrame:
    """The labelled dataset of a label store directory."""
    if not data_dir.is_dir():
        raise TrainingError(f"{data_dir}: no such label store directory")
    return load_dataset(data_dir)


def train_store(
    data_dir: Path,
    artifacts_dir: Path,
    config: ModelConfig | None = None,
    out_of_core: bool = False,
    evaluate: bool = True,
) -> TrainResult:
    """Train on a label store, evaluate, save the artifact and point `current` at it."""
    config = config or ModelConfig()
    if out_of_core:
        trained = train_out_of_core(data_dir, config)
        return TrainResult(save(trained, artifacts_dir), trained.metadata)
    return train_dataset(read_store(data_dir), artifacts_dir, config, evaluate)


def train_dataset(
    dataset: pd.DataFrame,
    artifacts_dir: Path,
    config: ModelConfig,
    evaluate: bool = True,
    held_out: dict[str, pd.DataFrame] | None = None,
) -> TrainResult:
    """Train on a labelled dataset, evaluate (with the held-out sets), save the artifact."""
    trained = train(dataset, config)
    if not evaluate:
        return TrainResult(save(trained, artifacts_dir), trained.metadata)
    written: list[Path] = []

    def add_report(folder: Path) -> None:
        written.extend(_evaluate_into(dataset, trained, config, folder, held_out))

    path = save(trained, artifacts_dir, extra=add_report)
    return TrainResult(path, trained.metadata, [path / p.name for p in written])


def _evaluate_into(
    dataset: pd.DataFrame,
    trained: Trained,
    config: ModelConfig,
    folder: Path,
    held_out: dict[str, pd.DataFrame] | None = None,
) -> list[Path]:
    report = run_evaluation(
        dataset,
        evaluation_config(config, trained.metadata["selection"]),
        folds=config.folds,
        seed=config.random_state,
        model=Model.from_trained(trained),
        # Training already has the model's out-of-fold probabilities: refitting it `folds`
        # times again would double the training time for the same numbers.
        oof=trained.oof,
        n_jobs=2,
        held_out=held_out,
    )
    return write_report(report, folder)


TEAM_SOURCE = "team_news"
SEED_SET = "seed threads (team labels)"


def with_team_labels(
    corpus: pd.DataFrame, team: pd.DataFrame
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The corpora with the team's labels (labels/data) folded in, and what stays held out.

    Corpus comments the team labelled (picked with `moderate labels pick`) train under the
    source "team_news", their own evaluation domain, in place of the corpus's label for
    them; the corpus copy of the same text goes, so holding the team's labels out holds
    those comments out. The team's labels on thread pages (the seed threads) never train
    the reference model: they are the held-out check of the report.
    """
    from_corpus = team["source"].astype(str).isin(FORMATS)
    relabelled = team[from_corpus].assign(source=TEAM_SOURCE)
    texts = set(_squeezed(relabelled["text"]))
    same = corpus["id"].isin(relabelled["id"]) | _squeezed(corpus["text"]).isin(texts)
    combined = pd.concat([corpus[~same], relabelled], ignore_index=True)
    held_out = {SEED_SET: team[~from_corpus]} if (~from_corpus).any() else {}
    return combined, held_out


def evaluate_store(data_dir: Path, model_path: Path, out_dir: Path | None = None) -> list[Path]:
    """Evaluate a saved model's settings on a label store; write the report files.

    The report goes to `out_dir`, by default `<artifact>/evaluations/<dataset hash>/` so the
    training-time report beside the model is never overwritten.
    """
    model = load(model_path)
    dataset = read_store(data_dir)
    config = ModelConfig.from_dict(model.metadata.get("config", {}))
    config = evaluation_config(config, model.metadata.get("selection", {}))
    if out_dir is None:
        folder = artifact_dir(model_path)
        out_dir = folder / "evaluations" / dataset_hash(dataset, config.labels)[:12]
    report = run_evaluation(
        dataset, config, folds=config.folds, seed=config.random_state, model=model
    )
    return write_report(report, out_dir)


def train_corpora(
    corpora_dir: Path,
    scratch_dir: Path,
    artifacts_dir: Path,
    config: ModelConfig | None = None,
    evaluate: bool = True,
    team_dir: Path | None = None,
) -> TrainResult:
    """Import every corpus into a fresh scratch store, then train the reference model on it.

    With `team_dir` (labels/data), the team's own labels join in (see with_team_labels).
    """
    if not corpora_dir.is_dir():
        raise TrainingError(f"{corpora_dir}: no such corpora directory")
    _reset_scratch(scratch_dir)
    import_corpora(corpora_dir, LabelStore(scratch_dir))
    dataset = read_store(scratch_dir)
    held_out: dict[str, pd.DataFrame] = {}
    if team_dir is not None:
        dataset, held_out = with_team_labels(dataset, read_store(team_dir))
    return train_dataset(dataset, artifacts_dir, config or ModelConfig(), evaluate, held_out)


def _squeezed(texts: pd.Series) -> pd.Series:
    """Texts with runs of whitespace made one space: the same comment copied twice."""
    return texts.astype(str).str.split().str.join(" ")


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
