"""``epmscan demo``: six emulated Exchange servers on loopback, checked against a policy."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from epmscan.cli.console import (
    ConsoleArgs,
    exit_with_usage_error,
    stderr_console,
    with_console_options,
)
from epmscan.errors import UsageError
from epmscan.report.check_console import print_check


@with_console_options
def demo_command(
    epm_port: Annotated[
        int | None,
        typer.Option("--epm-port", min=1, max=65535, help="Endpoint mapper port of the demo lab."),
    ] = None,
    *,
    console: ConsoleArgs,
) -> None:
    """Six emulated Exchange servers on loopback, checked against a demo policy."""
    from epmscan.app.demo import PLAN, DemoSite, run_demo  # the lab only when a demo runs

    out = console.output()

    def started(site: DemoSite) -> None:
        heading = Text("epmscan demo", style="bold")
        heading.append(
            f": six emulated Exchange 2010 servers on {site.label}, endpoint mapper on port"
            f" {site.epm_port}; nothing leaves this machine."
        )
        out.line(heading)
        for planned, address in zip(PLAN, site.addresses, strict=True):
            out.line(f"  {address}  {planned.story}")

    try:
        outcome = run_demo(epm_port, started)
    except UsageError as exc:
        exit_with_usage_error(str(exc))
    out.line()
    print_check(outcome.reports, out)
    command = f"epmscan check --policy {outcome.folder}/policy.toml --port {outcome.epm_port}"
    if outcome.problems:
        err = stderr_console()
        for problem in outcome.problems:
            err.print(f"epmscan demo: not as planned: {problem}", markup=False)
        raise typer.Exit(1)
    out.line(
        f"\nThe demo ran as planned: every planned problem was found.\n"
        f"To try it: `epmscan lab --config {outcome.folder}/lab.toml --epm-port "
        f"{outcome.epm_port}` in one terminal (its servers are on 127.0.10.1-6), then "
        f"`{command}` in another: it would exit {int(outcome.check_would_fail)}."
    )
