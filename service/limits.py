"""Request limits (body size, comments per request, comment length) and API-key checks."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from pathlib import Path

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class LimitExceeded(HTTPException):
    """A request over a configured limit: the JSON error names the setting and its value."""

    def __init__(self, status: int, error: str, limit: str, maximum: int) -> None:
        super().__init__(status, {"error": error, "limit": limit, "max": maximum})


def body_too_large(maximum: int) -> LimitExceeded:
    """The 413 for a body over max_body_bytes."""
    return LimitExceeded(
        413, f"request body larger than {maximum} bytes", "max_body_bytes", maximum
    )


def check_comments(texts: Sequence[str], max_comments: int, max_chars: int) -> None:
    """Raise 413 for too many comments, 422 for a comment longer than max_chars."""
    if len(texts) > max_comments:
        raise LimitExceeded(
            413,
            f"{len(texts)} comments in one request; at most {max_comments}",
            "max_comments",
            max_comments,
        )
    for i, text in enumerate(texts):
        if len(text) > max_chars:
            raise LimitExceeded(
                422,
                f"comment {i} has {len(text)} characters; at most {max_chars}",
                "max_comment_chars",
                max_chars,
            )


def check_explain(texts: Sequence[str], max_chars: int) -> None:
    """Raise 413 when explaining texts would cost more than max_chars characters."""
    total = sum(map(len, texts))
    if total > max_chars:
        raise LimitExceeded(
            413,
            f"explaining {total} characters in one request; at most {max_chars} "
            "(send fewer or shorter comments with explain, or explain: false)",
            "max_explain_chars",
            max_chars,
        )


def check_second_opinion(texts: Sequence[str], max_comments: int) -> None:
    """Raise 413 when a request asks the second opinion about more than max_comments."""
    if len(texts) > max_comments:
        raise LimitExceeded(
            413,
            f"{len(texts)} comments with second_opinion in one request; at most "
            f"{max_comments} (send fewer, or score the rest without it)",
            "max_second_opinion_comments",
            max_comments,
        )


class BodyLimitMiddleware:
    """Refuse bodies over `maximum` bytes, by Content-Length or while they stream in."""

    def __init__(self, app: ASGIApp, maximum: int) -> None:
        self.app = app
        self.maximum = maximum

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 413 early when the declared length is too big; count chunked bodies."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.maximum:
            await _send_json(send, 413, body_too_large(self.maximum).detail)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.maximum:
                # An HTTPException survives FastAPI's body parsing and becomes the 413 JSON.
                raise body_too_large(self.maximum)
            return message

        await self.app(scope, counted, send)


async def _send_json(send: Send, status: int, detail: object) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class KeyConfigError(Exception):
    """API keys configured in a way that would leave the API open or cannot be read."""


def read_keys(keys: str | None, key_file: Path | None) -> tuple[str, ...]:
    """API keys from a comma-separated list plus a file of one key per line ('#' comments).

    Fails closed: a list or file that is configured but holds no key (an empty variable,
    only commas, only comments) raises KeyConfigError instead of turning auth off.
    """
    return tuple(read_key_names(keys, key_file))


def read_key_names(keys: str | None, key_file: Path | None) -> dict[str, str]:
    """Each API key (as read_keys reads them) and the name of whoever holds it.

    In the key file, the comment after a key names its holder (`KEY  # alice`); a key
    without one, and every key of the list, is named by the start of its sha256
    (`key-1a2b3c`), which identifies it without revealing it.
    """
    found: dict[str, str] = {}
    if keys is not None:
        listed = [k.strip() for k in keys.split(",") if k.strip()]
        if not listed:
            raise KeyConfigError("MODERATE_API_KEYS is set but holds no key; refusing to start")
        found |= {key: key_name(key) for key in listed}
    if key_file is not None:
        try:
            text = key_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
            raise KeyConfigError(f"API key file {key_file}: {reason}") from None
        in_file = [(*line.split("#", 1), "")[:2] for line in text.splitlines()]
        if not any(key.strip() for key, _ in in_file):
            raise KeyConfigError(f"API key file {key_file} holds no key; refusing to start")
        for key, comment in in_file:
            if key.strip():
                found[key.strip()] = comment.strip() or key_name(key.strip())
    return found


def key_name(key: str) -> str:
    """The name of a key nobody named: `key-` and the first 6 hex digits of its sha256."""
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:6]


def key_matches(given: str, keys: Sequence[str]) -> bool:
    """Constant-time comparison against every configured key (no early exit on a match)."""
    given_bytes = given.encode()
    results = [hmac.compare_digest(given_bytes, key.encode()) for key in keys]
    return any(results)
