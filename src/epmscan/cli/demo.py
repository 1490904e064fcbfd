"""``epmscan demo``: six emulated Exchange servers on loopback, checked against a policy."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from epmscan.cli.console import ConsoleArgs, stderr_console, with_console_options
from epmscan.report.check_console import print_check


@with_console_options
def demo_command(
    epm_port: Annotated[
        int | None, typer.Option("--epm-port", help="Endpoint mapper port of the demo lab.")
    ] = None,
    *,
    console: ConsoleArgs,
) -> None:
    """Six emulated Exchange servers on loopback, checked against a demo policy."""
    from epmscan.app.demo import PLAN, demo_lab, run_demo  # the lab only when a demo runs

    out = console.output()
    port = epm_port if epm_port is not None else demo_lab().epm_port
    heading = Text("epmscan demo", style="bold")
    heading.append(
        f": six emulated Exchange 2010 servers on 127.0.10.1-6, endpoint mapper on port {port};"
        " nothing leaves this machine."
    )
    out.line(heading)
    for planned in PLAN:
        out.line(f"  {planned.address}  {planned.story}")
    outcome = run_demo(port)
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
        f"`{command}` on the same servers would exit {int(outcome.check_would_fail)}.\n"
        f"To try it: `epmscan lab --config {outcome.folder}/lab.toml --epm-port "
        f"{outcome.epm_port}` in one terminal, that check in another."
    )
