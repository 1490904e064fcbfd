"""Console views of ``dump`` and ``scan``: a host's endpoints, and many hosts' summary.

Each view has its rich form (a terminal) and its plain form (one tab-separated record
per line); :class:`~epmscan.report.output.Output` says which.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from rich.table import Table
from rich.text import Text

from epmscan.facts.exchange import EXCHANGE_BY_UUID
from epmscan.models import EndpointRecord, ExchangeInterface, HostResult, HostStatus, RunSummary
from epmscan.report.order import address_key
from epmscan.report.output import Output, keep_whole
from epmscan.report.text import counted, printable

STATUS_STYLE = {
    HostStatus.OK: "green",
    HostStatus.CLOSED: "red",
    HostStatus.FILTERED: "yellow",
    HostStatus.UNREACHABLE: "magenta",
    HostStatus.TIMEOUT: "yellow",
    HostStatus.BIND_REJECTED: "red",
    HostStatus.RPC_FAULT: "red",
    HostStatus.ACCESS_DENIED: "yellow",
    HostStatus.AUTH_FAILED: "red",
    HostStatus.PROTOCOL_ERROR: "red",
    HostStatus.UNRESOLVED: "magenta",
}


def group_by_interface(
    endpoints: Iterable[EndpointRecord],
) -> list[tuple[tuple[str, str], list[EndpointRecord]]]:
    """Endpoints grouped by (uuid, version), in the order the server listed them."""
    groups: dict[tuple[str, str], list[EndpointRecord]] = {}
    for endpoint in endpoints:
        groups.setdefault((endpoint.uuid, endpoint.version), []).append(endpoint)
    return list(groups.items())


def host_label(host: HostResult) -> str:
    """``target`` or ``target (address)`` when the target is a name."""
    if host.address and host.address != host.target:
        return f"{printable(host.target)} ({host.address})"
    return printable(host.target)


def host_heading(host: HostResult) -> Text:
    style = STATUS_STYLE.get(host.status, "")
    text = Text(host_label(host), style="bold")
    text.append(f" port {host.port}: ")
    text.append(host.status.value, style=style)
    if host.error:
        text.append(f" — {printable(host.error)}")
    return text


def _counts(host: HostResult) -> str:
    return f"{len(group_by_interface(host.endpoints))} interfaces, {len(host.endpoints)} endpoints"


def dump_table(host: HostResult) -> Table:
    """The endpoints of one host, one row per interface with all its bindings.

    The interface (UUID and version) and bindings columns are never cut; names and
    annotations fold onto more lines when the terminal is narrow.
    """
    groups = group_by_interface(host.endpoints)
    table = Table(title=_counts(host), show_lines=True, expand=False)
    table.add_column("Interface")
    table.add_column("Name", overflow="fold", ratio=1)
    table.add_column("Annotation", overflow="fold", ratio=1)
    table.add_column("Bindings")
    firsts: list[str] = []
    bindings: list[str] = []
    for (uuid, version), endpoints in groups:
        first = endpoints[0]
        name = Text(printable(first.name or ""))
        if first.provider and first.provider != first.name:
            name.append(("\n" if first.name else "") + printable(first.provider), style="dim")
        annotations = sorted({printable(e.annotation) for e in endpoints if e.annotation})
        interface = f"{uuid}\nv{version}"
        binding_text = "\n".join(printable(e.binding) for e in endpoints)
        firsts.append(interface)
        bindings.append(binding_text)
        table.add_row(Text(interface), name, Text("\n".join(annotations)), Text(binding_text))
    keep_whole(table, 0, firsts)
    keep_whole(table, 3, bindings)
    return table


TABLE_MIN_TEXT = 50
"""Columns the dump table needs besides the UUID and the bindings (names, borders): on a
narrower terminal each interface is a block of lines instead, so nothing is cut."""
DUMP_FIELDS = ("binding", "uuid", "version", "name", "annotation", "provider")


def print_dump(host: HostResult, out: Output) -> None:
    """One host's endpoint map: a table on a terminal, one endpoint per line otherwise."""
    if out.plain:
        out.line(f"# {host_heading(host).plain}; {_counts(host)}")
        if host.endpoints:
            out.record(*DUMP_FIELDS)
        for e in host.endpoints:
            out.record(e.binding, e.uuid, e.version, e.name, e.annotation, e.provider)
        return
    out.render(host_heading(host))
    if not host.endpoints:
        return
    widest = max(len(printable(e.binding)) for e in host.endpoints)
    if out.console.width >= TABLE_MIN_TEXT + 38 + widest:
        out.render(dump_table(host))
        return
    out.line(_counts(host))
    for (uuid, version), endpoints in group_by_interface(host.endpoints):
        first = endpoints[0]
        line = Text(f"{uuid} v{version}", style="bold")
        if first.name:
            line.append(f"  {printable(first.name)}")
        if first.provider and first.provider != first.name:
            line.append(f" ({printable(first.provider)})", style="dim")
        out.line(line)
        annotations = sorted({printable(e.annotation) for e in endpoints if e.annotation})
        for annotation in annotations:
            out.line(Text(f"    {annotation!r}", style="dim"))
        for e in endpoints:
            out.line(f"    {printable(e.binding)}")


EXCHANGE_COLUMNS = (
    ("MAPI", ExchangeInterface.MAPI),
    ("NSPI", ExchangeInterface.NSPI),
    ("RFR", ExchangeInterface.RFR),
)


