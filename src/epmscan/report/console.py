"""Console renderers (rich) of the result models."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

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
        name = first.name or ""
        if first.provider:
            name = f"{name}\n[dim]{first.provider}[/dim]" if name else first.provider
        annotations = sorted({e.annotation for e in endpoints if e.annotation})
        bindings = "\n".join(e.binding for e in endpoints)
        table.add_row(f"{uuid}\nv{version}", name, "\n".join(annotations), bindings)
    return table


def render_dump(host: HostResult) -> Group:
    parts: list[Any] = [host_heading(host)]
    if host.endpoints:
        parts.append(dump_table(host))
    return Group(*parts)


def print_dump(host: HostResult, console: Console) -> None:
    console.print(render_dump(host))
