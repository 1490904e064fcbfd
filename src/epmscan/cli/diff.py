"""``epmscan diff``: what changed between two results (or a result and a live check)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

import typer

from epmscan.app.diff import compare
from epmscan.checks.policy_file import load_policy
from epmscan.cli import options as opt
from epmscan.cli.console import (
    ConsoleArgs,
    exit_code_for_signal,
    exit_with_usage_error,
    stderr_console,
    with_console_options,
)
from epmscan.cli.credentials import HashesFile, PasswordFile, User, read_credentials
from epmscan.cli.exit_codes import EXIT_FINDINGS, EXIT_OK, EXIT_SIGINT
from epmscan.errors import UsageError
from epmscan.models import Policy
from epmscan.report.diff_console import print_diff
from epmscan.report.diff_json import diff_to_json
from epmscan.report.text import counted
from epmscan.report.writers import check_paths, write_document
from epmscan.settings import (
    CheckSettings,
    DiffSettings,
    OutputSettings,
    TargetSettings,
    Timeouts,
)

_CHECK = CheckSettings()


@with_console_options
def diff_command(
    before: Annotated[str, typer.Argument(help="The earlier saved result.")],
    after: Annotated[
        str | None,
        typer.Argument(help="The later saved result (or use --live)."),
    ] = None,
    live: Annotated[
        list[str] | None,
        typer.Option(
            "--live",
            metavar="TARGETS",
            help="Check these targets now (as 'check' would) and compare with BEFORE.",
        ),
    ] = None,
    policy_file: Annotated[
        str | None,
        typer.Option("--policy", metavar="FILE", help="Policy deciding which HTTP ports matter."),
    ] = None,
    port: opt.Port = _CHECK.scan.network.port,
    concurrency: opt.Concurrency = _CHECK.scan.concurrency,
    connect_timeout: opt.ConnectTimeout = _CHECK.scan.network.timeouts.connect,
    read_timeout: opt.ReadTimeout = _CHECK.scan.network.timeouts.read,
    host_timeout: opt.HostTimeout = _CHECK.scan.network.timeouts.host,
    user: User = None,
    password_file: PasswordFile = None,
    hashes_file: HashesFile = None,
    save: Annotated[
        str | None,
        typer.Option(
            "--save",
            metavar="PATH",
            help="Keep the live result (--live) for the next 'epmscan diff'.",
        ),
    ] = None,
    json_path: Annotated[
        str | None,
        typer.Option(
            "--json",
            metavar="PATH",
            help="Write the whole difference as a JSON document to PATH ('-': stdout).",
        ),
    ] = None,
    *,
    console: ConsoleArgs,
) -> None:
    """List per server the endpoints added and removed and the ports that moved.

    Exit 1 when anything the policy cares about changed (Exchange ports, required
    HTTP ports, host status), else 0.
    """
    try:
        if not live:
            for option, value in (("--save", save), ("-u/--user", user)):
                if value is not None:
                    raise UsageError(f"{option} is for --live (a live check)")
        paths = [("--json", json_path), ("--save", save)]
        check_paths([(option, path) for option, path in paths if path is not None])
        policy = load_policy(policy_file) if policy_file else None
        live_check = None
        if live:
            scan = _CHECK.scan
            live_check = CheckSettings(
                scan=replace(
                    scan,
                    targets=TargetSettings(specs=tuple(live)),
                    network=replace(
                        scan.network,
                        port=port,
                        timeouts=Timeouts(
                            connect=connect_timeout, read=read_timeout, host=host_timeout
                        ),
                        credentials=read_credentials(user, password_file, hashes_file),
                    ),
                    concurrency=concurrency,
                    outputs=OutputSettings(save=save),
                ),
                policy=policy or Policy.from_expectations(),
            )
        outcome = compare(DiffSettings(before=before, after=after, live=live_check, policy=policy))
    except UsageError as exc:
        exit_with_usage_error(str(exc))
    stopped = outcome.interrupted
    if stopped is not None:
        kept = f"; {save} is unchanged, the hosts checked are in {save}.partial" if save else ""
        stderr_console().print(
            f"epmscan: the live check was interrupted after {stopped.done} of "
            f"{counted(stopped.targets, 'host')}: no diff (every host not checked yet "
            f"would show as gone){kept}",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(exit_code_for_signal(stopped.signal) or EXIT_SIGINT)
    print_diff(outcome.diff, console.output(stderr=json_path == "-"), outcome.notes)
    if json_path is not None:
        document = diff_to_json(
            outcome.diff, before=before, after=after or "--live", notes=outcome.notes
        )
        try:
            write_document(json_path, document)
        except UsageError as exc:
            exit_with_usage_error(str(exc))
    raise typer.Exit(EXIT_FINDINGS if outcome.significant else EXIT_OK)
