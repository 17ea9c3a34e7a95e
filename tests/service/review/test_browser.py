"""The review page in a real browser (Debian's Chromium driven by Playwright): a moderator's
session by keyboard, bulk, two moderators, hostile text, a reload, labels and export, and
the second opinion's scores beside the n-grams'."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.browser import CHROMIUM_ARGS, chromium
from tests.conftest import ROOT
from tests.service.review.conftest import (
    HOSTILE,
    KEYS,
    MARKER,
    Review,
    Server,
    scored_rows,
    with_opinions,
    write_scored,
)

pytestmark = [pytest.mark.slow, pytest.mark.browser]
Serve = Callable[..., Server]


@pytest.fixture
def browser() -> Iterator[object]:
    """A headless Chromium; skipped with the reason when there is none."""
    executable = chromium()
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def signed_in(browser: object, server: Server, name: str) -> object:
    """A new browser context and page, signed in through the form as `name`."""
    context = browser.new_context(viewport={"width": 1300, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors
    page.goto(server.url + "/signin")
    page.fill("#key", KEYS[name])
    page.click("#signin")
    page.wait_for_selector("body[data-ready]")
    return page


def shown(page: object) -> str:
    """The id of the item the detail pane shows."""
    return str(page.get_attribute("#detail", "data-id"))  # type: ignore[attr-defined]


def press_and_wait(page: object, key: str) -> str:
    """Press a key that moves to another item; wait until it is shown; return its id."""
    before = shown(page)
    page.keyboard.press(key)  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "id => document.getElementById('detail').dataset.id !== id", arg=before
    )
    return shown(page)


@pytest.fixture
def queued(review: Review, tmp_path: Path) -> Review:
    """30 comments with known scores in the queue."""
    scored = write_scored(tmp_path / "s.jsonl", scored_rows(30))
    review.run("review", "add", scored, "--band", "review,block")
    return review


def test_a_moderator_works_through_20_items_by_keyboard_with_undo_labels_and_export(
    queued: Review, serve: Serve, browser: object, tmp_path: Path
) -> None:
    server = serve()
    page = signed_in(browser, server, "alice")
    first_row = page.get_attribute("#items tbody tr.row", "data-id")
    assert shown(page) == first_row  # the keys work at once
    decided: dict[str, tuple[str, int]] = {}
    for n in range(20):
        item = shown(page)
        toxic = 1
        if n % 4 == 0:
            page.keyboard.press("t")  # correct the toxic label first
            page.wait_for_selector("#label-toxic[aria-pressed=false]")
            toxic = 0
        key = "r" if n % 3 == 0 else "a"
        press_and_wait(page, key)
        decided[item] = ("reject" if key == "r" else "approve", toxic)
    page.keyboard.press("j")
    page.keyboard.press("k")
    last = list(decided)[-1]
    page.keyboard.press("z")
    page.wait_for_function("id => document.getElementById('detail').dataset.id === id", arg=last)
    page.wait_for_selector("body[data-ready]")
    assert page.text_content("#state") == "pending"
    del decided[last]
    assert page.text_content("#left") == str(30 - 19)
    assert page.text_content("#mine-per-hour") == "19"
    assert page.errors == []

    with server.client("alice") as alice:
        states = {
            i["id"]: i["state"]
            for i in alice.get("/queue.json", params={"state": "all", "limit": 100}).json()["items"]
        }
    assert {i for i, s in states.items() if s != "pending"} == set(decided)
    latest = {(a["comment"], a["label"]): a for a in queued.annotations()}
    for item, (_, toxic) in decided.items():
        assert latest[item, "toxic"]["value"] == toxic
        assert latest[item, "toxic"]["annotator"] == "alice"
        assert latest[item, "toxic"]["origin"] == "human"
    assert latest[last, "toxic"]["value"] is None  # the undone decision's labels withdrawn
    stored = [json.loads(x) for x in (queued.labels / "comments.jsonl").read_text().splitlines()]
    assert {c["id"] for c in stored} == {*decided, last}

    queued.run("review", "export", "-o", tmp_path / "decisions.jsonl")
    exported = [json.loads(x) for x in (tmp_path / "decisions.jsonl").read_text().splitlines()]
    assert {e["id"]: (e["decision"], e["toxic"]) for e in exported} == decided
    assert {e["moderator"] for e in exported} == {"alice"}
    assert MARKER not in server.log.read_text()


def test_a_bulk_action_decides_a_score_range_after_one_confirmation(
    queued: Review, serve: Serve, browser: object
) -> None:
    server = serve()
    page = signed_in(browser, server, "bob")
    page.select_option("#bulk-label", "toxic")
    page.fill("#bulk-low", "0.5")
    page.fill("#bulk-high", "0.7")
    page.click("#bulk-count")
    expected = sum(0.5 <= r["toxic"] <= 0.7 for r in scored_rows(30))
    page.wait_for_selector(f"#bulk-found:has-text('{expected} pending items')")
    page.click("#bulk-reject")
    assert f"Reject all {expected} items" in page.text_content("#bulk-question")
    page.click("#bulk-yes")
    page.wait_for_selector(f"#left:has-text('{30 - expected}')")
    with server.client("bob") as bob:
        rejected = bob.get("/queue.json", params={"state": "rejected", "limit": 100}).json()
    assert sorted(i["scores"]["toxic"]["score"] for i in rejected["items"]) == sorted(
        r["toxic"] for r in scored_rows(30) if 0.5 <= r["toxic"] <= 0.7
    )
    assert {i["decided_by"] for i in rejected["items"]} == {"bob"}


def test_two_moderators_never_decide_the_same_comment_unknowingly(
    queued: Review, serve: Serve, browser: object
) -> None:
    server = serve()
    alice = signed_in(browser, server, "alice")
    mine = shown(alice)
    with server.client("alice") as client:
        client_items = client.get("/queue.json").json()["items"]
    assert next(i for i in client_items if i["id"] == mine)["leased_by"] == "alice"
    bob = signed_in(browser, server, "bob")
    assert shown(bob) != mine  # bob opens on the first comment nobody has open
    bob.click(f"#items tr[data-id='{mine}']")
    bob.wait_for_selector("#message:has-text('alice has this comment open')")
    bob.keyboard.press("a")
    bob.wait_for_selector("#message:has-text('alice has this comment open')")
    press_and_wait(alice, "r")
    bob.reload()
    bob.wait_for_selector("body[data-ready]")
    assert bob.locator(f"#items tr[data-id='{mine}']").count() == 0  # decided: off the queue
    with server.client("bob") as client:
        assert client.get(f"/items/{mine}.json").json()["decided_by"] == "alice"


def test_hostile_comment_text_shows_as_characters_and_runs_nothing(
    review: Review, serve: Serve, browser: object, tmp_path: Path
) -> None:
    rows = scored_rows(5, hostile=4)  # the highest score: first in the list
    review.run("review", "add", write_scored(tmp_path / "s.jsonl", rows), "--band", "review,block")
    server = serve()
    page = signed_in(browser, server, "alice")
    assert shown(page) == "item0004"
    assert HOSTILE in page.text_content("#text")
    press_and_wait(page, "j")
    press_and_wait(page, "k")  # drawn again by the script this time
    assert HOSTILE in page.text_content("#text")
    assert page.locator("#detail img, #items img, #detail script").count() == 0
    assert page.title() == "moderate review"
    assert page.errors == []


def test_a_reload_in_the_middle_shows_the_same_queue(
    queued: Review, serve: Serve, browser: object
) -> None:
    server = serve()
    page = signed_in(browser, server, "alice")
    done = [shown(page)]
    done.append(press_and_wait(page, "a"))
    done.append(press_and_wait(page, "r"))
    page.keyboard.press("a")
    page.wait_for_selector("#left:has-text('27')")
    after = shown(page)
    page.reload()
    page.wait_for_selector("body[data-ready]")
    assert shown(page) == after
    ids = [r.get_attribute("data-id") for r in page.locator("#items tbody tr.row").all()]
    assert not set(done) & set(ids) and len(ids) == 27
    assert page.text_content("#left") == "27"


def test_the_spans_that_drove_a_score_are_highlighted(
    review: Review, serve: Serve, browser: object
) -> None:
    seed = ROOT / "seeds" / "threads" / "003_8de303d2c4567213.txt"
    review.run("review", "add", seed)
    server = serve()
    page = signed_in(browser, server, "alice")
    marks = page.locator("#text span.mark-toxic, #text span.mark-conspiracy")
    assert marks.count() > 0
    item = server.client("alice").get(f"/items/{shown(page)}.json").json()
    spans = [s for found in item["spans"].values() for s in found]
    assert all(item["text"][s["start"] : s["end"]] for s in spans)
    assert "".join(page.locator("#text span").all_text_contents()) == item["text"]


def detail_score(page: object, label: str) -> str:
    """What the detail pane says of a label's score."""
    row = page.locator("#scores tbody tr").filter(has_text=label)  # type: ignore[attr-defined]
    return str(row.locator("td.num").text_content()).strip()


