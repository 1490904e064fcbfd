"""``epmscan diff``: what changed between two results (or a result and a live scan)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from epmscan.checks.diff import diff_exit_code, diff_results, load_saved, parse_saved
from epmscan.checks.policy import load_policy
from epmscan.cli import options as opt
from epmscan.cli.check import run_check
from epmscan.cli.common import exit_with_usage_error, output_console
from epmscan.errors import UsageError
from epmscan.models import Policy
from epmscan.report.diff_console import print_diff
from epmscan.report.serialize import exchange_to_dict


def _live(targets: list[str], policy: Policy, port: int, concurrency: int) -> str:
    args = opt.ScanArgs(
        targets=targets,
        input_lists=[],
        exclude=[],
        exclude_files=[],
        port=port,
        concurrency=concurrency,
        no_progress=True,
    )
    hosts: list[dict[str, object]] = []
    run_check(args, policy, observe=lambda report: hosts.append(exchange_to_dict(report)))
    return json.dumps({"hosts": hosts})


def diff_command(
    before: Annotated[str, typer.Argument(help="The earlier saved result.")],
    after: Annotated[
        str | None, typer.Argument(help="The later saved result (or use --live).")
    ] = None,
    live: Annotated[
        list[str] | None,
        typer.Option("--live", help="Check these targets now and compare with BEFORE."),
    ] = None,
    policy_file: Annotated[
        str | None, typer.Option("--policy", help="Policy deciding which HTTP ports matter.")
    ] = None,
    port: opt.Port = 135,
    concurrency: opt.Concurrency = 200,
) -> None:
    """List per server the endpoints added and removed and the ports that moved.

    Exit 1 when anything the policy cares about changed (Exchange ports, required
    HTTP ports, host status), else 0.
    """
    try:
        if (after is None) == (not live):
            raise UsageError("give either AFTER or --live TARGETS, not both or neither")
        policy = load_policy(policy_file) if policy_file else None
        old = load_saved(before)
        if after is not None:
            new = load_saved(after)
        else:
            live_policy = policy or Policy.from_expectations()
            new = parse_saved(_live(list(live or []), live_policy, port, concurrency), "--live")
    except UsageError as exc:
        exit_with_usage_error(str(exc))
    diff = diff_results(old, new)
    print_diff(diff, output_console())
    raise typer.Exit(diff_exit_code(diff, policy))
