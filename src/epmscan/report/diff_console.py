"""Console view of ``epmscan diff``: per server, what was added, removed and moved."""

from __future__ import annotations

from rich.text import Text

from epmscan.facts.exchange import EXCHANGE_BY_UUID
from epmscan.models import EndpointRecord, ExchangeHostReport, HostDiff, ResultDiff
from epmscan.report.output import Output
from epmscan.report.text import printable


def endpoint_label(endpoint: EndpointRecord) -> str:
    """``NAME vVERSION TRANSPORT[PORT or ENDPOINT]``."""
    where = f"[{endpoint.port}]" if endpoint.port is not None else f"[{endpoint.endpoint or ''}]"
    text = f"{endpoint.name or endpoint.uuid} v{endpoint.version} {endpoint.transport}{where}"
    return printable(text)


def _endpoint_line(sign: str, endpoint: EndpointRecord, style: str) -> Text:
    exchange = EXCHANGE_BY_UUID.get(endpoint.uuid.lower())
    text = Text(f"  {sign} ", style=style)
    text.append(endpoint_label(endpoint), style=("bold " + style) if exchange else style)
    if exchange:
        text.append(f"  [Exchange {exchange.value.upper()}]", style="bold magenta")
    return text


def _host_label(target: str, address: str) -> str:
    return address if address == target else f"{printable(target)} ({address})"


def _print_host(diff: HostDiff, out: Output) -> None:
    out.line(Text(_host_label(diff.target, diff.address), style="bold"))
    if diff.status_changed:
        out.line(Text(f"  status: {diff.old_status.value} -> {diff.new_status.value}", "yellow"))
    for move in diff.moved:
        text = Text("  ~ ", style="yellow")
        text.append(
            f"{move.name or move.uuid} v{move.version} {move.transport}: "
            f"{move.old_port} -> {move.new_port}",
            style="bold yellow" if move.exchange_interface else "yellow",
        )
        if move.exchange_interface:
            text.append(f"  [Exchange {move.exchange_interface.value.upper()}]", "bold magenta")
        out.line(text)
    for endpoint in diff.added:
        out.line(_endpoint_line("+", endpoint, "green"))
    for endpoint in diff.removed:
        out.line(_endpoint_line("-", endpoint, "red"))
    for change in diff.http_changes:
        was = change.old.value if change.old else "not probed"
        now = change.new.value if change.new else "not probed"
        out.line(f"  RPC over HTTP {change.port}: {was} -> {now}")
    for port in diff.exchange_port_changes:
        out.line(
            Text(
                f"  Exchange {port.interface.value} {port.transport}: "
                f"{port.old_port or 'none'} -> {port.new_port or 'none'}",
                style="bold magenta",
            )
        )


def _appeared(host: ExchangeHostReport) -> str:
    return _host_label(host.host.target, host.host.address)


def print_diff(diff: ResultDiff, out: Output) -> None:
    """Every change, Exchange interfaces highlighted; one closing line."""
    for host in diff.appeared:
        out.line(Text(f"+ {_appeared(host)} appeared ({host.host.status.value})", style="green"))
    for host in diff.disappeared:
        out.line(
            Text(f"- {_appeared(host)} disappeared (was {host.host.status.value})", style="red")
        )
    for host_diff in diff.changed:
        _print_host(host_diff, out)
    out.line(
        f"{len(diff.changed)} changed, {len(diff.appeared)} appeared, "
        f"{len(diff.disappeared)} disappeared, {diff.unchanged} unchanged"
    )
