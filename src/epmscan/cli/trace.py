"""``epmscan trace``: Outlook's steps to one server, timed, each failure explained."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from typing import Annotated

import typer

from epmscan.cli.console import (
    ConsoleArgs,
    exit_code_for_signal,
    exit_with_usage_error,
    with_console_options,
)
from epmscan.cli.exit_codes import EXIT_FINDINGS, EXIT_OK
from epmscan.errors import UsageError
from epmscan.models import ExchangeInterface
from epmscan.settings import TraceSettings

_TRACE = TraceSettings(server="")
"""``trace``'s defaults."""
_ALIASES = {
    "emsmdb": ExchangeInterface.MAPI,
    "async": ExchangeInterface.ASYNC_MAPI,
    "asyncemsmdb": ExchangeInterface.ASYNC_MAPI,
    "async_emsmdb": ExchangeInterface.ASYNC_MAPI,
    "addressbook": ExchangeInterface.NSPI,
}


def parse_interfaces(text: str) -> tuple[ExchangeInterface, ...]:
    """``mapi,nspi`` → the interfaces, in the order given, each once."""
    chosen: list[ExchangeInterface] = []
    for item in text.split(","):
        name = item.strip().lower().replace("-", "_")
        if not name:
            continue
        try:
            interface = _ALIASES.get(name) or ExchangeInterface(name)
        except ValueError:
            allowed = ", ".join(i.value for i in ExchangeInterface)
            raise UsageError(
                f"--rpc: unknown interface {item.strip()!r} (expected one of: {allowed})"
            ) from None
        if interface not in chosen:
            chosen.append(interface)
    if not chosen:
        raise UsageError("--rpc: name at least one interface (mapi, async_mapi, nspi, rfr)")
    return tuple(chosen)


@with_console_options
def trace_command(
    server: Annotated[str, typer.Argument(help="Address or name of the Exchange server.")],
    rpc: Annotated[
        str,
        typer.Option(
            "--rpc",
            metavar="IFACES",
            help="Interfaces to follow, comma-separated: mapi, async_mapi, nspi, rfr.",
        ),
    ] = ",".join(i.value for i in _TRACE.interfaces),
    port: Annotated[
        int, typer.Option("--port", "-p", min=1, max=65535, help="Endpoint mapper port.")
    ] = _TRACE.network.port,
    connect_timeout: Annotated[
        float, typer.Option("--connect-timeout", min=0.01, help="Seconds per TCP connect.")
    ] = _TRACE.network.timeouts.connect,
    read_timeout: Annotated[
        float, typer.Option("--read-timeout", min=0.01, help="Seconds per wait for an answer.")
    ] = _TRACE.network.timeouts.read,
    http: Annotated[
        bool,
        typer.Option("--http/--no-http", help="Also RPC over HTTP (6001, 6002, 6004)."),
    ] = _TRACE.http,
    capture: Annotated[
        bool,
        typer.Option(
            "--capture/--no-capture",
            help="Record the packets of the traced connections (root or CAP_NET_RAW).",
        ),
    ] = _TRACE.capture,
    net_iface: Annotated[
        str | None,
        typer.Option(
            "--net-iface", metavar="IFACE", help="Capture on this interface (default: the route's)."
        ),
    ] = None,
    path: Annotated[
        bool,
        typer.Option(
            "--path", help="TCP SYN traceroute to a failing port and to the endpoint mapper's."
        ),
    ] = _TRACE.path,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    *,
    console: ConsoleArgs,
) -> None:
    """Follow Outlook's steps to SERVER for each Exchange interface, with timings.

    Per interface: connect to the endpoint mapper, bind, ept_map, connect to the
    port it returned, bind the interface; for RPC over HTTP the greeting on
    6001/6002/6004 and a bind behind it. A failed step is explained from the
    kernel's ICMP errors and, with root or CAP_NET_RAW, from the packets.
    Exit 0 when every step worked, 1 when one failed, 2 on bad input,
    130/143 when interrupted.
    """
    from epmscan.app.trace import run_trace  # the capture's modules only when tracing

    try:
        network = replace(
            _TRACE.network,
            port=port,
            timeouts=replace(_TRACE.network.timeouts, connect=connect_timeout, read=read_timeout),
        )
        settings = TraceSettings(
            server=server,
            interfaces=parse_interfaces(rpc),
            network=network,
            http=http,
            capture=capture,
            net_iface=net_iface,
            path=path,
        )
        report = run_trace(settings)
    except UsageError as exc:
        exit_with_usage_error(str(exc))
    if as_json:
        from epmscan.report.trace_json import trace_to_dict

        sys.stdout.write(json.dumps(trace_to_dict(report), indent=2) + "\n")
    else:
        from epmscan.report.trace_console import print_trace

        print_trace(report, console.output(), verbose=console.verbose)
    interrupted = exit_code_for_signal(report.interrupted)
    if interrupted is not None:
        raise typer.Exit(interrupted)
    raise typer.Exit(EXIT_OK if report.ok else EXIT_FINDINGS)
