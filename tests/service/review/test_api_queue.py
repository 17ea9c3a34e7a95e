"""POST /v1/score with "queue": true on a real `moderate serve`: off by default, keyed,
the review band only, no comment text stored unless asked, and the second opinion's scores
queued beside the n-grams' when the request asked for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from moderate.service.review.queue import Filters, Queue
from tests.encoder import needs_encoder
from tests.service.helpers import artifacts_with, start, stop

pytestmark = pytest.mark.slow
TEXTS = [
    f"comment {i}: you are an idiot and a liar" if i % 2 else f"nice point {i}" for i in range(5)
]


def body(queue_text: bool = False) -> dict[str, object]:
    """Five comments to score and queue."""
    return {
        "comments": [{"id": f"p{i}", "text": t} for i, t in enumerate(TEXTS)],
        "queue": True,
        "queue_text": queue_text,
    }


def test_the_api_queues_its_review_band_only_when_allowed(artifacts: Path, tmp_path: Path) -> None:
    db = tmp_path / "review.sqlite"
    process, client = start(artifacts, env={"MODERATE_REVIEW_DB": str(db)})
    try:
        refused = client.post("/v1/score", json=body())
        assert refused.status_code == 403 and "MODERATE_REVIEW_API_QUEUE" in refused.text
        plain = client.post("/v1/score", json={**body(), "queue": False}).json()
        assert plain["queued"] is None and not db.exists()
    finally:
        stop(process, client)

    env = {"MODERATE_REVIEW_DB": str(db), "MODERATE_REVIEW_API_QUEUE": "true"}
    process, client = start(artifacts, env=env)
    try:
        answer = client.post("/v1/score", json=body()).json()
        review = [c["id"] for c in answer["comments"] if "review" in c["decisions"].values()]
        assert answer["queued"] == len(review) > 0
        assert client.post("/v1/score", json=body(True)).json()["queued"] == 0  # by id, once
        no_key = client.post("/v1/score", json=body(), headers={"X-API-Key": "wrong"})
        assert no_key.status_code == 401
    finally:
        stop(process, client)
    queue = Queue(db)
    items = queue.page(Filters(), limit=10)
    assert sorted(i["id"] for i in items) == sorted(review)
    assert all(queue.get(i["id"])["text"] is None for i in items)  # not asked: not stored
    assert {i["source_id"] for i in items} == set(review)


def test_queue_text_stores_the_text_when_asked(artifacts: Path, tmp_path: Path) -> None:
    db = tmp_path / "review.sqlite"
    env = {"MODERATE_REVIEW_DB": str(db), "MODERATE_REVIEW_API_QUEUE": "true"}
    process, client = start(artifacts, env=env)
    try:
        answer = client.post("/v1/score", json=body(True)).json()
    finally:
        stop(process, client)
    queued = {c["id"] for c in answer["comments"] if "review" in c["decisions"].values()}
    texts = {f"p{i}": t for i, t in enumerate(TEXTS)}
    queue = Queue(db)
    assert {i: queue.get(i)["text"] for i in queued} == {i: texts[i] for i in queued}


@needs_encoder
def test_a_request_with_the_second_opinion_queues_both_scores(
    tmp_path: Path, second_opinion_model: Path
) -> None:
    db = tmp_path / "review.sqlite"
    env = {"MODERATE_REVIEW_DB": str(db), "MODERATE_REVIEW_API_QUEUE": "true"}
    texts = [*TEXTS[:4], "They hide the truth about the vaccine."]  # the server takes 5
    request = {
        "comments": [{"id": f"s{i}", "text": t} for i, t in enumerate(texts)],
        "second_opinion": True,
        "queue": True,
    }
    artifacts = artifacts_with(tmp_path / "artifacts", [second_opinion_model])
    process, client = start(artifacts, env=env)
    try:
        answer = client.post("/v1/score", json=request).json()
    finally:
        stop(process, client)
    review = [c for c in answer["comments"] if "review" in c["decisions"].values()]
    assert answer["queued"] == len(review) > 0
    queue = Queue(db)
    for comment in review:
        assert queue.get(comment["id"])["scores"] == {
            label: {
                "score": comment["scores"][label],
                "decision": comment["decisions"][label],
                "first_score": opinion["first_score"],
                "decided_by": opinion["decided_by"],
            }
            for label, opinion in comment["second_opinion"].items()
        }
    assert {opinion["decided_by"] for c in review for opinion in c["second_opinion"].values()} == {
        "second_opinion"
    }
