"""Console view of ``epmscan diff``: per server, every change, and which ones count.

Each change is one line that starts with ``+`` (new), ``-`` (gone) or ``~`` (changed).
In the plain form (off a terminal) every line also names its host, so ``grep`` finds
what changed on a server; on a terminal the lines sit under a heading per host, which
says when the host fails the diff and why.
"""

from __future__ import annotations

from collections.abc import Iterator

from rich.text import Text

from epmscan.facts.exchange import SHORT_LABELS
from epmscan.models import (
    EndpointRecord,
    ExchangeHostReport,
    ExchangePortChange,
    HostDiff,
    HostStatus,
    HttpPortProbe,
    MissingHost,
    ResultDiff,
)
from epmscan.report.output import Output
from epmscan.report.text import counted, printable

SIGN_STYLE = {"+": "green", "-": "red", "~": "yellow", "!": "bold red"}
MISSING_TEXT = {
    "new": "appeared",
    "gone": "disappeared",
    "stopped_answering": "stopped answering (left out of AFTER by --only-answered)",
    "out_of_scope": "not scanned in the other result",
}


def endpoint_label(endpoint: EndpointRecord) -> str:
    """``NAME vVERSION TRANSPORT[PORT or ENDPOINT]``."""
    where = f"[{endpoint.port}]" if endpoint.port is not None else f"[{endpoint.endpoint or ''}]"
    text = f"{endpoint.name or endpoint.uuid} v{endpoint.version} {endpoint.transport}{where}"
    return printable(text)


def _host_label(target: str, address: str) -> str:
    return address if address == target else f"{printable(target)} ({address})"


def _port_side(port: int | None, probe: object) -> str:
    if port is None:
        return "not registered"
    state = getattr(probe, "value", None) or "not probed"
    return f"{port} {state}"


def _port_line(change: ExchangePortChange) -> str:
    name = SHORT_LABELS[change.interface]
    was = _port_side(change.old_port, change.old_probe)
    now = _port_side(change.new_port, change.new_probe)
    return f"{name} {change.transport}: {was} -> {now}"


def _http_side(probe: HttpPortProbe | None) -> str:
    if probe is None:
        return "not probed"
    text = probe.status.value
    if probe.bind.value != "not_probed":
        text += f", bind {probe.bind.value}"
    if probe.banner and probe.status.value != "ncacn_http":
        text += f" {printable(probe.banner)!r}"
    return text


def _changes(diff: HostDiff) -> Iterator[tuple[str, str]]:
    """(sign, text) of every change on one host, Exchange first."""
    if diff.status_changed:
        yield "~", f"status: {diff.old_status.value} -> {diff.new_status.value}"
    for change in diff.port_changes:
        yield "~", _port_line(change)
    for http in diff.http_changes:
        yield "~", f"RPC over HTTP {http.port}: {_http_side(http.old)} -> {_http_side(http.new)}"
    for move in diff.moved:
        label = printable(move.name or move.uuid)
        exchange = (
            f"  [Exchange {move.exchange_interface.value}]" if move.exchange_interface else ""
        )
        text = f"{label} v{move.version} {move.transport}: {move.old_port} -> {move.new_port}"
        yield "~", text + exchange
    if diff.removed and not diff.added and diff.new_status is not HostStatus.OK:
        # The endpoint mapper did not answer: its endpoints are unknown, not removed.
        yield (
            "-",
            f"{len(diff.removed)} endpoints no longer listed (the endpoint mapper did not answer)",
        )
    elif diff.added and not diff.removed and diff.old_status is not HostStatus.OK:
        yield "+", f"{len(diff.added)} endpoints listed again (the endpoint mapper answers now)"
    else:
        for endpoint in diff.added:
            yield "+", endpoint_label(endpoint)
        for endpoint in diff.removed:
            yield "-", endpoint_label(endpoint)
    for finding in diff.findings_added:
        yield (
            "+",
            f"finding [{finding.severity.value}] {finding.code}: {printable(finding.message)}",
        )
    for finding in diff.findings_resolved:
        yield "-", f"finding [{finding.severity.value}] {finding.code} resolved"


def _missing_line(missing: MissingHost, sign: str) -> str:
    report: ExchangeHostReport = missing.report
    host = _host_label(report.host.target, report.host.address)
    text = MISSING_TEXT[missing.reason]
    status = report.host.status.value
    was = f"(was {status})" if sign == "-" else f"({status})"
    counts = "" if missing.significant else " [does not count]"
    return f"{sign} {host} {text} {was}{counts}"


def closing_line(diff: ResultDiff) -> str:
    if diff.empty:
        return f"no changes ({counted(diff.unchanged, 'host')} compared)"
    counting = sum(1 for h in diff.changed if h.significant)
    return (
        f"{len(diff.changed)} changed ({counting} failing the diff), "
        f"{len(diff.appeared)} appeared, {len(diff.disappeared)} disappeared, "
        f"{diff.unchanged} unchanged"
    )


def print_diff(diff: ResultDiff, out: Output, notes: tuple[str, ...] = ()) -> None:
    """Every change, one line each; one closing line (``no changes`` when there are none)."""
    for note in notes:
        out.line(f"note: {printable(note)}")
    for warning in diff.warnings:
        out.line(Text(f"warning: {printable(warning)}", style="yellow"))
    for missing in diff.appeared:
        out.line(Text(_missing_line(missing, "+"), style="green"))
    for missing in diff.disappeared:
        out.line(Text(_missing_line(missing, "-"), style="red"))
    for host in diff.changed:
        label = _host_label(host.target, host.address)
        if out.plain:
            for sign, text in _changes(host):
                out.line(f"{sign} {label}: {text}")
            if host.significant:
                out.line(f"! {label}: fails the diff ({', '.join(host.significant)})")
            continue
        heading = Text(label, style="bold")
        if host.significant:
            heading.append(f"  fails the diff: {', '.join(host.significant)}", style="bold red")
        out.line(heading)
        for sign, text in _changes(host):
            out.line(Text(f"  {sign} {text}", style=SIGN_STYLE[sign]))
    out.line(closing_line(diff))
