"""The jobs the CLI runs: train a label store, evaluate it, write the artifact and report.

The one module that calls every step in order: train -> evaluate -> report -> artifacts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from moderate.labels.importers import FORMATS, import_corpora
from moderate.labels.sources import SOURCE_LICENCES
from moderate.labels.store import LabelStore, load_dataset
from moderate.model.adapt import adapt, public_check
from moderate.model.artifacts import (
    METADATA_FILE,
    REFERENCE,
    artifact_dir,
    load,
    publish,
    read_metadata,
    save,
    trained_on,
    write_second_opinion,
)
from moderate.model.behaviour import run_behaviour
from moderate.model.evaluate import Report
from moderate.model.evaluate import evaluate as run_evaluation
from moderate.model.outofcore import train_out_of_core
from moderate.model.predict import Model
from moderate.model.report import (
    adaptation_lines,
    render_model_card,
    write_adaptation_report,
    write_report,
)
from moderate.model.second_opinion import SECOND, SecondOpinion
from moderate.model.second_train import auc, ranked, second_lines, training_rows
from moderate.model.second_train import build as second_build
from moderate.model.second_train import markdown as second_markdown
from moderate.model.semantic import EmbeddingCache, available, installed
from moderate.model.train import (
    ModelConfig,
    Trained,
    TrainingError,
    dataset_hash,
    evaluation_config,
    load_config,
    train,
)

__all__ = [
    "TrainResult",
    "build_reference",
    "evaluate_store",
    "load_config",
    "train_corpora",
    "train_store",
]


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced: the artifact directory and its metadata."""

    path: Path
    metadata: dict[str, Any]
    report_files: list[Path] = field(default_factory=list)
    trained: Trained | None = None
    report: Report | None = None


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
    start: Path | None = None,
    second_opinion: bool | None = None,
    cache_root: Path = Path("build/semantic/cache"),
) -> TrainResult:
    """Train on a label store, evaluate, save the artifact and point `current` at it.

    With `start` (an artifact, e.g. the shipped reference model), adapt that model to the
    labels (model/adapt.py) instead of training from nothing; the start's second opinion is
    kept. From nothing, a second opinion is fitted too when `second_opinion` (None: when
    the optional encoder is installed).
    """
    config = config or ModelConfig()
    if out_of_core:
        trained = train_out_of_core(data_dir, config)
        return TrainResult(save(trained, artifacts_dir), trained.metadata)
    if start is not None:
        return adapt_dataset(read_store(data_dir), start, artifacts_dir, config, evaluate)
    fit = available() if second_opinion is None else second_opinion
    return train_dataset(
        read_store(data_dir), artifacts_dir, config, evaluate, None, cache_root if fit else None
    )


def adapt_dataset(
    dataset: pd.DataFrame,
    start: Path,
    artifacts_dir: Path,
    config: ModelConfig,
    evaluate: bool = True,
) -> TrainResult:
    """Adapt the artifact at `start` to a labelled dataset; save it with its report."""
    reference = load(start)
    trained = adapt(dataset, reference, config, trained_on(start))
    if reference.second is not None:
        # Judged on 19 sources with the team's labels among them (SECOND_OPINION.md); its
        # bands are n-gram probabilities, which adapting moves little (adaptation_check).
        trained.second = reference.second
        trained.metadata["second_opinion"] = {
            **reference.second.described,
            "carried_over_from": reference.version,
        }
    check = reference.metadata.get("adaptation_check", {})
    if check.get("team_dataset_hash") == trained.metadata["dataset_hash"]:
        trained.metadata["public_check"] = check.get("public")
    trained.metadata["summary"] = adapted_summary(trained.metadata)
    written: list[Path] = []

    def add_report(folder: Path) -> None:
        behaviour = {}
        if evaluate:
            adapted = Model.from_trained(trained)
            behaviour = {"reference": run_behaviour(reference), "adapted": run_behaviour(adapted)}
        written.extend(write_adaptation_report(trained.metadata, behaviour, folder))

    path = save(trained, artifacts_dir, extra=add_report)
    return TrainResult(path, trained.metadata, [path / p.name for p in written])


