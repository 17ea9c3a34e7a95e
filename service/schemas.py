"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field
from pydantic_core import PydanticCustomError

Decision = Literal["allow", "review", "block"]


def unicode_only(text: Any) -> Any:
    """Refuse a lone surrogate: JSON can escape one (\\ud800), but it is no character, and
    nothing downstream (hashing, the engine, the JSON answer) can encode it."""
    if not isinstance(text, str):
        return text  # the str validation after this one says what is wrong
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise PydanticCustomError(
            "string_surrogate",
            "lone surrogate at position {position}: not valid Unicode text",
            {"position": error.start},
        ) from None
    return text


Text = Annotated[str, BeforeValidator(unicode_only)]


class CommentIn(BaseModel):
    """One comment to score; without an id, a stable one is derived from position and text."""

    id: Text | None = Field(default=None, max_length=200)
    text: Text


class ScoreRequest(BaseModel):
    """Comments to score, in order; `explain` adds the spans that drove each score.

    `queue` also puts the review band in the moderators' queue (when the server allows it,
    MODERATE_REVIEW_API_QUEUE); their text is stored there only with `queue_text`.
    """

    comments: list[CommentIn]
    explain: bool = False
    queue: bool = False
    queue_text: bool = False
    second_opinion: bool = Field(
        default=False,
        description="re-score each label's unsure band with the model's second opinion "
        "(the sentence encoder's head; 409 when the server cannot)",
    )


class SpanOut(BaseModel):
    """A stretch of the original text and how much it pushed a label's score (+) or down (-)."""

    start: int
    end: int
    text: str
    weight: float


class OpinionOut(BaseModel):
    """With second_opinion: a label's n-gram score, the second opinion's (null when it was
    not asked, outside the label's band) and which of the two decided (`score` is it)."""

    first_score: float
    second_score: float | None
    decided_by: Literal["ngrams", "second_opinion"]


class ScoredComment(BaseModel):
    """Scores (calibrated probabilities), decisions and optional spans of one comment.

    The spans always come from the n-gram model; with second_opinion, `second_opinion`
    says per label whether the second opinion re-scored and decided the comment.
    """

    id: str
    scores: dict[str, float]
    decisions: dict[str, Decision]
    spans: dict[str, list[SpanOut]] | None = None
    model_version: str
    second_opinion: dict[str, OpinionOut] | None = None


class ScoreResponse(BaseModel):
    """One result per comment of the request, same order."""

    model_version: str
    comments: list[ScoredComment]
    queued: int | None = Field(default=None, description="review-band comments newly queued")


class ThreadRequest(BaseModel):
    """A raw thread page (article then comments), split as in the seeds stage."""

    text: Text
    name: Text = Field(default="thread", min_length=1, max_length=200)
    explain: bool = False


class ThreadComment(ScoredComment):
    """A scored comment of a thread page, with where it sits on the page."""

    position: int
    text: str
    author: str | None = None
    parent: str | None = None
    lines: tuple[int, int]


class ThreadResponse(BaseModel):
    """The page's article title and its scored comments in page order."""

    name: str
    title: str
    model_version: str
    comments: list[ThreadComment]


class ModelInfo(BaseModel):
    """What is serving: version, labels, decision thresholds and headline metrics;
    `second_opinion`: the labels it re-scores and their bands, and whether it can run here."""

    version: str
    labels: list[str]
    thresholds: dict[str, dict[str, float]]
    metrics: dict[str, Any]
    second_opinion: dict[str, Any] | None = None


class ReloadResponse(BaseModel):
    """The version loaded and the one before it; with several workers, `restarting` says
    they are being replaced one by one (each loads `current`): poll /readyz to see them."""

    version: str
    previous: str | None
    workers: int
    restarting: bool


class Health(BaseModel):
    """Liveness or readiness, with the model version when one is loaded."""

    status: Literal["ok", "unready"]
    model_version: str | None = None


class ErrorDetail(BaseModel):
    """What went wrong; `limit` names the setting that was exceeded, if any."""

    error: str
    limit: str | None = None
    max: int | None = None


class ErrorBody(BaseModel):
    """Every 4xx/5xx raised by the service has this shape."""

    detail: ErrorDetail
