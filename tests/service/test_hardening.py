"""Hostile input against a real server (`moderate serve --workers 2`) on the loopback
interface: no 500s, one request never fails another, no comment text in the log."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from moderate.model.artifacts import load
from tests.service.helpers import (
    KEY,
    MODERATE,
    artifacts_with,
    free_port,
    point,
    start,
    stop,
    version_of,
    wait_for,
)

pytestmark = pytest.mark.slow

MARKER = "zebra-unicorn-4471"
LIMITS = {
    "MODERATE_MAX_COMMENTS": "50",
    "MODERATE_MAX_COMMENT_CHARS": "500",
    "MODERATE_MAX_BODY_BYTES": "200000",
    "MODERATE_MAX_EXPLAIN_CHARS": "2000",
}
Server = tuple[subprocess.Popen[bytes], httpx.Client, Path]


@pytest.fixture(scope="module")
def two_workers(
    tmp_path_factory: pytest.TempPathFactory, trained_models: tuple[Path, Path]
) -> Iterator[Server]:
    """One server with two workers for the whole module; its log is the third element."""
    root = artifacts_with(tmp_path_factory.mktemp("hardening") / "artifacts", trained_models)
    process, client = start(root, "--workers", "2", env=LIMITS)
    yield process, client, root.parent / "serve.log"
    stop(process, client)


def post(client: httpx.Client, path: str, raw: str | bytes, **headers: str) -> httpx.Response:
    """POST a raw body as JSON (so NaN and lone surrogate escapes reach the server as sent)."""
    content = raw.encode() if isinstance(raw, str) else raw
    return client.post(
        path, content=content, headers={"Content-Type": "application/json", **headers}
    )


SURROGATE_BODIES = [
    ("/v1/score", r'{"comments": [{"text": "a\ud800"}]}'),
    ("/v1/score", r'{"comments": [{"text": "a\udfff b"}]}'),
    ("/v1/score", r'{"comments": [{"id": "x\ud800", "text": "fine"}]}'),
    ("/v1/threads:score", r'{"text": "Title\n\nCOMMENTS\n\nJane Doe\nyou \ud800 idiot\n"}'),
    ("/v1/threads:score", r'{"text": "a page", "name": "n\udc00"}'),
]


@pytest.mark.parametrize(("path", "raw"), SURROGATE_BODIES)
def test_lone_surrogates_are_a_422_not_a_500(two_workers: Server, path: str, raw: str) -> None:
    _, client, _ = two_workers
    response = post(client, path, raw)
    assert response.status_code == 422
    assert "surrogate" in json.dumps(response.json())


def test_a_valid_surrogate_pair_is_scored(two_workers: Server) -> None:
    _, client, _ = two_workers
    response = post(client, "/v1/score", r'{"comments": [{"text": "nice \ud83d\ude00"}]}')
    assert response.status_code == 200 and len(response.json()["comments"]) == 1


@pytest.mark.parametrize(
    "raw",
    [
        '{"comments": [{"text": "x"}], "explain": NaN}',
        '{"comments": [{"text": "x"}], "explain": Infinity}',
        '{"comments": [{"text": "x", "id": -Infinity}]}',
        '{"comments": [{"body": "x", "score": NaN}]}',
        '{"comments": NaN}',
    ],
)
def test_nan_and_infinity_literals_are_a_422(two_workers: Server, raw: str) -> None:
    _, client, _ = two_workers
    response = post(client, "/v1/score", raw)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)


def test_a_bad_request_never_fails_its_neighbours(
    two_workers: Server, trained_models: tuple[Path, Path]
) -> None:
    _, client, _ = two_workers
    texts = [
        [f"comment {i}.{j}: you are an idiot" * (j % 3 + 1) for j in range(50)] for i in range(30)
    ]
    expected = load(trained_models[0]).score([t for batch in texts for t in batch])
    good = [json.dumps({"comments": [{"text": t} for t in batch]}) for batch in texts]
    bad = [r'{"comments": [{"text": "x"}, {"text": "bad \ud800"}]}'] * 4
    bodies = [*good[:10], bad[0], *good[10:20], bad[1], bad[2], *good[20:], bad[3]]

    async def send_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            base_url=client.base_url, headers={"X-API-Key": KEY}, timeout=60
        ) as session:
            return await asyncio.gather(
                *(
                    session.post(
                        "/v1/score", content=body, headers={"Content-Type": "application/json"}
                    )
                    for body in bodies
                )
            )

    responses = asyncio.run(send_all())
    statuses = [r.status_code for r in responses]
    assert statuses.count(422) == 4 and statuses.count(200) == len(good)
    answers = [r.json()["comments"] for r in responses if r.status_code == 200]
    scores = [c["scores"] for comments in answers for c in comments]
    assert scores == [pytest.approx(e.scores, abs=1e-12) for e in expected]


ERROR_PATHS: list[tuple[str, str | bytes, dict[str, str]]] = [
    ("/v1/score", f'{{"comments": [{{"body": "{MARKER}", "score": NaN}}]}}', {}),
    ("/v1/score", f'{{"comments": [{{"text": "{MARKER}"}}], "explain": NaN}}', {}),
    ("/v1/score", f'{{"comments": [{{"text": "{MARKER} \\ud800"}}]}}', {}),
    ("/v1/score", f'{{"comments": [{{"id": "{MARKER}\\udfff", "text": "{MARKER}"}}]}}', {}),
    ("/v1/score", f'{{"comments": [{{"id": "{MARKER * 20}", "text": "{MARKER}"}}]}}', {}),
    ("/v1/score", f'{{"comments": [{{"text": ["{MARKER}"]}}]}}', {}),
    ("/v1/score", f'{{"comments": [{{"text": "{MARKER}"', {}),
    ("/v1/score", f'{{"comments": [{{"text": "{MARKER * 40}"}}]}}', {}),
    ("/v1/score", json.dumps({"comments": [{"text": MARKER}] * 51}), {}),
    ("/v1/score", json.dumps({"comments": [{"text": MARKER * 500}] * 25}), {}),
    ("/v1/score", json.dumps({"comments": [{"text": MARKER}]}), {"X-API-Key": "wrong"}),
    ("/v1/score", json.dumps({"comments": [{"text": MARKER}]}), {"Content-Type": "text/plain"}),
    ("/v1/threads:score", f'{{"text": "{MARKER}\\n\\nJane Doe\\n{MARKER} \\ud800"}}', {}),
    ("/v1/threads:score", json.dumps({"text": MARKER, "name": MARKER * 20}), {}),
    ("/v1/threads:score", f'{{"text": "{MARKER}", "explain": Infinity}}', {}),
    ("/v1/model:reload", json.dumps({"text": MARKER}), {"X-API-Key": MARKER}),
    ("/v1/score", json.dumps({"comments": [{"text": MARKER * 20}] * 10, "explain": True}), {}),
]


def test_no_error_path_puts_comment_text_in_the_log_or_a_500(two_workers: Server) -> None:
    _, client, log = two_workers
    for path, raw, headers in ERROR_PATHS:
        response = post(client, path, raw, **headers)
        assert 400 <= response.status_code < 500, (path, raw[:80], response.status_code)
        assert MARKER not in response.text, (path, raw[:80])
    # The log is written as the requests are answered: a last request flushes nothing more.
    assert client.get("/livez").status_code == 200
    assert MARKER not in log.read_text(errors="replace")


# --- the cost of one request ---------------------------------------------------------------


def test_explaining_is_bounded_with_a_clear_413(two_workers: Server) -> None:
    _, client, _ = two_workers
    comments = [{"text": f"you are an idiot number {i} " * 10} for i in range(10)]  # 3,000+ chars
    over = client.post("/v1/score", json={"comments": comments, "explain": True})
    assert over.status_code == 413
    assert over.json()["detail"]["limit"] == "max_explain_chars"
    assert over.json()["detail"]["max"] == 2000
    assert client.post("/v1/score", json={"comments": comments}).status_code == 200
    fits = client.post("/v1/score", json={"comments": comments[:5], "explain": True})
    assert fits.status_code == 200 and fits.json()["comments"][0]["spans"]["toxic"]


def long_comment(rng: random.Random, chars: int = 5000) -> str:
    """A comment of many distinct words (each adds n-grams to explain)."""
    words = ["idiot", "moron", "truth", "hidden", "vaccine", "river", "photo", "thanks"]
    text = ""
    while len(text) < chars:
        text += f"{rng.choice(words)}{rng.randrange(10_000)} "
    return text[:chars]


def test_a_small_request_is_answered_while_a_big_explained_one_is_scored(
    artifacts: Path,
) -> None:
    big_limits = {
        "MODERATE_MAX_COMMENTS": "1000",
        "MODERATE_MAX_COMMENT_CHARS": "5000",
        "MODERATE_MAX_BODY_BYTES": "6000000",
        "MODERATE_MAX_EXPLAIN_CHARS": "6000000",
    }
    process, client = start(artifacts, env=big_limits)
    rng = random.Random(7)
    big = {"comments": [{"text": long_comment(rng)} for _ in range(1000)], "explain": True}
    scoring = "moderate_heavy_requests_scoring 1.0"
    try:
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(
                httpx.post,
                client.base_url.join("/v1/score"),
                json=big,
                headers=client.headers,
                timeout=300,
            )
            wait_for(lambda: pending.done() or scoring in client.get("/metrics").text, 60)
            assert not pending.done(), "the big request was answered before it was seen"
            small = client.post("/v1/score", json={"comments": [{"text": "thanks"}]})
            assert small.status_code == 200
            assert not pending.done()  # answered while the big one is still being explained
            assert pending.result().status_code == 200
    finally:
        stop(process, client)


# --- reloads reach every worker --------------------------------------------------------------


def test_a_reload_request_reaches_every_worker(artifacts: Path) -> None:
    process, client = start(artifacts, "--workers", "2")
    log = artifacts.parent / "serve.log"
    try:
        first = version_of(artifacts / "current")
        second = next(p for p in artifacts.iterdir() if p.name not in ("current", first))
        point(artifacts, second.name)
        response = client.post("/v1/model:reload")
        assert response.status_code == 202
        assert response.json() == {
            "version": second.name,
            "previous": first,
            "workers": 2,
            "restarting": True,
        }
        # Both workers are replaced one by one; once both old ones have finished, only
        # workers that loaded `current` anew answer.
        wait_for(lambda: log.read_text(errors="replace").count("Finished server process") == 2)
        answers = set()
        for _ in range(20):  # fresh connections, spread over the workers
            ready = httpx.get(client.base_url.join("/readyz"))
            answers.add(ready.json()["model_version"])
        assert answers == {second.name}
    finally:
        stop(process, client)


def test_a_crafted_old_pickle_with_a_matching_sum_is_refused_unrun(
    two_workers: Server, tmp_path: Path
) -> None:
    import hashlib
    import pickle

    _, client, log = two_workers
    root = log.parent / "artifacts"
    serving = client.get("/readyz").json()["model_version"]
    marker = tmp_path / "ran"
    crafted = root / "crafted"
    crafted.mkdir()
    payload = pickle.dumps(_Touch(str(marker)))
    (crafted / "model.joblib").write_bytes(payload)
    (crafted / "model.joblib.sha256").write_text(hashlib.sha256(payload).hexdigest() + "\n")
    (crafted / "metadata.json").write_text("{}")
    point(root, crafted.name)
    try:
        refused = client.post("/v1/model:reload")
    finally:
        point(root, serving)
    assert refused.status_code == 409 and "old pickled format" in refused.text
    assert not marker.exists()
    assert client.get("/readyz").json()["model_version"] == serving


class _Touch:
    """Unpickling this creates a file: what a crafted artifact would do."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.mkdir, (self.path,)


