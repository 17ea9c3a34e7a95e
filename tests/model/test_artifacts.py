"""Artifacts: round trip, refusal of tampered or foreign files, the `current` symlink."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from moderate.model.artifacts import (
    CURRENT,
    HASH_FILE,
    METADATA_FILE,
    MODEL_FILE,
    PIPELINE_FILE,
    WEIGHTS_FILE,
    ArtifactError,
    current,
    load,
    load_pipelines,
    save,
    sha256_of,
)
from moderate.model.pipeline import ModelConfig
from moderate.model.predict import Model
from moderate.model.train import Trained, train

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
    assert {MODEL_FILE, WEIGHTS_FILE, PIPELINE_FILE, HASH_FILE, METADATA_FILE} <= names
    metadata = json.loads((folder / METADATA_FILE).read_text())
    assert metadata["version"] == folder.name
    assert folder.name.endswith(metadata["dataset_hash"][:8])
    for key in ("label_counts", "config", "thresholds", "libraries", "git_commit", "metrics"):
        assert key in metadata
    assert metadata["libraries"]["scikit-learn"]
    sums = dict(line.split()[::-1] for line in (folder / HASH_FILE).read_text().splitlines())
    assert sums == {
        name: sha256_of(folder / name) for name in (MODEL_FILE, WEIGHTS_FILE, PIPELINE_FILE)
    }
    description = json.loads((folder / MODEL_FILE).read_text())
    assert description["features"]["scheme"].startswith("moderate-hash")
    assert set(description["labels"]) == set(trained.pipelines)


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


@pytest.mark.parametrize("name", [MODEL_FILE, WEIGHTS_FILE, PIPELINE_FILE])
def test_tampered_file_is_refused_before_it_is_read(
    trained: Trained, tmp_path: Path, name: str
) -> None:
    folder = save(trained, tmp_path)
    with (folder / name).open("ab") as handle:
        handle.write(b"not what was trained")
    with pytest.raises(ArtifactError, match=rf"{name}: sha256.*make train"):
        load(folder) if name != PIPELINE_FILE else load_pipelines(folder)


def test_scoring_needs_no_pickle_and_no_matching_sklearn(trained: Trained, tmp_path: Path) -> None:
    folder = save(trained, tmp_path)
    expected = load(folder).score(TEXTS)
    metadata = json.loads((folder / METADATA_FILE).read_text())
    metadata["libraries"]["scikit-learn"] = "0.24.2"
    (folder / METADATA_FILE).write_text(json.dumps(metadata))
    (folder / PIPELINE_FILE).unlink()
    assert [r.scores for r in load(folder).score(TEXTS)] == [r.scores for r in expected]


def test_pipelines_load_for_audits_only_with_the_same_sklearn(
    trained: Trained, tmp_path: Path
) -> None:
    folder = save(trained, tmp_path)
    pipelines = load_pipelines(folder)
    assert set(pipelines) == set(trained.pipelines)
    p = pipelines["toxic"].predict_proba(TEXTS)[:, 1]
    assert p.tolist() == pytest.approx(
        load(folder).probabilities(TEXTS)["toxic"].tolist(), abs=1e-9
    )
    metadata = json.loads((folder / METADATA_FILE).read_text())
    metadata["libraries"]["scikit-learn"] = "0.24.2"
    (folder / METADATA_FILE).write_text(json.dumps(metadata))
    with pytest.raises(ArtifactError, match=r"scikit-learn 0\.24\.2.*make train"):
        load_pipelines(folder)


def test_foreign_or_old_artifacts_are_refused(trained: Trained, tmp_path: Path) -> None:
    folder = save(trained, tmp_path)
    description = json.loads((folder / MODEL_FILE).read_text())
    description["features"]["scheme"] = "someone-elses-hash"
    (folder / MODEL_FILE).write_text(json.dumps(description))
    sums = (folder / HASH_FILE).read_text().splitlines()
    fixed = [
        f"{sha256_of(folder / MODEL_FILE)}  {MODEL_FILE}" if MODEL_FILE in line else line
        for line in sums
    ]
    (folder / HASH_FILE).write_text("\n".join(fixed) + "\n")
    with pytest.raises(ArtifactError, match=r"someone-elses-hash.*make train"):
        load(folder)
    old = tmp_path / "old"
    old.mkdir()
    (old / "model.joblib").write_bytes(b"an old pickle")
    (old / METADATA_FILE).write_text("{}")
    with pytest.raises(ArtifactError, match=r"old pickled format.*make train"):
        load(old)


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


class _Payload:
    """What an attacker would pickle: unpickling it runs `call(*args)`."""

    def __init__(self, call: object, *args: object) -> None:
        self.call, self.args = call, args

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return self.call, self.args


def _replace_pipeline(folder: Path, payload: object) -> None:
    """Write payload as pipeline.joblib and record its sha256, as an attacker with write
    access to the artifacts directory could."""
    import joblib

    joblib.dump(payload, folder / PIPELINE_FILE, compress=3)
    lines = (folder / HASH_FILE).read_text().splitlines()
    digest = sha256_of(folder / PIPELINE_FILE)
    fixed = [f"{digest}  {PIPELINE_FILE}" if PIPELINE_FILE in line else line for line in lines]
    (folder / HASH_FILE).write_text("\n".join(fixed) + "\n")


@pytest.mark.parametrize("how", ["system", "project function", "nested in a dict"])
def test_a_crafted_pipeline_with_matching_sums_runs_nothing(
    trained: Trained, tmp_path: Path, how: str
) -> None:
    import os

    from moderate.model import artifacts

    folder = save(trained, tmp_path / "artifacts")
    marker = tmp_path / "ran"
    payload: object = {
        "system": _Payload(os.system, f"touch {marker}"),
        "project function": _Payload(artifacts._write, marker, "ran"),
        "nested in a dict": {"format": 2, "pipelines": {"toxic": _Payload(os.mkdir, marker)}},
    }[how]
    _replace_pipeline(folder, payload)
    with pytest.raises(ArtifactError, match=r"refused.*not written by this project.*make train"):
        load_pipelines(folder)
    assert not marker.exists()
    assert load(folder).score(TEXTS)  # scoring never reads the pickle


def test_a_pipeline_saved_before_the_stages_moved_under_moderate_still_loads(
    trained: Trained, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Artifacts trained before the rename pickled their classes as model.features.X."""
    import sys

    import joblib

    folder = save(trained, tmp_path)
    payload = joblib.load(folder / PIPELINE_FILE)  # the file this test just wrote
    for name, module in list(sys.modules.items()):
        if name.startswith("moderate.model"):
            old = name.removeprefix("moderate.")
            monkeypatch.setitem(sys.modules, old, module)
            for value in list(vars(module).values()):
                if isinstance(value, type) and value.__module__ == name:
                    monkeypatch.setattr(value, "__module__", old)
    joblib.dump(payload, folder / PIPELINE_FILE)
    monkeypatch.undo()
    raw = (folder / PIPELINE_FILE).read_bytes()
    assert b"model.features" in raw and b"moderate.model" not in raw
    lines = (folder / HASH_FILE).read_text().splitlines()
    digest = sha256_of(folder / PIPELINE_FILE)
    fixed = [f"{digest}  {PIPELINE_FILE}" if PIPELINE_FILE in line else line for line in lines]
    (folder / HASH_FILE).write_text("\n".join(fixed) + "\n")
    pipelines = load_pipelines(folder)
    p = pipelines["toxic"].predict_proba(TEXTS)[:, 1]
    assert p.tolist() == pytest.approx(
        load(folder).probabilities(TEXTS)["toxic"].tolist(), abs=1e-9
    )


def test_a_damaged_pipeline_says_so_in_one_line(trained: Trained, tmp_path: Path) -> None:
    folder = save(trained, tmp_path)
    raw = (folder / PIPELINE_FILE).read_bytes()
    (folder / PIPELINE_FILE).write_bytes(raw[: len(raw) // 2])
    sums = (folder / HASH_FILE).read_text().splitlines()
    digest = sha256_of(folder / PIPELINE_FILE)
    fixed = [f"{digest}  {PIPELINE_FILE}" if PIPELINE_FILE in line else line for line in sums]
    (folder / HASH_FILE).write_text("\n".join(fixed) + "\n")
    with pytest.raises(ArtifactError, match=r"damaged, cannot be read \(\w+Error.*make train") as e:
        load_pipelines(folder)
    assert "\n" not in str(e.value)
