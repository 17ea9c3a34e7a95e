"""The review page over HTTP against a real `moderate review` process: sign-in, CSRF,
leases and conflicts, undo, bulk, kill -9, loopback-only without keys, quiet logs."""

from __future__ import annotations

import re
import signal
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from moderate.service.review.queue import Queue
from tests.service.review.conftest import MARKER, Review, Server, scored_rows, write_scored

pytestmark = pytest.mark.slow
Serve = Callable[..., Server]
LABELS = {"toxic": 1, "conspiracy": 0}


@pytest.fixture
def queued(review: Review, tmp_path: Path) -> Review:
    """A queue of 30 comments with known scores."""
    review.run(
        "review",
        "add",
        write_scored(tmp_path / "s.jsonl", scored_rows(30)),
        "--band",
        "review,block",
    )
    return review


def test_a_moderator_signs_in_with_a_named_key_and_needs_the_csrf_token(
    queued: Review, serve: Serve
) -> None:
    server = serve()
    with server.client() as anonymous:
        assert anonymous.get("/queue.json").status_code == 401
        assert anonymous.get("/", follow_redirects=False).headers["location"] == "/signin"
        refused = anonymous.post("/signin", data={"key": "guess"})
        assert refused.status_code == 401 and "not a moderator" in refused.text
        page = anonymous.post("/signin", data={"key": "bob-key-0002"}, follow_redirects=True)
        assert page.status_code == 200 and 'id="moderator">bob<' in page.text
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
        assert csrf is not None
        first = anonymous.get("/queue.json").json()["items"][0]
        body = {"decision": "reject", "labels": LABELS, "rev": first["rev"]}
        forged = anonymous.post(f"/items/{first['id']}/decision", json=body)
        assert forged.status_code == 403 and "CSRF" in forged.json()["detail"]["error"]
        done = anonymous.post(
            f"/items/{first['id']}/decision", json=body, headers={"X-CSRF-Token": csrf[1]}
        )
        assert done.status_code == 200 and done.json()["item"]["decided_by"] == "bob"
    with server.client("alice") as alice:
        assert alice.get("/queue.json").json()["moderator"] == "alice"
        assert alice.get("/queue.json", headers={"X-API-Key": "nope"}).status_code == 401


def test_an_open_item_is_leased_and_a_stale_decision_is_a_clear_conflict(
    queued: Review, serve: Serve
) -> None:
    server = serve()
    with server.client("alice") as alice, server.client("bob") as bob:
        item = alice.get("/queue.json").json()["items"][0]["id"]
        assert alice.post(f"/items/{item}/lease").status_code == 200
        taken = bob.post(f"/items/{item}/lease")
        assert taken.status_code == 409 and "alice has this comment open" in taken.text
        body = {"decision": "approve", "labels": LABELS, "rev": 0}
        assert bob.post(f"/items/{item}/decision", json=body).status_code == 409
        listed = {i["id"]: i for i in bob.get("/queue.json").json()["items"]}
        assert listed[item]["leased_by"] == "alice"

        assert (
            alice.post(f"/items/{item}/decision", json={**body, "decision": "reject"}).status_code
            == 200
        )
        stale = bob.post(f"/items/{item}/decision", json=body)  # bob still saw revision 0
        assert stale.status_code == 409
        assert "alice rejected this comment" in stale.json()["detail"]["error"]
        assert bob.get(f"/items/{item}.json").json()["state"] == "rejected"  # not overwritten


def test_labels_reach_the_store_and_undo_appends(queued: Review, serve: Serve) -> None:
    server = serve()
    with server.client("alice") as alice:
        item = alice.get("/queue.json").json()["items"][0]
        relabelled = alice.post(
            f"/items/{item['id']}/labels",
            json={"labels": {"toxic": 0, "conspiracy": 1}, "rev": item["rev"]},
        ).json()["item"]
        assert queued.annotations() == []  # a correction of a pending item is not a label yet
        alice.post(
            f"/items/{item['id']}/decision",
            json={"decision": "approve", "labels": relabelled["labels"], "rev": relabelled["rev"]},
        ).raise_for_status()
        assert [(a["comment"], a["label"], a["value"], a["annotator"], a["origin"])
                for a in queued.annotations()] == [
            (item["id"], "toxic", 0, "alice", "human"),
            (item["id"], "conspiracy", 1, "alice", "human"),
        ]  # fmt: skip
        assert alice.post("/undo").json()["undone"] == [item["id"]]
        assert [a["value"] for a in queued.annotations()[2:]] == [None, None]
        assert alice.post("/undo").json()["undone"] == [item["id"]]  # then the correction
        shown = alice.get(f"/items/{item['id']}.json").json()
        assert shown["state"] == "pending" and shown["labels"] == item["labels"]
        assert [h["action"] for h in shown["history"]] == [
            "add",
            "labels",
            "decide",
            "undo",
            "undo",
        ]
        assert alice.post("/undo").status_code == 404


