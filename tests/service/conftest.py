"""A real trained artifact for the service tests, built once per session from a tiny dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from moderate.labels.store import Annotation, LabelStore
from moderate.model.artifacts import save
from moderate.model.train import ModelConfig, train
from tests.service.helpers import artifacts_with, dataset
from tests.service.test_batch import write_dump


@pytest.fixture(scope="session")
def trained_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two artifacts of different versions (full data; all but the last neutral row)."""
    root = tmp_path_factory.mktemp("artifacts")
    first = save(train(dataset(), ModelConfig()), root)
    second = save(train(dataset(slice(0, -1)), ModelConfig()), root)
    return first, second


@pytest.fixture
def artifacts(tmp_path: Path, trained_models: tuple[Path, Path]) -> Path:
    """A fresh artifacts dir whose `current` points at the first model; `second` is beside it."""
    return artifacts_with(tmp_path / "artifacts", trained_models)


@pytest.fixture
def model(artifacts: Path) -> Path:
    """The artifact `current` points at."""
    return (artifacts / "current").resolve()


@pytest.fixture
def dump(tmp_path: Path) -> Path:
    """A 230-comment JSONL dump."""
    return write_dump(tmp_path / "dump.jsonl", 230)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A label store holding the hand-written training comments and their labels."""
    root = tmp_path / "data"
    frame = dataset()
    store = LabelStore(root)
    store.add_comments(
        {"id": r.id, "source": r.source, "thread": r.thread, "position": i, "text": r.text}
        for i, r in enumerate(frame.itertuples())
    )
    store.annotate(
        Annotation(comment=str(r.id), label=label, value=int(getattr(r, label)), annotator="t")
        for r in frame.itertuples()
        for label in ("toxic", "conspiracy")
    )
    return root
