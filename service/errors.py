"""Error answers that never carry comment text: not to the log, not back in a 422.

FastAPI's own 422 echoes each invalid value (`input`), which may be a comment, a NaN
(JSON cannot render it, so the 422 itself became a 500) or a lone surrogate (UTF-8
cannot encode it); an unhandled exception is logged by the server with its message and
chained exceptions, which may quote the request. Here a 422 names only where and what
was wrong, and an unexpected error is logged by type and place and answered with a 500.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("moderate.service")


def _location(part: Any) -> str | int:
    return part if isinstance(part, int) else str(part)


def safe_errors(errors: Any) -> list[dict[str, Any]]:
    """Each validation error as its location, message and type; never the value sent."""
    return [
        {
            "loc": [_location(part) for part in error.get("loc", ())],
            "msg": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        for error in errors
    ]


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """The 422 of a request body or parameter that does not fit the schema."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return JSONResponse({"detail": safe_errors(errors)}, status_code=422)


class ServerErrors:
    """Outermost middleware: an unexpected exception becomes a logged line and a 500.

    The log line holds the exception's type and the code path (file, line, function),
    never its message, which can quote what the request held.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app; answer 500 (if nothing was sent yet) instead of re-raising."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            route = getattr(scope.get("route"), "path", "unmatched")
            frames = traceback.extract_tb(exc.__traceback__)
            where = " <- ".join(f"{f.filename}:{f.lineno} {f.name}" for f in reversed(frames[-4:]))
            log.error("unexpected %s answering %s: %s", type(exc).__name__, route, where)
            if not started:
                await JSONResponse({"detail": {"error": "internal error"}}, status_code=500)(
                    scope, receive, send
                )
