"""Running `moderate labels ...` through the real command line parser, in-process."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

runner = CliRunner()


def run(cli: typer.Typer, *args: str | Path) -> tuple[int, str]:
    """Run `moderate labels ...`; return the exit code and stdout + stderr, unwrapped."""
    result = runner.invoke(cli, ["labels", *map(str, args)], terminal_width=200)
    return result.exit_code, result.output
