"""Shared fixtures of the labels tests: the `moderate labels` commands on a bare app."""

from __future__ import annotations

import pytest
import typer

from moderate.cli import labels_cmds


@pytest.fixture
def cli() -> typer.Typer:
    """The labels commands on a bare app."""
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """Test app."""

    labels_cmds.register(app)
    return app
