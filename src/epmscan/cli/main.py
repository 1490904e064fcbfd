"""The ``epmscan`` command line: typer commands over the core, rich for the console."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from epmscan import __version__
from epmscan.cli.common import exit_with_usage_error, output_console, stderr_console
from epmscan.engine.dump import Timeouts, dump_host
from epmscan.engine.loop import run
from epmscan.errors import EpmscanError, UsageError
from epmscan.models import HostResult, HostStatus
from epmscan.protocol.constants import EPM_PORT
from epmscan.report.console import print_dump
from epmscan.report.serialize import host_to_dict
from epmscan.targets import Target, resolve_target

app = typer.Typer(
    name="epmscan",
    help="Ask MS-RPC endpoint mappers which ports Windows and Exchange servers really use.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"epmscan {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """epmscan: MS-RPC endpoint mapper probe and scanner."""


async def _dump_one(
    host: str, port: int, timeouts: Timeouts, max_ents: int, decoder: str
) -> HostResult:
    target = Target.of(host)
    resolution = await resolve_target(target, timeout=timeouts.connect)
    if resolution.error is not None:
        return HostResult(
            target=host, address="", port=port, status=HostStatus.UNRESOLVED, error=resolution.error
        )
    return await dump_host(
        target.spec,
        resolution.addresses[0],
        port,
        timeouts=timeouts,
        max_ents=max_ents,
        decoder=decoder,
    )


@app.command()
def dump(
    host: Annotated[str, typer.Argument(help="Address or name of the host to ask.")],
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="EPM port.")] = (
        EPM_PORT
    ),
    timeout: Annotated[
        float, typer.Option("--timeout", "-t", min=0.01, help="Seconds per connect and per read.")
    ] = 5.0,
    host_timeout: Annotated[
        float, typer.Option("--host-timeout", min=0.01, help="Seconds for the whole host.")
    ] = 60.0,
    max_ents: Annotated[
        int, typer.Option("--max-ents", min=1, max=100000, help="Entries asked per ept_lookup.")
    ] = 500,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    decoder: Annotated[
        str, typer.Option("--decoder", help="fast (default) or impacket (reference, slow).")
    ] = "fast",
) -> None:
    """Dump every endpoint registered with HOST's endpoint mapper."""
    if decoder not in ("fast", "impacket"):
        exit_with_usage_error(f"--decoder must be 'fast' or 'impacket', not {decoder!r}")
    timeouts = Timeouts(connect=timeout, read=timeout, host=host_timeout)
    try:
        result = run(_dump_one(host, port, timeouts, max_ents, decoder))
    except UsageError as exc:
        exit_with_usage_error(str(exc))
    except EpmscanError as exc:
        stderr_console().print(f"epmscan: {exc}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    if as_json:
        sys.stdout.write(json.dumps(host_to_dict(result), indent=2) + "\n")
    else:
        print_dump(result, output_console())
    if not result.ok:
        error = result.error or ""
        detail = error.removeprefix(f"{result.target}: ")
        stderr_console().print(f"epmscan: {result.target}: {result.status.value}: {detail}")
        raise typer.Exit(1)


def _register_optional_commands() -> None:
    from epmscan.cli import commands

    commands.register(app)


_register_optional_commands()


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
