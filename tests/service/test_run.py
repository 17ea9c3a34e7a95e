"""The main job (`moderate run`) and the `moderate score` command."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from moderate.cli import build_app
from moderate.service.run import run_seeds

ROOT = Path(__file__).resolve().parent.parent.parent
THREADS = sorted((ROOT / "seeds" / "threads").glob("*.txt"))


def test_run_scores_with_the_shipped_model_until_the_team_has_one(
    artifacts: Path, tmp_path: Path
) -> None:
    shipped = (artifacts / "current").resolve()
    empty = tmp_path / "no-artifacts"
    output = tmp_path / "build" / "seeds-scored.csv"
    first = run_seeds(THREADS, output, artifacts_dir=empty, reference=shipped)
    assert first.shipped and first.model == shipped
    assert not empty.exists()  # nothing was trained
    rows = pd.read_csv(output)
    assert len(rows) == first.summary.scored == len(first.rows) > 0
    assert {"text", "toxic", "conspiracy", "toxic_decision"} <= set(rows.columns)
    second = run_seeds(THREADS, output, artifacts_dir=artifacts, reference=tmp_path / "none")
    assert not second.shipped and second.model == shipped


def test_run_command_prints_the_table_and_which_model(tmp_path: Path, artifacts: Path) -> None:
    output = tmp_path / "scored.csv"
    env = {"MODERATE_ARTIFACTS_DIR": str(artifacts)}
    result = CliRunner().invoke(
        build_app(), ["run", *map(str, THREADS), "-o", str(output)], env=env
    )
    assert result.exit_code == 0, result.output
    assert "comments scored by" in result.output
    assert "scored by the team's model" in result.output
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
