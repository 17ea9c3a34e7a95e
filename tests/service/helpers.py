"""Helpers of the service tests: the training data, artifact pointing and tampering, ports,
and a real server process (`moderate serve`) on the loopback interface."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import httpx
import pandas as pd

from moderate.model.artifacts import load
from moderate.seeds.comments import comment_id

MODERATE = Path(sys.executable).parent / "moderate"
KEY = "s3cret-key"
TRAIN_CSV = Path(__file__).resolve().parent.parent / "fixtures" / "service" / "train.csv"


def dataset(rows: slice = slice(None)) -> pd.DataFrame:
    """The hand-written training comments in load_dataset's shape."""
    frame = pd.read_csv(TRAIN_CSV).iloc[rows].reset_index(drop=True)
    frame.insert(0, "id", [comment_id("fixture", i, t) for i, t in enumerate(frame["text"])])
    frame.insert(1, "source", "fixture")
    frame.insert(2, "thread", "fixture")
    return frame.astype({"toxic": float, "conspiracy": float})


def point(root: Path, name: str) -> None:
    """Point root/current at root/name, as training does."""
    link = root / "current"
    link.unlink(missing_ok=True)
    link.symlink_to(name)


def artifacts_with(root: Path, models: Sequence[Path]) -> Path:
    """A new artifacts dir holding copies of the models, `current` pointing at the first."""
    import shutil

    root.mkdir()
    for source in models:
        shutil.copytree(source, root / source.name, symlinks=True)
    point(root, models[0].name)
    return root


def version_of(artifact: Path) -> str:
    """The version of the model in an artifact directory."""
    return load(artifact).version


def tamper(artifact: Path) -> None:
    """Change the model's weights so their sha256 no longer matches."""
    with (artifact / "weights.npz").open("ab") as file:
        file.write(b"tampered")


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], bool], seconds: float = 120.0) -> None:
    """Poll check() until it is true or fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def start(
    artifacts: Path, *args: str, env: Mapping[str, str | None] | None = None
) -> tuple[subprocess.Popen[bytes], httpx.Client]:
    """Start `moderate serve` on a free loopback port and wait until it is ready.

    Its log goes to `<artifacts>/../serve.log` (a file, so a chatty server never blocks);
    `env` adds to or overrides the test settings (key, small limits); None unsets one.
    """
    port = free_port()
    process = spawn(artifacts, port, *args, env=env)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": KEY})
    try:
        until_ready(process, lambda: client.get("/readyz").status_code == 200)
    except BaseException:
        stop(process, client)
        raise
    return process, client


def spawn(
    artifacts: Path,
    port: int,
    *args: str,
    env: Mapping[str, str | None] | None = None,
    prefix: Sequence[str] = (),
) -> subprocess.Popen[bytes]:
    """`moderate serve` on 127.0.0.1:port with the test settings, logging to
    `<artifacts>/../serve.log`; `prefix` is a command to run it under."""
    settings: dict[str, str | None] = {
        "MODERATE_ARTIFACTS_DIR": str(artifacts),
        "MODERATE_API_KEYS": KEY,
        "MODERATE_MAX_COMMENTS": "5",
        "MODERATE_MAX_BODY_BYTES": "10000",
        **(env or {}),
    }
    with (artifacts.parent / "serve.log").open("wb") as log:
        return subprocess.Popen(
            [*prefix, str(MODERATE), "serve", "--host", "127.0.0.1", "--port", str(port), *args],
            env={k: v for k, v in {**os.environ, **settings}.items() if v is not None},
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


def until_ready(process: subprocess.Popen[bytes], ready: Callable[[], bool]) -> None:
    """Wait until ready() holds; fail at once if the server exits first."""

    def check() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode} before ready")
        return ready()

    wait_for(check)


def stop(process: subprocess.Popen[bytes], client: httpx.Client) -> None:
    """Close the client and stop the server."""
    client.close()
    process.terminate()
    process.wait(timeout=60)


def with_second_opinion(artifact: Path, destination: Path, band: str = "every comment") -> Path:
    """A copy of the artifact with a second opinion fitted on the fixture comments by the
    real encoder (needs the extra: `make semantic`). `band` names one of
    model.second_train.bands; "every comment" re-scores everything, so tests see it act."""
    import shutil

    import numpy as np

    from moderate.model.artifacts import write_second_opinion
    from moderate.model.pipeline import ModelConfig
    from moderate.model.second_opinion import SecondOpinion
    from moderate.model.second_train import LabelRows, bands, head_for, learn
    from moderate.model.semantic import Encoder

    shutil.copytree(artifact, destination)
    model = load(destination)
    rows = dataset()
    texts = rows["text"].astype(str).tolist()
    encoder = Encoder()
    E = encoder.embed(texts)
    log_odds = model.log_odds(texts)
    heads = {}
    for j, label in enumerate(model.labels):
        y = rows[label].to_numpy(dtype=np.float64)
        ones = np.ones(len(y))
        fitted = LabelRows(E, log_odds[:, j], y, ones, ones, np.full(len(y), "fixture"))
        chosen = bands(model.thresholds[label])[band]
        heads[label] = head_for(
            fitted, learn(fitted), chosen, model.calibrations[label], ModelConfig()
        )
    write_second_opinion(
        SecondOpinion(encoder.identity, heads, {"fitted_on": "tests"}), destination
    )
    return destination