def adapted_summary(metadata: dict[str, Any]) -> str:
    """One line: what the adapted model learnt from, and how it compares on the team's labels."""
    parts = []
    for label, entry in metadata.get("adaptation", {}).items():
        cv = entry.get("team_cv")
        if cv:
            parts.append(
                f"{label} {cv['reference']['roc_auc']:.2f} -> {cv['adapted']['roc_auc']:.2f}"
            )
    source = metadata.get("adapted_from", {}).get("version", "?")
    return (
        f"the reference model {source} adapted to {metadata.get('rows', 0):,} team labels; "
        f"cross-validated ROC-AUC on them, reference -> adapted: {', '.join(parts) or 'n/a'}"
    )


def train_dataset(
    dataset: pd.DataFrame,
    artifacts_dir: Path,
    config: ModelConfig,
    evaluate: bool = True,
    held_out: dict[str, pd.DataFrame] | None = None,
    second_opinion_cache: Path | None = None,
) -> TrainResult:
    """Train on a labelled dataset, evaluate (with the held-out sets), save the artifact.

    With `second_opinion_cache` (where embeddings are kept), a second opinion is fitted on
    the trained model's out-of-fold log-odds (fit_second_opinion) and saved with it.
    """
    trained = train(dataset, config)
    second_report: list[str] = []
    if second_opinion_cache is not None:
        trained.second, tables = fit_second_opinion(
            dataset, oof_log_odds(trained), Model.from_trained(trained), config,
            second_opinion_cache,
        )  # fmt: skip
        trained.metadata["second_opinion"] = trained.second.described
        second_report = second_opinion_report(trained.second, tables)
    if not evaluate:
        return TrainResult(save(trained, artifacts_dir), trained.metadata, trained=trained)
    report = _evaluation(dataset, trained, config, held_out)
    trained.metadata["summary"] = reference_summary(report, trained.metadata)
    written: list[Path] = []

    def add_report(folder: Path) -> None:
        written.extend(write_report(report, folder))
        if second_report:
            (folder / SECOND_REPORT).write_text("\n".join(second_report) + "\n", "utf-8")
            written.append(folder / SECOND_REPORT)

    path = save(trained, artifacts_dir, extra=add_report)
    files = [path / p.name for p in written]
    return TrainResult(path, trained.metadata, files, trained, report)


def reference_summary(report: Report, metadata: dict[str, Any]) -> str:
    """One line for the model card and `moderate run`: data and leave-one-source-out AUCs."""
    aucs = []
    for label, entries in report.by_source.get("model", {}).items():
        values = [e["roc_auc"] for e in entries if e.get("roc_auc") is not None]
        if values:
            aucs.append(f"{label} {np.mean(values):.2f}")
    sources = len(metadata.get("sources", {}))
    return (
        f"trained on {metadata.get('rows', 0):,} labelled comments from {sources} sources; "
        f"mean leave-one-source-out ROC-AUC {', '.join(aucs) or 'n/a'}"
    )


