"""The trace on the console: a timeline per interface, the evidence of failed steps, verdicts.

Rich form (a terminal): a heading per interface and transport, a table of its steps
(time, elapsed, step, target, outcome, what happened), under a failed step its evidence
(packets and kernel errors), then one verdict line per interface and the ``--path``
columns. Plain form (piped, ``--plain``): one tab-separated record per line,
``step``, ``evidence``, ``verdict``, ``path`` and ``note`` first, nothing cut.
``-v`` shows the evidence of every step, not only of failed ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from rich.table import Table
from rich.text import Text

from epmscan.checks.capture_verdicts import host_port
from epmscan.checks.trace_verdicts import path_end
from epmscan.facts.exchange import LABELS
from epmscan.models import ExchangeInterface
from epmscan.models.trace import NOT_TRIED, PathProbe, TraceReport, TraceStep, TraceStepKind
from epmscan.report.capture_console import STATUS_STYLE
from epmscan.report.output import Output, keep_whole
from epmscan.report.text import counted, printable

_TRANSPORT_WORDS = {
    "ncacn_ip_tcp": "TCP, through the endpoint mapper",
    "ncacn_http": "RPC over HTTP",
}


def clock(when: float) -> str:
    """``08:00:00.123`` (UTC)."""
    return datetime.fromtimestamp(when, tz=UTC).strftime("%H:%M:%S.%f")[:-3]


def _day(when: float) -> str:
    return datetime.fromtimestamp(when, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def interface_label(interface: str) -> str:
    try:
        return LABELS[ExchangeInterface(interface)]
    except ValueError:
        return interface


def _ways(steps: Sequence[TraceStep]) -> list[tuple[tuple[str, str], list[TraceStep]]]:
    """Steps grouped by (interface, transport), in the order they ran."""
    groups: dict[tuple[str, str], list[TraceStep]] = {}
    for step in steps:
        groups.setdefault((step.interface, step.transport), []).append(step)
    return list(groups.items())


def _what(step: TraceStep) -> str:
    text = step.explanation if step.explanation else (step.detail or "")
    if step.ok and step.step.value == "connect":
        synack = next((e for e in step.evidence if e.flags == "SA"), None)
        if synack is not None:
            text += f" (SYN-ACK TTL {synack.ttl})"
    return printable(text)


def verdict(steps: Sequence[TraceStep], interrupted: str | None = None) -> tuple[str, str]:
    """(outcome, sentence) of one interface's way: its failed step, that a signal
    (``interrupted``) cut it short, or that it worked."""
    last = steps[-1]
    failed = next((s for s in steps if not s.ok), None)
    if failed is None and interrupted is not None:
        return "interrupted", (
            f"interrupted by {interrupted} after {last.step.value} on "
            f"{host_port(last.target, last.port)}"
        )
    if failed is None:
        return last.outcome, (
            f"every step worked: {last.step.value} on {host_port(last.target, last.port)} "
            f"{last.outcome}"
        )
    if failed.outcome == NOT_TRIED:
        return failed.outcome, failed.explanation or failed.detail or ""
    return failed.outcome, (
        f"{failed.step.value} to {host_port(failed.target, failed.port)} {failed.outcome}: "
        f"{failed.explanation or failed.detail or ''}"
    )


def _header(report: TraceReport) -> list[str]:
    capture = report.capture
    lines = [
        f"trace {printable(report.server)}"
        + (f" ({report.address})" if report.address != report.server else "")
        + f", endpoint mapper port {report.epm_port}, from {_day(report.started)}"
    ]
    if capture.active:
        lines.append(
            f"capturing on {capture.net_iface} ({capture.packets} packets of these "
            f"connections): {capture.filter}"
        )
    else:
        lines.append(f"no packet capture: {capture.reason}")
    return lines


def _path_rows(report: TraceReport) -> list[tuple[str, ...]]:
    """One row per TTL, up to where every port's path ended (or one hop past its last answer)."""
    path = report.path
    if path is None:
        return []
    by_ttl: dict[int, dict[int, PathProbe]] = {}
    for probe in path.probes:
        by_ttl.setdefault(probe.ttl, {})[probe.port] = probe
    last = min(path.max_hops, max(path_end(path.probes, port) for port in path.ports))
    rows = []
    for ttl in sorted(by_ttl):
        if ttl > last:
            break
        cells = [str(ttl)]
        for port in path.ports:
            answer = by_ttl[ttl].get(port)
            cells.append(_probe_text(answer) if answer else "")
        rows.append(tuple(cells))
    return rows


def _probe_text(probe: PathProbe) -> str:
    if probe.reply == "none":
        return "*"
    text = f"{probe.address} {probe.reply}"
    if probe.reply == "unreachable":
        text += f" (ICMP {probe.icmp_type}/{probe.icmp_code})"
    if probe.reply_ttl is not None:
        text += f" TTL {probe.reply_ttl}"
    if probe.rtt_ms is not None:
        text += f" {probe.rtt_ms:.1f} ms"
    return text


