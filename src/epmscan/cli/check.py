"""``epmscan check``: are the Exchange RPC ports where the firewall expects them?"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

import typer

from epmscan.app.check import run_check
from epmscan.app.observer import ObserverGroup, RunObserver
from epmscan.cli import options as opt
from epmscan.cli.console import (
    ConsoleArgs,
    exit_code_for_signal,
    exit_with_usage_error,
    with_console_options,
)
from epmscan.cli.exit_codes import EXIT_FINDINGS, EXIT_OK
from epmscan.cli.parsing import build_policy, choices, parse_severity
from epmscan.cli.scan import (
    TABLE_LIMIT,
    ClosingTable,
    console_observers,
    document_on_stdout,
    output_files,
)
from epmscan.errors import UsageError
from epmscan.models import ExchangeHostReport, Severity
from epmscan.report.check_console import SHOWN_SILENT, CheckTally, print_check
from epmscan.settings import CheckSettings


class Tally(RunObserver[ExchangeHostReport]):
    """Counts every server's findings for the closing line."""

    def __init__(self) -> None:
        self.tally = CheckTally()

    def host_done(self, result: ExchangeHostReport) -> None:
        self.tally.add(result)


def without_endpoints(report: ExchangeHostReport) -> ExchangeHostReport:
    """The report as the console shows it: the dump's endpoints are in the files only."""
    return replace(report, host=replace(report.host, endpoints=()))


@opt.with_scan_options(CheckSettings().scan)
@with_console_options
def check_command(
    args: opt.ScanArgs,
    policy_file: Annotated[
        str | None,
        typer.Option(
            "--policy", metavar="FILE", help="TOML policy: server groups and expectations."
        ),
    ] = None,
    expect: Annotated[
        list[str] | None,
        typer.Option(
            "--expect",
            metavar="IFACE=PORT",
            help="Expected static port, e.g. mapi=60001 (repeatable).",
        ),
    ] = None,
    require_http: Annotated[
        str | None,
        typer.Option(
            "--require-http", metavar="PORTS", help="HTTP ports that must answer: 6001,6002,6004."
        ),
    ] = None,
    no_dynamic: Annotated[
        bool,
        typer.Option("--no-dynamic", help="An Exchange interface on a dynamic port is an error."),
    ] = False,
    fail_on: Annotated[
        str,
        typer.Option(
            "--fail-on",
            metavar=choices(Severity),
            help="Exit 1 at findings of this severity or worse.",
        ),
    ] = CheckSettings().fail_on.value,
    windows_range: Annotated[
        str | None,
        typer.Option(
            "--windows-range",
            metavar="LOW-HIGH",
            help="Windows dynamic range (default 49152-65535).",
        ),
    ] = None,
    exchange_range: Annotated[
        str | None,
        typer.Option(
            "--exchange-range",
            metavar="LOW-HIGH",
            help="Range Exchange 2010 setup sets (default 6005-65534).",
        ),
    ] = None,
    *,
    console: ConsoleArgs,
) -> None:
    """Resolve MAPI/NSPI/RFR on every server, prove each port, check what is expected.

    Exit 0: every server as expected; 1: a finding at or above --fail-on; 2: usage error.
    """
    silent_kept = TABLE_LIMIT if console.verbose else SHOWN_SILENT
    table: ClosingTable[ExchangeHostReport, ExchangeHostReport] = ClosingTable(
        without_endpoints, silent_kept=silent_kept
    )
    tally = Tally()
    try:
        settings = CheckSettings(
            scan=args.to_settings(),
            policy=build_policy(
                policy_file,
                list(expect or []),
                require_http,
                not no_dynamic,
                windows_range,
                exchange_range,
            ),
            fail_on=parse_severity(fail_on),
        )
        observers = [*console_observers(args, console, "check"), table, tally]
        outcome = run_check(settings, ObserverGroup(observers))
    except UsageError as exc:
        exit_with_usage_error(str(exc))
    summary = outcome.run.summary
    print_check(
        [*table.kept, *table.silent],
        console.output(stderr=document_on_stdout(settings.scan.outputs)),
        tally=tally.tally,
        interrupted=summary.interrupted,
        total=summary.targets,
        dropped=table.dropped,
        files=output_files(settings.scan.outputs),
        verbose=console.verbose,
    )
    signal_exit = exit_code_for_signal(outcome.run.signal)
    if signal_exit is not None:
        raise typer.Exit(signal_exit)
    raise typer.Exit(EXIT_FINDINGS if outcome.failed else EXIT_OK)
