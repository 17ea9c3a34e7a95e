"""Artifacts: round trip, refusal of tampered or foreign files, the `current` symlink."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from model.artifacts import (
    CURRENT,
    HASH_FILE,
    METADATA_FILE,
    MODEL_FILE,
    ArtifactError,
    current,
    load,
    save,
    sha256_of,
)
from model.pipeline import ModelConfig
from model.predict import Model
from model.train import Trained, train

FAST = ModelConfig(grid_C=(1.0,), grid_min_df=(1,))
TEXTS = ["you pathetic idiot", "thanks for the article", "5G towers spread the virus"]


@pytest.fixture(scope="module")
def trained() -> Trained:
    path = Path(__file__).resolve().parent.parent / "fixtures" / "model" / "comments.jsonl"
    return train(pd.read_json(path, lines=True, dtype={"id": str}), FAST)


def test_round_trip_scores_the_same(trained: Trained, tmp_path: Path) -> None:
    folder = save(trained, tmp_path)
    model = load(folder)
    before = Model.from_trained(trained).score(TEXTS)
    after = model.score(TEXTS)
    assert [r.scores for r in after] == [r.scores for r in before]
    assert all(r.model_version == folder.name for r in after)
    assert model.thresholds == trained.thresholds


def test_artifact_is_self_describing(trained: Trained, tmp_path: Path) -> None:
    folder = save(trained, tmp_path)
    names = {p.name for p in folder.iterdir()}
    assert {MODEL_FILE, HASH_FILE, METADATA_FILE} <= names
    metadata = json.loads((folder / METADATA_FILE).read_text())
    assert metadata["version"] == folder.name
    assert folder.name.endswith(metadata["dataset_hash"][:8])
    for key in ("label_counts", "config", "thresholds", "libraries", "git_commit", "metrics"):
        assert key in metadata
    assert metadata["libraries"]["scikit-learn"]
    assert (folder / HASH_FILE).read_text().split()[0] == sha256_of(folder / MODEL_FILE)


def test_current_points_at_the_newest(trained: Trained, tmp_path: Path) -> None:
    first = save(trained, tmp_path)
    second = save(trained, tmp_path)
    assert first != second
    assert (tmp_path / CURRENT).is_symlink()
    assert current(tmp_path) == second.resolve()
    assert load(tmp_path).version == second.name  # an artifacts dir loads its current
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp leftovers


def test_no_model_says_how_to_train(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"no trained model in .*make train"):
        current(tmp_path)
    with pytest.raises(ArtifactError, match="make train"):
        load(tmp_path)


def test_tampered_model_is_refused_before_unpickling(trained: Trained, tmp_path: Path) -> None:
    folder = save(trained, tmp_path)
    with (folder / MODEL_FILE).open("ab") as handle:
        handle.write(b"not what was trained")
    with pytest.raises(ArtifactError, match=r"sha256.*make train"):
        load(folder)


def test_other_sklearn_version_is_refused(trained: Trained, tmp_path: Path) -> None:
    folder = save(trained, tmp_path)
    metadata = json.loads((folder / METADATA_FILE).read_text())
    metadata["libraries"]["scikit-learn"] = "0.24.2"
    (folder / METADATA_FILE).write_text(json.dumps(metadata))
    (folder / MODEL_FILE).write_bytes(b"garbage that must never be unpickled")
    with pytest.raises(ArtifactError, match=r"scikit-learn 0\.24\.2.*make train"):
        load(folder)


def test_failed_save_leaves_current_alone(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = save(trained, tmp_path)

    def boom(folder: Path) -> None:
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        save(trained, tmp_path, extra=boom)
    assert current(tmp_path) == good.resolve()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([good.name, CURRENT])
