"""The ``epmscan`` command line: typer commands over the core, rich for the console."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from epmscan import __version__
from epmscan.cli import commands

app = typer.Typer(
    name="epmscan",
    help="Ask MS-RPC endpoint mappers which ports Windows and Exchange servers really use.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"epmscan {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """epmscan: MS-RPC endpoint mapper probe and scanner."""


commands.register(app)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