# --- auth fails closed -----------------------------------------------------------------------


def serve_once(artifacts: Path, **env: str | None) -> subprocess.CompletedProcess[str]:
    """Run `moderate serve` with env changes (None unsets); it is expected to refuse."""
    merged = {
        **os.environ,
        "MODERATE_ARTIFACTS_DIR": str(artifacts),
        "MODERATE_PORT": str(free_port()),
        **env,
    }
    return subprocess.run(
        [str(MODERATE), "serve"],
        env={k: v for k, v in merged.items() if v is not None},
        capture_output=True,
        text=True,
        timeout=30,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single `error: ...` line a refused start prints (no traceback)."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    return lines[0]


@pytest.mark.parametrize("keys", [",", " , ,", ""])
def test_api_keys_set_but_empty_refuse_to_start(artifacts: Path, keys: str) -> None:
    result = serve_once(artifacts, MODERATE_API_KEYS=keys)
    assert result.returncode == 1
    assert "MODERATE_API_KEYS" in one_error_line(result)


def test_a_key_file_without_keys_or_missing_refuses_to_start(
    artifacts: Path, tmp_path: Path
) -> None:
    comments_only = tmp_path / "keys"
    comments_only.write_text("# team keys\n\n   # rotated 2026-11\n")
    for key_file, says in ((comments_only, "holds no key"), (tmp_path / "nope", "No such file")):
        result = serve_once(artifacts, MODERATE_API_KEYS=None, MODERATE_API_KEY_FILE=str(key_file))
        assert result.returncode == 1
        line = one_error_line(result)
        assert str(key_file) in line and says in line


def test_an_open_api_says_so_when_it_starts(artifacts: Path) -> None:
    process, client = start(artifacts, env={"MODERATE_API_KEYS": None})
    try:
        assert client.post("/v1/score", json={"comments": [], "explain": False}).status_code == 200
        assert "the API is open" in (artifacts.parent / "serve.log").read_text()
    finally:
        stop(process, client)


@pytest.mark.parametrize(
    "raw",
    ['{"comments": [{"id": "x"}]}', "not json", '{"comments": NaN}', '{"text": 1}', ""],
)
def test_no_key_gets_a_401_before_any_body_validation(two_workers: Server, raw: str) -> None:
    _, client, _ = two_workers
    for path in ("/v1/score", "/v1/threads:score"):
        response = post(client, path, raw, **{"X-API-Key": ""})
        assert response.status_code == 401, (path, raw)
        assert "API key" in response.json()["detail"]["error"]


def test_metrics_count_made_up_methods_as_one_series(two_workers: Server) -> None:
    _, client, _ = two_workers
    for i in range(5):
        client.request(f"BREW{i}", "/metrics")
        client.request(f"PURGE{i}", "/v1/score")
    text = "".join(client.get("/metrics").text for _ in range(4))  # both workers
    assert "BREW" not in text and "PURGE" not in text
    assert 'method="other"' in text


# --- a line, not a traceback -----------------------------------------------------------------


def test_a_bad_port_is_one_line_not_a_traceback(artifacts: Path) -> None:
    flag = subprocess.run(
        [str(MODERATE), "serve", "--port", "99999"],
        env={**os.environ, "MODERATE_ARTIFACTS_DIR": str(artifacts)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert flag.returncode == 2 and "Traceback" not in flag.stderr and "--port" in flag.stderr
    variable = serve_once(artifacts, MODERATE_PORT="99999")
    assert variable.returncode == 1 and "MODERATE_PORT" in one_error_line(variable)
    workers = serve_once(artifacts, MODERATE_WORKERS="0")
    assert workers.returncode == 1 and "MODERATE_WORKERS" in one_error_line(workers)


def test_serve_help_lists_the_settings() -> None:
    shown = subprocess.run(
        [str(MODERATE), "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "COLUMNS": "200"},
    ).stdout
    for name in (
        "MODERATE_API_KEYS",
        "MODERATE_API_KEY_FILE",
        "MODERATE_MAX_COMMENT_CHARS",
        "MODERATE_MAX_COMMENTS",
        "MODERATE_MAX_BODY_BYTES",
        "MODERATE_MAX_EXPLAIN_CHARS",
        "MODERATE_CORS_ORIGINS",
        "MODERATE_WORKERS",
    ):
        assert name in shown, name
