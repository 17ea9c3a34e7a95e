"""The HTTP API through FastAPI's TestClient: every endpoint, auth, limits, reload, metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from moderate.model.predict import Scored
from moderate.seeds.split import split_thread
from moderate.service.app import create_app
from moderate.service.holder import ReloadRefused
from moderate.settings import Settings
from tests.service.helpers import point, tamper, version_of

ROOT = Path(__file__).resolve().parent.parent.parent
THREAD = ROOT / "seeds" / "threads" / "003_8de303d2c4567213.txt"
INSULT = "You are a pathetic idiot and a moron."
NEUTRAL = "Thanks for the article, the photos of the river are lovely."


def client_for(artifacts: Path, **settings: Any) -> TestClient:
    """A TestClient (lifespan runs on enter) for an app over the given artifacts dir."""
    return TestClient(create_app(Settings(artifacts_dir=artifacts, **settings)))


@pytest.fixture
def client(artifacts: Path) -> Iterator[TestClient]:
    """A client of an app serving artifacts/current, without auth."""
    with client_for(artifacts) as client:
        yield client


def test_score_returns_one_result_per_comment_in_order(client: TestClient) -> None:
    body = {"comments": [{"id": "a", "text": INSULT}, {"text": NEUTRAL}, {"id": "c", "text": "ok"}]}
    response = client.post("/v1/score", json=body)
    assert response.status_code == 200
    data = response.json()
    ids = [c["id"] for c in data["comments"]]
    assert ids[0] == "a" and ids[2] == "c" and len(ids[1]) == 16
    for comment in data["comments"]:
        assert set(comment["scores"]) == {"toxic", "conspiracy"}
        assert all(0.0 <= p <= 1.0 for p in comment["scores"].values())
        assert set(comment["decisions"].values()) <= {"allow", "review", "block"}
        assert comment["spans"] is None
        assert comment["model_version"] == data["model_version"]
    insult, neutral = data["comments"][0], data["comments"][1]
    assert insult["scores"]["toxic"] > neutral["scores"]["toxic"]


def test_generated_ids_are_stable(client: TestClient) -> None:
    body = {"comments": [{"text": NEUTRAL}]}
    first = client.post("/v1/score", json=body).json()["comments"][0]["id"]
    assert client.post("/v1/score", json=body).json()["comments"][0]["id"] == first


def test_explain_points_at_the_insult(client: TestClient) -> None:
    response = client.post("/v1/score", json={"comments": [{"text": INSULT}], "explain": True})
    spans = response.json()["comments"][0]["spans"]["toxic"]
    assert spans, "an explained insult has spans"
    for span in spans:
        assert INSULT[span["start"] : span["end"]] == span["text"]
    assert any(s["text"].lower() in ("idiot", "moron", "pathetic") for s in spans)


def test_empty_request_scores_nothing(client: TestClient) -> None:
    response = client.post("/v1/score", json={"comments": []})
    assert response.status_code == 200 and response.json()["comments"] == []


def test_malformed_body_is_422(client: TestClient) -> None:
    assert client.post("/v1/score", json={"comments": [{"id": "x"}]}).status_code == 422
    assert client.post("/v1/score", content=b"not json").status_code == 422


def test_thread_page_is_split_and_scored(client: TestClient) -> None:
    page = THREAD.read_text(encoding="utf-8")
    expected = split_thread(page, "raqqa")
    assert len(expected.comments) > 1
    response = client.post("/v1/threads:score", json={"text": page, "name": "raqqa"})
    assert response.status_code == 200
    data = response.json()
    assert data["title"] == expected.title
    assert [c["id"] for c in data["comments"]] == [c.id for c in expected.comments]
    assert [c["text"] for c in data["comments"]] == [c.text for c in expected.comments]
    assert all(set(c["scores"]) == {"toxic", "conspiracy"} for c in data["comments"])


def test_model_info(client: TestClient, artifacts: Path) -> None:
    data = client.get("/v1/model").json()
    assert data["version"] == version_of(artifacts / "current")
    assert data["labels"] == ["toxic", "conspiracy"]
    for label in data["labels"]:
        assert data["thresholds"][label]["review"] <= data["thresholds"][label]["block"]


def test_health(client: TestClient, artifacts: Path) -> None:
    assert client.get("/livez").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["model_version"] == version_of(artifacts / "current")


def test_without_a_model_live_but_not_ready(tmp_path: Path) -> None:
    with client_for(tmp_path, reference_model=tmp_path / "none") as client:
        assert client.get("/livez").status_code == 200
        assert client.get("/readyz").status_code == 503
        response = client.post("/v1/score", json={"comments": [{"text": NEUTRAL}]})
        assert response.status_code == 503
        assert "no model loaded" in response.json()["detail"]["error"]


def test_require_model_refuses_to_start(tmp_path: Path) -> None:
    with (
        pytest.raises(ReloadRefused),
        client_for(tmp_path, require_model=True, reference_model=tmp_path / "none"),
    ):
        pass


def test_metrics_count_requests_comments_and_decisions(client: TestClient) -> None:
    client.post("/v1/score", json={"comments": [{"text": INSULT}, {"text": NEUTRAL}]})
    text = client.get("/metrics").text
    assert "moderate_comments_scored_total 2.0" in text
    decisions = [line for line in text.splitlines() if line.startswith("moderate_decisions_total")]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in decisions) == 4.0  # 2 comments x 2 labels
    assert 'moderate_requests_total{method="POST",route="/v1/score",status="200"} 1.0' in text
    assert 'moderate_request_seconds_bucket{le="0.005",route="/v1/score"}' in text


def test_docs_and_schema(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/score", "/v1/threads:score", "/v1/model", "/v1/model:reload"} <= set(paths)


# --- auth ------------------------------------------------------------------------------


def test_keys_required_when_configured(artifacts: Path, tmp_path: Path) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text("# team keys\nfile-key\n")
    body = {"comments": [{"text": NEUTRAL}]}
    with client_for(artifacts, api_keys="k1, k2", api_key_file=key_file) as client:
        assert client.post("/v1/score", json=body).status_code == 401
        wrong = client.post("/v1/score", json=body, headers={"X-API-Key": "k3"})
        assert wrong.status_code == 401 and "API key" in wrong.json()["detail"]["error"]
        for key in ("k1", "k2", "file-key"):
            assert (
                client.post("/v1/score", json=body, headers={"X-API-Key": key}).status_code == 200
            )
        assert client.get("/v1/model").status_code == 401
        assert client.post("/v1/model:reload").status_code == 401
        assert client.get("/livez").status_code == 200
        assert client.get("/readyz").status_code == 200


# --- limits ------------------------------------------------------------------------------


def test_too_many_comments_is_413_naming_the_limit(artifacts: Path) -> None:
    with client_for(artifacts, max_comments=3) as client:
        response = client.post("/v1/score", json={"comments": [{"text": "hi"}] * 4})
    assert response.status_code == 413
    assert response.json()["detail"]["limit"] == "max_comments"
    assert response.json()["detail"]["max"] == 3


def test_too_long_comment_is_422_naming_the_limit(artifacts: Path) -> None:
    with client_for(artifacts, max_comment_chars=20) as client:
        body = {"comments": [{"text": "short"}, {"text": "x" * 21}]}
        response = client.post("/v1/score", json=body)
    assert response.status_code == 422
    assert response.json()["detail"]["limit"] == "max_comment_chars"
    assert "comment 1" in response.json()["detail"]["error"]


def test_thread_with_too_many_comments_is_413(artifacts: Path) -> None:
    page = THREAD.read_text(encoding="utf-8")
    with client_for(artifacts, max_comments=1) as client:
        response = client.post("/v1/threads:score", json={"text": page})
    assert response.status_code == 413 and response.json()["detail"]["limit"] == "max_comments"


def test_body_over_the_limit_is_413_declared_or_streamed(artifacts: Path) -> None:
    body = b'{"comments": [{"text": "' + b"a" * 500 + b'"}]}'
    with client_for(artifacts, max_body_bytes=200) as client:
        declared = client.post("/v1/score", content=body)
        streamed = client.post("/v1/score", content=iter([body[:100], body[100:]]))
        small = client.post("/v1/score", json={"comments": [{"text": "fine"}]})
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.json()["detail"]["limit"] == "max_body_bytes"
    assert small.status_code == 200


# --- reload ------------------------------------------------------------------------------


def test_reload_swaps_to_the_new_current(client: TestClient, artifacts: Path) -> None:
    old = client.get("/v1/model").json()["version"]
    second = next(p for p in artifacts.iterdir() if p.name not in ("current", old))
    point(artifacts, second.name)
    response = client.post("/v1/model:reload")
    assert response.status_code == 200
    assert response.json() == {
        "version": version_of(second),
        "previous": old,
        "workers": 1,
        "restarting": False,
    }
    assert client.get("/v1/model").json()["version"] == version_of(second)
    scored = client.post("/v1/score", json={"comments": [{"text": NEUTRAL}]}).json()
    assert scored["model_version"] == version_of(second)


def test_tampered_artifact_is_refused_and_old_model_serves(
    client: TestClient, artifacts: Path
) -> None:
    old = client.get("/v1/model").json()["version"]
    second = next(p for p in artifacts.iterdir() if p.name not in ("current", old))
    tamper(second)
    point(artifacts, second.name)
    response = client.post("/v1/model:reload")
    assert response.status_code == 409
    assert old in response.json()["detail"]["error"]
    assert client.get("/v1/model").json()["version"] == old
    scored = client.post("/v1/score", json={"comments": [{"text": NEUTRAL}]})
    assert scored.status_code == 200 and scored.json()["model_version"] == old
    assert 'moderate_model_reloads_total{result="refused"} 1.0' in client.get("/metrics").text


# --- safety ------------------------------------------------------------------------------


def test_comment_text_is_not_logged(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    secret = "zebra-unicorn-4471 is a pathetic idiot"
    with caplog.at_level(logging.DEBUG):
        client.post("/v1/score", json={"comments": [{"text": secret}], "explain": True})
        client.post("/v1/model:reload")
    assert "zebra-unicorn" not in caplog.text


def test_cors_closed_unless_configured(artifacts: Path) -> None:
    preflight = {
        "Origin": "https://example.org",
        "Access-Control-Request-Method": "POST",
    }
    with client_for(artifacts) as client:
        closed = client.options("/v1/score", headers=preflight)
    with client_for(artifacts, cors_origins="https://example.org") as client:
        opened = client.options("/v1/score", headers=preflight)
    assert "access-control-allow-origin" not in closed.headers
    assert opened.headers["access-control-allow-origin"] == "https://example.org"


# --- batching of concurrent requests -----------------------------------------------------


def send_concurrently(app: Any, texts: Sequence[str]) -> list[httpx.Response]:
    """One single-comment request per text, all in flight at once, in order."""

    async def send_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            requests = (client.post("/v1/score", json={"comments": [{"text": t}]}) for t in texts)
            return await asyncio.gather(*requests)

    return asyncio.run(send_all())


def test_concurrent_requests_share_model_calls_and_get_their_own_results(
    artifacts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(Settings(artifacts_dir=artifacts))
    model = app.state.service.holder.reload()[0]
    original = model.score
    calls: list[int] = []

    def counting(texts: Sequence[str], explain: bool = False) -> list[Scored]:
        calls.append(len(texts))
        return original(texts, explain)

    monkeypatch.setattr(model, "score", counting)
    texts = [f"{INSULT} #{i}" if i % 2 else f"{NEUTRAL} #{i}" for i in range(40)]

    responses = send_concurrently(app, texts)
    expected = original(texts)
    for response, scored in zip(responses, expected, strict=True):
        assert response.json()["comments"][0]["scores"] == scored.scores
    assert sum(calls) == len(texts) and len(calls) < len(texts)


def test_a_request_that_fails_the_model_fails_alone(
    artifacts: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(Settings(artifacts_dir=artifacts))
    model = app.state.service.holder.reload()[0]
    original = model.score
    calls: list[int] = []

    def fragile(texts: Sequence[str], explain: bool = False) -> list[Scored]:
        calls.append(len(texts))
        if any("poison" in text for text in texts):
            raise ValueError("the engine choked")
        return original(texts, explain)

    monkeypatch.setattr(model, "score", fragile)
    texts = [f"{NEUTRAL} #{i}" if i != 17 else "poison" for i in range(40)]

    responses = send_concurrently(app, texts)
    assert any(n > 1 for n in calls), "the requests were batched together"
    statuses = [r.status_code for r in responses]
    assert statuses[17] == 500 and responses[17].json() == {"detail": {"error": "internal error"}}
    assert statuses[:17] + statuses[18:] == [200] * 39
