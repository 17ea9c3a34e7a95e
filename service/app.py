"""The moderation HTTP API: `create_app(settings)` builds a FastAPI app around one model."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import JSONResponse, Response

from moderate.model.predict import Model, Scored
from moderate.seeds.comments import comment_id
from moderate.seeds.split import split_thread
from moderate.service.batcher import Batcher
from moderate.service.docs import offline_docs_app
from moderate.service.errors import ServerErrors, validation_error
from moderate.service.holder import ModelHolder, ReloadRefused
from moderate.service.limits import (
    BodyLimitMiddleware,
    check_comments,
    check_explain,
    check_second_opinion,
    key_matches,
    read_keys,
)
from moderate.service.metrics import Metrics, MetricsMiddleware
from moderate.service.review.queue import Queue
from moderate.service.schemas import (
    ErrorBody,
    Health,
    ModelInfo,
    OpinionOut,
    ReloadResponse,
    ScoredComment,
    ScoreRequest,
    ScoreResponse,
    SpanOut,
    ThreadComment,
    ThreadRequest,
    ThreadResponse,
)
from moderate.settings import Settings

log = logging.getLogger("moderate.service")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the JSON errors a route can answer with."""
    return {code: {"model": ErrorBody} for code in codes}


@dataclass
class ServiceState:
    """Everything a request handler needs, built once per app."""

    settings: Settings
    holder: ModelHolder
    metrics: Metrics
    keys: tuple[str, ...]
    batcher: Batcher
    queue: Queue | None = None  # the review queue, opened on the first "queue": true


async def get_state(request: Request) -> ServiceState:
    """The app's state (a typed dependency; async like the others, so no threadpool hop)."""
    state: ServiceState = request.app.state.service
    return state


State = Annotated[ServiceState, Depends(get_state)]


def require_key(keys: Sequence[str], key: str | None) -> None:
    """401 unless keys are configured off or the X-API-Key header holds one of them."""
    if keys and (key is None or not key_matches(key, keys)):
        raise HTTPException(
            401,
            {"error": "missing or invalid API key (send it in the X-API-Key header)"},
            headers={"WWW-Authenticate": "ApiKey"},
        )


class KeyedRoute(APIRoute):
    """A route that checks the API key before FastAPI reads and validates the body, so a
    caller without a key gets the 401 and learns nothing about the body's schema."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The route's handler behind the key check."""
        handler = super().get_route_handler()

        async def keyed(request: Request) -> Response:
            state: ServiceState = request.app.state.service
            require_key(state.keys, request.headers.get(api_key_header.model.name))
            return await handler(request)

        return keyed


async def get_model(state: State) -> Model:
    """The serving model, taken once for the whole request (a reload cannot split it)."""
    model = state.holder.model
    if model is None:
        raise HTTPException(503, {"error": f"no model loaded: {state.holder.error}"})
    return model


Serving = Annotated[Model, Depends(get_model)]


def _spans(scored: Scored) -> dict[str, list[SpanOut]] | None:
    if scored.spans is None:
        return None
    return {
        label: [SpanOut(start=s.start, end=s.end, text=s.text, weight=s.weight) for s in spans]
        for label, spans in scored.spans.items()
    }


def _opinions(scored: Scored) -> dict[str, OpinionOut] | None:
    if scored.second_opinion is None:
        return None
    return {
        label: OpinionOut(
            first_score=o.first_score,
            second_score=o.second_score,
            decided_by=o.decided_by,  # type: ignore[arg-type]
        )
        for label, o in scored.second_opinion.items()
    }


async def _score(
    state: ServiceState,
    model: Model,
    texts: Sequence[str],
    explain: bool,
    second_opinion: bool = False,
) -> list[Scored]:
    check_comments(texts, state.settings.max_comments, state.settings.max_comment_chars)
    if explain:
        check_explain(texts, state.settings.max_explain_chars)
    if second_opinion:
        check_second_opinion(texts, state.settings.max_second_opinion_comments)
        if problem := model.second_opinion_problem():
            raise HTTPException(409, {"error": f"no second opinion here: {problem}"})
    if not texts:
        return []
    results = await state.batcher.score(model, texts, explain, second_opinion)
    state.metrics.scored(r.decisions for r in results)
    return results


