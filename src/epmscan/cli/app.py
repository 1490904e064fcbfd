"""The ``epmscan`` typer app: every command registered, usage errors made one line."""

from __future__ import annotations

import importlib
import sys
from typing import Annotated, Any

import typer

from epmscan import __version__
from epmscan.cli import commands
from epmscan.cli.console import exit_with_usage_error
from epmscan.cli.exit_codes import EXIT_SIGINT, EXIT_USAGE

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


def run() -> None:
    """Run the app on ``sys.argv``: every usage error is one line on stderr and exit 2."""
    try:
        code = app(standalone_mode=False)
    except _USAGE_ERRORS as caught:
        exc: Any = caught
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()
            sys.exit(EXIT_USAGE)
        ctx = getattr(exc, "ctx", None)
        hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
        exit_with_usage_error(exc.format_message() + hint, exit=sys.exit)
    except _ABORTS:
        sys.exit(EXIT_SIGINT)
    except KeyboardInterrupt:
        sys.exit(EXIT_SIGINT)
    sys.exit(code if isinstance(code, int) else 0)


def _click_exceptions(name: str) -> tuple[type[Exception], ...]:
    """``name`` from click and from the click typer may carry inside itself."""
    found: list[type[Exception]] = []
    for module in ("typer._click.exceptions", "click.exceptions"):
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


_USAGE_ERRORS = _click_exceptions("UsageError")
_ABORTS = _click_exceptions("Abort")
