"""Console view of ``epmscan check``: the servers that answered, then findings and fixes.

Servers that answered come first, one table each (one record per interface in the
plain form); servers whose endpoint mapper did not answer become one line with a count
(every one of them is in the output files); then every finding on one line, pointing
at its fix (on a terminal the endpoint-mapper findings of those servers are one line for
all of them, plain output has one per server: the fixes and their numbers are the same);
then each distinct fix once, with how many servers need it; then a closing line with
counts by severity, or how far an interrupted run got.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rich.table import Table
from rich.text import Text

from epmscan.facts.exchange import HTTP_PORT_FOR, SHORT_LABELS
from epmscan.models import (
    ExchangeHostReport,
    ExchangeInterface,
    Finding,
    HostStatus,
    HttpPortProbe,
    HttpProbeStatus,
    PortClass,
    PortProbeStatus,
    ResolvedPort,
    Severity,
)
from epmscan.report.console import host_heading, host_label
from epmscan.report.order import address_key
from epmscan.report.output import Output, keep_whole
from epmscan.report.text import counted, printable

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


COLUMNS = ("Interface", "Expected", "EPM says", "TCP bind", "HTTP port", "Verdict")
PLAIN_FIELDS = ("server", "interface", "expected", "epm_says", "tcp_bind", "http_port", "verdict")


def _rows(report: ExchangeHostReport) -> list[tuple[Text, ...]]:
    http = {p.port: p for p in report.http}
    rows: list[tuple[Text, ...]] = []
    for interface in ExchangeInterface:
        ports = [p for p in report.ports if p.interface is interface]
        expected = next((p.expected_port for p in ports if p.expected_port is not None), None)
        http_port = HTTP_PORT_FOR.get(interface)
        rows.append(
            (
                Text(SHORT_LABELS[interface]),
                Text(str(expected) if expected is not None else "-"),
                _epm_cell(ports),
                _bind_cell(ports),
                _http_cell(http.get(http_port) if http_port else None),
                _verdict(report, interface),
            )
        )
    return rows


def _table_width(table: Table) -> int:
    """The width a server table needs with its whole columns whole (borders included)."""
    columns = table.columns
    return sum(c.min_width or len(str(c.header)) for c in columns) + 3 * len(columns) + 1


def _server_block(report: ExchangeHostReport, out: Output) -> None:
    """A server on a terminal too narrow for its table: one line per interface."""
    out.render(host_heading(report.host))
    for row in _rows(report):
        interface, expected, says, bind, http, _ = (c.plain for c in row)
        line = Text(f"  {interface}: ", style="bold")
        line.append(f"expected {expected}, EPM says {says}, TCP bind {bind}, HTTP {http} -> ")
        line.append_text(row[5])
        out.line(line)


def server_table(report: ExchangeHostReport) -> Table:
    """Interface, expected, what the EPM says, TCP bind, HTTP port, verdict."""
    table = Table(title=host_heading(report.host), title_justify="left")
    for column in COLUMNS:
        table.add_column(column, overflow="fold")
    rows = _rows(report)
    for row in rows:
        table.add_row(*row)
    for index in (0, 1, 2, 4, 5):
        keep_whole(table, index, [row[index].plain for row in rows])
    return table


@dataclass
class CheckTally:
    """What the closing lines need, counted over every host (also those not kept)."""

    servers: int = 0
    answered: int = 0
    silent: Counter[HostStatus] = field(default_factory=Counter)
    """Servers whose endpoint mapper did not answer, by status."""
    severities: Counter[Severity] = field(default_factory=Counter)

    def add(self, report: ExchangeHostReport) -> None:
        self.servers += 1
        if report.host.ok:
            self.answered += 1
        else:
            self.silent[report.host.status] += 1
        for finding in report.findings:
            self.severities[finding.severity] += 1


_EPM_CODES = frozenset({"epm.unreachable", "epm.failed"})
SHOWN_SILENT = 10
"""Servers that did not answer, named on the console before "and N more"."""


def _fix_numbers(findings: Sequence[Finding]) -> dict[str, tuple[int, set[str]]]:
    """Each distinct fix text: its number (in order of appearance) and the servers needing it."""
    numbers: dict[str, tuple[int, set[str]]] = {}
    for finding in findings:
        if finding.fix:
            _, hosts = numbers.setdefault(finding.fix, (len(numbers) + 1, set()))
            hosts.add(finding.host)
    return numbers


def _finding_order(finding: Finding) -> tuple[int, tuple[int, int, str], str]:
    return (-finding.severity.rank, address_key(finding.host), finding.code)


def _counts_text(counter: Counter[HostStatus] | Counter[Severity], order: Iterable[object]) -> str:
    return ", ".join(f"{counter[k]} {k.value}" for k in order if counter[k])  # type: ignore[attr-defined, index]


def closing_line(tally: CheckTally, *, interrupted: bool, total: int | None) -> str:
    """``7 servers: 5 answered, 2 did not; findings: 1 critical, 12 error``."""
    if interrupted:
        head = (
            f"interrupted after {tally.servers} of {counted(total or 0, 'server')}"
            if total
            else (f"interrupted after {counted(tally.servers, 'server')}")
        )
    else:
        head = counted(tally.servers, "server")
    head += f": {tally.answered} answered, {tally.servers - tally.answered} did not"
    severities = _counts_text(tally.severities, reversed(Severity))
    return f"{head}; findings: {severities or 'none'}"


def print_check(
    reports: Iterable[ExchangeHostReport],
    out: Output,
    *,
    tally: CheckTally | None = None,
    interrupted: bool = False,
    total: int | None = None,
    dropped: int = 0,
    files: Sequence[str] = (),
    verbose: bool = False,
) -> None:
    """The servers that answered, the ones that did not, findings, fixes, a closing line.

    ``reports`` are what the console kept (the first servers); ``tally`` counts every
    server; ``files`` are where the run wrote every result (named in the pointers).
    """
    reports = sorted(reports, key=lambda r: address_key(r.host.address, r.host.target))
    if tally is None:
        tally = CheckTally()
        for report in reports:
            tally.add(report)
    answered = [r for r in reports if r.host.ok]
    silent = [r for r in reports if not r.host.ok]
    where = f" (every one is in {', '.join(files)})" if files else ""
    if out.plain:
        if answered:
            out.record(*PLAIN_FIELDS)
        for report in answered:
            for row in _rows(report):
                out.record(report.host.address or report.host.target, *(c.plain for c in row))
    else:
        for report in answered:
            table = server_table(report)
            if _table_width(table) <= out.console.width:
                out.render(table)
            else:
                _server_block(report, out)
    if dropped:
        out.line(f"{'# ' if out.plain else ''}... and {dropped} more servers{where}")
    if silent:
        _print_silent(silent, out, tally, where=where, verbose=verbose)
    findings = sorted((f for r in reports for f in r.findings), key=_finding_order)
    fixes = _fix_numbers(findings)
    if findings and not out.plain:
        out.line(Text(f"\nFindings ({len(findings)})", style="bold"))
    grouped: dict[tuple[Severity, str, str | None], Counter[HostStatus]] = {}
    status_of = {r.host.address or r.host.target: r.host.status for r in silent}
    if not out.plain:
        for f in findings:
            if f.code in _EPM_CODES and f.host in status_of:
                grouped.setdefault((f.severity, f.code, f.fix), Counter())[status_of[f.host]] += 1
    for f in findings:
        fix = f" (fix {fixes[f.fix][0]})" if f.fix else ""
        if out.plain:
            out.record("finding", f.host, f.severity.value, f.code, f.message, fix.strip(" ()"))
            continue
        if f.code in _EPM_CODES and f.host in status_of:
            group = grouped.pop((f.severity, f.code, f.fix), None)
            if group is not None:  # one line for every server that did not answer alike
                _print_silent_finding(f, group, fix, out)
            continue
        line = Text()
        line.append(f"[{f.severity.value}] ", style=SEVERITY_STYLE[f.severity])
        line.append(f"{printable(f.host)} ", style="bold")
        line.append(f"{f.code}: ", style="dim")
        line.append(printable(f.message))
        line.append(fix, style="italic dim")
        out.line(line)
    if fixes and not out.plain:
        out.line(Text("\nFixes", style="bold"))
    for text, (number, hosts) in fixes.items():
        servers = counted(len(hosts), "server")
        if out.plain:
            out.record("fix", number, servers, text)
        else:
            out.line(Text(f"fix {number} — {servers}: {printable(text)}", style="italic"))
    closing = closing_line(tally, interrupted=interrupted, total=total)
    if out.plain:
        out.line(f"# {closing}")
        return
    if not interrupted and not sum(tally.severities.values()):
        out.line(Text("No findings: every server is as expected.", style="green"))
    out.line(closing)


def _print_silent_finding(
    finding: Finding, statuses: Counter[HostStatus], fix: str, out: Output
) -> None:
    """The endpoint-mapper finding of the servers that did not answer, as one line."""
    servers = counted(sum(statuses.values()), "server")
    line = Text()
    line.append(f"[{finding.severity.value}] ", style=SEVERITY_STYLE[finding.severity])
    line.append(f"{servers} ", style="bold")
    line.append(f"{finding.code}: ", style="dim")
    line.append(
        f"the endpoint mapper did not answer ({_counts_text(statuses, HostStatus)};"
        " the servers are listed above)"
    )
    line.append(fix, style="italic dim")
    out.line(line)


def _print_silent(
    silent: list[ExchangeHostReport], out: Output, tally: CheckTally, *, where: str, verbose: bool
) -> None:
    count = sum(tally.silent.values())
    statuses = _counts_text(tally.silent, HostStatus)
    if out.plain:
        for report in silent:
            out.record(
                "silent",
                report.host.address or report.host.target,
                report.host.status.value,
                report.host.error,
            )
        return
    if verbose:
        for report in silent:
            out.line(host_heading(report.host))
        return
    names = [host_label(r.host) for r in silent[:SHOWN_SILENT]]
    more = count - len(names)
    listed = ", ".join(names) + (f" and {more} more" if more > 0 else "")
    noun = "server" if count == 1 else "servers"
    out.line(
        Text(
            f"{count} {noun} did not answer the endpoint mapper ({statuses}): {listed}{where}",
            style="yellow",
        )
    )
