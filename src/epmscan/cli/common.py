"""Small things every command shares: one-line errors and exit codes."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def exit_with_usage_error(message: str) -> NoReturn:
    """Print ``epmscan: MESSAGE`` on one line to stderr and exit 2."""
    stderr_console().print(f"epmscan: {message}", markup=False)
    raise typer.Exit(EXIT_USAGE)
