"""The main job (`moderate run`) and the `moderate score` command."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from moderate.cli import build_app
from service.run import run_seeds

ROOT = Path(__file__).resolve().parent.parent.parent
THREADS = sorted((ROOT / "seeds" / "threads").glob("*.txt"))


def test_run_trains_when_no_model_then_reuses_it(store: Path, tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    output = tmp_path / "build" / "seeds-scored.csv"
    first = run_seeds(THREADS, output, data_dir=store, artifacts_dir=artifacts)
    assert first.trained and (artifacts / "current").resolve() == first.model
    rows = pd.read_csv(output)
    assert len(rows) == first.summary.scored == len(first.rows) > 0
    assert {"text", "toxic", "conspiracy", "toxic_decision"} <= set(rows.columns)
    second = run_seeds(THREADS, output, data_dir=store, artifacts_dir=artifacts)
    assert not second.trained and second.model == first.model


def test_run_command_prints_the_table_and_where(
    store: Path, tmp_path: Path, artifacts: Path
) -> None:
    output = tmp_path / "scored.csv"
    env = {"MODERATE_ARTIFACTS_DIR": str(artifacts), "MODERATE_DATA_DIR": str(store)}
    result = CliRunner().invoke(
        build_app(), ["run", *map(str, THREADS), "-o", str(output)], env=env
    )
    assert result.exit_code == 0, result.output
    assert "comments scored by" in result.output
    assert f"to {output}" in " ".join(result.output.split())
    assert output.exists()


def test_score_command_summary_and_errors(artifacts: Path, tmp_path: Path) -> None:
    dump = tmp_path / "dump.jsonl"
    dump.write_text('{"body": "you idiot"}\n{"body": "nice day"}\n{"body": \n')
    env = {"MODERATE_ARTIFACTS_DIR": str(artifacts)}
    app = build_app()
    failed = CliRunner().invoke(app, ["score", str(dump), "-o", str(tmp_path / "o.csv")], env=env)
    assert failed.exit_code == 1 and "dump.jsonl:3" in failed.output
    rejects = tmp_path / "rejects.jsonl"
    args = ["score", str(dump), "-o", str(tmp_path / "o.csv"), "--rejects", str(rejects)]
    done = CliRunner().invoke(app, args, env=env)  # --rejects implies --on-error skip
    assert done.exit_code == 0, done.output
    assert "read 2 comments, scored 2" in done.output and "rejected 1" in done.output
    assert '"line": 3' in rejects.read_text()
    unknown = CliRunner().invoke(app, ["score", str(dump), "-o", "x.xlsx"], env=env)
    assert unknown.exit_code == 1 and "unknown output extension" in unknown.output
