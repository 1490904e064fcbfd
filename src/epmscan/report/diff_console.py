"""Console view of ``epmscan diff``: per server, what was added, removed and moved."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from epmscan.checks.diff import HostDiff, ResultDiff, SavedEndpoint, SavedHost


def _endpoint_line(sign: str, endpoint: SavedEndpoint, style: str) -> Text:
    exchange = endpoint.exchange_interface
    text = Text(f"  {sign} ", style=style)
    text.append(str(endpoint), style=("bold " + style) if exchange else style)
    if exchange:
        text.append(f"  [Exchange {exchange.value.upper()}]", style="bold magenta")
    return text


def _host_label(host: SavedHost | HostDiff) -> str:
    return host.address if host.address == host.target else f"{host.target} ({host.address})"


def _print_host(diff: HostDiff, console: Console) -> None:
    console.print(Text(_host_label(diff), style="bold"))
    if diff.status_changed:
        console.print(f"  status: {diff.old_status} -> {diff.new_status}", style="yellow")
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
    for port, before, after in diff.http_changes:
        was, now = before or "not probed", after or "not probed"
        console.print(f"  RPC over HTTP {port}: {was} -> {now}")
    for interface, transport, old_port, new_port in diff.exchange_port_changes:
        console.print(
            f"  Exchange {interface} {transport}: {old_port or 'none'} -> {new_port or 'none'}",
            style="bold magenta",
        )


def print_diff(diff: ResultDiff, console: Console) -> None:
    """Every change, Exchange interfaces highlighted; one closing line."""
    for host in diff.appeared:
        console.print(Text(f"+ {_host_label(host)} appeared ({host.status})", style="green"))
    for host in diff.disappeared:
        console.print(Text(f"- {_host_label(host)} disappeared (was {host.status})", style="red"))
    for host_diff in diff.changed:
        _print_host(host_diff, console)
    console.print(
        f"{len(diff.changed)} changed, {len(diff.appeared)} appeared, "
        f"{len(diff.disappeared)} disappeared, {diff.unchanged} unchanged",
        highlight=False,
    )
