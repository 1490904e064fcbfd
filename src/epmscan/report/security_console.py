"""Console view of ``scan --findings``: roles per host, findings by severity and host.

After the scan's table of hosts: one line per host with the roles guessed (and the
interfaces behind each guess), then the findings grouped by severity (worst first) and,
within a severity, by host (in address order), one line each with its code, what is
reachable where and, on a terminal, why it matters (once per code); ``info`` findings
are counted, and listed only with ``--verbose``; then a closing line with counts by
severity. The plain form (off a terminal, ``--plain``) gives one tab-separated record
per role and per finding. Only the hosts the console kept are listed; the tally counts
every host, and the files hold everything.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rich.text import Text

from epmscan.facts.security import CATALOGUE
from epmscan.models import (
    Confidence,
    ExposureFinding,
    HostRole,
    InferredRole,
    SecurityHostReport,
    Severity,
)
from epmscan.report.check_console import SEVERITY_STYLE
from epmscan.report.console import host_label
from epmscan.report.order import address_key
from epmscan.report.output import Output
from epmscan.report.text import counted, printable

ROLE_FIELDS = ("role", "host", "role", "confidence", "evidence")
FINDING_FIELDS = ("finding", "host", "severity", "code", "message")


def role_label(role: HostRole) -> str:
    """``domain controller``: the catalogue's words for a role."""
    rule = CATALOGUE.rule(role)
    return rule.label if rule is not None else role.value.replace("_", " ")


def roles_text(roles: Iterable[InferredRole], *, evidence: bool = True) -> str:
    """``domain controller (ms-drsr), print server? (ms-rprn)``; ``?`` marks a low guess."""
    parts = []
    for guess in roles:
        text = role_label(guess.role) + ("?" if guess.confidence is Confidence.LOW else "")
        if evidence and guess.evidence:
            text += f" ({', '.join(guess.evidence)})"
        parts.append(text)
    return ", ".join(parts)


@dataclass
class SecurityTally:
    """Counts over every host of the run (also those the console did not keep)."""

    hosts: int = 0
    answered: int = 0
    severities: Counter[Severity] = field(default_factory=Counter)
    roles: Counter[HostRole] = field(default_factory=Counter)

    def add(self, report: SecurityHostReport) -> None:
        self.hosts += 1
        if report.host.ok:
            self.answered += 1
        for finding in report.findings:
            self.severities[finding.severity] += 1
        for guess in report.roles:
            if guess.confidence is Confidence.HIGH:
                self.roles[guess.role] += 1


def closing_line(tally: SecurityTally) -> str:
    """``findings on 5 of 7 hosts: 2 critical, 4 error, 9 info; 1 domain controller``."""
    counts = ", ".join(
        f"{tally.severities[s]} {s.value}" for s in reversed(Severity) if tally.severities[s]
    )
    line = f"findings on {tally.answered} of {counted(tally.hosts, 'host')}: {counts or 'none'}"
    roles = ", ".join(f"{n} {role_label(role)}" for role in HostRole if (n := tally.roles[role]))
    return f"{line}; roles: {roles}" if roles else line


def _host_name(report: SecurityHostReport) -> str:
    return report.host.address or report.host.target


def _grouped(
    reports: Sequence[SecurityHostReport],
) -> list[tuple[Severity, list[tuple[SecurityHostReport, list[ExposureFinding]]]]]:
    groups = []
    for severity in reversed(Severity):
        hosts = []
        for report in reports:
            found = [f for f in report.findings if f.severity is severity]
            if found:
                hosts.append((report, found))
        if hosts:
            groups.append((severity, hosts))
    return groups


def print_security(
    reports: Iterable[SecurityHostReport],
    out: Output,
    *,
    tally: SecurityTally | None = None,
    dropped: int = 0,
    files: Sequence[str] = (),
    verbose: bool = False,
) -> None:
    """Roles of each host, then the findings by severity and host, then a closing line.

    ``reports`` are what the console kept; ``dropped`` counts hosts with findings it did
    not keep (the ``files`` have them). The rich form lists ``info`` findings only when
    ``verbose``; the plain form lists every finding.
    """
    kept = sorted(
        (r for r in reports if r.host.ok),
        key=lambda r: address_key(r.host.address, r.host.target),
    )
    if tally is None:
        tally = SecurityTally()
        for report in kept:
            tally.add(report)
    if out.plain:
        _print_plain(kept, out)
    else:
        _print_rich(kept, out, verbose=verbose, files=files)
    if dropped:
        where = f": {', '.join(files)} hold them" if files else ""
        out.line(f"{'# ' if out.plain else ''}... and {dropped} more hosts with findings{where}")
    closing = closing_line(tally)
    out.line(f"# {closing}" if out.plain else closing)


def _print_plain(reports: Sequence[SecurityHostReport], out: Output) -> None:
    if any(r.roles for r in reports):
        out.record(*ROLE_FIELDS)
    for report in reports:
        for guess in report.roles:
            out.record(
                "role",
                _host_name(report),
                guess.role.value,
                guess.confidence.value,
                ",".join(guess.evidence),
            )
    if any(r.findings for r in reports):
        out.record(*FINDING_FIELDS)
    for severity, hosts in _grouped(reports):
        for report, found in hosts:
            for f in found:
                out.record("finding", _host_name(report), severity.value, f.code, f.message)


def _print_rich(
    reports: Sequence[SecurityHostReport], out: Output, *, verbose: bool, files: Sequence[str]
) -> None:
    with_roles = [r for r in reports if r.roles]
    if with_roles:
        out.line(Text("\nRoles", style="bold"))
    for report in with_roles:
        line = Text(f"  {host_label(report.host)}  ", style="bold")
        line.append(printable(roles_text(report.roles)))
        out.line(line)
    groups = _grouped(reports)
    total = sum(len(found) for _, hosts in groups for _, found in hosts)
    if total:
        out.line(Text(f"\nFindings ({total})", style="bold"))
    explained: set[str] = set()
    for severity, hosts in groups:
        count = sum(len(found) for _, found in hosts)
        heading = Text(f"{severity.value} ({count})", style=SEVERITY_STYLE[severity])
        if severity is Severity.INFO and not verbose:
            where = f" in {', '.join(files)}" if files else ""
            heading.append(f": listed with --verbose, and{where} with --json/--jsonl/--csv")
            out.line(heading)
            continue
        out.line(heading)
        for report, found in hosts:
            heading = Text(f"  {host_label(report.host)}", style="bold")
            roles = roles_text(report.roles, evidence=False)
            if roles:
                heading.append(f" — {printable(roles)}", style="dim")
            out.line(heading)
            for f in found:
                line = Text(f"    {f.code}: ", style="dim")
                line.append(printable(f.message))
                out.line(line)
                if f.why and severity.rank >= Severity.WARNING.rank and f.code not in explained:
                    explained.add(f.code)
                    out.line(Text(f"      {printable(f.why)}", style="italic dim"))
