"""``epmscan demo``: six emulated Exchange servers on loopback, checked against a policy."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from epmscan.cli.console import exit_with_usage_error, output_console, stderr_console
from epmscan.errors import UsageError
from epmscan.report.check_console import print_check


def demo_command(
    epm_port: Annotated[
        int | None,
        typer.Option("--epm-port", min=1, max=65535, help="Endpoint mapper port of the demo lab."),
    ] = None,
) -> None:
    """Six emulated Exchange servers on loopback, checked against a demo policy."""
    from epmscan.app.demo import PLAN, DemoSite, run_demo  # the lab only when a demo runs

    console = output_console()

    def started(site: DemoSite) -> None:
        heading = Text("epmscan demo", style="bold")
        heading.append(
            f": six emulated Exchange 2010 servers on {site.label}, endpoint mapper on port"
            f" {site.epm_port}; nothing leaves this machine."
        )
        console.print(heading)
        for planned, address in zip(PLAN, site.addresses, strict=True):
            console.print(f"  {address}  {planned.story}")

    try:
        outcome = run_demo(epm_port, started)
    except UsageError as exc:
        exit_with_usage_error(str(exc))
    console.print()
    print_check(outcome.reports, console)
    command = f"epmscan check --policy {outcome.folder}/policy.toml --port {outcome.epm_port}"
    if outcome.problems:
        err = stderr_console()
        for problem in outcome.problems:
            err.print(f"epmscan demo: not as planned: {problem}", markup=False)
        raise typer.Exit(1)
    console.print(
        f"\nThe demo ran as planned: every planned problem was found.\n"
        f"`{command}` on the same servers would exit {int(outcome.check_would_fail)}.\n"
        f"To try it: `epmscan lab --config {outcome.folder}/lab.toml --epm-port "
        f"{outcome.epm_port}` in one terminal, that check in another.",
        soft_wrap=True,
    )
