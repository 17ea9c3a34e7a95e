"""Versioned, self-describing, inert model artifacts: plain arrays and JSON, checksummed.

`<artifacts_dir>/<version>/` holds

- `model.json`: the format, the feature space (the engine's hashing scheme, n-gram
  ranges, block sizes), the labels, and per label the intercept, the calibration and the
  thresholds;
- `weights.npz`: numpy arrays, loaded with `allow_pickle=False`: `columns` (int32, every
  hashed column that is a feature) and `params` (float32, one row per such column:
  idf, then each label's weight), plus `isotonic_x.<label>` / `isotonic_y.<label>` for
  labels calibrated by isotonic regression;
- `pipeline.joblib`: the fitted scikit-learn pipelines, for retraining and audits only;
- `SHA256SUMS`: the sha256 of each of those files; `metadata.json` (dataset hash, label
  counts, config, thresholds, metrics, library versions, git commit) and the report.

Scoring (`load`) reads only model.json and weights.npz, after checking their sha256: it
never unpickles, so a tampered file cannot run code and a scikit-learn upgrade cannot
break a deployed model; pipeline.joblib may be deleted. The sha256 sums detect damage,
not tampering (whoever can write the directory can rewrite them too), so
`load_pipelines` unpickles only the classes a pipeline of this project is made of and
refuses any other before it is called: a crafted pipeline.joblib cannot run code either.
A version directory is complete before it gets its final name and before `current`
points at it, so a killed training never leaves a half artifact as current.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import platform
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from moderate.model import second_opinion as second
from moderate.model.engine import SCHEME, FeatureSpec
from moderate.model.predict import Calibration, Model
from moderate.model.second_opinion import Band, Head, SecondOpinion
from moderate.model.semantic import DIM, Identity

if TYPE_CHECKING:
    from moderate.model.train import Trained

MODEL_FILE = "model.json"
WEIGHTS_FILE = "weights.npz"
PIPELINE_FILE = "pipeline.joblib"
HASH_FILE = "SHA256SUMS"
METADATA_FILE = "metadata.json"
TRAINED_ON_FILE = "trained_on.npz"
CURRENT = "current"
FORMAT = 2
RETRAIN = "retrain with `make train` (or `moderate train`)"
LIBRARIES = ("scikit-learn", "numpy", "scipy", "pandas", "joblib", "numba")


class ArtifactError(Exception):
    """A model artifact that is missing, damaged, tampered with or of another format."""


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries that trained the model."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
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


def write_arrays(path: Path, arrays: dict[str, Any]) -> None:
    """A compressed .npz that numpy loads, byte for byte the same for the same arrays.

    np.savez stamps each member with the current time; fixed stamps make a rebuilt model's
    sha256 the same when its weights are.
    """
    with path.open("wb") as handle:
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
            for name in sorted(arrays):
                member = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                member.compress_type = zipfile.ZIP_DEFLATED
                with archive.open(member, "w", force_zip64=True) as out:
                    np.lib.format.write_array(out, np.asarray(arrays[name]), allow_pickle=False)
        handle.flush()
        os.fsync(handle.fileno())


def write_portable(model: Model, folder: Path) -> None:
    """model.json and weights.npz of a model (the files `load` reads)."""
    kept = np.flatnonzero(model.params[:, 0] != 0).astype(np.int32)
    arrays: dict[str, Any] = {"columns": kept, "params": model.params[kept]}
    calibration = {}
    for label in model.labels:
        cal = model.calibrations[label]
        calibration[label] = cal.describe()
        if cal.kind == "isotonic":
            arrays[f"isotonic_x.{label}"] = cal.x
            arrays[f"isotonic_y.{label}"] = cal.y
    write_arrays(folder / WEIGHTS_FILE, arrays)
    description = {
        "format": FORMAT,
        "features": model.spec.to_dict(),
        "labels": list(model.labels),
        "intercepts": model.intercepts,
        "calibration": calibration,
        "thresholds": model.thresholds,
    }
    _write(folder / MODEL_FILE, json.dumps(description, indent=2) + "\n")


SECOND_FORMAT = 1


def write_second_opinion(opinion: SecondOpinion, folder: Path) -> None:
    """second_opinion.json and .npz of a model's heads, then their sums in SHA256SUMS."""
    arrays: dict[str, Any] = {}
    heads = {}
    for label, head in opinion.heads.items():
        arrays[f"weights.{label}"] = np.asarray(head.weights, dtype=np.float32)
        if head.calibration.kind == "isotonic":
            arrays[f"isotonic_x.{label}"] = head.calibration.x
            arrays[f"isotonic_y.{label}"] = head.calibration.y
        heads[label] = {
            "first": head.first,
            "intercept": head.intercept,
            "calibration": head.calibration.describe(),
            "band": head.band.to_dict(),
        }
    write_arrays(folder / second.ARRAYS, arrays)
    description = {
        **opinion.described,
        "format": SECOND_FORMAT,
        "encoder": opinion.identity.to_dict(),
        "heads": heads,
    }
    _write(folder / second.FILE, json.dumps(description, indent=2) + "\n")
    sums = _recorded_sums(folder) if (folder / HASH_FILE).exists() else {}
    for name in (second.FILE, second.ARRAYS):
        sums[name] = sha256_of(folder / name)
    _write(folder / HASH_FILE, "".join(f"{digest}  {name}\n" for name, digest in sums.items()))


