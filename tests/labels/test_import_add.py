"""`moderate labels add`: comments from dumps enter the store unlabelled, once."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from moderate.cli import labels_cmds
from moderate.labels.session import ingest
from moderate.labels.store import LabelStore, load_dataset


def dump(tmp_path: Path) -> Path:
    """A small comment dump in CSV."""
    path = tmp_path / "forum.csv"
    path.write_text('id,author,text\n1,ana,"First comment, with a comma."\n2,ben,Second one\n')
    return path


def test_adding_comments_from_a_dump_is_idempotent(tmp_path: Path) -> None:
    path = dump(tmp_path)
    store = LabelStore(tmp_path / "data")
    first = ingest([path], store)
    assert (len(first.ids), first.added) == (2, 2)
    again = ingest([path], LabelStore(tmp_path / "data"))
    assert (again.ids, again.added) == (first.ids, 0)
    texts = [c["text"] for c in store.comments()]
    assert texts == ["First comment, with a comma.", "Second one"]
    assert list(store.annotations()) == []
    assert load_dataset(tmp_path / "data").empty  # unlabelled comments are not in the dataset


def test_labels_add_command(tmp_path: Path) -> None:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """Test app."""

    labels_cmds.register(app)
    runner = CliRunner()
    args = ["labels", "add", str(dump(tmp_path)), "--data", str(tmp_path / "data")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "2 comments read, 2 new" in result.output
    missing = runner.invoke(app, ["labels", "add", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 1
    assert "nope.csv" in "".join(missing.output.split())
