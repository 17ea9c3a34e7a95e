"""The `moderate` command: one Typer app; each stage registers its own commands."""

from __future__ import annotations

import importlib.metadata

import typer

from moderate.cli import labels_cmds, model_cmds, review_cmds, seeds_cmds, service_cmds


def build_app() -> typer.Typer:
    """Assemble the CLI from the stages' command modules."""
    app = typer.Typer(
        name="moderate",
        help="Offline, explainable comment moderation: toxicity and conspiracy.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode="markdown",
    )

    @app.callback()
    def root() -> None:
        """Offline, explainable comment moderation: toxicity and conspiracy."""

    @app.command()
    def version() -> None:
        """Print the installed version of moderate.

        Example: moderate version
        """
        typer.echo(importlib.metadata.version("moderate"))

    for stage in (seeds_cmds, labels_cmds, model_cmds, service_cmds, review_cmds):
        stage.register(app)
    return app


def main() -> None:
    """Console-script entry point."""
    build_app()()
