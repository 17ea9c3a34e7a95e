"""Commands of the model stage: train, train-corpora, evaluate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from moderate.cli.common import fail
from moderate.settings import load_settings

DEFAULT_SCRATCH = Path("build/corpora-store")


def _user_errors() -> tuple[type[Exception], ...]:
    from moderate.model.artifacts import ArtifactError
    from moderate.model.semantic import EncoderError
    from moderate.model.train import ConfigError, TrainingError

    errors: list[type[Exception]] = [ArtifactError, ConfigError, EncoderError, TrainingError]
    try:
        from moderate.model.evaluate import EvaluationError

        errors.append(EvaluationError)
    except ImportError:
        pass
    try:
        from moderate.labels.store import LabelError

        errors.append(LabelError)
    except ImportError:
        pass
    return tuple(errors)


def _print_result(result: Any) -> None:
    typer.echo(str(result.path))
    held_out = result.metadata.get("method") == "out-of-core"
    for label, metrics in result.metadata.get("metrics", {}).items():
        typer.echo(
            f"{label}: ROC-AUC {metrics['roc_auc']:.3f}  PR-AUC {metrics['pr_auc']:.3f}  "
            f"F1@block {metrics['f1_block']:.3f}  ("
            f"{'held-out' if held_out else 'out-of-fold'}, "
            f"{result.metadata['label_counts'][label]['rows']} training rows)"
        )
    for warning in result.metadata.get("warnings", []):
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(f"trained in {result.metadata.get('training_seconds', '?')} s", err=True)


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the app."""

    @app.command()
    def train(
        data: Path | None = typer.Option(
            None, "--data", help="Label store directory (with --out-of-core also .csv/.jsonl)."
        ),
        artifacts: Path | None = typer.Option(None, "--artifacts", help="Artifacts directory."),
        out_of_core: bool = typer.Option(
            False, "--out-of-core", help="Stream the store with hashed features (any size)."
        ),
        config: Path | None = typer.Option(None, "--config", help="Model config (.json/.toml)."),
        evaluate: bool = typer.Option(
            True, "--evaluate/--no-evaluate", help="Write the evaluation report too."
        ),
        start: str = typer.Option(
            "reference",
            "--from",
            help="What to start from: 'reference' (the shipped model, adapted to the "
            "labels), 'scratch', or an artifact directory to adapt (--out-of-core: scratch).",
        ),
        second_opinion: bool | None = typer.Option(
            None,
            "--second-opinion/--no-second-opinion",
            help="From scratch: fit a second opinion too [default: when `make semantic` "
            "installed the encoder]. Adapting keeps the start's.",
        ),
    ) -> None:
        """Train the model on a label store and save a versioned artifact.

        By default the shipped reference model is adapted to the labels (keeping its second
        opinion); `--from scratch` trains on the labels alone, and with the optional encoder
        installed fits a second opinion as well (the first run embeds the comments, about
        50 ms each on 2 cores; they are cached in build/semantic/cache). Prints the
        artifact's path and out-of-fold metrics.

        Example: moderate train --data labels/data --from scratch
        """
        from moderate.model.artifacts import REFERENCE
        from moderate.model.jobs import load_config, train_store

        settings = load_settings()
        # Out-of-core training streams a store of any size: always from scratch.
        origin = (
            None
            if out_of_core
            else {"reference": REFERENCE, "scratch": None}.get(start, Path(start))
        )
        if origin is not None and not (origin / "model.json").exists():
            fail(f"--from {start}: no model artifact at {origin}; use --from scratch")
        try:
            result = train_store(
                data or settings.data_dir,
                artifacts or settings.artifacts_dir,
                load_config(config),
                out_of_core=out_of_core,
                evaluate=evaluate,
                start=origin,
                second_opinion=second_opinion,
            )
        except _user_errors() as error:
            fail(str(error))
        _print_result(result)

    @app.command("train-corpora")
    def train_corpora(
        corpora_dir: Path = typer.Argument(..., help="Directory of corpora (../shared/corpora)."),
        scratch: Path = typer.Option(
            DEFAULT_SCRATCH, "--scratch", help="Scratch label store, emptied first."
        ),
        artifacts: Path | None = typer.Option(None, "--artifacts", help="Artifacts directory."),
        config: Path | None = typer.Option(None, "--config", help="Model config (.json/.toml)."),
        evaluate: bool = typer.Option(
            True, "--evaluate/--no-evaluate", help="Write the evaluation report too."
        ),
        team: Path | None = typer.Option(
            None,
            "--team",
            help="The team's label store to fold in: its labels on corpus comments train "
            "(as source team_news), its thread-page labels are the held-out check.",
        ),
    ) -> None:
        """Import every corpus into a scratch store and train the reference model on it.

        Example: moderate train-corpora ../shared/corpora --team labels/data
        """
        from moderate.model.jobs import load_config
        from moderate.model.jobs import train_corpora as run

        settings = load_settings()
        try:
            result = run(
                corpora_dir,
                scratch,
                artifacts or settings.artifacts_dir,
                load_config(config),
                evaluate=evaluate,
                team_dir=team,
            )
        except _user_errors() as error:
            fail(str(error))
        _print_result(result)

    @app.command("reference-model")
    def reference_model(
        corpora_dir: Path = typer.Argument(..., help="Directory of corpora (../shared/corpora)."),
        team: Path = typer.Option(Path("labels/data"), "--team", help="The team's label store."),
        work: Path = typer.Option(
            Path("build/reference"), "--work", help="Scratch directory (emptied store, artifacts)."
        ),
        out: Path | None = typer.Option(
            None, "--out", help="Where to publish it [default: the shipped model/reference]."
        ),
    ) -> None:
        """Rebuild the shipped reference model: the corpora plus the team's labels.

        Same data and code give the same weights (model.json and weights.npz keep their
        sha256). Publishes the portable files, report and card; prints its summary.

        Example: moderate reference-model ../shared/corpora --team labels/data
        """
        from moderate.model.artifacts import REFERENCE
        from moderate.model.jobs import build_reference

        try:
            result = build_reference(corpora_dir, team, out or REFERENCE, work)
        except _user_errors() as error:
            fail(str(error))
        typer.echo(str(result.path))
        typer.echo(result.metadata.get("summary", ""))

    @app.command("second-opinion")
    def second_opinion(
        corpora_dir: Path = typer.Argument(..., help="Directory of corpora (../shared/corpora)."),
        team: Path = typer.Option(Path("labels/data"), "--team", help="The team's label store."),
        work: Path = typer.Option(
            Path("build/reference"), "--work", help="The reference model's scratch directory."
        ),
        out: Path | None = typer.Option(
            None, "--out", help="The published reference [default: the shipped model/reference]."
        ),
        cap: int = typer.Option(
            1_000, "--cap", min=50, help="Comments embedded per source, label and class."
        ),
        cache: Path = typer.Option(
            Path("build/semantic/cache"), "--cache", help="Where embeddings are kept."
        ),
    ) -> None:
        """Fit the reference model's second opinion (needs `make semantic`) and add it.

        Embeds a source-stratified subsample of the reference's training rows (cached: the
        first run takes about 25 minutes on 2 cores, later ones seconds), judges the cascade
        per label leave-one-source-out with the reference's own out-of-source log-odds
        (written by `moderate reference-model` in --work), and adds the heads where it helps,
        with SECOND_OPINION.md and a section of the card.

        Example: moderate second-opinion ../shared/corpora --team labels/data
        """
        from moderate.model.artifacts import REFERENCE
        from moderate.model.jobs import second_opinion_job

        try:
            metadata = second_opinion_job(
                out or REFERENCE, corpora_dir, team, work, cache, cap=cap,
                progress=lambda line: typer.echo(line, err=True),
            )  # fmt: skip
        except _user_errors() as error:
            fail(str(error))
        for label, info in metadata["second_opinion"]["labels"].items():
            typer.echo(f"{label}: {info['chosen'] or 'not cascaded (n-grams decide)'}")

    @app.command()
    def evaluate(
        data: Path | None = typer.Option(None, "--data", help="Label store directory."),
        model: Path | None = typer.Option(
            None, "--model", help="Artifact directory (default: the artifacts' current)."
        ),
        out: Path | None = typer.Option(None, "--out", help="Report directory."),
    ) -> None:
        """Evaluate the model in use on a label store and write the report.

        Its settings cross-validated and leave-one-source-out beside the baseline,
        behavioural and bias tests, and the model as it is on the store's thread-page labels
        (the seed threads); prints those ROC-AUCs and the report files.

        Example: moderate evaluate --data labels/data --model model/artifacts/current
        """
        from moderate.model.artifacts import in_use
        from moderate.model.jobs import evaluate_store

        settings = load_settings()
        try:
            chosen = model or in_use(settings.artifacts_dir)
            written, held_out = evaluate_store(data or settings.data_dir, chosen, out)
        except _user_errors() as error:
            fail(str(error))
        typer.echo(f"model: {chosen}")
        for name, per_label in held_out.items():
            for label, m in per_label.items():
                auc = "undefined" if m.get("roc_auc") is None else f"{m['roc_auc']:.3f}"
                typer.echo(
                    f"{name}: {label} ROC-AUC {auc} ({m['n']} comments, {m['positives']} positive)"
                )
        for path in written:
            typer.echo(str(path))
