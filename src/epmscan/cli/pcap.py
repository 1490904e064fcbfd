"""``epmscan pcap``: what a capture shows of endpoint mapper conversations and what followed."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from epmscan.cli.console import ConsoleArgs, exit_with_usage_error, with_console_options
from epmscan.errors import UsageError
from epmscan.settings import PcapSettings


@with_console_options
def pcap_command(
    file: Annotated[str, typer.Argument(help="A pcap or pcapng file (gzip-compressed or not).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    epm_ports: Annotated[
        list[int] | None,
        typer.Option(
            "--epm-port",
            min=1,
            max=65535,
            help="Also read this TCP port as an endpoint mapper (a lab, a NAT); repeatable.",
        ),
    ] = None,
    *,
    console: ConsoleArgs,
) -> None:
    """Reconstruct ept_map/ept_lookup answers and the connections after them.

    Per client, server and interface: the port the endpoint mapper gave, and
    whether the connection to it was answered, reset (by the server or by a
    device on the path), dropped, or refused by ICMP, and the bind accepted.
    Exit 0 when the file could be read as a capture, 2 when it cannot.
    """
    from epmscan.app.pcap import analyze_capture  # scapy only when a capture is read

    try:
        report = analyze_capture(PcapSettings(file=file, epm_ports=tuple(epm_ports or ())))
    except UsageError as exc:
        exit_with_usage_error(str(exc))
    if as_json:
        from epmscan.report.capture_json import report_to_dict

        sys.stdout.write(json.dumps(report_to_dict(report), indent=2) + "\n")
        return
    from epmscan.report.capture_console import print_capture

    print_capture(report, console.output().console)
