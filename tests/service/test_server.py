"""The real server process (`moderate serve`) over HTTP: auth, limits, reload and SIGHUP."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.service.helpers import (
    MODERATE,
    free_port,
    point,
    start,
    stop,
    tamper,
    version_of,
    wait_for,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def server(artifacts: Path) -> Iterator[tuple[subprocess.Popen[bytes], httpx.Client]]:
    """A running single-process server over `artifacts`, stopped after the test."""
    process, client = start(artifacts)
    yield process, client
    stop(process, client)


def served_version(client: httpx.Client) -> str:
    """The version of the model the server is using."""
    return str(client.get("/v1/model").json()["version"])


def test_real_server_scores_with_auth_and_limits(
    server: tuple[subprocess.Popen[bytes], httpx.Client],
) -> None:
    _, client = server
    body = {"comments": [{"text": "You are an idiot."}, {"text": "Nice photos."}]}
    scored = client.post("/v1/score", json=body)
    assert scored.status_code == 200 and len(scored.json()["comments"]) == 2
    assert client.post("/v1/score", json=body, headers={"X-API-Key": "nope"}).status_code == 401
    too_many = client.post("/v1/score", json={"comments": [{"text": "x"}] * 6})
    assert too_many.status_code == 413 and too_many.json()["detail"]["limit"] == "max_comments"
    too_big = client.post("/v1/score", json={"comments": [{"text": "x" * 20000}]})
    assert too_big.status_code == 413 and too_big.json()["detail"]["limit"] == "max_body_bytes"
    assert "moderate_comments_scored_total 2.0" in client.get("/metrics").text


def test_real_server_reloads_by_request_and_by_sighup(
    server: tuple[subprocess.Popen[bytes], httpx.Client], artifacts: Path
) -> None:
    process, client = server
    first = served_version(client)
    second = next(p for p in artifacts.iterdir() if p.name not in ("current", first))
    point(artifacts, second.name)
    assert client.post("/v1/model:reload").json()["version"] == version_of(second)

    point(artifacts, first)
    process.send_signal(signal.SIGHUP)
    wait_for(lambda: served_version(client) == first)

    tamper(second)
    point(artifacts, second.name)
    process.send_signal(signal.SIGHUP)
    wait_for(lambda: 'reloads_total{result="refused"} 1.0' in client.get("/metrics").text)
    assert served_version(client) == first
    assert client.post("/v1/score", json={"comments": [{"text": "ok"}]}).status_code == 200
    assert client.post("/v1/model:reload").status_code == 409
    assert process.poll() is None


def test_serve_without_a_team_model_serves_the_shipped_one(tmp_path: Path) -> None:
    from moderate.model.artifacts import REFERENCE, load

    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    process, client = start(artifacts)
    try:
        assert served_version(client) == load(REFERENCE).version
        body = {"comments": [{"text": "You are an idiot."}, {"text": "Nice photos."}]}
        scored = client.post("/v1/score", json=body).json()["comments"]
        assert scored[0]["scores"]["toxic"] > scored[1]["scores"]["toxic"]
    finally:
        stop(process, client)


def test_serve_refuses_to_start_on_a_broken_current(tmp_path: Path) -> None:
    (tmp_path / "current").symlink_to("gone")  # the team's model was deleted
    result = subprocess.run(
        [str(MODERATE), "serve", "--port", str(free_port())],
        env={**os.environ, "MODERATE_ARTIFACTS_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "error" in result.stderr and "Traceback" not in result.stderr


def versions_seen(client: httpx.Client, requests: int = 8) -> set[str]:
    """Model versions answering fresh connections (spread over the worker processes)."""
    seen = set()
    for _ in range(requests):
        response = httpx.get(client.base_url.join("/v1/model"), headers=client.headers)
        assert response.status_code == 200
        seen.add(str(response.json()["version"]))
    return seen


def test_workers_roll_to_a_good_model_and_keep_serving_on_a_bad_one(artifacts: Path) -> None:
    process, client = start(artifacts, "--workers", "2")
    try:
        first = served_version(client)
        second = next(p for p in artifacts.iterdir() if p.name not in ("current", first))
        log = artifacts.parent / "serve.log"
        point(artifacts, second.name)
        process.send_signal(signal.SIGHUP)  # uvicorn replaces the workers one by one
        # Sampled answers can all come from the first new worker while the second is still
        # starting, and a terminated worker still answers while it shuts down: the roll is
        # over only once both old workers have finished.
        wait_for(lambda: log.read_text(errors="replace").count("Finished server process") == 2)
        assert "aborting the restart" not in log.read_text(errors="replace")
        assert versions_seen(client) == {second.name}

        tamper(artifacts / first)
        point(artifacts, first)
        process.send_signal(signal.SIGHUP)
        wait_for(lambda: "aborting the restart" in log.read_text(errors="replace"))
        assert versions_seen(client) == {second.name}
        scored = client.post("/v1/score", json={"comments": [{"text": "hello"}]})
        assert scored.status_code == 200
    finally:
        stop(process, client)
