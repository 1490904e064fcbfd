"""``epmscan scan``: many hosts, streamed results, live progress, clean interruption."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from typing import Generic, TypeVar

import typer

from epmscan.app.observer import ObserverGroup, RunObserver
from epmscan.app.outputs import SILENT_STATUSES, host_status
from epmscan.app.scan import run_scan
from epmscan.cli import options as opt
from epmscan.cli.console import (
    ConsoleArgs,
    exit_code_for_signal,
    exit_with_usage_error,
    stderr_console,
    with_console_options,
)
from epmscan.cli.exit_codes import EXIT_FINDINGS, EXIT_OK
from epmscan.cli.parsing import parse_port_list
from epmscan.cli.progress import ProgressBar
from epmscan.engine.loop import loop_name
from epmscan.errors import UsageError
from epmscan.models import HostResult, SecurityHostReport
from epmscan.report.console import ScanRow, print_scan_summary, scan_row
from epmscan.report.security_console import SecurityTally, print_security
from epmscan.settings import OutputSettings, ScanSettings

R = TypeVar("R")
K = TypeVar("K")

SCAN_DEFAULTS = ScanSettings()
"""``scan``'s defaults, read by its options."""
DEFAULT_FAIL_ON = SCAN_DEFAULTS.findings.fail_on.value if SCAN_DEFAULTS.findings.fail_on else None

TABLE_LIMIT = 100
"""Results kept for the closing display (a screenful); the output files get every host."""


class ClosingTable(RunObserver[R], Generic[R, K]):
    """Keeps what the closing display shows: the first hosts that answered, and (when
    asked) the first of those that did not; counts the rest."""

    def __init__(
        self, keep: Callable[[R], K], *, silent_kept: int = 0, limit: int = TABLE_LIMIT
    ) -> None:
        self.keep = keep
        self.limit = limit
        self.silent_kept = silent_kept
        self.kept: list[K] = []
        self.silent: list[K] = []
        self.dropped = 0
        """Hosts that answered but were not kept (the files have them)."""

    def host_done(self, result: R) -> None:
        if host_status(result) in SILENT_STATUSES:
            if len(self.silent) < self.silent_kept:
                self.silent.append(self.keep(result))
        elif len(self.kept) < self.limit:
            self.kept.append(self.keep(result))
        else:
            self.dropped += 1


class StderrWarnings(RunObserver[R], Generic[R]):
    """Warnings as one line each on stderr."""

    def warning(self, message: str) -> None:
        stderr_console().print(f"epmscan: warning: {message}", markup=False)


def console_observers(args: opt.ScanArgs, console: ConsoleArgs, label: str) -> list[RunObserver[R]]:
    """The warnings line and, on a terminal, the progress bar."""
    observers: list[RunObserver[R]] = [StderrWarnings()]
    if not (args.no_progress or console.quiet) and sys.stderr.isatty():
        observers.append(ProgressBar(label))
    return observers


def document_on_stdout(outputs: OutputSettings) -> bool:
    """True when a file output is ``-``: stdout carries it, human lines go to stderr."""
    return "-" in (outputs.jsonl, outputs.json_document, outputs.csv, outputs.save)


def output_files(outputs: OutputSettings) -> list[str]:
    """The files a run writes (named in the console's pointers)."""
    paths = (outputs.save, outputs.json_document, outputs.jsonl, outputs.csv)
    return [p for p in paths if p and p != "-"]


class SecurityTallyObserver(RunObserver[SecurityHostReport]):
    """Counts every host's findings and roles for the closing line."""

    def __init__(self) -> None:
        self.tally = SecurityTally()

    def host_done(self, result: SecurityHostReport) -> None:
        self.tally.add(result)


def security_row(report: SecurityHostReport) -> tuple[ScanRow, SecurityHostReport]:
    """What the console keeps of a host's security view: its row and its findings (the
    dump's endpoints are in the files only)."""
    slim = replace(report, host=replace(report.host, endpoints=()))
    return scan_row(report.host), slim


@opt.with_scan_options(SCAN_DEFAULTS)
@with_console_options
def scan_command(
    args: opt.ScanArgs,
    findings: opt.Findings = SCAN_DEFAULTS.findings.enabled,
    verify: opt.Verify = SCAN_DEFAULTS.findings.verify,
    fail_on: opt.ScanFailOn = DEFAULT_FAIL_ON,
    inventory: opt.Inventory = SCAN_DEFAULTS.inventory,
    inventory_ports: opt.InventoryPorts = None,
    *,
    console: ConsoleArgs,
) -> None:
    """Dump the endpoint mapper of every host in TARGETS, many at once.

    With --findings: the roles each host appears to play and the risky interfaces it
    exposes, by severity. With --inventory: what each advertised TCP port serves, also
    interfaces the endpoint mapper does not list. Exit 0 (also with findings, unless
    --fail-on), 1: a finding at or above --fail-on, 2: usage error.
    """
    if not (args.targets or args.input_lists):
        exit_with_usage_error("no targets given (TARGETS... or -iL FILE)")
    try:
        extra_ports = (
            parse_port_list(inventory_ports, "--inventory-ports")
            if inventory_ports is not None
            else ()
        )
        settings = replace(
            args.to_settings(),
            findings=opt.findings_settings(findings, verify, fail_on),
            inventory=inventory or bool(extra_ports),
            inventory_ports=extra_ports,
        )
        if settings.findings.enabled:
            _security_scan(args, settings, console)
        table: ClosingTable[HostResult, ScanRow] = ClosingTable(scan_row)
        observers = [*console_observers(args, console, "scan"), table]
        outcome = run_scan(settings, ObserverGroup(observers))
    except UsageError as exc:
        exit_with_usage_error(str(exc))
    out = console.output(stderr=document_on_stdout(settings.outputs))
    print_scan_summary(
        table.kept,
        outcome.summary,
        out,
        dropped=table.dropped,
        seed=outcome.info.seed,
        loop=loop_name() if console.verbose else "",
    )
    raise typer.Exit(exit_code_for_signal(outcome.signal) or EXIT_OK)


def _security_scan(args: opt.ScanArgs, settings: ScanSettings, console: ConsoleArgs) -> None:
    """``scan --findings``: the hosts' table, then roles and findings; exits."""
    table: ClosingTable[SecurityHostReport, tuple[ScanRow, SecurityHostReport]] = ClosingTable(
        security_row
    )
    tally = SecurityTallyObserver()
    observers = [*console_observers(args, console, "scan"), table, tally]
    outcome = run_scan(settings, ObserverGroup(observers))
    out = console.output(stderr=document_on_stdout(settings.outputs))
    print_scan_summary(
        [row for row, _ in table.kept],
        outcome.summary,
        out,
        dropped=table.dropped,
        seed=outcome.info.seed,
        loop=loop_name() if console.verbose else "",
    )
    print_security(
        [report for _, report in table.kept],
        out,
        tally=tally.tally,
        files=output_files(settings.outputs),
        verbose=console.verbose,
    )
    signal_exit = exit_code_for_signal(outcome.signal)
    if signal_exit is not None:
        raise typer.Exit(signal_exit)
    raise typer.Exit(EXIT_FINDINGS if outcome.failed else EXIT_OK)