def save(
    trained: Trained,
    artifacts_dir: Path,
    extra: Callable[[Path], None] | None = None,
) -> Path:
    """Write `<artifacts_dir>/<version>/` and point `current` at it; return its path.

    `extra(folder)` may add files (the evaluation report) before the version is published.
    """
    import joblib

    artifacts_dir.mkdir(parents=True, exist_ok=True)
    version = _free_version(artifacts_dir, new_version(trained.metadata["dataset_hash"]))
    staging = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=artifacts_dir))
    try:
        model = Model.from_trained(trained, version)
        write_portable(model, staging)
        joblib.dump(
            {"format": FORMAT, "pipelines": trained.pipelines}, staging / PIPELINE_FILE, compress=3
        )
        sums = {
            name: sha256_of(staging / name) for name in (MODEL_FILE, WEIGHTS_FILE, PIPELINE_FILE)
        }
        _write(staging / HASH_FILE, "".join(f"{digest}  {name}\n" for name, digest in sums.items()))
        if trained.second is not None:
            write_second_opinion(trained.second, staging)
            sums = _recorded_sums(staging)
        metadata = {
            **trained.metadata,
            "version": version,
            "created": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "format": FORMAT,
            "labels": list(trained.pipelines),
            "libraries": library_versions(),
            "git_commit": git_commit(),
            "features": model.spec.to_dict(),
            "sha256": sums,
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


# The reference model shipped inside the project (`make reference-model` rebuilds it): it
# scores until a team trains its own, and `make train` adapts it to the team's labels.
REFERENCE = Path(__file__).resolve().parent / "reference"
# What the shipped copy keeps of an artifact: the portable files and the report, no pickle.
REFERENCE_FILES = (
    MODEL_FILE,
    WEIGHTS_FILE,
    METADATA_FILE,
    "MODEL_CARD.md",
    "SECOND_OPINION.md",
    "REPORT.md",
    "report.json",
    "pr_curves.png",
    "reliability.png",
    "per_source.png",
    second.FILE,
    second.ARRAYS,
)


def in_use(artifacts_dir: Path, reference: Path | None = None) -> Path:
    """The model that scores: what `current` points at, else the reference model
    (`reference`, by default the shipped one)."""
    reference = REFERENCE if reference is None else reference
    if (artifacts_dir / CURRENT).is_symlink() or (artifacts_dir / CURRENT).exists():
        return current(artifacts_dir)
    if (reference / MODEL_FILE).exists():
        return reference
    raise ArtifactError(
        f"no trained model in {artifacts_dir} and no reference model in {reference}; "
        "run `make train`"
    )


def publish(artifact: Path, destination: Path, extra: dict[str, Any] | None = None) -> Path:
    """Copy an artifact's portable files (REFERENCE_FILES, never the pickle) to destination.

    `extra` arrays go into another deterministic .npz beside them (see write_arrays); the
    SHA256SUMS lists the model files and those. The old destination is replaced whole.
    """
    folder = artifact_dir(artifact)
    verify(folder)
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    try:
        for name in REFERENCE_FILES:
            if (folder / name).exists():
                shutil.copyfile(folder / name, staging / name)
        summed = [MODEL_FILE, WEIGHTS_FILE]
        if (staging / second.FILE).exists():
            summed += [second.FILE, second.ARRAYS]
        if extra:
            write_arrays(staging / TRAINED_ON_FILE, extra)
            summed.append(TRAINED_ON_FILE)
        sums = {name: sha256_of(staging / name) for name in summed}
        _write(staging / HASH_FILE, "".join(f"{digest}  {name}\n" for name, digest in sums.items()))
        staging.chmod(0o755)
        old = destination.with_name(f".{destination.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if destination.exists():
            destination.rename(old)
        staging.rename(destination)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return destination


def trained_on(path: Path) -> dict[str, Any]:
    """The out-of-fold log-odds a published model keeps of the team rows it trained on.

    `ids` and, per label, `logodds.<label>` (NaN where that label was unknown); empty when
    the artifact has none. Adapting the model to those rows uses these, not its in-sample
    scores, which know the answer.
    """
    folder = artifact_dir(path)
    if not (folder / TRAINED_ON_FILE).exists():
        return {}
    verify(folder, (TRAINED_ON_FILE,))
    with np.load(folder / TRAINED_ON_FILE, allow_pickle=False) as arrays:
        return {name: arrays[name] for name in arrays.files}


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
    return _json(artifact_dir(path) / METADATA_FILE)


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{path.parent}: no {path.name}; {RETRAIN}") from None
    except (OSError, ValueError) as error:
        raise ArtifactError(f"{path}: unreadable ({error}); {RETRAIN}") from None
    if not isinstance(data, dict):
        raise ArtifactError(f"{path}: not a JSON object; {RETRAIN}")
    return data


def _recorded_sums(folder: Path) -> dict[str, str]:
    try:
        lines = (folder / HASH_FILE).read_text(encoding="utf-8").splitlines()
    except OSError:
        if (folder / "model.joblib").exists():
            raise ArtifactError(
                f"{folder}: an artifact of the old pickled format, which scoring no longer "
                f"loads; {RETRAIN}"
            ) from None
        raise ArtifactError(f"{folder}: no {HASH_FILE}; {RETRAIN}") from None
    sums = {}
    for line in lines:
        parts = line.split()
        if len(parts) == 2:
            sums[parts[1]] = parts[0]
    return sums


def verify(path: Path, names: tuple[str, ...] = (MODEL_FILE, WEIGHTS_FILE)) -> dict[str, Any]:
    """Check the recorded sha256 of the named files, reading nothing else; return metadata."""
    folder = artifact_dir(path)
    sums = _recorded_sums(folder)
    for name in names:
        if name not in sums:
            raise ArtifactError(f"{folder}: {HASH_FILE} lists no {name}; {RETRAIN}")
        try:
            actual = sha256_of(folder / name)
        except OSError:
            raise ArtifactError(f"{folder}: {name} is missing; {RETRAIN}") from None
        if actual != sums[name]:
            raise ArtifactError(
                f"{folder / name}: sha256 {actual[:12]}... does not match the recorded "
                f"{sums[name][:12]}...: the file was changed or damaged; {RETRAIN}"
            )
    try:
        return read_metadata(folder)
    except ArtifactError:
        return {}


def load(path: Path, n_threads: int | None = None) -> Model:
    """The scoring model of an artifact directory (or an artifacts dir's `current`).

    Reads only JSON and numpy arrays (no pickle), after checking their sha256.
    """
    folder = artifact_dir(path)
    metadata = verify(folder)
    description = _json(folder / MODEL_FILE)
    if description.get("format") != FORMAT:
        raise ArtifactError(
            f"{folder}: artifact format {description.get('format')!r}, this version reads "
            f"{FORMAT}; {RETRAIN}"
        )
    try:
        spec = FeatureSpec.from_dict(description["features"])
        labels = [str(label) for label in description["labels"]]
        with np.load(folder / WEIGHTS_FILE, allow_pickle=False) as arrays:
            params = _params(spec, labels, arrays["columns"], arrays["params"])
            calibrations = {
                label: _calibration(description["calibration"][label], arrays, label)
                for label in labels
            }
        intercepts = {label: float(description["intercepts"][label]) for label in labels}
        thresholds = {
            label: {k: float(v) for k, v in description["thresholds"][label].items()}
            for label in labels
        }
    except (KeyError, TypeError, ValueError, OSError) as error:
        raise ArtifactError(
            f"{folder}: not a model this engine ({SCHEME}) can read ({error}); {RETRAIN}"
        ) from None
    version = str(metadata.get("version", folder.name))
    model = Model(
        spec, params, labels, intercepts, calibrations, thresholds, metadata, version, n_threads
    )
    model.second = load_second_opinion(folder, labels)
    return model


def load_second_opinion(folder: Path, labels: list[str]) -> SecondOpinion | None:
    """The artifact's second opinion (checked against its sums), or None if it has none."""
    if second.FILE not in _recorded_sums(folder):
        if (folder / second.FILE).exists():
            raise ArtifactError(f"{folder}: {HASH_FILE} lists no {second.FILE}; {RETRAIN}")
        return None
    verify(folder, (second.FILE, second.ARRAYS))
    described = _json(folder / second.FILE)
    try:
        if described.get("format") != SECOND_FORMAT:
            raise ValueError(f"second-opinion format {described.get('format')!r}")
        identity = Identity.from_dict(described["encoder"])
        heads = {}
        with np.load(folder / second.ARRAYS, allow_pickle=False) as arrays:
            for label, head in described["heads"].items():
                if label not in labels:
                    raise ValueError(f"a second opinion for {label!r}, not a label of the model")
                weights = np.asarray(arrays[f"weights.{label}"])
                if weights.dtype != np.float32 or weights.shape != (DIM,):
                    raise ValueError(f"{label} head of dtype {weights.dtype}, {weights.shape}")
                if not np.isfinite(weights).all():
                    raise ValueError(f"non-finite weights in the {label} head")
                heads[label] = Head(
                    weights=weights,
                    first=float(head["first"]),
                    intercept=float(head["intercept"]),
                    calibration=_calibration(head["calibration"], arrays, label),
                    band=Band(float(head["band"]["low"]), float(head["band"]["high"])),
                )
    except (KeyError, TypeError, ValueError, OSError) as error:
        raise ArtifactError(
            f"{folder / second.FILE}: not a second opinion this version reads ({error}); {RETRAIN}"
        ) from None
    kept = {k: v for k, v in described.items() if k not in ("format", "encoder", "heads")}
    return SecondOpinion(identity, heads, kept)


def _params(spec: FeatureSpec, labels: list[str], columns: Any, rows: Any) -> Any:
    if rows.dtype != np.float32 or rows.ndim != 2 or rows.shape[1] != 1 + len(labels):
        raise ValueError(f"params of dtype {rows.dtype} and shape {rows.shape}")
    if columns.ndim != 1 or len(columns) != len(rows):
        raise ValueError("columns and params differ in length")
    if len(columns) and (columns.min() < 0 or columns.max() >= spec.n_features):
        raise ValueError("a column outside the feature space")
    if not np.isfinite(rows).all():
        raise ValueError("non-finite parameters")
    params = np.zeros((spec.n_features, 1 + len(labels)), dtype=np.float32)
    params[columns] = rows
    return params


def _calibration(described: dict[str, Any], arrays: Any, label: str) -> Calibration:
    # A calibration that falls as the log-odds rise would turn the model's ranking around.
    if described["kind"] == "sigmoid":
        a = float(described["a"])
        if not a >= 0:
            raise ValueError(f"the sigmoid calibration of {label} decreases (slope {a:g})")
        return Calibration("sigmoid", a=a, b=float(described["b"]))
    if described["kind"] == "isotonic":
        x = np.asarray(arrays[f"isotonic_x.{label}"], dtype=np.float64)
        y = np.asarray(arrays[f"isotonic_y.{label}"], dtype=np.float64)
        if len(x) == 0 or len(x) != len(y) or np.any(np.diff(x) < 0) or np.any(np.diff(y) < 0):
            raise ValueError(f"isotonic calibration of {label} is not an increasing line")
        return Calibration("isotonic", x=x, y=y)
    raise ValueError(f"unknown calibration {described['kind']!r}")


# What the pickle of a pipeline may name besides the project's and scikit-learn's
# estimators: numpy arrays, dtypes and scalars, joblib's array wrapper.
PICKLE_GLOBALS = frozenset(
    {
        ("joblib.numpy_pickle", "NumpyArrayWrapper"),
        ("numpy", "dtype"),
        ("numpy", "ndarray"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy.core.multiarray", "_reconstruct"),
    }
)


def _pickle_global(module: str, name: str) -> Any:
    """The class a pipeline pickle names, if it is one a pipeline can hold; else refuse.

    Allowed: the listed numpy/joblib globals, classes of this project's `moderate.model`
    package, scikit-learn estimators (BaseEstimator subclasses) and its loss classes. Never
    a function, never a module outside those (refused before it is imported). Pipelines
    saved before the stages moved under `moderate` name `model.*`; they load as
    `moderate.model.*`.
    """
    import importlib

    from sklearn.base import BaseEstimator

    refused = pickle.UnpicklingError(
        f"it names {module}.{name}, which no pipeline of this project holds"
    )
    if module == "model" or module.startswith("model."):
        module = f"moderate.{module}"
    ours = module == "moderate.model" or module.startswith("moderate.model.")
    sklearn_module = module.startswith("sklearn.")
    if (module, name) not in PICKLE_GLOBALS and not (
        (ours or sklearn_module) and name.isidentifier() and not name.startswith("__")
    ):
        raise refused
    found = getattr(importlib.import_module(module), name, None)
    if (module, name) in PICKLE_GLOBALS:
        return found
    if not isinstance(found, type):
        raise refused
    if sklearn_module and not (
        issubclass(found, BaseEstimator) or module.startswith("sklearn._loss.")
    ):
        raise refused
    return found


def _unpickle_pipelines(path: Path) -> Any:
    """joblib.load with a restricted find_class (joblib routes nested pickles through it)."""
    from joblib.numpy_pickle import NumpyUnpickler
    from joblib.numpy_pickle_utils import _validate_fileobject_and_memmap

    class Restricted(NumpyUnpickler):
        def find_class(self, module: str, name: str) -> Any:
            return _pickle_global(module, name)

    with path.open("rb") as raw, _validate_fileobject_and_memmap(raw, str(path), None) as opened:
        stream = opened[0]
        if isinstance(stream, str):  # joblib < 0.10's format, read by another loader
            raise pickle.UnpicklingError("a joblib format older than this project")
        return Restricted(str(path), stream, ensure_native_byte_order=True).load()


def load_pipelines(path: Path) -> dict[str, Any]:
    """The fitted scikit-learn pipelines (retraining, audits): checked, then unpickled.

    Pickles do not cross scikit-learn versions, so another version is refused; only the
    classes a pipeline of this project holds are unpickled (see `_pickle_global`).
    """
    import sklearn

    folder = artifact_dir(path)
    metadata = verify(folder, (PIPELINE_FILE,))
    trained_with = metadata.get("libraries", {}).get("scikit-learn")
    if trained_with != sklearn.__version__:
        raise ArtifactError(
            f"{folder}: pipelines pickled by scikit-learn {trained_with}, this is "
            f"{sklearn.__version__}; pickles do not cross versions, {RETRAIN}"
        )
    try:
        payload = _unpickle_pipelines(folder / PIPELINE_FILE)
    except pickle.UnpicklingError as error:
        raise ArtifactError(
            f"{folder / PIPELINE_FILE}: refused, {error}: not written by this project; {RETRAIN}"
        ) from None
    except Exception as error:  # a damaged pickle can raise anything; the hash matched
        raise ArtifactError(
            f"{folder / PIPELINE_FILE}: damaged, cannot be read "
            f"({type(error).__name__}: {error}); {RETRAIN}"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ArtifactError(f"{folder}: unknown pipeline format; {RETRAIN}")
    return dict(payload["pipelines"])
