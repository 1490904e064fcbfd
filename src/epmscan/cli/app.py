"""The ``epmscan`` typer app: every command registered, usage errors made one line."""

from __future__ import annotations

import functools
import importlib
import io
import os
import sys
from collections.abc import Callable
from typing import Annotated, Any, TextIO

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


class StdoutWriteError(OSError):
    """A write to standard output failed: its reader has gone (``| head``), a full disk."""


class ReportingStdout:
    """Standard output whose failed writes raise :class:`StdoutWriteError` (errno kept),
    told apart from every other error; everything else is the stream's own."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as exc:
            raise StdoutWriteError(exc.errno, exc.strerror) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            raise StdoutWriteError(exc.errno, exc.strerror) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def quiet_failed_stdout() -> None:
    """Point stdout at /dev/null once a write to it failed: what is still buffered then
    goes nowhere, instead of failing again (and loudly) when the program exits."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _stdout_failed(error: OSError) -> int:
    quiet_failed_stdout()
    try:
        sys.stderr.write(f"epmscan: cannot write standard output: {error.strerror or error}\n")
        sys.stderr.flush()
    except OSError:
        pass
    return EXIT_USAGE


def _stdout_guarded(command: Callable[..., Any]) -> Callable[..., Any]:
    """``command`` with a failed write to stdout made one line and exit 2, as every output
    that cannot be written (click makes a closed pipe exit 1 without a word, which is a
    command's own "not as expected", and anything else a traceback)."""

    @functools.wraps(command)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except StdoutWriteError as error:
            sys.exit(_stdout_failed(error))

    return guarded


for _registered in app.registered_commands:
    if _registered.callback is not None:
        _registered.callback = _stdout_guarded(_registered.callback)


def buffered_std_streams() -> None:
    """Put a buffer under stdout and stderr when Python runs unbuffered.

    Under ``python -u`` or ``PYTHONUNBUFFERED=1`` (common in containers) the text streams
    sit right on the file descriptors, and a text stream drops what a short ``write(2)``
    did not take: a pipe full at the time keeps the first 64 KiB of a JSON document and
    loses the rest, silently. A buffered writer retries until everything is written;
    line buffering keeps each line going out as it is printed.
    """
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        raw = getattr(stream, "buffer", None)
        if isinstance(stream, io.TextIOWrapper) and isinstance(raw, io.RawIOBase):
            stream.flush()
            wrapped = io.TextIOWrapper(
                io.BufferedWriter(raw),
                encoding=stream.encoding,
                errors=stream.errors,
                line_buffering=True,
            )
            setattr(sys, name, wrapped)


def run() -> None:
    """Run the app on ``sys.argv``: every usage error is one line on stderr and exit 2."""
    buffered_std_streams()
    sys.stdout = ReportingStdout(sys.stdout)
    try:
        code: Any = _run_app()
    except SystemExit as stop:
        code = stop.code
    except StdoutWriteError as error:  # outside every command: help, --version
        code = _stdout_failed(error)
    try:
        sys.stdout.flush()
    except StdoutWriteError as error:
        if code in (0, None):
            code = _stdout_failed(error)
        else:  # the command has said why it failed
            quiet_failed_stdout()
    sys.exit(code)


def _run_app() -> int:
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
    return code if isinstance(code, int) else 0


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