def test_bulk_decides_a_score_range_only_as_confirmed(queued: Review, serve: Serve) -> None:
    server = serve()
    with server.client("alice") as alice, server.client("bob") as bob:
        query = {"label": "toxic", "low": 0.5, "high": 0.7, "limit": 0}
        count = alice.get("/queue.json", params=query).json()["matching"]
        expected = sum(0.5 <= r["toxic"] <= 0.7 for r in scored_rows(30))
        assert count == expected > 3
        body = {"label": "toxic", "low": 0.5, "high": 0.7, "decision": "reject"}
        assert alice.post("/bulk", json={**body, "count": count + 1}).status_code == 409
        one = alice.get("/queue.json", params={**query, "limit": 1}).json()["items"][0]
        bob.post(f"/items/{one['id']}/lease").raise_for_status()  # open by bob: left out
        moved = alice.post("/bulk", json={**body, "count": count - 1})
        assert moved.status_code == 200 and moved.json()["decided"] == count - 1
        assert alice.get("/queue.json", params=query).json()["matching"] == 1
        assert len(queued.annotations()) == 2 * (count - 1)
        assert len(alice.post("/undo").json()["undone"]) == count - 1  # the bulk as a whole
        assert alice.get("/queue.json", params=query).json()["matching"] == count


def test_kill_9_keeps_every_decision_and_the_log_holds_no_text(
    queued: Review, serve: Serve
) -> None:
    server = serve()
    with server.client("alice") as alice:
        items = alice.get("/queue.json").json()["items"][:3]
        for item in items:
            alice.post(
                f"/items/{item['id']}/decision",
                json={"decision": "reject", "labels": LABELS, "rev": item["rev"]},
            ).raise_for_status()
    server.stop(signal.SIGKILL)
    again = serve()
    with again.client("alice") as alice:
        listing = alice.get("/queue.json", params={"state": "rejected"}).json()
        assert {i["id"] for i in listing["items"]} == {i["id"] for i in items}
        assert listing["stats"]["left"] == 30 - 3
        assert alice.get(f"/items/{items[0]['id']}.json").json()["text"].endswith(MARKER)
    for log in (server.log, again.log):
        assert MARKER not in log.read_text()


def test_without_keys_the_page_is_loopback_only_and_says_so(queued: Review, serve: Serve) -> None:
    env = {"MODERATE_API_KEY_FILE": None, "MODERATE_REVIEW_MODERATOR": "solo"}
    server = serve(env)
    with server.client() as browser:
        page = browser.get("/")
        assert "No moderator keys are configured" in page.text and "solo" in page.text
        assert browser.get("/queue.json").json()["moderator"] == "solo"
        rebound = browser.get("/queue.json", headers={"Host": "attacker.example:8001"})
        assert rebound.status_code == 421
    refused = queued.run("review", "--host", "0.0.0.0", check=False, env_extra=env)
    assert refused.returncode != 0 and "binds to loopback only" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_key_file_that_holds_no_key_refuses_to_start(queued: Review, tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("# nobody yet\n")
    done = queued.run("review", check=False, env_extra={"MODERATE_API_KEY_FILE": str(empty)})
    assert done.returncode != 0 and "holds no key" in done.stderr and "Traceback" not in done.stderr


def test_the_json_twin_answers_what_the_page_shows(queued: Review, serve: Serve) -> None:
    server = serve()
    with server.client("alice") as alice:
        data = alice.get("/queue.json", params={"sort": "uncertainty", "thread": "thread-1"}).json()
        assert {i["thread"] for i in data["items"]} == {"thread-1"}
        doubts = [1 - abs(2 * i["scores"]["toxic"]["score"] - 1) for i in data["items"]]
        assert doubts == sorted(doubts, reverse=True)
        assert alice.get("/queue.json", params={"label": "nope"}).status_code == 422
        assert alice.get("/items/missing.json").status_code == 404
        assert httpx.get(server.url + "/static/review.js").status_code == 200


def test_spans_of_a_scored_file_are_computed_with_its_model_when_first_shown(
    review: Review, serve: Serve, model: Path, tmp_path: Path
) -> None:
    rows = scored_rows(3, version=model.name)  # scored by the model `current` points at
    rows[0]["text"] = "you are a stupid idiot and a liar"
    orphan = scored_rows(1, version="long-gone")[0] | {"id": "orphan"}
    review.run("review", "add", write_scored(tmp_path / "s.jsonl", [*rows, orphan]))
    assert Queue(review.db).get("item0000")["spans"] is None  # nothing explained at add
    server = serve()
    with server.client("alice") as alice:
        item = alice.get("/items/item0000.json").json()
        words = {item["text"][s["start"] : s["end"]] for s in item["spans"]["toxic"]}
        assert words & {"stupid", "idiot", "liar"}
        assert "".join(p["text"] for p in item["segments"]) == item["text"]
        gone = alice.get("/items/orphan.json").json()
        assert gone["spans"] is None and "long-gone is not in" in gone["spans_note"]
    assert Queue(review.db).get("item0000")["spans"] == item["spans"]  # kept
