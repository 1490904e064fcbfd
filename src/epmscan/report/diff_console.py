"""Console view of ``epmscan diff``: per server, what was added, removed and moved."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from epmscan.facts.exchange import EXCHANGE_BY_UUID
from epmscan.models import EndpointRecord, ExchangeHostReport, HostDiff, ResultDiff


def endpoint_label(endpoint: EndpointRecord) -> str:
    """``NAME vVERSION TRANSPORT[PORT or ENDPOINT]``."""
    where = f"[{endpoint.port}]" if endpoint.port is not None else f"[{endpoint.endpoint or ''}]"
    return f"{endpoint.name or endpoint.uuid} v{endpoint.version} {endpoint.transport}{where}"


def _endpoint_line(sign: str, endpoint: EndpointRecord, style: str) -> Text:
    exchange = EXCHANGE_BY_UUID.get(endpoint.uuid.lower())
    text = Text(f"  {sign} ", style=style)
    text.append(endpoint_label(endpoint), style=("bold " + style) if exchange else style)
    if exchange:
        text.append(f"  [Exchange {exchange.value.upper()}]", style="bold magenta")
    return text


def _host_label(target: str, address: str) -> str:
    return address if address == target else f"{target} ({address})"


def _print_host(diff: HostDiff, console: Console) -> None:
    console.print(Text(_host_label(diff.target, diff.address), style="bold"))
    if diff.status_changed:
        console.print(
            f"  status: {diff.old_status.value} -> {diff.new_status.value}", style="yellow"
        )
    for move in diff.moved:
        text = Text("  ~ ", style="yellow")
        text.append(
            f"{move.name or move.uuid} v{move.version} {move.transport}: "
            f"{move.old_port} -> {move.new_port}",
            style="bold yellow" if move.exchange_interface else "yellow",
        )
        if move.exchange_interface:
            text.append(f"  [Exchange {move.exchange_interface.value.upper()}]", "bold magenta")
        console.print(text)
    for endpoint in diff.added:
        console.print(_endpoint_line("+", endpoint, "green"))
    for endpoint in diff.removed:
        console.print(_endpoint_line("-", endpoint, "red"))
    for change in diff.http_changes:
        was = change.old.value if change.old else "not probed"
        now = change.new.value if change.new else "not probed"
        console.print(f"  RPC over HTTP {change.port}: {was} -> {now}")
    for port in diff.exchange_port_changes:
        console.print(
            f"  Exchange {port.interface.value} {port.transport}: "
            f"{port.old_port or 'none'} -> {port.new_port or 'none'}",
            style="bold magenta",
        )


def _appeared(host: ExchangeHostReport) -> str:
    return _host_label(host.host.target, host.host.address)


def print_diff(diff: ResultDiff, console: Console) -> None:
    """Every change, Exchange interfaces highlighted; one closing line."""
    for host in diff.appeared:
        console.print(
            Text(f"+ {_appeared(host)} appeared ({host.host.status.value})", style="green")
        )
    for host in diff.disappeared:
        console.print(
            Text(f"- {_appeared(host)} disappeared (was {host.host.status.value})", style="red")
        )
    for host_diff in diff.changed:
        _print_host(host_diff, console)
    console.print(
        f"{len(diff.changed)} changed, {len(diff.appeared)} appeared, "
        f"{len(diff.disappeared)} disappeared, {diff.unchanged} unchanged",
        highlight=False,
    )
