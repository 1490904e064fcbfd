"""What every command shares on the console: consoles, one-line errors, exit codes."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_SIGINT = 130
EXIT_SIGTERM = 143

SIGNAL_EXIT = {"SIGINT": EXIT_SIGINT, "SIGTERM": EXIT_SIGTERM}


def exit_code_for_signal(name: str | None) -> int | None:
    """130 for SIGINT, 143 for SIGTERM, None when no signal ended the run."""
    return SIGNAL_EXIT.get(name) if name else None


def output_console(*, stderr: bool = False, soft_wrap: bool = False) -> Console:
    """A console for results: no markup parsing, so data such as ``ncalrpc:[epmapper]``
    or ``[::1]`` is printed as it is (styles come from ``Text`` objects only)."""
    return Console(stderr=stderr, markup=False, highlight=False, soft_wrap=soft_wrap)


def stderr_console() -> Console:
    return output_console(stderr=True, soft_wrap=True)


def exit_with_usage_error(message: str) -> NoReturn:
    """Print ``epmscan: MESSAGE`` on one line to stderr and exit 2."""
    stderr_console().print(f"epmscan: {message}", markup=False)
    raise typer.Exit(EXIT_USAGE)
