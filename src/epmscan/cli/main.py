"""The ``epmscan`` console script.

Importing the commands takes a moment; Ctrl-C in that moment ends the program with 130
and no traceback, like Ctrl-C at any later point.
"""

from __future__ import annotations

import sys
from typing import Any

from epmscan.cli.exit_codes import EXIT_SIGINT


def main() -> None:
    """Console-script entry point."""
    try:
        from epmscan.cli.app import run
    except KeyboardInterrupt:
        sys.exit(EXIT_SIGINT)
    run()


def __getattr__(name: str) -> Any:
    if name == "app":  # ``from epmscan.cli.main import app`` (the typer app, for tests)
        from epmscan.cli.app import app

        return app
    raise AttributeError(name)