def print_trace(report: TraceReport, output: Output, *, verbose: bool = False) -> None:
    """The whole trace in the output's form."""
    if output.plain:
        _plain(report, output, verbose)
    else:
        _rich(report, output, verbose)


def _cut_short(report: TraceReport, index: int, ways: int, steps: list[TraceStep]) -> str | None:
    """The signal that stopped the trace, for the way it was on: the last one, unless that
    one got to its interface's bind (the endpoint mapper's own bind comes before)."""
    if report.interrupted is None or index != ways - 1:
        return None
    last = steps[-1]
    reached_its_bind = last.step is TraceStepKind.BIND and (
        last.transport == "ncacn_http" or last.port != report.epm_port
    )
    return None if reached_its_bind else report.interrupted


def _plain(report: TraceReport, output: Output, verbose: bool) -> None:
    for line in _header(report):
        output.record("trace", line)
    ways = _ways(report.steps)
    for index, ((interface, transport), steps) in enumerate(ways):
        for step in steps:
            output.record(
                "step",
                clock(step.started),
                f"{step.elapsed_ms:.1f}",
                interface,
                transport,
                step.step.value,
                host_port(step.target, step.port),
                step.outcome,
                _what(step),
            )
            if verbose or not step.ok:
                for fact in step.evidence:
                    output.record("evidence", fact.source, fact.summary)
        outcome, sentence = verdict(steps, _cut_short(report, index, len(ways), steps))
        output.record("verdict", interface, transport, outcome, sentence)
    if report.path is not None:
        output.record("path", "hop", *(str(port) for port in report.path.ports))
        for row in _path_rows(report):
            output.record("path", *row)
        if report.path.verdict:
            output.record("path", "verdict", report.path.verdict)
    _closing(report, output)


def _closing(report: TraceReport, output: Output) -> None:
    for note in report.notes:
        output.record("note", note)
    if report.interrupted:
        output.record(
            "note",
            f"interrupted by {report.interrupted} after {counted(len(report.steps), 'step')}",
        )


def _rich(report: TraceReport, output: Output, verbose: bool) -> None:
    for index, line in enumerate(_header(report)):
        output.line(Text(printable(line), style="bold" if index == 0 else "dim"))
    verdicts = Table(show_header=False, box=None, pad_edge=False, expand=False)
    verdicts.add_column("interface", no_wrap=True)
    verdicts.add_column("outcome", no_wrap=True)
    verdicts.add_column("verdict", overflow="fold")
    ways = _ways(report.steps)
    for index, ((interface, transport), steps) in enumerate(ways):
        label = interface_label(interface)
        output.line()
        output.line(
            Text(f"{label} over {_TRANSPORT_WORDS.get(transport, transport)}", style="bold")
        )
        table = Table(box=None, pad_edge=False, expand=False)
        for name in ("time", "ms", "step", "target", "outcome", "what happened"):
            table.add_column(name, overflow="fold")  # a UUID in the text folds, never cut
        table.columns[1].justify = "right"
        targets = [host_port(s.target, s.port) for s in steps]
        for step, target in zip(steps, targets, strict=True):
            table.add_row(
                clock(step.started),
                f"{step.elapsed_ms:.1f}",
                step.step.value,
                target,
                Text(step.outcome, style=STATUS_STYLE.get(step.outcome, "bold")),
                _what(step),
            )
            if verbose or not step.ok:
                for fact in step.evidence:
                    table.add_row(
                        "", "", "", "", Text(fact.source, style="dim"), printable(fact.summary)
                    )
        keep_whole(table, 3, targets)
        keep_whole(table, 0, [clock(s.started) for s in steps])
        output.render(table)
        outcome, sentence = verdict(steps, _cut_short(report, index, len(ways), steps))
        verdicts.add_row(
            f"{label} over {'HTTP' if transport == 'ncacn_http' else 'TCP'}",
            Text(outcome, style=STATUS_STYLE.get(outcome, "bold")),
            printable(sentence),
        )
    output.line()
    output.render(verdicts)
    if report.path is not None:
        output.line()
        output.line(Text(f"SYN traceroute to {report.path.target}", style="bold"))
        table = Table(box=None, pad_edge=False, expand=False)
        table.add_column("hop", justify="right")
        for port in report.path.ports:
            table.add_column(f"port {port}")
        for row in _path_rows(report):
            table.add_row(*row)
        output.render(table)
        if report.path.verdict:
            output.line(Text(printable(report.path.verdict)))
    if report.notes or report.interrupted:
        output.line()
    for note in report.notes:
        output.line(Text(f"note: {printable(note)}", style="yellow"))
    if report.interrupted:
        output.line(
            Text(
                f"interrupted by {report.interrupted} after {counted(len(report.steps), 'step')}",
                style="yellow",
            )
        )
