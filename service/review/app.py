"""The review page: `create_review_app(settings, moderator)` serves the queue to moderators.

Server-rendered Jinja pages (autoescaped: comment text is always text) with a little
hand-written JavaScript for the keys, no build step and no CDN; every page has a JSON
twin (`/queue.json`, `/items/{id}.json`) that scripts and the tests use. Moderators sign
in with a key from the API's key sources, which names them; a script may send the key as
X-API-Key instead. A browser session is a random token in an HttpOnly, SameSite=Strict
cookie, and every state-changing request from it carries the session's CSRF token in the
X-CSRF-Token header. Without any key configured, the page answers only on loopback, with
the Host header checked (so a rebound DNS name cannot reach it), and every browser is the
one configured moderator.
"""

from __future__ import annotations

import contextlib
import functools
import hmac
import itertools
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlencode

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from moderate.labels.store import LABELS, LabelStore
from moderate.model.artifacts import ArtifactError, in_use, load, read_metadata
from moderate.model.predict import Model
from moderate.service.errors import ServerErrors, validation_error
from moderate.service.limits import BodyLimitMiddleware, key_matches, read_key_names
from moderate.service.review.feed import spans_of
from moderate.service.review.queue import (
    BANDS,
    SORTS,
    STATES,
    Conflict,
    Filters,
    NotFound,
    Queue,
    QueueError,
)
from moderate.settings import Settings

log = logging.getLogger("moderate.review")
HERE = Path(__file__).resolve().parent
COOKIE = "moderate_review"
SESSION_SECONDS = 12 * 3600.0
PAGE = 50
LOOPBACK = ("127.0.0.1", "localhost", "[::1]", "::1")


@dataclass
class ReviewState:
    """What every request needs: the queue, who holds which key, where the models are."""

    queue: Queue
    keys: dict[str, str]
    moderator: str
    settings: Settings
    templates: Jinja2Templates

    @property
    def open(self) -> bool:
        """No key configured: loopback only, everyone is the one moderator."""
        return not self.keys


@dataclass(frozen=True)
class Who:
    """The signed-in moderator and the CSRF token their session must send (None: by key)."""

    name: str
    csrf: str | None


class DecisionIn(BaseModel):
    """Approve or reject one item, with its labels, as of the revision the moderator saw."""

    decision: Literal["approve", "reject"]
    labels: dict[str, int]
    rev: int


class LabelsIn(BaseModel):
    """Corrected labels of one item, as of the revision the moderator saw."""

    labels: dict[str, int]
    rev: int


class BulkIn(BaseModel):
    """Decide every pending item of one label's score range (and the other filters)."""

    label: Literal["toxic", "conspiracy"]
    low: float = Field(ge=0, le=1)
    high: float = Field(ge=0, le=1)
    decision: Literal["approve", "reject"]
    count: int = Field(ge=0, description="how many items the moderator confirmed")
    band: Literal["allow", "review", "block"] | None = None
    thread: str | None = None


async def get_state(request: Request) -> ReviewState:
    """The app's state."""
    state: ReviewState = request.app.state.review
    return state


State = Annotated[ReviewState, Depends(get_state)]


def signed_in(request: Request, state: State) -> Who:
    """The moderator of this request (X-API-Key or session cookie), or 401."""
    key = request.headers.get("x-api-key")
    if key is not None:
        if state.keys and key_matches(key, list(state.keys)):
            return Who(_holder(state.keys, key), None)
        raise HTTPException(401, {"error": "invalid key (send a moderator's key as X-API-Key)"})
    token = request.cookies.get(COOKIE)
    found = state.queue.session(token) if token else None
    if found is None:
        raise HTTPException(401, {"error": "not signed in: open /signin"})
    return Who(*found)


def acting(request: Request, who: Annotated[Who, Depends(signed_in)]) -> Who:
    """The moderator of a state-changing request: a session must send its CSRF token."""
    if who.csrf is not None:
        sent = request.headers.get("x-csrf-token", "")
        if not hmac.compare_digest(sent.encode(), who.csrf.encode()):
            raise HTTPException(403, {"error": "missing or wrong X-CSRF-Token: reload the page"})
    return who


