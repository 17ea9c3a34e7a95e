"""`moderate labels set|import|stats|agree|export` through the real command line parser."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import typer

from moderate.labels.store import Annotation, LabelStore
from tests.labels.cli import run


def has(out: str, text: str) -> bool:
    """Whether text is in the output, whatever the console's line wrapping."""
    return "".join(text.split()) in "".join(out.split())


def seeded(root: Path) -> LabelStore:
    """A store with three unlabelled comments."""
    store = LabelStore(root)
    store.add_comments({"id": f"c{i}", "text": f"text {i}", "source": "t"} for i in range(3))
    return store


def test_set_writes_answers_and_withdraws(cli: typer.Typer, tmp_path: Path) -> None:
    store = seeded(tmp_path)
    code, out = run(
        cli, "set", "c1", "--toxic", "1", "--conspiracy", "unsure", "-a", "ana", "--data", tmp_path
    )
    assert code == 0, out
    assert "c1 toxic=1 by ana" in out
    latest = store.latest()
    assert latest[("c1", "toxic", "ana")].value == 1
    assert latest[("c1", "conspiracy", "ana")].value == "unsure"
    assert run(cli, "set", "c1", "--toxic", "none", "-a", "ana", "--data", tmp_path)[0] == 0
    assert store.latest()[("c1", "toxic", "ana")].value is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["c9", "--toxic", "1"], "no comment with id 'c9'"),
        (["c1", "--toxic", "yes"], "value must be 1, 0, unsure or none"),
        (["c1"], "give at least one label"),
    ],
)
def test_set_refuses_bad_input_with_one_red_line(
    cli: typer.Typer, tmp_path: Path, args: list[str], message: str
) -> None:
    seeded(tmp_path)
    code, out = run(cli, "set", *args, "-a", "ana", "--data", tmp_path)
    assert code == 1
    assert has(out, f"error: {message}")
    assert "Traceback" not in out
    assert not (tmp_path / "annotations.jsonl").exists()


def test_import_a_corpora_dir_then_reimport_adds_nothing(
    cli: typer.Typer, tmp_path: Path, fixtures: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODERATE_IMPORT_DIR", str(tmp_path / "store"))
    corpora = fixtures / "labels" / "corpora"
    code, out = run(cli, "import", corpora)
    assert code == 0, out
    assert "olid_train.tsv [olid -> toxic]: 3 rows read, 2 labelled, 2 new annotations" in out
    assert "skipped: 1 label=idk/skip, 1 label=relation" in out
    code, out = run(cli, "import", corpora / "toxicity" / "olid_train.tsv")
    assert code == 0 and "2 labelled, 0 new annotations, 0 new comments" in out


def test_import_generic_with_options(cli: typer.Typer, tmp_path: Path, fixtures: Path) -> None:
    path = fixtures / "labels" / "corpora" / "generic" / "comments.jsonl"
    args = ["--label", "conspiracy", "--text-col", "message", "--label-col", "conspiratorial"]
    code, out = run(
        cli, "import", "-f", "generic", *args, "--positive", "true", path, "--data", tmp_path
    )
    assert code == 0, out
    assert "2 labelled" in out and has(out, f"skipped: {path}:3: invalid JSON")


def test_import_errors(cli: typer.Typer, tmp_path: Path) -> None:
    odd = tmp_path / "mystery.csv"
    odd.write_text("a,b\n1,2\n")
    code, out = run(cli, "import", odd, "--data", tmp_path / "s")
    assert code == 1 and has(out, "cannot tell its format from the name; give --format")
    code, out = run(cli, "import", "-f", "olid", tmp_path / "absent.tsv", "--data", tmp_path / "s")
    assert code == 1 and has(out, "absent.tsv: no such file")


def test_stats_agree_export(cli: typer.Typer, tmp_path: Path) -> None:
    store = seeded(tmp_path / "data")
    store.annotate(
        Annotation(f"c{i}", "toxic", v, who)
        for who, values in {"ana": [1, 0, 0], "ben": [1, 0, 1]}.items()
        for i, v in enumerate(values)
    )
    code, out = run(cli, "stats", "--data", tmp_path / "data")
    assert code == 0, out
    assert "ana" in out and "ben" in out and "unknown" in out
    code, out = run(cli, "agree", "--data", tmp_path / "data")
    assert code == 0 and "cohen_kappa" in out and "0.400" in out
    output = tmp_path / "dataset.csv"
    code, out = run(cli, "export", "-o", output, "--data", tmp_path / "data")
    assert code == 0 and "2 rows written" in out  # c2 is a tie: unknown, so not exported
    assert pd.read_csv(output)["toxic"].tolist() == [1.0, 0.0]


def test_a_torn_record_is_reported_not_fatal(cli: typer.Typer, tmp_path: Path) -> None:
    store = seeded(tmp_path)
    store.annotate([Annotation("c0", "toxic", 1, "ana")])
    with (tmp_path / "annotations.jsonl").open("a") as handle:
        handle.write('{"annotator": "ana", "comm')
    code, out = run(cli, "stats", "--data", tmp_path)
    assert code == 0
    assert has(out, "annotations.jsonl:2: torn last record skipped")


def test_formats_lists_every_importer(cli: typer.Typer) -> None:
    code, out = run(cli, "formats")
    assert code == 0
    for name in ("psycomark", "jigsaw2018", "civil_comments", "generic"):
        assert name in out