def exchange_tcp_ports(host: HostResult) -> dict[ExchangeInterface, list[int]]:
    """The ncacn_ip_tcp ports of the Exchange interfaces in a dump."""
    ports: dict[ExchangeInterface, list[int]] = {}
    for e in host.endpoints:
        interface = EXCHANGE_BY_UUID.get(e.uuid)
        if interface is not None and e.transport == "ncacn_ip_tcp" and e.port is not None:
            bucket = ports.setdefault(interface, [])
            if e.port not in bucket:
                bucket.append(e.port)
    return ports


class ScanRow(NamedTuple):
    """What the closing table shows of one host: small, so thousands fit in memory."""

    target: str
    address: str
    status: HostStatus
    interfaces: int
    endpoints: int
    exchange_ports: tuple[str, ...]
    error: str | None


def scan_row(host: HostResult) -> ScanRow:
    ports = exchange_tcp_ports(host)
    return ScanRow(
        host.target,
        host.address,
        host.status,
        len(group_by_interface(host.endpoints)),
        len(host.endpoints),
        tuple(",".join(map(str, ports.get(key, []))) or "-" for _, key in EXCHANGE_COLUMNS),
        host.error,
    )


def _row_label(row: ScanRow) -> str:
    target = printable(row.target)
    return row.address if row.address == row.target else f"{target} {row.address}"


SCAN_FIELDS = ("host", "status", "interfaces", "endpoints", "mapi", "nspi", "rfr", "note")


def scan_table(rows: list[ScanRow]) -> Table:
    """One row per host that answered, by address: status, counts, Exchange TCP ports."""
    table = Table(title="Hosts that answered")
    table.add_column("Host")
    table.add_column("Status", no_wrap=True)
    table.add_column("Interfaces", justify="right", no_wrap=True)
    table.add_column("Endpoints", justify="right", no_wrap=True)
    for title, _ in EXCHANGE_COLUMNS:
        table.add_column(title, justify="right")
    table.add_column("Note", overflow="fold")
    for row in rows:
        table.add_row(
            _row_label(row),
            Text(row.status.value, style=STATUS_STYLE.get(row.status, "")),
            str(row.interfaces),
            str(row.endpoints),
            *row.exchange_ports,
            printable(row.error or ""),
        )
    keep_whole(table, 0, [_row_label(r) for r in rows])
    for index in range(4, 4 + len(EXCHANGE_COLUMNS)):
        keep_whole(table, index, [r.exchange_ports[index - 4] for r in rows])
    return table


NOTE_MIN_WIDTH = 20
"""Columns the note needs before the table is worth it: a narrower terminal gets lines."""


def scan_table_width(table: Table, rows: list[ScanRow]) -> int:
    """The width the scan table needs with its columns whole and a readable note."""
    cells = [
        (_row_label(r), r.status.value, str(r.interfaces), str(r.endpoints), *r.exchange_ports)
        for r in rows
    ]
    whole = [
        max([len(str(column.header)), *(len(row[index]) for row in cells)])
        for index, column in enumerate(table.columns[:-1])
    ]
    note = min(NOTE_MIN_WIDTH, max([len("Note"), *(len(printable(r.error or "")) for r in rows)]))
    return sum(whole) + note + 3 * len(table.columns) + 1


def scan_line(row: ScanRow) -> Text:
    """One host on a terminal too narrow for the table: every cell of its row, in words."""
    line = Text(_row_label(row), style="bold")
    line.append("  ")
    line.append(row.status.value, style=STATUS_STYLE.get(row.status, ""))
    line.append(f"  {row.interfaces} interfaces, {row.endpoints} endpoints")
    ports = ", ".join(
        f"{title} {p}"
        for (title, _), p in zip(EXCHANGE_COLUMNS, row.exchange_ports, strict=True)
        if p != "-"
    )
    if ports:
        line.append(f"; {ports}")
    if row.error:
        line.append(f" — {printable(row.error)}")
    return line


def summary_line(summary: RunSummary, seed: int | None = None) -> str:
    """``done: 7 of 7 hosts in 0.5 s (14/s); ok 6, closed 1`` (and the seed)."""
    counts = ", ".join(f"{s.value} {n}" for s, n in summary.statuses if n)
    if summary.interrupted:
        state = f"interrupted after {summary.done} of {counted(summary.targets, 'host')}"
    else:
        state = f"done: {summary.done} of {counted(summary.targets, 'host')}"
    line = f"{state} in {summary.elapsed:.1f} s ({summary.hosts_per_second:,.0f}/s)"
    if counts:
        line += f"; {counts}"
    if seed is not None:
        line += f"; seed {seed}"
    return line


def print_scan_summary(
    rows: list[ScanRow],
    summary: RunSummary,
    out: Output,
    *,
    dropped: int = 0,
    seed: int | None = None,
    loop: str = "",
) -> None:
    """The hosts that answered, by address, then one summary line."""
    rows = sorted(rows, key=lambda r: address_key(r.address, r.target))
    if out.plain:
        if rows:
            out.record(*SCAN_FIELDS)
        for row in rows:
            label = row.address if row.address == row.target else f"{row.target} {row.address}"
            out.record(
                label,
                row.status.value,
                row.interfaces,
                row.endpoints,
                *row.exchange_ports,
                row.error,
            )
    elif rows:
        table = scan_table(rows)
        if scan_table_width(table, rows) <= out.console.width:
            out.render(table)
        else:
            out.line(Text(str(table.title), style="italic"))
            for row in rows:
                out.line(scan_line(row))
    if dropped:
        out.line(
            f"{'# ' if out.plain else ''}... and {dropped} more hosts answered: the "
            "--jsonl/--json/--csv files have them all"
        )
    closing = summary_line(summary, seed) + (f" [{loop}]" if loop else "")
    out.line(f"# {closing}" if out.plain else closing)