async def score(body: ScoreRequest, state: State, model: Serving) -> ScoreResponse:
    """Score comments: calibrated probabilities and allow/review/block per label, in order."""
    texts = [c.text for c in body.comments]
    results = await _score(state, model, texts, body.explain, body.second_opinion)
    comments = [
        ScoredComment(
            id=c.id if c.id is not None else comment_id("api", i, c.text),
            scores=r.scores,
            decisions=r.decisions,
            spans=_spans(r),
            model_version=r.model_version,
            second_opinion=_opinions(r),
        )
        for i, (c, r) in enumerate(zip(body.comments, results, strict=True))
    ]
    queued = None
    if body.queue:
        queued = await run_in_threadpool(_enqueue, state, comments, texts, body.queue_text)
    return ScoreResponse(model_version=model.version, comments=comments, queued=queued)


def _enqueue(
    state: ServiceState, comments: Sequence[ScoredComment], texts: Sequence[str], keep: bool
) -> int:
    """Put the review band in the moderators' queue (with the second opinion's n-gram
    scores and deciders when it was asked); 403 unless the server allows it."""
    from moderate.service.review.queue import NewItem

    if not state.settings.review_api_queue:
        raise HTTPException(403, {"error": "queueing is off (MODERATE_REVIEW_API_QUEUE=true)"})
    if not state.keys:
        raise HTTPException(403, {"error": "queueing needs API keys (MODERATE_API_KEY_FILE)"})
    if state.queue is None:
        state.queue = Queue(state.settings.review_db)
    items = [
        NewItem(
            id=c.id,
            thread="api",
            position=i,
            text=text if keep else None,
            scores=c.scores,
            decisions=dict(c.decisions),
            model_version=c.model_version,
            source_id=c.id,
            first=_opinion_part(c, "first_score"),
            decided_by=_opinion_part(c, "decided_by"),
        )
        for i, (c, text) in enumerate(zip(comments, texts, strict=True))
        if "review" in c.decisions.values()
    ]
    return state.queue.add(items, "api")


def _opinion_part(comment: ScoredComment, field: str) -> dict[str, Any] | None:
    """One field of each label's second opinion (None when it was not asked)."""
    if comment.second_opinion is None:
        return None
    return {label: getattr(o, field) for label, o in comment.second_opinion.items()}


async def score_thread(body: ThreadRequest, state: State, model: Serving) -> ThreadResponse:
    """Split a raw thread page into its title and comments, and score the comments."""
    thread = await run_in_threadpool(split_thread, body.text, body.name)
    results = await _score(state, model, [c.text for c in thread.comments], body.explain)
    comments = [
        ThreadComment(
            id=c.id,
            position=c.position,
            text=c.text,
            author=c.author,
            parent=c.parent,
            lines=c.lines,
            scores=r.scores,
            decisions=r.decisions,
            spans=_spans(r),
            model_version=r.model_version,
        )
        for c, r in zip(thread.comments, results, strict=True)
    ]
    return ThreadResponse(
        name=thread.name, title=thread.title, model_version=model.version, comments=comments
    )


async def model_info(model: Serving) -> ModelInfo:
    """The serving model: version, labels, thresholds and headline metrics."""
    metrics = model.metadata.get("metrics", {})
    return ModelInfo(
        version=model.version,
        labels=list(model.labels),
        thresholds=model.thresholds,
        metrics=metrics if isinstance(metrics, dict) else {},
        second_opinion=None if model.second is None else model.second.describe(),
    )


