"""Console renderers (rich) of the result models."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any, NamedTuple

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from epmscan.facts.exchange import EXCHANGE_BY_UUID
from epmscan.models import EndpointRecord, HostResult, HostStatus

STATUS_STYLE = {
    HostStatus.OK: "green",
    HostStatus.CLOSED: "red",
    HostStatus.FILTERED: "yellow",
    HostStatus.UNREACHABLE: "magenta",
    HostStatus.TIMEOUT: "yellow",
    HostStatus.BIND_REJECTED: "red",
    HostStatus.RPC_FAULT: "red",
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


def host_heading(host: HostResult) -> Text:
    style = STATUS_STYLE.get(host.status, "")
    text = Text(f"{host.target}", style="bold")
    if host.address and host.address != host.target:
        text.append(f" ({host.address})")
    text.append(f" port {host.port}: ")
    text.append(host.status.value, style=style)
    if host.error:
        text.append(f" — {host.error}")
    return text


def dump_table(host: HostResult) -> Table:
    """The endpoints of one host, one row per interface with all its bindings."""
    groups = group_by_interface(host.endpoints)
    towers = len(host.endpoints)
    table = Table(
        title=f"{len(groups)} interfaces, {towers} endpoints",
        show_lines=True,
        expand=False,
    )
    table.add_column("Interface", no_wrap=True)
    table.add_column("Name")
    table.add_column("Annotation")
    table.add_column("Bindings", no_wrap=True)
    for (uuid, version), endpoints in groups:
        first = endpoints[0]
        name = Text(first.name or "")
        if first.provider and first.provider != first.name:
            name.append(("\n" if first.name else "") + first.provider, style="dim")
        annotations = sorted({e.annotation for e in endpoints if e.annotation})
        table.add_row(
            Text(f"{uuid}\nv{version}"),
            name,
            Text("\n".join(annotations)),
            Text("\n".join(e.binding for e in endpoints)),
        )
    return table


def render_dump(host: HostResult) -> Group:
    parts: list[Any] = [host_heading(host)]
    if host.endpoints:
        parts.append(dump_table(host))
    return Group(*parts)


def print_dump(host: HostResult, console: Console) -> None:
    console.print(render_dump(host))


EXCHANGE_COLUMNS = (("MAPI", "mapi"), ("NSPI", "nspi"), ("RFR", "rfr"))


def exchange_tcp_ports(host: HostResult) -> dict[str, list[int]]:
    """The ncacn_ip_tcp ports of the Exchange interfaces in a dump, by short name."""
    ports: dict[str, list[int]] = {}
    for e in host.endpoints:
        interface = EXCHANGE_BY_UUID.get(e.uuid)
        key = interface.value if interface else None
        if key and e.transport == "ncacn_ip_tcp" and e.port is not None:
            bucket = ports.setdefault(key, [])
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


def _address_key(row: ScanRow) -> tuple[int, str]:
    try:
        return (0, f"{int(ipaddress.ip_address(row.address)):040d}")
    except ValueError:
        return (1, row.target)


def scan_table(rows: Iterable[ScanRow]) -> Table:
    """One row per host that answered, by address: status, counts, Exchange TCP ports."""
    table = Table(title="Hosts that answered")
    table.add_column("Host")
    table.add_column("Status")
    table.add_column("Interfaces", justify="right")
    table.add_column("Endpoints", justify="right")
    for title, _ in EXCHANGE_COLUMNS:
        table.add_column(title, justify="right")
    table.add_column("Note")
    for row in sorted(rows, key=_address_key):
        label = row.address if row.address == row.target else f"{row.target} {row.address}"
        table.add_row(
            label,
            Text(row.status.value, style=STATUS_STYLE.get(row.status, "")),
            str(row.interfaces),
            str(row.endpoints),
            *row.exchange_ports,
            row.error or "",
        )
    return table


def summary_line(summary: dict[str, Any]) -> str:
    counts = ", ".join(f"{k} {v}" for k, v in summary["statuses"].items() if v)
    state = "interrupted" if summary.get("interrupted") else "done"
    return (
        f"{state}: {summary['done']} of {summary['targets']} hosts in {summary['elapsed']:.1f} s "
        f"({summary['hosts_per_second']:,.0f}/s)" + (f"; {counts}" if counts else "")
    )


def print_scan_summary(
    hosts: list[ScanRow],
    summary: dict[str, Any],
    console: Console,
    *,
    dropped: int = 0,
    loop: str = "",
) -> None:
    """The closing table of answering hosts, then one summary line."""
    if hosts:
        console.print(scan_table(hosts))
    if dropped:
        console.print(
            f"... and {dropped} more hosts answered: the --jsonl/--json/--csv files have them all"
        )
    console.print(summary_line(summary) + (f" [{loop}]" if loop else ""), highlight=False)
