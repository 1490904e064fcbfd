"""The capture report on a terminal (rich): a timeline per client and server, then verdicts.

Whatever came from the wire (annotations, names in towers, banners) is shown with its
control and formatting characters escaped (``\\x1b``, ``\\u202e``), so a hostile server
cannot move the cursor or reorder the text of the report.
"""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table
from rich.text import Text

from epmscan.checks.capture_verdicts import connection_phrase, connection_status, interface_label
from epmscan.models.capture import (
    CaptureReport,
    Connection,
    ConnectionOutcome,
    ConnectionRole,
    EpmCall,
    Mapping,
    Verdict,
)
from epmscan.report.text import printable

STATUS_STYLE = {
    "ok": "green",
    "bound": "green",
    "ncacn_http": "green",
    "established": "cyan",
    "not_probed": "dim",
    "closed": "red",
    "filtered": "yellow",
    "unreachable": "magenta",
    "timeout": "yellow",
    "wrong_service": "red",
    "other_service": "red",
    "silent": "yellow",
    "protocol_error": "red",
    "not_registered": "red",
    "rpc_fault": "red",
}
_WATCHED = ("ncacn_ip_tcp", "ncacn_http")


def _clock(time: float) -> str:
    return datetime.fromtimestamp(time, tz=UTC).strftime("%H:%M:%S.%f")[:-3]


