"""Versioned, self-describing model artifacts: write atomically, check before unpickling.

`<artifacts_dir>/<version>/` holds model.joblib, model.joblib.sha256 and metadata.json
(plus the evaluation report when one is written); `<artifacts_dir>/current` is a symlink
to the newest version. A version directory is complete before it gets its final name and
before `current` points at it, so a killed training never leaves a half artifact as current.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib
import sklearn

from model.predict import Model

if TYPE_CHECKING:
    from model.train import Trained

MODEL_FILE = "model.joblib"
HASH_FILE = "model.joblib.sha256"
METADATA_FILE = "metadata.json"
CURRENT = "current"
FORMAT = 1
RETRAIN = "retrain with `make train` (or `moderate train`)"
LIBRARIES = ("scikit-learn", "numpy", "scipy", "pandas", "joblib")


class ArtifactError(Exception):
    """A model artifact that is missing, damaged or from another scikit-learn version."""


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries a pickled model depends on."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    versions["scikit-learn"] = sklearn.__version__
    return versions


def git_commit(root: Path | None = None) -> str | None:
    """The checkout's HEAD commit, or None outside a git checkout."""
    where = root or Path(__file__).resolve().parent.parent
    try:
        done = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def new_version(dataset_hash: str, now: datetime | None = None) -> str:
    """UTC timestamp and a short dataset hash: sorts by time, says which data."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{dataset_hash[:8]}"


def _write(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def save(
    trained: Trained,
    artifacts_dir: Path,
    extra: Callable[[Path], None] | None = None,
) -> Path:
    """Write `<artifacts_dir>/<version>/` and point `current` at it; return its path.

    `extra(folder)` may add files (the evaluation report) before the version is published.
    """
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    version = _free_version(artifacts_dir, new_version(trained.metadata["dataset_hash"]))
    staging = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=artifacts_dir))
    try:
        payload = {
            "format": FORMAT,
            "pipelines": trained.pipelines,
            "thresholds": trained.thresholds,
        }
        joblib.dump(payload, staging / MODEL_FILE, compress=3)
        digest = sha256_of(staging / MODEL_FILE)
        _write(staging / HASH_FILE, f"{digest}  {MODEL_FILE}\n")
        metadata = {
            **trained.metadata,
            "version": version,
            "created": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "format": FORMAT,
            "labels": list(trained.pipelines),
            "libraries": library_versions(),
            "git_commit": git_commit(),
            "sha256": digest,
        }
        _write(staging / METADATA_FILE, json.dumps(metadata, indent=2, default=str) + "\n")
        if extra is not None:
            extra(staging)
        staging.chmod(0o755)
        final = artifacts_dir / version
        staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    point_current(artifacts_dir, version)
    return final


def _free_version(artifacts_dir: Path, version: str) -> str:
    candidate, n = version, 1
    while (artifacts_dir / candidate).exists():
        n += 1
        candidate = f"{version}.{n}"
    return candidate


def point_current(artifacts_dir: Path, version: str) -> None:
    """Atomically make `current` a relative symlink to `version`."""
    temporary = artifacts_dir / f".{CURRENT}.{os.getpid()}"
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(version)
    os.replace(temporary, artifacts_dir / CURRENT)


def current(artifacts_dir: Path) -> Path:
    """The version directory `current` points at."""
    link = artifacts_dir / CURRENT
    if not link.exists():
        raise ArtifactError(f"no trained model in {artifacts_dir}; run `make train`")
    return link.resolve()


def artifact_dir(path: Path) -> Path:
    """A version directory itself, or what `current` points at in an artifacts directory."""
    if (path / MODEL_FILE).exists() or (path / METADATA_FILE).exists():
        return path
    if (path / CURRENT).exists() or path.is_dir():
        return current(path)
    raise ArtifactError(f"no model artifact at {path}; run `make train`")


def read_metadata(path: Path) -> dict[str, Any]:
    """metadata.json of an artifact directory (or of `current` in an artifacts dir)."""
    folder = artifact_dir(path)
    try:
        data = json.loads((folder / METADATA_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{folder}: no {METADATA_FILE}; {RETRAIN}") from None
    except (OSError, ValueError) as error:
        raise ArtifactError(f"{folder / METADATA_FILE}: unreadable ({error}); {RETRAIN}") from None
    if not isinstance(data, dict):
        raise ArtifactError(f"{folder / METADATA_FILE}: not a JSON object; {RETRAIN}")
    return data


def verify(path: Path) -> dict[str, Any]:
    """Check the scikit-learn version and the sha256, without unpickling; return metadata."""
    folder = artifact_dir(path)
    metadata = read_metadata(folder)
    trained_with = metadata.get("libraries", {}).get("scikit-learn")
    if trained_with != sklearn.__version__:
        raise ArtifactError(
            f"{folder}: trained with scikit-learn {trained_with}, this is "
            f"{sklearn.__version__}; pickles do not cross versions, {RETRAIN}"
        )
    model_file = folder / MODEL_FILE
    try:
        expected = (folder / HASH_FILE).read_text(encoding="utf-8").split()[0]
        actual = sha256_of(model_file)
    except (OSError, IndexError):
        raise ArtifactError(f"{folder}: {MODEL_FILE} or its sha256 is missing; {RETRAIN}") from None
    if actual != expected:
        raise ArtifactError(
            f"{model_file}: sha256 {actual[:12]}... does not match the recorded "
            f"{expected[:12]}...: the file was changed or damaged; {RETRAIN}"
        )
    return metadata


def load(path: Path) -> Model:
    """Load an artifact directory (or an artifacts dir's `current`) after checking it."""
    folder = artifact_dir(path)
    metadata = verify(folder)
    try:
        payload = joblib.load(folder / MODEL_FILE)
    except Exception as error:  # unpickling can raise anything; the hash already matched
        raise ArtifactError(f"{folder / MODEL_FILE}: cannot load ({error}); {RETRAIN}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ArtifactError(f"{folder}: unknown artifact format; {RETRAIN}")
    return Model(
        pipelines=payload["pipelines"],
        thresholds=payload["thresholds"],
        metadata=metadata,
        version=str(metadata.get("version", folder.name)),
    )
