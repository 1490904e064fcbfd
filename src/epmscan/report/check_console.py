"""Console view of ``epmscan check``: a table per server, then findings with fixes."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console
from rich.table import Table
from rich.text import Text

from epmscan.facts.exchange import HTTP_PORT_FOR, SHORT_LABELS
from epmscan.models import (
    ExchangeHostReport,
    ExchangeInterface,
    Finding,
    HttpPortProbe,
    HttpProbeStatus,
    PortClass,
    PortProbeStatus,
    ResolvedPort,
    Severity,
)
from epmscan.report.console import host_heading

SEVERITY_STYLE = {
    Severity.INFO: "cyan",
    Severity.WARNING: "yellow",
    Severity.ERROR: "red",
    Severity.CRITICAL: "bold red",
}
CLASS_LABEL = {
    PortClass.STATIC_EXPECTED: ("static", "green"),
    PortClass.STATIC_UNEXPECTED: ("wrong static", "red"),
    PortClass.DYNAMIC_WINDOWS: ("dynamic", "yellow"),
    PortClass.DYNAMIC_EXCHANGE: ("dynamic", "yellow"),
    PortClass.STATIC_UNCHECKED: ("static", ""),
}


def _worst(findings: Iterable[Finding], interface: ExchangeInterface | None) -> Severity | None:
    worst: Severity | None = None
    for f in findings:
        if f.interface is interface and (worst is None or f.severity.rank > worst.rank):
            worst = f.severity
    return worst


def _verdict(report: ExchangeHostReport, interface: ExchangeInterface) -> Text:
    if interface is ExchangeInterface.ASYNC_MAPI and _shares_mapi_port(report):
        interface = ExchangeInterface.MAPI  # one process: MAPI's verdict is its verdict
    worst = _worst(report.findings, interface)
    if worst is None or worst is Severity.INFO:
        return Text("ok", style="green")
    return Text(worst.value, style=SEVERITY_STYLE[worst])


def _tcp_ports(report: ExchangeHostReport, interface: ExchangeInterface) -> set[int]:
    return {
        p.port
        for p in report.ports
        if p.interface is interface and p.transport == "ncacn_ip_tcp" and p.port is not None
    }


def _shares_mapi_port(report: ExchangeHostReport) -> bool:
    async_ports = _tcp_ports(report, ExchangeInterface.ASYNC_MAPI)
    return bool(async_ports) and async_ports <= _tcp_ports(report, ExchangeInterface.MAPI)


def _epm_cell(ports: list[ResolvedPort]) -> Text:
    tcp = [p for p in ports if p.transport == "ncacn_ip_tcp" and p.port is not None]
    if not tcp:
        return Text("not registered", style="dim")
    text = Text()
    for i, p in enumerate(tcp):
        if i:
            text.append(", ")
        label, style = CLASS_LABEL.get(p.port_class, ("", "")) if p.port_class else ("", "")
        text.append(str(p.port), style=style)
        if label:
            text.append(f" {label}", style=style or "dim")
    return text


def _bind_cell(ports: list[ResolvedPort]) -> Text:
    tcp = [p for p in ports if p.transport == "ncacn_ip_tcp" and p.port is not None]
    text = Text()
    for i, p in enumerate(tcp):
        if i:
            text.append(", ")
        text.append(p.probe.value, style="green" if p.probe is PortProbeStatus.BOUND else "red")
    return text or Text("-", style="dim")


def _http_cell(probe: HttpPortProbe | None) -> Text:
    if probe is None:
        return Text("-", style="dim")
    if probe.status is HttpProbeStatus.NCACN_HTTP:
        ok = probe.bind in (PortProbeStatus.BOUND, PortProbeStatus.NOT_PROBED)
        state = "ok" if ok else probe.bind.value
        return Text(f"{probe.port} {state}", style="green" if ok else "red")
    return Text(f"{probe.port} {probe.status.value}", style="red")


def server_table(report: ExchangeHostReport) -> Table:
    """Interface, expected, what the EPM says, TCP bind, HTTP port, verdict."""
    table = Table(title=host_heading(report.host), title_justify="left")
    for column in ("Interface", "Expected", "EPM says", "TCP bind", "HTTP port", "Verdict"):
        table.add_column(column)
    http = {p.port: p for p in report.http}
    for interface in ExchangeInterface:
        ports = [p for p in report.ports if p.interface is interface]
        expected = next((p.expected_port for p in ports if p.expected_port is not None), None)
        http_port = HTTP_PORT_FOR.get(interface)
        table.add_row(
            SHORT_LABELS[interface],
            str(expected) if expected is not None else "-",
            _epm_cell(ports),
            _bind_cell(ports),
            _http_cell(http.get(http_port) if http_port else None),
            _verdict(report, interface),
        )
    return table


def print_check(reports: Iterable[ExchangeHostReport], console: Console) -> None:
    """Each server's table, then all findings with their fixes."""
    reports = list(reports)
    for report in reports:
        if report.host.ok:
            console.print(server_table(report))
        else:
            console.print(host_heading(report.host))
    findings = [f for r in reports for f in r.findings]
    if not findings:
        console.print(Text("No findings: every server is as expected.", style="green"))
        return
    console.print(Text(f"\nFindings ({len(findings)})", style="bold"))
    fix_numbers: dict[str, int] = {}
    for f in sorted(findings, key=lambda f: (-f.severity.rank, f.host, f.code)):
        line = Text()
        line.append(f"[{f.severity.value}] ", style=SEVERITY_STYLE[f.severity])
        line.append(f"{f.host} ", style="bold")
        line.append(f"{f.code}: ", style="dim")
        line.append(f.message)
        console.print(line)
        if not f.fix:
            continue
        if f.fix in fix_numbers:
            console.print(Text(f"    fix: as fix {fix_numbers[f.fix]} above", style="italic dim"))
        else:
            fix_numbers[f.fix] = len(fix_numbers) + 1
            console.print(Text(f"    fix {fix_numbers[f.fix]}: {f.fix}", style="italic"))
