"""What every command shares on the console: consoles, one-line errors, exit codes."""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Annotated, Any, NoReturn, TypeVar, get_type_hints

import typer
from rich.console import Console

from epmscan.cli.exit_codes import (
    EXIT_SIGINT,
    EXIT_SIGTERM,
    EXIT_USAGE,
)
from epmscan.report.output import Output

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


def exit_with_usage_error(message: str, *, exit: Callable[[int], Any] | None = None) -> NoReturn:
    """Print ``epmscan: MESSAGE`` on one line to stderr and exit 2."""
    sys.stderr.write(f"epmscan: {' '.join(message.split())}\n")
    sys.stderr.flush()
    if exit is not None:
        exit(EXIT_USAGE)
    raise typer.Exit(EXIT_USAGE)


PlainOption = Annotated[
    bool | None,
    typer.Option(
        "--plain/--table",
        help="One record per line, tab-separated (the default off a terminal), or tables.",
    ),
]
WidthOption = Annotated[
    int | None, typer.Option("--width", min=40, max=1000, help="Console width in columns.")
]
QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print nothing but errors (files still written).")
]
VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="Print more: every host, timings, notes.")
]


@dataclass(frozen=True)
class ConsoleArgs:
    """How a command prints: plain or tables, width, quiet, verbose."""

    plain: bool | None = None
    """None: plain off a terminal, tables on one."""
    width: int | None = None
    quiet: bool = False
    verbose: bool = False

    def output(self, *, stderr: bool = False) -> Output:
        """The :class:`Output` on stdout (or stderr, when stdout carries a document)."""
        stream = sys.stderr if stderr else sys.stdout
        plain = not stream.isatty() if self.plain is None else self.plain
        no_color = bool(os.environ.get("NO_COLOR"))
        console = Console(
            file=stream,
            markup=False,
            highlight=False,
            width=self.width,
            color_system=None if no_color else "auto",
            no_color=no_color,
            soft_wrap=plain,
            emoji=False,
        )
        return Output(console, plain=plain, quiet=self.quiet)


CONSOLE_OPTIONS: dict[str, Any] = {
    "plain": PlainOption,
    "width": WidthOption,
    "quiet": QuietOption,
    "verbose": VerboseOption,
}

CommandFn = TypeVar("CommandFn", bound=Callable[..., None])


def with_console_options(command: CommandFn) -> CommandFn:
    """Give a command ``--plain/--table``, ``--width``, ``-q`` and ``-v``; it receives them
    as one :class:`ConsoleArgs` in its keyword parameter ``console``."""
    own = [p for p in inspect.signature(command).parameters.values() if p.name != "console"]
    hints = get_type_hints(command, include_extras=True)
    own = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in own]
    defaults = {f.name: f.default for f in fields(ConsoleArgs)}
    added = [
        inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, default=defaults[name], annotation=annotation
        )
        for name, annotation in CONSOLE_OPTIONS.items()
    ]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        values = {name: kwargs.pop(name) for name in CONSOLE_OPTIONS}
        command(*args, console=ConsoleArgs(**values), **kwargs)

    wrapper.__signature__ = inspect.Signature(own + added)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in (*own, *added)}
    return wrapper  # type: ignore[return-value]