Moderator = Annotated[Who, Depends(acting)]
Reader = Annotated[Who, Depends(signed_in)]


def _holder(keys: dict[str, str], key: str) -> str:
    return next(name for known, name in keys.items() if hmac.compare_digest(known, key))


def _filters(
    state: str = "pending",
    label: str | None = None,
    band: str | None = None,
    thread: str | None = None,
    low: float | None = None,
    high: float | None = None,
) -> Filters:
    try:
        return Filters(state, label or None, band or None, thread or None, low, high)
    except QueueError as error:
        raise HTTPException(422, {"error": str(error)}) from None


Selected = Annotated[Filters, Depends(_filters)]


@functools.lru_cache(maxsize=4)
def _model(path: Path) -> Model:
    return load(path)


def model_of(settings: Settings, version: str) -> Model | None:
    """The artifact of a model version, if it is still there (for spans computed later)."""
    candidates = [settings.artifacts_dir / version]
    if settings.model_path is not None:
        candidates.append(settings.model_path)
    with contextlib.suppress(ArtifactError):
        candidates.append(in_use(settings.artifacts_dir, settings.reference_model))
    for path in candidates:
        if path.is_dir() and version in (path.resolve().name, _version(path)):
            try:
                return _model(path.resolve())
            except ArtifactError:
                return None
    return None


def _version(path: Path) -> str | None:
    """The version an artifact's metadata names (the shipped model's directory is not it)."""
    with contextlib.suppress(ArtifactError):
        return str(read_metadata(path).get("version"))
    return None


def segments(text: str, spans: dict[str, list[dict[str, Any]]] | None) -> list[dict[str, Any]]:
    """The text cut at span edges: each piece with the labels whose spans cover it."""
    spans = spans or {}
    cuts = {0, len(text)}
    for found in spans.values():
        for span in found:
            cuts |= {max(0, min(len(text), span["start"])), max(0, min(len(text), span["end"]))}
    edges = sorted(cuts)
    pieces = []
    for start, end in itertools.pairwise(edges):
        marks = {
            label: max(s["weight"] for s in found if s["start"] <= start and end <= s["end"])
            for label, found in spans.items()
            if any(s["start"] <= start and end <= s["end"] for s in found)
        }
        pieces.append({"text": text[start:end], "marks": marks})
    return pieces


def detail(state: ReviewState, item_id: str) -> dict[str, Any]:
    """An item with its text cut into highlighted segments (spans computed if missing)."""
    item = state.queue.get(item_id)
    if item["spans"] is None and item["text"] is not None:
        model = model_of(state.settings, item["model_version"])
        if model is not None:
            spans = spans_of(model, item["text"])
            state.queue.set_spans(item_id, spans)
            item["spans"] = spans
    item["segments"] = segments(item["text"] or "", item["spans"])
    item["spans_note"] = (
        None
        if item["spans"] is not None
        else f"no spans: model {item['model_version']} is not in {state.settings.artifacts_dir}"
    )
    return item


def listing(
    state: ReviewState, who: Who, filters: Filters, sort: str, offset: int, limit: int
) -> dict[str, Any]:
    """The queue page's data: one page of items, the counts and the moderator."""
    if sort not in SORTS:
        raise HTTPException(422, {"error": f"sort must be one of {', '.join(SORTS)}"})
    items = state.queue.page(filters, sort, limit, offset)
    return {
        "moderator": who.name,
        "open": state.open,
        "filters": {k: v for k, v in vars(filters).items()},
        "sort": sort,
        "offset": offset,
        "items": items,
        "matching": state.queue.count(filters),
        "stats": state.queue.stats(who.name),
        "labels": list(LABELS),
        "lease_seconds": state.settings.review_lease_seconds,
    }


