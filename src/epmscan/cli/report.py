"""``epmscan report``: a saved result as one self-contained HTML page."""

from __future__ import annotations

from typing import Annotated

import typer

from epmscan.app.report import write_report
from epmscan.cli.console import exit_with_usage_error, stderr_console
from epmscan.cli.exit_codes import EXIT_OK
from epmscan.errors import UsageError
from epmscan.report.text import counted
from epmscan.settings import REPORT_FULL_HOSTS, ReportSettings


def report_command(
    result: Annotated[
        str, typer.Argument(help="A saved result (scan/check --save, --json or --jsonl).")
    ],
    html: Annotated[
        str,
        typer.Option(
            "--html",
            metavar="FILE",
            help="Write the page here (- for standard output).",
        ),
    ],
    full_hosts: Annotated[
        int,
        typer.Option(
            "--full-hosts",
            min=0,
            metavar="N",
            help="Hosts shown in full, worst first; other answered hosts are counted and "
            "listed as address ranges.",
        ),
    ] = REPORT_FULL_HOSTS,
) -> None:
    """One HTML page for a saved result: summary, exposure chart, hosts, every endpoint.

    The page is self-contained (inline style and SVG, no script) and fetches nothing.
    A result saved without --findings gets its roles and findings computed from its
    endpoints (the page says so). Exit 0 when the page was written, 2 on a usage error.
    """
    settings = ReportSettings(result=result, html=html, full_hosts=full_hosts)
    try:
        outcome = write_report(settings)
    except UsageError as exc:
        exit_with_usage_error(str(exc))
    err = stderr_console()
    for note in outcome.notes:
        err.print(f"epmscan: note: {note}", markup=False)
    if html != "-":
        counts = outcome.counts
        err.print(
            f"epmscan: wrote {html} ({_size(outcome.size)}): "
            f"{counted(counts.hosts, 'host')}, {counts.full} in full",
            markup=False,
        )
    raise typer.Exit(EXIT_OK)


def _size(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 1_000_000 else f"{size / 1000:.0f} kB"
