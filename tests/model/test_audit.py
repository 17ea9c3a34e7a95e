"""Label audit: deliberately flipped labels come out on top, by library and by command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import typer
from typer.testing import CliRunner

from moderate.cli.audit_cmds import register_audit
from moderate.labels.store import Annotation, LabelStore
from moderate.model.audit import audit
from moderate.model.evaluate import oof_probabilities
from tests.model.test_evaluate import INSULTS, PLAIN, counts_factory

FLIPPED = [f"c{i:03d}" for i in range(0, 200, 20)]


def clean_then_flipped(rows: int = 200) -> pd.DataFrame:
    """Separable toxic data with the labels of FLIPPED reversed."""
    rng = np.random.default_rng(3)
    records = []
    for i in range(rows):
        toxic = i % 2 == 0
        words = list(rng.choice(PLAIN, 5)) + (list(rng.choice(INSULTS, 2)) if toxic else [])
        cid = f"c{i:03d}"
        given = float(toxic != (cid in FLIPPED))
        records.append(
            {"id": cid, "source": "s", "thread": "t", "text": " ".join(words), "toxic": given}
        )
    frame = pd.DataFrame(records)
    frame["conspiracy"] = np.nan
    return frame


def test_flipped_labels_rank_first() -> None:
    data = clean_then_flipped()
    ranked = audit(data, oof_probabilities(data, counts_factory, folds=5))
    assert list(ranked["label"].unique()) == ["toxic"]
    assert len(ranked) == len(data)
    top = ranked.head(len(FLIPPED))
    assert len(set(top["id"]) & set(FLIPPED)) >= 8
    flagged = set(ranked[ranked["issue"]]["id"])
    assert len(flagged & set(FLIPPED)) >= 6 and len(flagged - set(FLIPPED)) <= 3
    assert ranked["quality"].between(0, 1).all()


def test_labels_without_probabilities_are_skipped() -> None:
    data = clean_then_flipped()
    oof = pd.DataFrame(index=pd.Index(data["id"]), data={"conspiracy": np.nan})
    assert audit(data, oof).empty


def _store(root: Path, data: pd.DataFrame) -> None:
    store = LabelStore(root)
    records = data[["id", "source", "thread", "text"]].to_dict(orient="records")
    store.add_comments({str(k): v for k, v in r.items()} for r in records)
    given = dict(zip(data["id"], data["toxic"].astype(int), strict=True))
    store.annotate(Annotation(cid, "toxic", int(v), "alice") for cid, v in given.items())


def _app() -> typer.Typer:
    app = typer.Typer()
    labels_app = typer.Typer()
    register_audit(labels_app)
    app.add_typer(labels_app, name="labels")
    return app


def test_audit_command_prints_flipped_comments(tmp_path: Path) -> None:
    data = clean_then_flipped()
    _store(tmp_path / "store", data)
    args = ["labels", "audit", "--data", str(tmp_path / "store"), "--baseline", "--top", "5"]
    result = CliRunner().invoke(_app(), args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "likely label errors" in result.output
    shown = [cid for cid in data["id"] if cid in result.output]
    assert 3 <= len(shown) <= 5 and len(set(shown) & set(FLIPPED)) >= 3


def test_audit_command_on_a_missing_store_fails_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(_app(), ["labels", "audit", "--data", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert "no label store here" in " ".join(result.output.split())
