"""labels/data states the licence of every source whose text it holds."""

from __future__ import annotations

import json

from tests.conftest import ROOT

DATA = ROOT / "labels" / "data"


def licence_rows() -> dict[str, str]:
    """SOURCES.md's table: source cell -> licence cell."""
    rows = {}
    for line in (DATA / "SOURCES.md").read_text("utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`"):
            rows[cells[0].strip("`").split("`")[0]] = cells[3]
    return rows


def test_every_source_in_the_committed_comments_has_a_stated_licence() -> None:
    with (DATA / "comments.jsonl").open(encoding="utf-8") as lines:
        sources = {json.loads(line)["source"] for line in lines if line.strip()}
    rows = licence_rows()
    for source in sources:
        key = "*.txt" if source.endswith(".txt") else source  # the seed threads, by file
        assert key in rows, f"{source} has no row in labels/data/SOURCES.md"
        assert len(rows[key]) > 10, f"{source}: no licence stated"


def test_the_project_has_the_licence_its_metadata_claims() -> None:
    text = (ROOT / "LICENSE").read_text("utf-8")
    assert text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in text
    assert 'license = "MIT"' in (ROOT / "pyproject.toml").read_text("utf-8")