def _day(time: float | None) -> str:
    if time is None:
        return "?"
    return datetime.fromtimestamp(time, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _status(call: EpmCall) -> str:
    return f"0x{call.status or 0:08x} {call.status_name}"


def _calls_text(calls: list[EpmCall], towers: list[Mapping]) -> Text:
    """One ``ept_map`` call, or one ``ept_lookup`` walk (its pages), as a timeline entry."""
    last = calls[-1]
    text = Text(last.operation, style="bold")
    if last.uuid is not None:
        text.append(f" {printable(interface_label(last.interface, last.uuid, last.exchange))}")
        text.append(f" {last.uuid} v{last.version}", style="dim")
    if last.transport:
        text.append(f" {last.transport}")
    if len(calls) > 1:
        text.append(f", {len(calls)} pages")
    if last.detail:
        text.append(f": {printable(last.detail)}", style="yellow")
        return text
    if last.response_frame is None:
        text.append(": no answer in the capture", style="yellow")
        return text
    if last.fault:
        text.append(f": fault {_status(last)}", style="red")
        return text
    if last.operation == "ept_map":
        if not towers:
            text.append(f": no tower ({_status(last)})", style="red")
        for mapping in towers:
            where = mapping.port if mapping.port is not None else mapping.endpoint
            text.append(f" -> {mapping.transport} {printable(str(where))}", style="bold green")
        return text
    total = sum(call.towers for call in calls)
    text.append(f": {_plural(total, 'tower')} (last status {_status(last)})")
    seen: set[tuple[str, str, int | None, str]] = set()
    for mapping in towers:
        key = (mapping.uuid, mapping.transport, mapping.port, mapping.annotation)
        if mapping.transport not in _WATCHED or key in seen:
            continue
        seen.add(key)
        label = printable(interface_label(mapping.interface, mapping.uuid, mapping.exchange))
        note = f' "{printable(mapping.annotation)}"' if mapping.annotation else ""
        text.append(f"\n  {label}{note} -> {mapping.transport} {mapping.port}")
    return text


def _walks(calls: list[EpmCall]) -> list[list[EpmCall]]:
    """Calls grouped: the pages of one ``ept_lookup`` walk together, each ``ept_map`` alone."""
    groups: list[list[EpmCall]] = []
    for call in calls:
        previous = groups[-1][-1] if groups else None
        if (
            previous is not None
            and call.operation == previous.operation == "ept_lookup"
            and call.client_port == previous.client_port
            and call.uuid == previous.uuid
        ):
            groups[-1].append(call)
        else:
            groups.append([call])
    return groups


def _connection_text(connection: Connection) -> Text:
    role = {
        ConnectionRole.EPM: "endpoint mapper",
        ConnectionRole.RPC_HTTP: "RPC over HTTP",
        ConnectionRole.RESOLVED: "resolved port",
    }[connection.role]
    status = connection_status(connection)
    text = Text(f"TCP {connection.port} ({role}) from port {connection.client_port}: ")
    text.append(status, style=STATUS_STYLE.get(status, ""))
    details = []
    if connection.outcome is ConnectionOutcome.ESTABLISHED and connection.synack_ttl is not None:
        details.append(f"SYN-ACK TTL {connection.synack_ttl}")
    details.append(printable(connection_phrase(connection)))
    if connection.interface and connection.role is not ConnectionRole.EPM:
        details.append(
            printable(interface_label(connection.interface, connection.uuid, connection.exchange))
        )
    if connection.ended:
        details.append(connection.ended)
    text.append(" - " + "; ".join(details))
    return text


def _timeline(report: CaptureReport, client: str, server: str) -> Table:
    table = Table(show_header=True, box=None, pad_edge=False, expand=False)
    table.add_column("time", no_wrap=True, style="dim")
    table.add_column("frame", justify="right", no_wrap=True)
    table.add_column("what")
    rows: list[tuple[int, float, Text]] = []
    towers: dict[int, list[Mapping]] = {}
    for mapping in report.mappings:
        if mapping.client == client and mapping.server == server:
            towers.setdefault(mapping.request_frame, []).append(mapping)
    calls = [c for c in report.epm_calls if c.client == client and c.server == server]
    for walk in _walks(calls):
        frame = walk[0].response_frame or walk[0].frame
        answered = [m for call in walk for m in towers.get(call.frame, [])]
        rows.append((frame, walk[0].time, _calls_text(walk, answered)))
    for connection in report.connections:
        if connection.client == client and connection.server == server:
            rows.append((connection.frame, connection.time, _connection_text(connection)))
    rows.sort(key=lambda row: row[0])
    for frame, time, text in rows:
        table.add_row(_clock(time), str(frame), text)
    return table


def _verdict_table(verdicts: list[Verdict]) -> Table:
    table = Table(show_header=False, box=None, pad_edge=False, expand=False)
    table.add_column("", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("verdict")
    for verdict in verdicts:
        table.add_row(
            "verdict",
            Text(verdict.status, style=STATUS_STYLE.get(verdict.status, "bold")),
            Text(printable(verdict.text)),
        )
    return table


def print_capture(report: CaptureReport, console: Console) -> None:
    """The whole report: header, per client/server timeline and verdicts, notes."""
    info = report.capture
    span = ""
    if info.first_time is not None and info.last_time is not None:
        span = f", {info.last_time - info.first_time:.1f} s from {_day(info.first_time)}"
    header = Text(printable(info.file), style="bold")
    header.append(f": {info.format}, {info.frames} frames ({info.tcp_segments} TCP segments){span}")
    if not info.complete:
        header.append(" - incomplete, see the notes", style="yellow")
    console.print(header)
    console.print(
        f"{_plural(len(report.epm_calls), 'endpoint mapper call')}, "
        f"{_plural(len(report.mappings), 'tower')}, "
        f"{_plural(len(report.connections), 'connection')} of interest"
    )
    pairs: dict[tuple[str, str], None] = {}
    for call in report.epm_calls:
        pairs.setdefault((call.client, call.server), None)
    for connection in report.connections:
        pairs.setdefault((connection.client, connection.server), None)
    verdicts: dict[tuple[str, str], list[Verdict]] = {}
    for verdict in report.verdicts:
        verdicts.setdefault((verdict.client, verdict.server), []).append(verdict)
    if not pairs:
        console.print(
            "No endpoint mapper conversation, RPC-over-HTTP connection or connection to a "
            "resolved port in this capture."
        )
    for client, server in pairs:
        console.print()
        console.print(Text(f"client {client} -> server {server}", style="bold"))
        console.print(_timeline(report, client, server))
        pair_verdicts = verdicts.get((client, server), [])
        if pair_verdicts:
            console.print(_verdict_table(pair_verdicts))
    if report.notes:
        console.print()
        for note in report.notes:
            console.print(Text(f"note: {printable(note)}", style="yellow"))
