"""The model a server is using, swapped atomically on reload."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from moderate.model.artifacts import in_use, load
from moderate.model.predict import Model

log = logging.getLogger("moderate.service")


class ReloadRefused(Exception):
    """The new artifact could not be loaded; the model that was serving still serves."""


class ModelHolder:
    """Holds the serving model; readers take `.model` once per request, reload replaces it."""

    def __init__(
        self, artifacts_dir: Path, model_path: Path | None = None, reference: Path | None = None
    ) -> None:
        self.artifacts_dir = artifacts_dir
        self.model_path = model_path
        self.reference = reference
        self.model: Model | None = None
        self.error: str | None = None
        self._lock = threading.Lock()

    def source(self) -> Path:
        """The artifact to load now: the fixed model path, else what `current` points at,
        else the shipped reference model."""
        if self.model_path is not None:
            return self.model_path.resolve()
        return in_use(self.artifacts_dir, self.reference)

    def reload(self) -> tuple[Model, Model | None]:
        """Load the artifact and swap it in; raise ReloadRefused and keep the old one on failure."""
        with self._lock:
            previous = self.model
            try:
                fresh = load(self.source())
                # Load the compiled engine now, not on the first request (a third of a second).
                fresh.score([""])
            except Exception as exc:  # any failure to load must leave the old model serving
                self.error = str(exc)
                log.error("model reload refused: %s", exc)
                raise ReloadRefused(str(exc)) from exc
            self.model = fresh  # a single reference assignment: requests see old or new
            self.error = None
            log.info("model %s loaded", fresh.version)
            return fresh, previous
