"""``epmscan scan``: many hosts, streamed results, live progress, clean interruption."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Generic, TypeVar

import typer

from epmscan.app.observer import ObserverGroup, RunObserver
from epmscan.app.outputs import SILENT_STATUSES, host_status
from epmscan.app.scan import run_scan
from epmscan.cli import options as opt
from epmscan.cli.console import (
    EXIT_OK,
    exit_code_for_signal,
    exit_with_usage_error,
    output_console,
    stderr_console,
)
from epmscan.cli.progress import ProgressBar
from epmscan.engine.loop import loop_name
from epmscan.errors import UsageError
from epmscan.models import HostResult
from epmscan.report.console import ScanRow, print_scan_summary, scan_row
from epmscan.report.serialize import summary_to_dict
from epmscan.settings import ScanSettings

R = TypeVar("R")
K = TypeVar("K")

TABLE_LIMIT = 100
"""Results kept for the closing display (a screenful); the output files get every host."""


class ClosingTable(RunObserver[R], Generic[R, K]):
    """Keeps what the closing display shows of the first :data:`TABLE_LIMIT` hosts."""

    def __init__(self, keep: Callable[[R], K], *, answered_only: bool) -> None:
        self.keep = keep
        self.answered_only = answered_only
        self.kept: list[K] = []
        self.dropped = 0

    def host_done(self, result: R) -> None:
        if self.answered_only and host_status(result) in SILENT_STATUSES:
            return
        if len(self.kept) < TABLE_LIMIT:
            self.kept.append(self.keep(result))
        else:
            self.dropped += 1


class StderrWarnings(RunObserver[R], Generic[R]):
    """Warnings as one line each on stderr."""

    def warning(self, message: str) -> None:
        stderr_console().print(f"epmscan: warning: {message}", markup=False)


def console_observers(args: opt.ScanArgs, label: str) -> list[RunObserver[R]]:
    """The warnings line and, on a terminal, the progress bar."""
    observers: list[RunObserver[R]] = [StderrWarnings()]
    if not args.no_progress and sys.stderr.isatty():
        observers.append(ProgressBar(label))
    return observers


@opt.with_scan_options(ScanSettings())
def scan_command(args: opt.ScanArgs) -> None:
    """Dump the endpoint mapper of every host in TARGETS, many at once."""
    if not (args.targets or args.input_lists):
        exit_with_usage_error("no targets given (TARGETS... or -iL FILE)")
    table: ClosingTable[HostResult, ScanRow] = ClosingTable(scan_row, answered_only=True)
    try:
        settings = args.to_settings()
        outcome = run_scan(settings, ObserverGroup([*console_observers(args, "scan"), table]))
    except UsageError as exc:
        exit_with_usage_error(str(exc))
    console = output_console(stderr=args.jsonl == "-")
    print_scan_summary(
        table.kept,
        summary_to_dict(outcome.summary),
        console,
        dropped=table.dropped,
        loop=loop_name(),
    )
    raise typer.Exit(exit_code_for_signal(outcome.signal) or EXIT_OK)
