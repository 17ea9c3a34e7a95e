"""The `moderate train` / `evaluate` commands on a label store built from the fixture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from moderate.cli import build_app
from moderate.labels.store import Annotation, LabelStore, utc_now

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "model" / "comments.jsonl"
FAST = {"grid_C": [1.0], "grid_min_df": [1], "grid_char": [False]}


def fixture_store(root: Path, labels: tuple[str, ...] = ("toxic", "conspiracy")) -> Path:
    """A label store holding the fixture's comments and their known labels."""
    rows = [json.loads(line) for line in FIXTURE.read_text().splitlines()]
    store = LabelStore(root)
    store.add_comments(
        {"id": r["id"], "source": r["source"], "thread": r["thread"], "position": i,
         "text": r["text"]}
        for i, r in enumerate(rows)
    )  # fmt: skip
    store.annotate(
        Annotation(r["id"], label, int(r[label]), "tester", utc_now(), "human")
        for r in rows
        for label in labels
        if r[label] is not None
    )
    return root


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return fixture_store(tmp_path / "store")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "fast.json"
    path.write_text(json.dumps(FAST))
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(build_app(), list(args))
    return result.exit_code, result.output


def test_train_prints_the_artifact_and_metrics(store: Path, config: Path, tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    code, output = run(
        "train", "--data", str(store), "--artifacts", str(artifacts), "--config", str(config),
        "--no-evaluate", "--from", "scratch",
    )  # fmt: skip
    assert code == 0, output
    path = Path(output.splitlines()[0])
    assert path.parent == artifacts and (artifacts / "current").resolve() == path.resolve()
    assert "toxic: ROC-AUC" in output and "conspiracy: ROC-AUC" in output


def test_train_writes_the_evaluation_report_into_the_artifact(
    store: Path, config: Path, tmp_path: Path
) -> None:
    code, output = run(
        "train", "--data", str(store), "--artifacts", str(tmp_path / "a"), "--config", str(config),
        "--from", "scratch",
    )  # fmt: skip
    assert code == 0, output
    folder = Path(output.splitlines()[0])
    assert (folder / "report.json").exists() and (folder / "MODEL_CARD.md").exists()
    code, output = run("evaluate", "--data", str(store), "--model", str(tmp_path / "a"))
    assert code == 0, output
    assert any(line.endswith("report.json") for line in output.splitlines())
    assert "evaluations" in output  # never overwrites the training-time report
    # The store's own labels, scored by the model as it is (which trained on them).
    assert "(in the model's training data): toxic ROC-AUC" in output


def test_train_out_of_core(store: Path, tmp_path: Path) -> None:
    path = tmp_path / "ooc.json"
    path.write_text(json.dumps({"chunk_rows": 16, "holdout_every": 3, "epochs": 5}))
    code, output = run(
        "train", "--data", str(store), "--artifacts", str(tmp_path / "a"), "--config", str(path),
        "--out-of-core",
    )  # fmt: skip
    assert code == 0, output
    assert "held-out" in output


def test_missing_store_is_one_red_line(tmp_path: Path) -> None:
    code, output = run("train", "--data", str(tmp_path / "nope"), "--artifacts", str(tmp_path))
    assert code == 1
    assert "no such label store" in output and "Traceback" not in output


def test_evaluate_without_a_model_says_how_to_train(store: Path, tmp_path: Path) -> None:
    code, output = run("evaluate", "--data", str(store), "--model", str(tmp_path / "none"))
    assert code == 1
    assert "make train" in output


def test_bad_config_is_a_user_error(store: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"foldz": 3}')
    code, output = run("train", "--data", str(store), "--config", str(bad))
    assert code == 1
    assert "foldz" in output


def test_train_adapts_the_model_it_is_given(store: Path, config: Path, tmp_path: Path) -> None:
    code, output = run(
        "train", "--data", str(store), "--artifacts", str(tmp_path / "ref"), "--config",
        str(config), "--from", "scratch", "--no-evaluate",
    )  # fmt: skip
    assert code == 0, output
    reference = Path(output.splitlines()[0])
    code, output = run(
        "train", "--data", str(store), "--artifacts", str(tmp_path / "team"), "--config",
        str(config), "--from", str(reference),
    )  # fmt: skip
    assert code == 0, output
    folder = Path(output.splitlines()[0])
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["method"] == "adapted"
    assert metadata["adapted_from"]["version"] == reference.name
    report = (folder / "REPORT.md").read_text()
    assert "## The team's labels, cross-validated" in report and "reference" in report
    assert (folder / "MODEL_CARD.md").exists()


def test_train_from_a_missing_model_is_one_red_line(store: Path, tmp_path: Path) -> None:
    code, output = run("train", "--data", str(store), "--from", str(tmp_path / "none"))
    assert code == 1
    assert "no model artifact" in output and "--from scratch" in output


def test_a_worse_than_chance_model_is_refused_not_shipped(tmp_path: Path) -> None:
    store = LabelStore(tmp_path / "store")
    texts = [f"token{i} marker{i}" for i in range(20)]
    store.add_comments(
        {"id": f"c{i}-{v}", "source": "s", "thread": "s", "position": i, "text": text}
        for i, text in enumerate(texts)
        for v in (0, 1)
    )
    store.annotate(
        Annotation(f"c{i}-{v}", "toxic", v, "tester", utc_now(), "human")
        for i in range(len(texts))
        for v in (0, 1)
    )
    artifacts = tmp_path / "artifacts"
    code, output = run(
        "train", "--data", str(tmp_path / "store"), "--artifacts", str(artifacts), "--from",
        "scratch", "--no-evaluate",
    )  # fmt: skip
    assert code == 1
    assert "chance" in output and "Traceback" not in output
    assert not (artifacts / "current").exists()
