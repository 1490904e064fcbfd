"""``epmscan firewall``: the exact rules to open for a saved result."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from epmscan.checks.diff import host_objects
from epmscan.checks.findings import build_report
from epmscan.checks.firewall import FORMATS, render_firewall
from epmscan.cli.common import exit_with_usage_error
from epmscan.engine.exchange import resolved_ports
from epmscan.errors import UsageError
from epmscan.models import ExchangeHostReport, HostStatus
from epmscan.report.serialize import exchange_from_dict


def load_reports(path: str) -> list[ExchangeHostReport]:
    """Exchange reports from a saved ``check`` or ``scan`` result.

    A plain scan result has no probes: its Exchange ports come from the dump alone.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    hosts = host_objects(text, path)
    reports: list[ExchangeHostReport] = []
    for number, data in enumerate(hosts, 1):
        try:
            report = exchange_from_dict(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"{path}: host {number} is malformed ({exc})") from None
        if report.host.status is not HostStatus.OK:
            continue
        if "exchange" not in data:
            report = build_report(report.host, resolved_ports(report.host.endpoints, ()), ())
        reports.append(report)
    if not reports:
        raise UsageError(f"{path}: no host in it answered; nothing to write rules for")
    return reports


def firewall_command(
    result: Annotated[str, typer.Argument(help="A saved result (check/scan --save or --jsonl).")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help=f"One of: {', '.join(FORMATS)}.")
    ] = "netsh",
    source: Annotated[
        str,
        typer.Option("--source", help="Client addresses allowed in: any, an address or a CIDR."),
    ] = "any",
    allow_dynamic: Annotated[
        bool,
        typer.Option(
            "--allow-dynamic",
            help="Open the whole dynamic range where a port is dynamic (not recommended).",
        ),
    ] = False,
) -> None:
    """Turn a result into firewall rules: TCP 135, the static ports, 6001/6002/6004."""
    try:
        text = render_firewall(
            load_reports(result), fmt, source=source, allow_dynamic=allow_dynamic
        )
    except UsageError as exc:
        exit_with_usage_error(str(exc))
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
