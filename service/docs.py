"""The API's documentation pages, /docs (Swagger UI) and /redoc, on a machine with no network.

fastapi-offline serves Swagger UI's and ReDoc's scripts, styles and favicon from the copies
inside its wheel (under /static-offline-docs) instead of linking a CDN, and turns ReDoc's
Google fonts off. A Content-Security-Policy on the two pages keeps the browser from fetching
anything from another host all the same: ReDoc's menu would load the Redocly logo from its
CDN (it hides the image when that fails).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGES = ("/docs", "/redoc")
# Swagger UI starts from an inline script, both inject inline styles, ReDoc searches in a
# worker made from a blob and draws icons from data: URLs; nothing comes from another host.
POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "worker-src 'self' blob:",
    )
)


class LocalOnly:
    """Adds POLICY to the responses of the documentation pages."""

    def __init__(self, app: ASGIApp, pages: tuple[str, ...] = PAGES) -> None:
        self.app = app
        self.pages = frozenset(pages)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass other requests through untouched."""
        if scope["type"] != "http" or scope["path"] not in self.pages:
            await self.app(scope, receive, send)
            return

        async def with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["Content-Security-Policy"] = POLICY
            await send(message)

        await self.app(scope, receive, with_policy)


def offline_docs_app(**options: Any) -> FastAPI:
    """A FastAPI app (options as FastAPI's) whose /docs and /redoc load nothing from outside."""
    app = FastAPIOffline(docs_url=PAGES[0], redoc_url=PAGES[1], **options)
    app.add_middleware(LocalOnly, pages=PAGES)
    return app
