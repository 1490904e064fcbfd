"""``epmscan dump``: every endpoint registered with one host's endpoint mapper."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from typing import Annotated

import typer

from epmscan.app.dump import dump_one
from epmscan.cli.console import (
    ConsoleArgs,
    exit_with_usage_error,
    stderr_console,
    with_console_options,
)
from epmscan.cli.credentials import HashesFile, PasswordFile, User, read_credentials
from epmscan.cli.exit_codes import EXIT_SIGINT
from epmscan.cli.parsing import choices, parse_decoder
from epmscan.errors import EpmscanError, UsageError
from epmscan.report.console import print_dump
from epmscan.report.serialize import host_to_dict
from epmscan.report.text import printable
from epmscan.settings import Decoder, DumpSettings

_DUMP = DumpSettings(target="")
"""``dump``'s defaults."""


def _unless_given(ctx: typer.Context, name: str, value: float, shortcut: float | None) -> float:
    """``value`` when its option was given or no ``--timeout``; ``--timeout`` otherwise."""
    source = ctx.get_parameter_source(name)
    if shortcut is None or (source is not None and source.name != "DEFAULT"):
        return value
    return shortcut


@with_console_options
def dump_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Argument(help="Address or name of the host to ask.")],
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="EPM port.")] = (
        _DUMP.network.port
    ),
    connect_timeout: Annotated[
        float, typer.Option("--connect-timeout", min=0.01, help="Seconds to wait for a connect.")
    ] = _DUMP.network.timeouts.connect,
    read_timeout: Annotated[
        float, typer.Option("--read-timeout", min=0.01, help="Seconds to wait for each answer.")
    ] = _DUMP.network.timeouts.read,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            "-t",
            min=0.01,
            help="Sets both --connect-timeout and --read-timeout (either, given, wins).",
        ),
    ] = None,
    host_timeout: Annotated[
        float, typer.Option("--host-timeout", min=0.01, help="Seconds for the whole host.")
    ] = _DUMP.network.timeouts.host,
    max_ents: Annotated[
        int, typer.Option("--max-ents", min=1, max=100000, help="Entries asked per ept_lookup.")
    ] = _DUMP.network.max_ents,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    decoder: Annotated[
        str,
        typer.Option(
            "--decoder",
            metavar=choices(Decoder),
            help="fast (default) or impacket (reference, slow).",
        ),
    ] = _DUMP.network.decoder.value,
    user: User = None,
    password_file: PasswordFile = None,
    hashes_file: HashesFile = None,
    *,
    console: ConsoleArgs,
) -> None:
    """Dump every endpoint registered with HOST's endpoint mapper."""
    try:
        network = replace(
            _DUMP.network,
            port=port,
            timeouts=replace(
                _DUMP.network.timeouts,
                connect=_unless_given(ctx, "connect_timeout", connect_timeout, timeout),
                read=_unless_given(ctx, "read_timeout", read_timeout, timeout),
                host=host_timeout,
            ),
            max_ents=max_ents,
            decoder=parse_decoder(decoder),
            credentials=read_credentials(user, password_file, hashes_file),
        )
        result = dump_one(DumpSettings(target=host, network=network))
    except KeyboardInterrupt:
        stderr_console().print(
            f"epmscan: {printable(host)}: interrupted before the dump ended (nothing to show)",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(EXIT_SIGINT) from None
    except UsageError as exc:
        exit_with_usage_error(str(exc))
    except EpmscanError as exc:
        stderr_console().print(f"epmscan: {exc}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    if as_json:
        sys.stdout.write(json.dumps(host_to_dict(result), indent=2) + "\n")
    else:
        print_dump(result, console.output())
    if not result.ok:
        error = result.error or ""
        detail = error.removeprefix(f"{result.target}: ")
        stderr_console().print(
            f"epmscan: {printable(result.target)}: {result.status.value}: {printable(detail)}"
        )
        raise typer.Exit(1)
