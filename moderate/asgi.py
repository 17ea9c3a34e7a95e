"""The server process: `python -m moderate.asgi` runs uvicorn with the settings of the
environment, and `asgi_app` is the factory each worker calls to build its app.

Apart from the CLI package on purpose: importing the CLI imports every stage's commands
(and pyarrow with them), which a server process has no use for (measured: about 60 MB of
resident memory).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI


def asgi_app() -> FastAPI:
    """App factory for uvicorn (each worker process builds its app from the environment)."""
    from moderate.service.app import create_app
    from moderate.settings import load_settings

    return create_app(load_settings())


def main() -> None:
    """Run uvicorn on the app factory with the environment's settings (`moderate serve`)."""
    import os

    import uvicorn

    from moderate.settings import load_settings

    settings = load_settings()
    if settings.workers > 1:
        # This process supervises the workers: a reload request one of them answers is
        # sent here as SIGHUP, which replaces every worker (see service.app.reload_model).
        os.environ["MODERATE_SUPERVISOR_PID"] = str(os.getpid())
    uvicorn.run(
        "moderate.asgi:asgi_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        # A worker loads the model and the compiled engine before it answers.
        timeout_worker_healthcheck=60,
    )


if __name__ == "__main__":
    main()
