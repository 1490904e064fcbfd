"""``epmscan firewall``: the exact rules to open for a saved result."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from epmscan.app.firewall import firewall_rules
from epmscan.cli.console import exit_with_usage_error
from epmscan.cli.parsing import parse_firewall_format, parse_source
from epmscan.errors import UsageError
from epmscan.settings import FirewallFormat, FirewallSettings

FORMATS = tuple(f.value for f in FirewallFormat)


def firewall_command(
    result: Annotated[str, typer.Argument(help="A saved result (check/scan --save or --jsonl).")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help=f"One of: {', '.join(FORMATS)}.")
    ] = FirewallFormat.NETSH.value,
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
        settings = FirewallSettings(
            result=result,
            format=parse_firewall_format(fmt),
            source=parse_source(source),
            allow_dynamic=allow_dynamic,
        )
        text = firewall_rules(settings)
    except UsageError as exc:
        exit_with_usage_error(str(exc))
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