def queue_json(
    state: State,
    who: Reader,
    filters: Selected,
    sort: str = "score",
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=0, le=500)] = PAGE,
) -> dict[str, Any]:
    """The queue as JSON: the twin of the page (same filters)."""
    return listing(state, who, filters, sort, offset, limit)


def queue_page(
    request: Request,
    state: State,
    filters: Selected,
    sort: str = "score",
    offset: Annotated[int, Query(ge=0)] = 0,
    item: str | None = None,
) -> Response:
    """The queue page: the list, the selected item and the keys."""
    who, fresh = _page_session(request, state)
    if who is None:
        return RedirectResponse("/signin", status_code=303)
    data = listing(state, who, filters, sort, offset, PAGE)
    selected = _selected(state, who, data["items"], item)
    if item is not None and selected is not None and all(i["id"] != item for i in data["items"]):
        data["items"].insert(0, {k: v for k, v in selected.items() if k != "segments"})
    context = {
        **data,
        "csrf": who.csrf,
        "selected": selected,
        "threads": state.queue.threads(),
        "states": [*STATES, "all"],
        "bands": BANDS,
        "sorts": SORTS,
        "query": urlencode({k: v for k, v in request.query_params.items() if k != "item"}),
    }
    response = state.templates.TemplateResponse(request, "queue.html", context)
    if fresh is not None:
        _set_cookie(response, fresh)
    return response


def _selected(
    state: ReviewState, who: Who, items: list[dict[str, Any]], wanted: str | None
) -> dict[str, Any] | None:
    """The item the page opens on: the one asked for, else the first nobody else has open."""
    if wanted is not None:
        try:
            return detail(state, wanted)
        except NotFound:
            pass
    free = [i for i in items if i["leased_by"] in (None, who.name)]
    return detail(state, (free or items)[0]["id"]) if items else None


def _page_session(request: Request, state: ReviewState) -> tuple[Who | None, str | None]:
    """The page's moderator; without keys, a new session for the one moderator if needed."""
    token = request.cookies.get(COOKIE)
    found = state.queue.session(token) if token else None
    if found is not None:
        return Who(*found), None
    if not state.open:
        return None, None
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    state.queue.save_session(token, state.moderator, csrf, SESSION_SECONDS)
    return Who(state.moderator, csrf), token


def _set_cookie(response: Response, token: str) -> None:
    response.set_cookie(
        COOKIE, token, max_age=int(SESSION_SECONDS), httponly=True, samesite="strict", path="/"
    )


def item_json(item_id: str, state: State, who: Reader) -> dict[str, Any]:
    """One item as JSON: text, context, scores, spans, labels, history."""
    return detail(state, item_id)


def item_page(item_id: str, request: Request, state: State) -> Response:
    """The queue page opened on one item."""
    return RedirectResponse(f"/?{urlencode({'item': item_id, 'state': 'all'})}", 303)


def lease(item_id: str, state: State, who: Moderator) -> dict[str, Any]:
    """Open an item: it is this moderator's for review_lease_seconds (409 if someone's)."""
    state.queue.lease(item_id, who.name)
    return detail(state, item_id)


def decide(item_id: str, body: DecisionIn, state: State, who: Moderator) -> dict[str, Any]:
    """Approve or reject an item with its labels (409 if someone else changed or holds it)."""
    item = state.queue.decide(item_id, who.name, body.decision, body.labels, body.rev)
    return {"item": item, "stats": state.queue.stats(who.name)}


def relabel(item_id: str, body: LabelsIn, state: State, who: Moderator) -> dict[str, Any]:
    """Correct an item's labels (stored as human labels at once if it is decided)."""
    return {"item": state.queue.relabel(item_id, who.name, body.labels, body.rev)}


def undo(state: State, who: Moderator) -> dict[str, Any]:
    """Undo this moderator's last decision or correction (a bulk action as a whole)."""
    items = state.queue.undo(who.name)
    return {"undone": items, "stats": state.queue.stats(who.name)}


