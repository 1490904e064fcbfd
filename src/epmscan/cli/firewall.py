"""``epmscan firewall``: the exact rules to open for a saved result."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from epmscan.app.firewall import firewall_rules
from epmscan.cli.console import exit_with_usage_error, stderr_console
from epmscan.cli.exit_codes import EXIT_FINDINGS, EXIT_OK
from epmscan.cli.parsing import build_policy, choices, parse_firewall_format, parse_sources
from epmscan.errors import UsageError
from epmscan.report.firewall_rules import left_out_lines
from epmscan.settings import FirewallFormat, FirewallSettings


def firewall_command(
    result: Annotated[str, typer.Argument(help="A saved result (check/scan --save or --jsonl).")],
    fmt: Annotated[
        str,
        typer.Option(
            "--format", "-f", metavar=choices(FirewallFormat), help="The rule language to write."
        ),
    ] = FirewallFormat.NETSH.value,
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--source",
            metavar="CIDR",
            help="Outlook clients allowed in: addresses or CIDRs (repeatable; default any).",
        ),
    ] = None,
    proxy_source: Annotated[
        list[str] | None,
        typer.Option(
            "--proxy-source",
            metavar="CIDR",
            help="RPC proxy servers: 6001/6002/6004 open to them only (repeatable).",
        ),
    ] = None,
    policy_file: Annotated[
        str | None,
        typer.Option("--policy", metavar="FILE", help="Judge the servers by this policy."),
    ] = None,
    expect: Annotated[
        list[str] | None,
        typer.Option(
            "--expect", metavar="IFACE=PORT", help="The pinned ports, e.g. mapi=60001 (repeatable)."
        ),
    ] = None,
    allow_dynamic: Annotated[
        bool,
        typer.Option(
            "--allow-dynamic",
            help="Open the whole dynamic range where a port is dynamic (not recommended).",
        ),
    ] = False,
) -> None:
    """Turn a result into firewall rules: TCP 135, the static ports, 6001/6002/6004.

    Exit 0: rules for every server that needs them; 1: some left out that could have
    rules with --expect/--policy, pinning or --allow-dynamic (listed on stderr); 2: usage
    error or no rules at all.
    """
    try:
        policy = None
        if policy_file or expect:
            policy = build_policy(policy_file, list(expect or []), None, True)
        settings = FirewallSettings(
            result=result,
            format=parse_firewall_format(fmt),
            sources=parse_sources(source or []),
            proxy_sources=parse_sources(proxy_source or [], "--proxy-source"),
            policy=policy,
            allow_dynamic=allow_dynamic,
        )
        outcome = firewall_rules(settings)
    except UsageError as exc:
        exit_with_usage_error(str(exc))
    err = stderr_console()
    for note in outcome.notes:
        err.print(f"epmscan: note: {note}", markup=False)
    for line in left_out_lines(outcome.plan):
        err.print(f"epmscan: left out: {line}", markup=False)
    if not outcome.text:
        exit_with_usage_error(
            f"{result}: no server to write rules for ({len(outcome.plan.left_out)} left out, "
            "each with why above)"
        )
    sys.stdout.write(outcome.text)
    raise typer.Exit(EXIT_FINDINGS if outcome.incomplete else EXIT_OK)