async def reload_model(state: State, response: Response) -> ReloadResponse:
    """Load the artifact `current` points at and swap it in; a bad one is refused (409).

    With several workers, this one checks the artifact, then asks the server to replace
    every worker one by one, as SIGHUP does (202): each replacement loads `current`.
    """
    try:
        fresh, previous = await run_in_threadpool(state.holder.reload)
    except ReloadRefused as exc:
        state.metrics.reloads.labels("refused").inc()
        serving = state.holder.model.version if state.holder.model else None
        raise HTTPException(
            409, {"error": f"artifact refused, still serving {serving}: {exc}"}
        ) from exc
    state.metrics.reloads.labels("loaded").inc()
    answer = ReloadResponse(
        version=fresh.version,
        previous=previous.version if previous else None,
        workers=state.settings.workers,
        restarting=False,
    )
    supervisor = state.settings.supervisor_pid
    if state.settings.workers > 1 and supervisor is not None:
        try:
            os.kill(supervisor, signal.SIGHUP)
        except OSError as exc:
            raise HTTPException(
                503, {"error": f"loaded here, but could not reach the other workers: {exc}"}
            ) from exc
        response.status_code = 202
        answer.restarting = True
    return answer


async def livez() -> Health:
    """The process is up."""
    return Health(status="ok")


async def readyz(state: State) -> JSONResponse:
    """Ready only when a model is loaded (503 otherwise)."""
    model = state.holder.model
    if model is None:
        return JSONResponse(Health(status="unready").model_dump(), status_code=503)
    return JSONResponse(Health(status="ok", model_version=model.version).model_dump())


async def metrics(state: State) -> Response:
    """Prometheus metrics of this process."""
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the model at startup and reload it on SIGHUP while serving."""
    state: ServiceState = app.state.service
    try:
        await run_in_threadpool(state.holder.reload)
    except ReloadRefused:
        if state.settings.require_model:
            raise
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()

    async def on_hup() -> None:
        with contextlib.suppress(ReloadRefused):
            await run_in_threadpool(state.holder.reload)
            state.metrics.reloads.labels("loaded").inc()
            return
        state.metrics.reloads.labels("refused").inc()

    def hup() -> None:
        task = loop.create_task(on_hup())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    # Signal handlers exist only in the main thread (not under TestClient): skip them there.
    hup_installed = False
    with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
        loop.add_signal_handler(signal.SIGHUP, hup)
        hup_installed = True
    try:
        yield
    finally:
        if hup_installed:
            loop.remove_signal_handler(signal.SIGHUP)
        await state.batcher.stop()


def create_app(settings: Settings) -> FastAPI:
    """Build the API around the model in settings.model_path, settings.artifacts_dir/current
    or the reference model."""
    app = offline_docs_app(  # /docs and /redoc render with no network
        title="moderate",
        summary="Offline comment moderation: toxicity and conspiracy scores with explanations.",
        version="1",
        lifespan=lifespan,
    )
    state = ServiceState(
        settings=settings,
        holder=ModelHolder(settings.artifacts_dir, settings.model_path, settings.reference_model),
        metrics=Metrics(),
        keys=read_keys(settings.api_keys, settings.api_key_file),
        batcher=Batcher(settings.max_comments),
    )
    app.state.service = state
    state.metrics.heavy.set_function(lambda: state.batcher.heavy_in_progress)
    if not state.keys:
        log.warning(
            "no API keys configured (MODERATE_API_KEYS, MODERATE_API_KEY_FILE): "
            "the API is open to anyone who can reach it"
        )
    app.add_exception_handler(RequestValidationError, validation_error)
    # The key is checked by KeyedRoute; the dependency puts it in the OpenAPI schema.
    secured = APIRouter(route_class=KeyedRoute, dependencies=[Security(api_key_header)])
    scoring = _errors(401, 413, 503)  # 422 also names max_comment_chars when it is exceeded
    secured.post("/v1/score", responses={**scoring, **_errors(403)})(score)
    secured.post("/v1/threads:score", responses=scoring)(score_thread)
    secured.get("/v1/model", responses=_errors(401, 503))(model_info)
    reloaded = {202: {"model": ReloadResponse}, **_errors(401, 409, 503)}
    secured.post("/v1/model:reload", responses=reloaded)(reload_model)
    app.include_router(secured)
    app.get("/livez")(livez)
    app.get("/readyz", response_model=Health, responses={503: {"model": Health}})(readyz)
    app.get("/metrics", response_class=Response)(metrics)
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=["X-API-Key", "Content-Type"],
        )
    app.add_middleware(BodyLimitMiddleware, maximum=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    app.add_middleware(ServerErrors)
    return app