def test_a_comment_the_second_opinion_rescored_shows_both_scores_and_which_decided(
    review: Review, serve: Serve, browser: object, tmp_path: Path
) -> None:
    rows = with_opinions(scored_rows(4))  # item0003 (toxic 0.75) and item0001 re-scored
    review.run("review", "add", write_scored(tmp_path / "s.jsonl", rows))
    plain = {**scored_rows(1)[0], "id": "plain", "toxic": 0.2}  # scored without it
    review.run("review", "add", write_scored(tmp_path / "plain.jsonl", [plain]))
    server = serve()
    page = signed_in(browser, server, "alice")

    assert shown(page) == "item0003"
    assert detail_score(page, "toxic") == "0.75 (second opinion; n-grams 0.55)"
    assert detail_score(page, "conspiracy") == "0.05 (n-grams)"
    marker = page.locator("#items tr[data-id='item0003'] td[data-label='toxic'] .opinion")
    assert marker.text_content() == "2nd"
    assert marker.get_attribute("title") == "(second opinion; n-grams 0.55)"
    assert page.locator("#items tr[data-id='item0002'] .opinion").count() == 0

    assert press_and_wait(page, "j") == "item0002"  # drawn by the script from here on
    assert detail_score(page, "toxic") == "0.60 (n-grams)"
    press_and_wait(page, "j")
    assert detail_score(page, "toxic") == "0.45 (second opinion; n-grams 0.25)"
    page.click("#items tr[data-id='plain']")
    page.wait_for_function("() => document.getElementById('detail').dataset.id === 'plain'")
    assert detail_score(page, "toxic") == "0.20"  # as before the second opinion
    assert detail_score(page, "conspiracy") == "0.05"
    assert page.errors == []

    with server.client("alice") as alice:
        twin = alice.get("/items/item0003.json").json()["scores"]["toxic"]
    assert twin == {
        "score": 0.75,
        "decision": "review",
        "first_score": 0.55,
        "decided_by": "second_opinion",
    }