def _evaluation(
    dataset: pd.DataFrame,
    trained: Trained,
    config: ModelConfig,
    held_out: dict[str, pd.DataFrame] | None = None,
) -> Report:
    return run_evaluation(
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


def evaluate_store(
    data_dir: Path, model_path: Path, out_dir: Path | None = None
) -> tuple[list[Path], dict[str, dict[str, dict[str, Any]]]]:
    """Evaluate a saved model on a label store; write the report files.

    Its settings are cross-validated on the store as usual; beside that, the model as it
    is scores the store's thread-page labels (the seed threads), which the reference model
    never trains on. Returns the files and those held-out metrics. The report goes to
    `out_dir`, by default `<artifact>/evaluations/<dataset hash>/` so the training-time
    report is never overwritten (build/evaluations/ for the shipped reference model).
    """
    model = load(model_path)
    dataset = read_store(data_dir)
    config = ModelConfig.from_dict(model.metadata.get("config", {}))
    config = evaluation_config(config, model.metadata.get("selection", {}))
    if out_dir is None:
        folder = artifact_dir(model_path)
        base = folder / "evaluations"
        if folder.resolve() == REFERENCE.resolve():
            base = Path("build") / "evaluations" / model.version
        out_dir = base / dataset_hash(dataset, config.labels)[:12]
    pages = dataset[~dataset["source"].astype(str).isin(FORMATS)]
    held_out = {}
    if len(pages):
        seen = set(pages["source"].astype(str)) & set(model.metadata.get("sources", {}))
        held_out[SEED_SET + (" (in the model's training data)" if seen else "")] = pages
    report = run_evaluation(
        dataset,
        config,
        folds=config.folds,
        seed=config.random_state,
        model=model,
        held_out=held_out,
    )
    return write_report(report, out_dir), report.held_out


def corpora_dataset(
    corpora_dir: Path, scratch_dir: Path, team_dir: Path | None = None
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Every corpus imported into a fresh scratch store, with the team's labels folded in."""
    if not corpora_dir.is_dir():
        raise TrainingError(f"{corpora_dir}: no such corpora directory")
    _reset_scratch(scratch_dir)
    import_corpora(corpora_dir, LabelStore(scratch_dir))
    dataset = read_store(scratch_dir)
    if team_dir is None:
        return dataset, {}
    return with_team_labels(dataset, read_store(team_dir))


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
    dataset, held_out = corpora_dataset(corpora_dir, scratch_dir, team_dir)
    return train_dataset(dataset, artifacts_dir, config or ModelConfig(), evaluate, held_out)


def build_reference(
    corpora_dir: Path,
    team_dir: Path,
    destination: Path = REFERENCE,
    work_dir: Path = Path("build/reference"),
    config: ModelConfig | None = None,
    second_opinion: bool = True,
) -> TrainResult:
    """Train the reference model on the corpora and the team's labels; publish it.

    The published copy (model/reference) keeps the portable files, the report, the card
    and the out-of-fold log-odds of the team rows (trained_on.npz, for adapting). Then the
    reference is adapted to the team's labels as `make train` will, and the card says how
    that compares, on the team's labels and leave-one-source-out on the public sources.
    With the optional encoder installed (and `second_opinion`), the second opinion is
    fitted and added too (second_opinion_job).
    """
    config = config or ModelConfig()
    dataset, held_out = corpora_dataset(corpora_dir, work_dir / "corpora-store", team_dir)
    result = train_dataset(dataset, work_dir / "artifacts", config, True, held_out)
    assert result.trained is not None and result.report is not None
    published = publish(result.path, destination, _trained_on(result.trained, dataset))
    metadata = read_metadata(published)
    card = render_model_card(result.report, metadata, SOURCE_LICENCES)
    (published / "MODEL_CARD.md").write_text(card, "utf-8")
    # Kept outside the project (derived from the corpora) to check adaptations again.
    loso = pd.DataFrame(result.report.loso_decisions).rename_axis("id")
    loso.to_parquet(work_dir / LOSO_FILE)
    public = dataset[dataset["source"].astype(str) != TEAM_SOURCE]
    metadata = check_adaptation(published, read_store(team_dir), public, loso, config)
    if second_opinion and available():
        metadata = second_opinion_job(published, corpora_dir, team_dir, work_dir, config=config)
    return TrainResult(published, metadata, [], result.trained)


LOSO_FILE = "loso_decisions.parquet"
CHECK_HEADING = "## Adapting it to the team's labels"


def check_adaptation(
    published: Path,
    team: pd.DataFrame,
    public: pd.DataFrame,
    loso: pd.DataFrame,
    config: ModelConfig | None = None,
) -> dict[str, Any]:
    """Adapt a published reference model to the team's labels as `make train` will, and
    record how that compares (metadata `adaptation_check`, a section of its card).

    `loso` holds per public row and label the reference's leave-one-source-out log-odds.
    """
    reference = load(published)
    adapted = adapt(team, reference, config or ModelConfig(), trained_on(published))
    decisions = {label: loso[label].dropna() for label in loso.columns}
    result = public_check(
        decisions, public, reference, Model.from_trained(adapted), adapted.metadata["adaptation"]
    )
    check = {
        "team_dataset_hash": adapted.metadata["dataset_hash"],
        "team": {k: v.get("team_cv") for k, v in adapted.metadata["adaptation"].items()},
        "chosen": {k: v.get("chosen") for k, v in adapted.metadata["adaptation"].items()},
        "public": result,
    }
    metadata = read_metadata(published)
    metadata["adaptation_check"] = check
    (published / METADATA_FILE).write_text(
        json.dumps(metadata, indent=2, default=str) + "\n", "utf-8"
    )
    card = (published / "MODEL_CARD.md").read_text("utf-8").split(CHECK_HEADING)[0]
    (published / "MODEL_CARD.md").write_text(
        card.rstrip("\n") + "\n\n" + "\n".join(adaptation_lines(check)), "utf-8"
    )
    return metadata


def _trained_on(trained: Trained, dataset: pd.DataFrame) -> dict[str, Any]:
    """The team rows' ids and out-of-fold log-odds per label (NaN where unknown)."""
    team = dataset["id"][dataset["source"].astype(str) == TEAM_SOURCE].astype(str)
    ids = np.sort(team.to_numpy().astype(str))
    arrays: dict[str, Any] = {"ids": ids}
    for label, frame in trained.oof.items():
        decision = frame.set_index(frame["id"].astype(str))["decision"]
        arrays[f"logodds.{label}"] = decision.reindex(ids).to_numpy(dtype=np.float64)
    return arrays


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


SECOND_REPORT = "SECOND_OPINION.md"
SECOND_HEADING = "## The second opinion"


class WithSecondOpinion:
    """A model's scorer with the second opinion on (for the behavioural suite)."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.labels = model.labels

    def score(self, texts: Any) -> list[Any]:
        """Model.score with the second opinion."""
        return self.model.score(list(texts), second_opinion=True)


def second_opinion_job(
    published: Path,
    corpora_dir: Path,
    team_dir: Path,
    work_dir: Path = Path("build/reference"),
    cache_root: Path = Path("build/semantic/cache"),
    config: ModelConfig | None = None,
    cap: int = 1_000,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Fit the reference model's second opinion and add it to the published copy.

    Embeds a source-stratified subsample of the reference's training rows (cached under
    `cache_root`: the first run takes about 25 minutes on 2 cores), judges each label's
    cascade leave-one-source-out with the reference's own out-of-source log-odds
    (`work_dir`/loso_decisions.parquet, written by `make reference-model`), keeps the
    labels where it helps, and reports the n-grams, the second opinion and the cascade per
    source (SECOND_OPINION.md, the card, metadata `second_opinion`).
    """
    config = config or ModelConfig()
    loso_path = work_dir / LOSO_FILE
    if not loso_path.exists():
        raise TrainingError(f"{loso_path}: missing; build the reference model first")
    dataset, held_out = corpora_dataset(corpora_dir, work_dir / "corpora-store", team_dir)
    reference = load(published)
    opinion, tables = fit_second_opinion(
        dataset, pd.read_parquet(loso_path), reference, config, cache_root, cap, progress
    )
    reference.second = opinion
    opinion.described["checks"] = _second_checks(reference, held_out.get(SEED_SET), opinion)
    write_second_opinion(opinion, published)
    lines = second_opinion_report(opinion, tables)
    (published / SECOND_REPORT).write_text("\n".join(lines) + "\n", "utf-8")
    metadata = read_metadata(published)
    metadata["second_opinion"] = opinion.described
    (published / METADATA_FILE).write_text(
        json.dumps(metadata, indent=2, default=str) + "\n", "utf-8"
    )
    card = (published / "MODEL_CARD.md").read_text("utf-8").split(SECOND_HEADING)[0]
    card_lines = [SECOND_HEADING, "", *second_lines(opinion.described, opinion.identity)]
    (published / "MODEL_CARD.md").write_text(
        card.rstrip("\n") + "\n\n" + "\n".join(card_lines) + "\n", "utf-8"
    )
    return metadata


def fit_second_opinion(
    dataset: pd.DataFrame,
    log_odds: pd.DataFrame,
    model: Model,
    config: ModelConfig,
    cache_root: Path,
    cap: int = 1_000,
    progress: Callable[[str], None] = lambda _: None,
) -> tuple[SecondOpinion, dict[str, pd.DataFrame]]:
    """A second opinion for `model`: a source-stratified subsample of its training rows
    embedded (cached under `cache_root`), `log_odds` (its out-of-source or out-of-fold
    n-gram log-odds per id) as the n-gram column, judged leave-one-source-out over the
    dataset's sources (a label none of whose bands gains gets no head). With the
    per-source tables."""
    identity = installed()
    sample = training_rows(dataset, cap).reset_index(drop=True)
    cache = EmbeddingCache(cache_root, identity)
    progress(f"embedding {len(sample)} comments (cached in {cache.folder})")
    E = cache.embed(
        sample["text"].astype(str).tolist(),
        progress=lambda done, total: progress(f"embedded {done}/{total} new comments"),
    )
    opinion, tables = second_build(sample, dataset, E, log_odds, model, identity, config, progress)
    opinion.described["sample"] = {"rows": len(sample), "cap_per_source_and_class": cap}
    return opinion, tables


def oof_log_odds(trained: Trained) -> pd.DataFrame:
    """A freshly trained model's out-of-fold log-odds, one column per label, by id."""
    return pd.DataFrame(
        {
            label: frame.set_index(frame["id"].astype(str))["decision"]
            for label, frame in trained.oof.items()
        }
    )


def second_opinion_report(opinion: SecondOpinion, tables: dict[str, pd.DataFrame]) -> list[str]:
    """SECOND_OPINION.md: the summary, then n-grams, second opinion and cascade per source."""
    chosen = {label: info["chosen"] for label, info in opinion.described["labels"].items()}
    return [
        "# The second opinion",
        "",
        *second_lines(opinion.described, opinion.identity),
        "",
        "## Leave-one-source-out, per source",
        "",
        "ROC-AUC of each source held out in turn: the n-gram model's out-of-source log-odds, "
        "the head on every comment, and the cascade per band (the band's comments "
        "re-scored by the head, ties of the calibration broken by the n-gram log-odds).",
        "",
        *second_markdown(tables, {k: v for k, v in chosen.items() if k in tables}),
    ]


def _second_checks(
    model: Model, seeds: pd.DataFrame | None, opinion: SecondOpinion
) -> dict[str, Any]:
    """The seed threads (held out: reported, never chosen by) and the behavioural suite,
    n-grams alone against the cascade."""
    checks: dict[str, Any] = {
        "behaviour": {
            "ngrams": run_behaviour(model),
            "cascade": run_behaviour(WithSecondOpinion(model)),
        }
    }
    if seeds is not None and len(seeds):
        texts = seeds["text"].astype(str).tolist()
        log_odds = model.log_odds(texts)
        cascade = model.judge(texts, second_opinion=True)
        seed_auc = {}
        for j, label in enumerate(model.labels):
            known = seeds[label].notna().to_numpy()
            y = seeds[label].to_numpy()[known].astype(float)
            z = log_odds[known, j]
            asked = np.asarray(cascade.decided_by[label]) == SECOND if cascade.decided_by else known
            seed_auc[label] = {
                "rows": int(known.sum()),
                "asked": int(asked[known].sum()),
                "ngrams": auc(y, z),
                "cascade": auc(y, ranked(cascade.probabilities[label][known], z)),
            }
        checks["seed_threads"] = seed_auc
    return checks