def bulk(body: BulkIn, state: State, who: Moderator) -> dict[str, Any]:
    """Decide every pending item of a score range, if it still holds the confirmed count."""
    low, high = sorted((body.low, body.high))
    filters = Filters("pending", body.label, body.band, body.thread or None, low, high)
    decided = state.queue.bulk(filters, body.decision, who.name, body.count)
    return {"decided": len(decided), "stats": state.queue.stats(who.name)}


def signin_page(request: Request, state: State, error: str | None = None) -> Response:
    """The sign-in form (a moderator's key)."""
    if state.open:
        return RedirectResponse("/", 303)
    context = {"error": error, "csrf": None, "moderator": None, "open": False}
    return state.templates.TemplateResponse(
        request, "signin.html", context, status_code=401 if error else 200
    )


async def signin(request: Request, state: State) -> Response:
    """Check the key from the form; a good one starts a session named after its holder."""
    origin = request.headers.get("origin")
    if origin is not None and origin.split("://", 1)[-1] != request.headers.get("host"):
        raise HTTPException(403, {"error": "sign-in from another site refused"})
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    key = (form.get("key") or [""])[0].strip()
    if state.open:
        return RedirectResponse("/", 303)
    if not key or not key_matches(key, list(state.keys)):
        return signin_page(request, state, "That key is not a moderator's key.")
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    state.queue.save_session(token, _holder(state.keys, key), csrf, SESSION_SECONDS)
    response = RedirectResponse("/", 303)
    _set_cookie(response, token)
    return response


def signout(request: Request, state: State, who: Moderator) -> Response:
    """End this browser's session."""
    token = request.cookies.get(COOKIE)
    if token:
        state.queue.end_session(token)
    response = JSONResponse({"signed_out": who.name})
    response.delete_cookie(COOKIE, path="/")
    return response


async def queue_error(request: Request, exc: Exception) -> JSONResponse:
    """A QueueError as JSON: 404 not found, 409 conflict, 422 otherwise."""
    status = 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, Conflict) else 422
    return JSONResponse({"detail": {"error": str(exc)}}, status_code=status)


class LoopbackOnly:
    """Without keys, answer only requests addressed to a loopback name (no DNS rebinding)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """421 for a Host header that is not 127.0.0.1, localhost or [::1]."""
        if scope["type"] == "http":
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if name not in LOOPBACK:
                error = {"detail": {"error": "without keys this page answers on loopback only"}}
                await JSONResponse(error, status_code=421)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def templates() -> Jinja2Templates:
    """The page templates, autoescaped (comment text is always rendered as text)."""
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.filters["pct"] = lambda p: f"{100 * float(p):.0f}"
    return Jinja2Templates(env=env)


def create_review_app(settings: Settings, moderator: str) -> FastAPI:
    """The review page over the queue in settings.review_db and the labels in data_dir."""
    app = FastAPI(title="moderate review", version="1", docs_url=None, redoc_url=None)
    queue = Queue(settings.review_db, LabelStore(settings.data_dir), settings.review_lease_seconds)
    keys = read_key_names(settings.api_keys, settings.api_key_file)
    app.state.review = ReviewState(queue, keys, moderator, settings, templates())
    app.add_exception_handler(QueueError, queue_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.get("/", response_class=HTMLResponse)(queue_page)
    app.get("/queue.json")(queue_json)
    app.get("/items/{item_id}.json")(item_json)
    app.get("/items/{item_id}", response_class=HTMLResponse)(item_page)
    app.post("/items/{item_id}/lease")(lease)
    app.post("/items/{item_id}/decision")(decide)
    app.post("/items/{item_id}/labels")(relabel)
    app.post("/undo")(undo)
    app.post("/bulk")(bulk)
    app.get("/signin", response_class=HTMLResponse)(signin_page)
    app.post("/signin", response_class=HTMLResponse)(signin)
    app.post("/signout")(signout)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_middleware(BodyLimitMiddleware, maximum=settings.max_body_bytes)
    if not keys:
        app.add_middleware(LoopbackOnly)
    app.add_middleware(ServerErrors)
    return app
