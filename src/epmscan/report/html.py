"""One self-contained HTML page for a saved result: ``epmscan report RESULT --html FILE``.

How it works: :func:`tally` counts what the page states (hosts by status, findings by
severity, hosts by worst severity, roles, hosts per risky interface, Exchange findings)
from the models, once; :func:`render_html` writes the page from those counts and the
hosts. The page has, in order: where the result comes from (and whether its security
view was saved by ``scan --findings`` or computed here from the endpoints), a summary
of counts, an inline SVG chart of what is exposed across the hosts (hosts per risky
interface, stacked by severity; hosts per role), the findings by interface, the
Exchange findings of a ``check``, a table of the hosts shown in full, the other hosts
as counts and address ranges, and one collapsed ``<details>`` per host shown in full
with its roles, findings, Exchange ports, inventory and every endpoint.

Every number the page states is also in a ``data-count`` attribute (``hosts``,
``status-ok``, ``severity-critical``, ``worst-error``, ``role-domain_controller``,
``interface-coercion.ms-rprn`` ...), so a test can read them from the browser's DOM.
Counts of roles and interfaces are written only where they are not zero.

Safety: everything read from the result (annotations, names, pipes, errors, banners,
targets, even the catalogue's words: a file can be edited) goes through
:func:`~epmscan.report.text.printable` (control, bidi and zero-width characters become
visible escapes) and then :func:`html.escape` with quotes, and is cut at
:data:`MAX_TEXT` characters. Nothing is placed in a script or style context; links are
written only for ``https://`` sources. The page carries a Content-Security-Policy that
allows its own stylesheet (by hash) and nothing else: no script, no image, no font, no
fetch of any kind. It needs no JavaScript (``<details>`` collapses).

Scale: the first ``full_hosts`` hosts that answered (worst findings first) get a table
row and a detail section; every other host is counted by status and error and listed
as address ranges (at most :data:`MAX_RANGES` per group). A host's findings, inventory
and endpoints are monospace listings (two lines per interface), not tables, so that a
/16 with two thousand Windows hosts stays a page a browser opens in seconds
(``bench/report_html.py`` measures it).
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from string import Template

from epmscan import __version__
from epmscan.checks.exposure import ANONYMOUS_CODE
from epmscan.facts.security import CATALOGUE
from epmscan.models import (
    Confidence,
    EndpointRecord,
    ExchangeHostReport,
    ExposureFinding,
    HostResult,
    HostRole,
    HostStatus,
    InferredRole,
    PortProbeStatus,
    Reachability,
    SavedRun,
    SecurityHostReport,
    Severity,
)
from epmscan.report.order import SortKey, address_key
from epmscan.report.text import counted, printable
from epmscan.settings import REPORT_FULL_HOSTS

MAX_TEXT = 300
"""Characters of one server-supplied string the page shows (the rest is cut, with …)."""
MAX_RANGES = 2_000
"""Address ranges listed per group of the hosts not shown in full."""
MAX_ERROR_GROUPS = 20
"""Distinct error lines listed per status among those hosts (the rest are one group)."""
MAX_LINKED_HOSTS = 300
"""Hosts named per interface in the findings table as links; the rest as plain text."""
MAX_CHART_BARS = 40
"""Risky interfaces drawn in the chart (the others are in the findings table)."""
SEVERITIES = tuple(reversed(Severity))
"""Worst first."""
_HTTPS = re.compile(r"https://[A-Za-z0-9._~:/?#@!$&*+,;=%\[\]-]+")
_TRANSPORT_WORDS = {
    "ncacn_ip_tcp": "TCP",
    "ncacn_http": "HTTP",
    "ncacn_np": "pipe",
    "ncalrpc": "LRPC",
    "ncadg_ip_udp": "UDP",
}


@dataclass(frozen=True, slots=True)
class ReportContent:
    """What one page shows: the saved run and a security view for each of its hosts."""

    saved: SavedRun
    security: tuple[SecurityHostReport, ...]
    """One per host of ``saved.hosts``, in the same order."""
    computed: int = 0
    """How many of them were computed at report time (not saved by ``scan --findings``)."""
    catalogue: int = CATALOGUE.version
    """The catalogue version the computed views rest on."""
    generated: str = ""
    """When the page was made (UTC, ISO 8601)."""
    full_hosts: int = REPORT_FULL_HOSTS


@dataclass
class ReportTally:
    """Every number the page states, counted over every host of the result."""

    hosts: int = 0
    statuses: Counter[HostStatus] = field(default_factory=Counter)
    findings: Counter[Severity] = field(default_factory=Counter)
    worst: Counter[Severity] = field(default_factory=Counter)
    """Hosts by the worst severity of their security findings."""
    roles_high: Counter[HostRole] = field(default_factory=Counter)
    roles_low: Counter[HostRole] = field(default_factory=Counter)
    interfaces: dict[str, Counter[Severity]] = field(default_factory=dict)
    """Catalogue finding code → hosts exposing it, by the severity found there."""
    anonymous: int = 0
    """Hosts whose endpoint mapper gave its map without credentials (``epm.anonymous``)."""
    exchange_findings: Counter[Severity] = field(default_factory=Counter)
    endpoints: int = 0
    answered_with_endpoints: int = 0
    """Hosts worth showing in full: answered, or holding endpoints."""
    full: int = 0
    """Hosts shown in full (a table row and a detail section)."""

    @property
    def hosts_with_findings(self) -> int:
        return sum(self.worst.values())

    def interface_hosts(self, code: str) -> int:
        return sum(self.interfaces.get(code, Counter()).values())


def tally(content: ReportContent) -> ReportTally:
    """The page's numbers, from the models."""
    counts = ReportTally(hosts=len(content.saved.hosts))
    for report, security in zip(content.saved.hosts, content.security, strict=True):
        counts.statuses[report.host.status] += 1
        counts.endpoints += len(report.host.endpoints)
        if worth_showing(report):
            counts.answered_with_endpoints += 1
        for finding in report.findings:
            counts.exchange_findings[finding.severity] += 1
        anonymous = False
        for exposure in security.findings:
            counts.findings[exposure.severity] += 1
            anonymous = anonymous or exposure.code == ANONYMOUS_CODE
        counts.anonymous += anonymous
        worst = security.worst
        if worst is not None:
            counts.worst[worst] += 1
        for guess in security.roles:
            bucket = counts.roles_high if guess.confidence is Confidence.HIGH else counts.roles_low
            bucket[guess.role] += 1
        for code, severity in _exposed(security.findings).items():
            counts.interfaces.setdefault(code, Counter())[severity] += 1
    counts.full = min(counts.answered_with_endpoints, max(0, content.full_hosts))
    return counts


def _exposed(findings: Iterable[ExposureFinding]) -> dict[str, Severity]:
    """Each catalogued interface's code on one host, with the worst severity found."""
    found: dict[str, Severity] = {}
    for f in findings:
        if f.code == ANONYMOUS_CODE or f.interface is None:
            continue
        if f.code not in found or f.severity.rank > found[f.code].rank:
            found[f.code] = f.severity
    return found


def worth_showing(report: ExchangeHostReport) -> bool:
    """Answered, or holding endpoints (a walk cut short): a host shown in full."""
    return report.host.ok or bool(report.host.endpoints)


def _rank(report: ExchangeHostReport, security: SecurityHostReport) -> int:
    worst = security.worst.rank if security.worst is not None else -1
    for f in report.findings:
        worst = max(worst, f.severity.rank)
    return worst


def host_key(address: str, fallback: str = "") -> SortKey:
    """:func:`~epmscan.report.order.address_key`, with a quick path for dotted IPv4."""
    parts = address.split(".")
    if len(parts) == 4 and all(p.isdigit() and len(p) <= 3 for p in parts):
        a, b, c, d = (int(p) for p in parts)
        if max(a, b, c, d) <= 255 and all(p == "0" or not p.startswith("0") for p in parts):
            return (0, (a << 24) | (b << 16) | (c << 8) | d, "")
    return address_key(address, fallback)


def shown_in_full(content: ReportContent) -> list[int]:
    """Indexes of the hosts worth showing, worst findings first, then by address."""
    hosts = content.saved.hosts
    chosen = [i for i, report in enumerate(hosts) if worth_showing(report)]
    chosen.sort(
        key=lambda i: (
            -_rank(hosts[i], content.security[i]),
            host_key(hosts[i].host.address, hosts[i].host.target),
        )
    )
    return chosen[: max(0, content.full_hosts)]


# --- text -------------------------------------------------------------------------


def text(value: object, limit: int = MAX_TEXT) -> str:
    """Untrusted text for the page: made printable, cut at ``limit``, HTML-escaped."""
    return _text(value if isinstance(value, str) else str(value), limit)


@lru_cache(maxsize=1 << 16)
def _text(value: str, limit: int) -> str:
    shown = printable(value)
    if len(shown) > limit:
        shown = shown[:limit] + "…"
    return html.escape(shown, quote=True)


def _n(number: int) -> str:
    return f"{number:,}"


def _hosts(number: int) -> str:
    return f"{number:,} host" if number == 1 else f"{number:,} hosts"


def _count(name: str, number: int) -> str:
    """A number with its ``data-count`` name (names are ours, never the file's)."""
    return f'<span class="n" data-count="{text(name)}">{_n(number)}</span>'


def _link(source: str | None, label: str) -> str:
    """``label`` linked to the first ``https://`` address in ``source``, if there is one."""
    found = _HTTPS.search(source or "")
    if found is None:
        return label
    url = found.group(0).rstrip(".,;:")
    return f'<a href="{text(url, 2000)}" rel="noreferrer noopener">{label}</a>'


def _sev(severity: Severity | None) -> str:
    if severity is None:
        return '<span class="sev none">none</span>'
    return f'<span class="sev {severity.value}">{severity.value}</span>'


def _host_name(host: HostResult) -> str:
    return host.address or host.target


def _netbios(host: HostResult) -> str | None:
    """The NetBIOS name the named-pipe towers carry (``\\\\DC01``), when there is one."""
    for e in host.endpoints:
        if e.transport == "ncacn_np" and e.address and e.address.startswith("\\\\"):
            name = e.address[2:]
            if name:
                return name
    return None


def _role_label(role: HostRole) -> str:
    rule = CATALOGUE.rule(role)
    return rule.label if rule is not None else role.value.replace("_", " ")


def _roles(roles: Sequence[InferredRole], *, evidence: bool = False) -> str:
    parts = []
    for guess in roles:
        low = guess.confidence is Confidence.LOW
        label = text(_role_label(guess.role)) + ("?" if low else "")
        if evidence and guess.evidence:
            label += f' <span class="muted">({text(", ".join(guess.evidence))})</span>'
        parts.append(f'<span class="role{" low" if low else ""}">{label}</span>')
    return ", ".join(parts) or '<span class="muted">—</span>'


def _entry(code: str) -> tuple[str, str | None]:
    """The catalogue's name and document of a finding code (the code itself if unknown)."""
    entry_id = code.split(".", 1)[1] if "." in code else code
    try:
        entry = CATALOGUE.by_id(entry_id)
    except KeyError:
        return code, None
    document = entry.document if entry.document.lower() not in ("", "none") else None
    return entry.name, document


def _document(document: str | None) -> str:
    """`` [MS-RPRN]`` after an interface's name; nothing where the catalogue has none."""
    if not document or document.lower() == "none":
        return ""
    return f" [{text(document)}]"


def _hosts_word(number: int) -> str:
    return "host" if number == 1 else "hosts"


# --- the page ---------------------------------------------------------------------


def render_html(content: ReportContent, counts: ReportTally | None = None) -> str:
    """The whole page, one string (UTF-8 when written)."""
    counts = counts if counts is not None else tally(content)
    shown = shown_in_full(content)
    anchors = {index: f"h{number}" for number, index in enumerate(shown, 1)}
    parts = [
        _header(content),
        _nav(content),
        "<main>",
        _summary(content, counts),
        _exposure(counts),
        _findings_table(content, counts, anchors),
    ]
    if content.saved.exchange_checked:
        parts.append(_exchange_section(content, anchors))
    parts.append(_hosts_table(content, counts, shown, anchors))
    parts.append(_others(content, set(shown)))
    parts.append(_details(content, shown, anchors))
    parts.append("</main>")
    parts.append(
        f"<footer>Made by epmscan {text(__version__)} on {text(content.generated)} from "
        f"{text(content.saved.source)}. This page loads nothing: no script, no image, no "
        "font, no request of any kind (its Content-Security-Policy forbids them).</footer>"
    )
    return _page(f"epmscan report: {content.saved.source}", "\n".join(parts))


def _page(title: str, body: str) -> str:
    folder = resources.files("epmscan.report") / "assets"
    style = (folder / "report.css").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(style.encode("utf-8")).digest()).decode()
    csp = (
        f"default-src 'none'; style-src 'sha256-{digest}'; img-src 'none'; "
        "script-src 'none'; base-uri 'none'; form-action 'none'"
    )
    template = Template((folder / "page.html").read_text(encoding="utf-8"))
    return template.substitute(
        csp=csp,
        generator=f"epmscan {text(__version__)}",
        title=text(title),
        style=style,
        body=body,
    )


def _header(content: ReportContent) -> str:
    saved = content.saved
    info = saved.info
    rows: list[tuple[str, str]] = [("result", text(saved.source))]
    if info is not None:
        command = {"check": "check (the Exchange view)"}.get(info.command, info.command)
        rows.append(("command", text(command or "unknown")))
        if info.targets:
            shown = ", ".join(info.targets[:20])
            more = f" and {len(info.targets) - 20} more" if len(info.targets) > 20 else ""
            rows.append(("targets", text(shown + more)))
        rows.append(("started", text(info.started or "unknown")))
        rows.append(("endpoint mapper port", text(info.port)))
        if info.policy:
            rows.append(("policy", text(info.policy)))
    else:
        rows.append(("command", "unknown (the file has no epmscan header)"))
    rows.append(("roles and findings", _provenance(content)))
    items = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    return f'<header class="page"><h1>epmscan report</h1><dl>{items}</dl></header>'


def _provenance(content: ReportContent) -> str:
    """Where the roles and findings come from: the scan, or this report."""
    saved = content.saved
    total = len(saved.hosts)
    verified = sum(1 for s in content.security if s.verified)
    parts = []
    if content.computed < total:
        from_scan = total - content.computed
        words = f"saved by scan --findings for {_n(from_scan)} of {_hosts(total)}"
        if saved.security_catalogue is not None:
            words += f" (interface catalogue version {saved.security_catalogue})"
        if verified:
            words += f"; advertised TCP ports bound (--verify) on {_hosts(verified)}"
        parts.append(f'<span data-provenance="saved">{text(words)}</span>')
    if content.computed:
        words = (
            f"computed at report time from the saved endpoints for {_n(content.computed)} "
            f"of {_hosts(total)} (interface catalogue version {content.catalogue}); no "
            "port was bound: reachable means advertised by the endpoint mapper"
        )
        parts.append(f'<span data-provenance="computed">{text(words)}</span>')
    return "; ".join(parts)


def _nav(content: ReportContent) -> str:
    links = [("summary", "Summary"), ("exposure", "Exposure"), ("findings", "Findings")]
    if content.saved.exchange_checked:
        links.append(("exchange", "Exchange"))
    links += [("hosts", "Hosts"), ("others", "Other hosts"), ("detail", "Host detail")]
    items = "".join(f'<a href="#{anchor}">{label}</a>' for anchor, label in links)
    return f'<nav class="toc">{items}</nav>'


def _card(name: str, number: int, label: str, kind: str = "") -> str:
    classes = " ".join(c for c in ("card", kind, "zero" if number == 0 else "") if c)
    return f'<div class="{classes}">{_count(name, number)}<span class="l">{label}</span></div>'


def _summary(content: ReportContent, counts: ReportTally) -> str:
    saved = content.saved
    out = ['<section id="summary"><h2>Summary</h2>']
    if content.computed:
        out.append(
            '<p class="warn">Roles and findings of '
            f"{_n(content.computed)} {_hosts_word(content.computed)} were computed now from "
            "the endpoints the result saved (it was not saved by scan --findings): no port "
            "was bound to prove it reachable.</p>"
        )
    out.append('<div class="cards">')
    out.append(_card("hosts", counts.hosts, "hosts in the result"))
    ok = counts.statuses[HostStatus.OK]
    out.append(_card("status-ok", ok, "answered (endpoint map read)", "ok"))
    out.append(_card("status-closed", counts.statuses[HostStatus.CLOSED], "closed"))
    out.append(_card("status-filtered", counts.statuses[HostStatus.FILTERED], "filtered"))
    others = counts.hosts - ok - counts.statuses[HostStatus.CLOSED]
    others -= counts.statuses[HostStatus.FILTERED]
    out.append(_card("status-other", others, "other statuses"))
    out.append(_card("endpoints", counts.endpoints, "endpoints listed"))
    out.append("</div>")
    summary = saved.summary
    if saved.info is not None and saved.info.only_answered:
        scanned = f" of {_n(summary.targets)} scanned" if summary is not None else ""
        out.append(
            '<p class="note">Saved with --only-answered: the file holds only the hosts that '
            f"answered{text(scanned)}; every count here is of the hosts in the file.</p>"
        )
    if summary is not None and summary.interrupted:
        out.append(
            f'<p class="warn">The run was interrupted ({text(summary.signal or "signal")}): '
            f"{_n(summary.done)} of {_n(summary.targets)} targets were done.</p>"
        )
    for note in saved.notes:
        out.append(f'<p class="warn">{text(note, 1000)}</p>')

    out.append('<h3>Findings by severity</h3><div class="cards">')
    for severity in SEVERITIES:
        label = f"{severity.value} findings"
        out.append(
            _card(f"severity-{severity.value}", counts.findings[severity], label, severity.value)
        )
    out.append(_card("hosts-with-findings", counts.hosts_with_findings, "hosts with findings"))
    out.append("</div>")

    out.append('<div class="side">')
    out.append('<table class="counts"><thead><tr><th>status</th><th class="num">hosts</th>')
    out.append("<th>meaning</th></tr></thead><tbody>")
    for status in HostStatus:
        number = counts.statuses[status]
        row_class = ' class="zero"' if number == 0 else ""
        out.append(
            f"<tr{row_class}><td>{status.value}</td>"
            f'<td class="num">{_count(f"status-{status.value}", number)}</td>'
            f"<td>{status.meaning}</td></tr>"
        )
    out.append("</tbody></table>")
    out.append('<table class="counts"><thead><tr><th>worst finding of a host</th>')
    out.append('<th class="num">hosts</th></tr></thead><tbody>')
    for severity in SEVERITIES:
        number = counts.worst[severity]
        row_class = ' class="zero"' if number == 0 else ""
        out.append(
            f"<tr{row_class}><td>{_sev(severity)}</td>"
            f'<td class="num">{_count(f"worst-{severity.value}", number)}</td></tr>'
        )
    out.append("</tbody></table></div>")
    if saved.exchange_checked:
        out.append('<h3>Exchange findings (check)</h3><div class="cards">')
        for severity in SEVERITIES:
            out.append(
                _card(
                    f"exchange-{severity.value}",
                    counts.exchange_findings[severity],
                    f"{severity.value} Exchange findings",
                    severity.value,
                )
            )
        out.append("</div>")
    out.append("</section>")
    return "".join(out)


# --- the chart --------------------------------------------------------------------

_CHART_WIDTH = 1000
_LABEL_WIDTH = 420
_BAR_HEIGHT = 18
_ROW_HEIGHT = 24
_LABEL_CHARS = 54


def _chart_order(counts: ReportTally) -> list[str]:
    return sorted(
        counts.interfaces,
        key=lambda c: (
            -max(s.rank for s in counts.interfaces[c]),
            -counts.interface_hosts(c),
            c,
        ),
    )


def _exposure(counts: ReportTally) -> str:
    out = ['<section id="exposure"><h2>What is exposed</h2>']
    answered = counts.statuses[HostStatus.OK]
    codes = _chart_order(counts)
    out.append(
        f'<h3>Hosts per risky interface <span class="muted">(of {_n(answered)} answered; '
        "each bar split by the severity on each host: higher on a domain controller)</span></h3>"
    )
    if codes:
        out.append(_legend(SEVERITIES))
        out.append(_interface_chart(codes[:MAX_CHART_BARS], counts, answered))
        if len(codes) > MAX_CHART_BARS:
            out.append(
                f'<p class="note">{len(codes) - MAX_CHART_BARS} more interfaces in the '
                "findings table.</p>"
            )
    else:
        out.append('<p class="note">No catalogued interface is reachable on any host.</p>')
    out.append(
        '<h3>Hosts per role <span class="muted">(guessed from the interfaces; a host may '
        "have several)</span></h3>"
    )
    roles = [r for r in HostRole if counts.roles_high[r] or counts.roles_low[r]]
    if roles:
        out.append(
            '<div class="legend"><span><i class="high"></i>sure: an interface only that role '
            'serves</span><span><i class="low"></i>possible: interfaces that fit, but other '
            "hosts serve them too</span></div>"
        )
        out.append(_role_chart(roles, counts, answered))
    else:
        out.append('<p class="note">No host answered: no role to guess.</p>')
    out.append("</section>")
    return "".join(out)


def _legend(severities: Iterable[Severity]) -> str:
    items = "".join(f'<span><i class="{s.value}"></i>{s.value}</span>' for s in severities)
    return f'<div class="legend">{items}</div>'


def _scale(number: int, total: int) -> float:
    room = _CHART_WIDTH - _LABEL_WIDTH - 150
    return room * number / total if total else 0.0


def _svg_open(kind: str, rows: int, label: str) -> str:
    height = _ROW_HEIGHT * rows + 8
    return (
        f'<svg class="chart" data-chart="{kind}" viewBox="0 0 {_CHART_WIDTH} {height}" '
        f'role="img" aria-label="{label}" xmlns="http://www.w3.org/2000/svg">'
    )


def _bar_label(y: int, label: str, full: str) -> str:
    return (
        f"<title>{text(full)}</title>"
        f'<text x="{_LABEL_WIDTH - 8}" y="{y + 13}" text-anchor="end">{text(label)}</text>'
        f'<rect class="track" x="{_LABEL_WIDTH}" y="{y}" width="{_scale(1, 1):.1f}" '
        f'height="{_BAR_HEIGHT}"/>'
    )


def _interface_chart(codes: Sequence[str], counts: ReportTally, answered: int) -> str:
    total = max([answered, *(counts.interface_hosts(c) for c in codes)])
    out = [_svg_open("interfaces", len(codes), "hosts per risky interface")]
    for row, code in enumerate(codes):
        y = row * _ROW_HEIGHT + 4
        by_severity = counts.interfaces[code]
        hosts = counts.interface_hosts(code)
        name, document = _entry(code)
        label = f"{document} · {name}" if document else name
        if len(label) > _LABEL_CHARS:
            label = label[: _LABEL_CHARS - 1] + "…"
        spread = ", ".join(f"{_n(by_severity[s])} {s.value}" for s in SEVERITIES if by_severity[s])
        out.append(f'<g data-code="{text(code)}">')
        out.append(_bar_label(y, label, f"{name} ({code}): {_hosts(hosts)}, {spread}"))
        x = float(_LABEL_WIDTH)
        for severity in SEVERITIES:
            number = by_severity[severity]
            if number:
                width = _scale(number, total)
                out.append(
                    f'<rect class="{severity.value}" x="{x:.1f}" y="{y}" width="{width:.1f}" '
                    f'height="{_BAR_HEIGHT}"/>'
                )
                x += width
        out.append(
            f'<text class="count" x="{x + 6:.1f}" y="{y + 13}">'
            f'<tspan data-count="interface-{text(code)}">{_n(hosts)}</tspan>'
            f'<tspan class="axis"> {_n(hosts * 100 // total if total else 0)}%</tspan>'
            "</text></g>"
        )
    out.append("</svg>")
    return "".join(out)


def _role_chart(roles: Sequence[HostRole], counts: ReportTally, answered: int) -> str:
    total = max([answered, *(counts.roles_high[r] + counts.roles_low[r] for r in roles)])
    out = [_svg_open("roles", len(roles), "hosts per role")]
    for row, role in enumerate(roles):
        y = row * _ROW_HEIGHT + 4
        high, low = counts.roles_high[role], counts.roles_low[role]
        label = _role_label(role)
        out.append(f'<g data-role="{role.value}">')
        out.append(_bar_label(y, label, f"{label}: {_n(high)} sure, {_n(low)} possible"))
        x = float(_LABEL_WIDTH)
        for kind, number in (("high", high), ("low", low)):
            if number:
                width = _scale(number, total)
                out.append(
                    f'<rect class="{kind}" x="{x:.1f}" y="{y}" width="{width:.1f}" '
                    f'height="{_BAR_HEIGHT}"/>'
                )
                x += width
        words = []
        if high:
            words.append(f'<tspan data-count="role-{role.value}">{_n(high)}</tspan> sure')
        if low:
            words.append(f'<tspan data-count="role-{role.value}-low">{_n(low)}</tspan> possible')
        out.append(
            f'<text class="count" x="{x + 6:.1f}" y="{y + 13}">{", ".join(words)}</text></g>'
        )
    out.append("</svg>")
    return "".join(out)


# --- findings by interface --------------------------------------------------------


def _findings_table(content: ReportContent, counts: ReportTally, anchors: dict[int, str]) -> str:
    out = ['<section id="findings"><h2>Findings by interface</h2>']
    out.append(
        f'<p class="note">{_count("anonymous", counts.anonymous)} endpoint mappers gave their '
        "map to a caller without credentials (epm.anonymous, info): anyone who reaches "
        "TCP 135 there learns every registered service, its ports and pipes.</p>"
    )
    hosts_of: dict[str, list[int]] = {}
    example: dict[str, ExposureFinding] = {}
    for index, security in enumerate(content.security):
        for f in security.findings:
            if f.code == ANONYMOUS_CODE or f.interface is None:
                continue
            listed = hosts_of.setdefault(f.code, [])
            if not listed or listed[-1] != index:
                listed.append(index)
            example.setdefault(f.code, f)
    if not hosts_of:
        out.append('<p class="note">No catalogued interface is reachable.</p></section>')
        return "".join(out)
    order = _chart_order(counts)
    risky = [c for c in order if max(s.rank for s in counts.interfaces[c]) > 0]
    info = [c for c in order if c not in risky]
    rows = [_finding_row(content, counts, code, hosts_of, example, anchors) for code in order]
    by_code = dict(zip(order, rows, strict=True))
    head = (
        '<table class="wide"><thead><tr><th>severity</th><th>interface</th>'
        '<th class="num">hosts</th><th>why it matters</th><th>where</th></tr></thead><tbody>'
    )
    if risky:
        out.append(head + "".join(by_code[c] for c in risky) + "</tbody></table>")
    if info:
        out.append(
            f'<details class="list"><summary>{len(info)} more interfaces at info severity '
            "(reachable, telling or useful to an attacker, not a risk alone)</summary>"
            + head
            + "".join(by_code[c] for c in info)
            + "</tbody></table></details>"
        )
    out.append("</section>")
    return "".join(out)


def _finding_row(
    content: ReportContent,
    counts: ReportTally,
    code: str,
    hosts_of: dict[str, list[int]],
    example: dict[str, ExposureFinding],
    anchors: dict[int, str],
) -> str:
    hosts = content.saved.hosts
    f = example[code]
    by_severity = counts.interfaces[code]
    worst = max(by_severity, key=lambda s: s.rank)
    spread = ", ".join(f"{_n(by_severity[s])} {s.value}" for s in SEVERITIES if by_severity[s])
    listed = sorted(
        hosts_of[code], key=lambda i: host_key(hosts[i].host.address, hosts[i].host.target)
    )
    names = []
    for position, index in enumerate(listed):
        name = text(_host_name(hosts[index].host))
        anchor = anchors.get(index)
        if anchor is not None and position < MAX_LINKED_HOSTS:
            names.append(f'<a href="#{anchor}">{name}</a>')
        else:
            names.append(name)
    name, _ = _entry(code)
    document = _document(f.document)
    return (
        f'<tr class="{worst.value}"><td>{_sev(worst)}</td>'
        f"<td>{_link(f.source, text(name))}{document}"
        f'<div class="uuid">{text(code)} · {text(f.uuid or "")} v{text(f.version or "")}'
        f"</div></td>"
        f'<td class="num">{_count(f"code-{code}", len(listed))}'
        f'<div class="muted">{text(spread)}</div></td>'
        f'<td class="why">{text(f.why or "", 600)}</td>'
        f'<td><details class="list"><summary>{_n(len(listed))} '
        f"{_hosts_word(len(listed))}</summary>"
        f'<div class="ranges">{" ".join(names)}</div></details></td></tr>'
    )


# --- Exchange (check) -------------------------------------------------------------


def _exchange_section(content: ReportContent, anchors: dict[int, str]) -> str:
    out = [
        '<section id="exchange"><h2>Exchange findings (check)</h2>',
        '<p class="note">This result is an Exchange check: each host was judged against '
        "the expected static ports and RPC over HTTP. Its findings are listed here as "
        "saved, and in each host's detail with the ports it resolved. The roles and "
        "security findings above were computed from the same endpoints.</p>",
    ]
    rows = []
    hosts = content.saved.hosts
    for index, report in enumerate(hosts):
        key = host_key(report.host.address, report.host.target)
        for f in report.findings:
            rows.append((-f.severity.rank, key, f.code, index, f))
    if not rows:
        out.append('<p class="note">No Exchange finding.</p></section>')
        return "".join(out)
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    out.append(
        '<table class="wide"><thead><tr><th>severity</th><th>host</th><th>code</th>'
        "<th>finding</th></tr></thead><tbody>"
    )
    for _, _, _, index, f in rows:
        name = text(_host_name(hosts[index].host))
        anchor = anchors.get(index)
        host = f'<a href="#{anchor}">{name}</a>' if anchor else name
        fix = (
            f'<details class="list"><summary>how to fix</summary>{text(f.fix, 2000)}</details>'
            if f.fix
            else ""
        )
        out.append(
            f'<tr class="{f.severity.value}"><td>{_sev(f.severity)}</td><td>{host}</td>'
            f"<td><code>{text(f.code)}</code></td><td>{text(f.message, 1000)}{fix}</td></tr>"
        )
    out.append("</tbody></table></section>")
    return "".join(out)


# --- hosts ------------------------------------------------------------------------


def _chips(findings: Iterable[ExposureFinding]) -> str:
    """The risky interfaces of a host, one coloured run per severity; info ones counted."""
    exposed = _exposed(findings)
    runs = []
    for severity in SEVERITIES:
        if severity is Severity.INFO:
            continue
        codes = sorted(c for c, s in exposed.items() if s is severity)
        if codes:
            labels = ", ".join(text(c.split(".", 1)[1] if "." in c else c) for c in codes)
            runs.append(f'<span class="{severity.value}">{labels}</span>')
    info = sum(1 for s in exposed.values() if s is Severity.INFO)
    if info:
        runs.append(f'<span class="muted">+{info} info</span>')
    return " ".join(runs) or '<span class="muted">—</span>'


def _status(host: HostResult) -> str:
    css = "status-ok" if host.ok else "status-bad"
    return f'<span class="{css}">{host.status.value}</span>'


def _hosts_table(
    content: ReportContent, counts: ReportTally, shown: Sequence[int], anchors: dict[int, str]
) -> str:
    out = [
        '<section id="hosts"><h2>Hosts</h2>',
        f'<p class="note">{_count("full", len(shown))} {_hosts_word(len(shown))} shown in '
        "full (those that answered, and those whose walk was cut short with endpoints "
        "read), worst findings first; each links to its detail.</p>",
    ]
    beyond = counts.answered_with_endpoints - len(shown)
    if beyond > 0:
        out.append(
            f'<p class="warn">{_n(beyond)} more {_hosts_word(beyond)} answered: past the '
            f"limit of {_hosts(content.full_hosts)} in full (--full-hosts), they are "
            "counted and listed as address ranges under Other hosts. The saved result has "
            "every endpoint of each.</p>"
        )
    if not shown:
        out.append("</section>")
        return "".join(out)
    out.append(
        '<table class="wide"><thead><tr><th>host</th><th>name</th><th>status</th>'
        '<th>roles</th><th>worst</th><th>risky interfaces</th><th class="num">endpoints</th>'
        "</tr></thead><tbody>"
    )
    hosts = content.saved.hosts
    for index in shown:
        report = hosts[index]
        host = report.host
        security = content.security[index]
        worst = security.worst
        name = _netbios(host)
        target = (
            f'<div class="muted">{text(host.target)}</div>' if host.target != host.address else ""
        )
        exchange = ""
        if report.findings:
            exchange_worst = max((f.severity for f in report.findings), key=lambda s: s.rank)
            exchange = f'<div class="muted">Exchange: {_sev(exchange_worst)}</div>'
        row_class = f' class="{worst.value}"' if worst is not None else ""
        out.append(
            f'<tr{row_class}><td class="mono"><a href="#{anchors[index]}">'
            f"{text(_host_name(host))}</a>{target}</td>"
            f"<td>{text(name) if name else ''}</td><td>{_status(host)}</td>"
            f"<td>{_roles(security.roles)}</td><td>{_sev(worst)}{exchange}</td>"
            f'<td class="risky">{_chips(security.findings)}</td>'
            f'<td class="num">{_n(len(host.endpoints))}</td></tr>'
        )
    out.append("</tbody></table></section>")
    return "".join(out)


def ranges(keys: Sequence[tuple[SortKey, str]]) -> list[str]:
    """Sorted (key, address) pairs as ranges: ``10.0.0.1-9``, ``10.0.0.250-10.0.1.3``."""
    out: list[str] = []
    start = end = -1
    first = ""
    last = ""

    def close() -> None:
        if start < 0:
            return
        if start == end:
            out.append(first)
        elif start >> 8 == end >> 8:
            out.append(f"{first}-{last.rsplit('.', 1)[1]}")
        else:
            out.append(f"{first}-{last}")

    for key, address in keys:
        if key[0] == 0 and start >= 0 and key[1] == end + 1:
            end, last = key[1], address
            continue
        close()
        if key[0] == 0:
            start = end = key[1]
            first = last = address
        else:
            start = end = -1
            out.append(address)
    close()
    return out


def _others(content: ReportContent, shown: set[int]) -> str:
    hosts = content.saved.hosts
    groups: dict[HostStatus, dict[str, list[tuple[SortKey, str]]]] = {}
    for index, report in enumerate(hosts):
        if index in shown:
            continue
        host = report.host
        address = host.address or host.target
        errors = groups.setdefault(host.status, {})
        error = "" if host.ok else (host.error or "")
        bucket = errors.get(error)
        if bucket is None:
            if len(errors) >= MAX_ERROR_GROUPS:
                error = "(other errors)"
            bucket = errors.setdefault(error, [])
        bucket.append((host_key(host.address, host.target), address))
    total = sum(len(b) for errors in groups.values() for b in errors.values())
    out = [
        '<section id="others"><h2>Other hosts</h2>',
        f'<p class="note">{_count("summarised", total)} {_hosts_word(total)} counted here '
        "by status and error, with their addresses as ranges.</p>",
    ]
    if not groups:
        out.append("</section>")
        return "".join(out)
    out.append(
        '<table class="wide"><thead><tr><th>status</th><th class="num">hosts</th>'
        "<th>error</th><th>addresses</th></tr></thead><tbody>"
    )
    for status in HostStatus:
        if not groups.get(status):
            continue
        errors = groups[status]
        number = sum(len(b) for b in errors.values())
        first = True
        for error, bucket in sorted(errors.items(), key=lambda kv: -len(kv[1])):
            bucket.sort()
            spans = ranges(bucket)
            listed = " ".join(text(r, 100) for r in spans[:MAX_RANGES])
            if len(spans) > MAX_RANGES:
                listed += f" … and {_n(len(spans) - MAX_RANGES)} more ranges"
            label = f"{_n(len(bucket))} {_hosts_word(len(bucket))}"
            if len(spans) != len(bucket):
                label += f" in {_n(len(spans))} ranges"
            head = ""
            if first:
                head = (
                    f'<td rowspan="{len(errors)}">{status.value}</td><td class="num" '
                    f'rowspan="{len(errors)}">{_count(f"summarised-{status.value}", number)}</td>'
                )
                first = False
            out.append(
                f"<tr>{head}<td>{text(error) or '—'}</td>"
                f'<td><details class="list"><summary>{label}</summary>'
                f'<div class="ranges">{listed}</div></details></td></tr>'
            )
    out.append("</tbody></table></section>")
    return "".join(out)


# --- one host ---------------------------------------------------------------------


def _details(content: ReportContent, shown: Sequence[int], anchors: dict[int, str]) -> str:
    out = ['<section id="detail"><h2>Host detail</h2>']
    if not shown:
        out.append('<p class="note">No host to show.</p>')
    else:
        out.append(
            '<p class="note">Each host opens on a click (or from a link above): roles, '
            "findings with every transport, Exchange ports, inventory, and every endpoint "
            "grouped by interface (risky ones in colour).</p>"
        )
    hosts = content.saved.hosts
    for index in shown:
        out.append(_host_detail(hosts[index], content.security[index], anchors[index]))
    out.append("</section>")
    return "".join(out)


def _host_detail(report: ExchangeHostReport, security: SecurityHostReport, anchor: str) -> str:
    host = report.host
    name = _netbios(host)
    label = text(_host_name(host))
    if host.target != host.address:
        label += f' <span class="muted">({text(host.target)})</span>'
    if name:
        label += f" <b>{text(name)}</b>"
    out = [
        f'<details class="host"><summary><span class="mono">{label}</span> '
        f"{_sev(security.worst)} {_roles(security.roles)}</summary>"
        f'<div id="{anchor}">'
    ]
    facts = f"status {_status(host)}, endpoint mapper port {host.port}, "
    facts += f"{counted(len(host.endpoints), 'endpoint')} in "
    facts += f"{counted(host.lookup_pages, 'lookup page')}, {host.elapsed:.2f} s"
    out.append(f"<p>{facts}</p>")
    if host.error:
        out.append(f'<p class="warn">{text(host.error, 1000)}</p>')
    if security.roles:
        out.append(f"<p>Roles: {_roles(security.roles, evidence=True)}</p>")
    if security.findings:
        out.append(_host_findings(security))
    if report.ports or report.http or report.findings:
        out.append(_host_exchange(report))
    if host.inventory:
        out.append(_host_inventory(host))
    if host.endpoints:
        out.append(_host_endpoints(host, security))
    out.append("</div></details>")
    return "".join(out)


def _place(reach: Reachability | EndpointRecord, host_address: str) -> str:
    """``TCP 49667``, ``pipe \\PIPE\\spoolss``, ``LRPC spoolss``: escaped."""
    word = _TRANSPORT_WORDS.get(reach.transport)
    if word is None:
        return text(reach.binding or reach.transport)
    if reach.transport in ("ncacn_np", "ncalrpc"):
        return f"{word} {text(reach.endpoint or '')}"
    where = text(reach.port if reach.port is not None else "")
    address = getattr(reach, "address", None)
    if address and address != host_address and address != "0.0.0.0":
        where = f"{text(address)}:{where}"
    return f"{word} {where}"


def _reach(reach: Reachability, host_address: str) -> str:
    shown = _place(reach, host_address)
    if not reach.registered:
        shown += ' <span class="unreg">not registered</span>'
    if reach.verify is not None and reach.verify is not PortProbeStatus.NOT_PROBED:
        css = "ok" if reach.verify is PortProbeStatus.BOUND else "bad"
        shown += f' <span class="{css}">{reach.verify.value}</span>'
    return shown


def _host_findings(security: SecurityHostReport) -> str:
    """The findings by severity, worst first: one line each, with where it is reachable."""
    address = security.host.address
    lines = []
    for severity in SEVERITIES:
        found = sorted((f for f in security.findings if f.severity is severity), key=_by_code)
        if not found:
            continue
        lines.append(f'<span class="sev {severity.value}">{severity.value}</span>')
        for f in found:
            if f.code == ANONYMOUS_CODE or f.interface is None:
                lines.append(f"  {text(f.message)} ({text(f.code)})")
                continue
            name, _ = _entry(f.code)
            document = _document(f.document)
            reach = " · ".join(_reach(r, address) for r in f.reachable)
            lines.append(f"  {text(name)}{document} ({text(f.code)}): {reach}")
    count = counted(len(security.findings), "finding")
    verified = ", advertised TCP ports bound (--verify)" if security.verified else ""
    return f'<h4>{count}{verified}</h4><pre class="listing">' + "\n".join(lines) + "</pre>"


def _by_code(finding: ExposureFinding) -> str:
    return finding.code


def _host_exchange(report: ExchangeHostReport) -> str:
    out = ["<h4>Exchange (check)</h4>"]
    if report.ports:
        out.append(
            "<table><thead><tr><th>interface</th><th>transport</th><th>port</th>"
            "<th>class</th><th>expected</th><th>bind</th></tr></thead><tbody>"
        )
        for p in report.ports:
            out.append(
                f"<tr><td>{p.interface.value}</td><td>{text(p.transport)}</td>"
                f"<td>{text(p.port if p.port is not None else '')}</td>"
                f"<td>{p.port_class.value if p.port_class else ''}</td>"
                f"<td>{text(p.expected_port if p.expected_port is not None else '')}</td>"
                f"<td>{p.probe.value}</td></tr>"
            )
        out.append("</tbody></table>")
    if report.http:
        out.append(
            "<table><thead><tr><th>HTTP port</th><th>interface</th><th>greeting</th>"
            "<th>bind</th><th>banner</th></tr></thead><tbody>"
        )
        for h in report.http:
            banner = text(h.banner or h.detail or "")
            out.append(
                f"<tr><td>{h.port}</td><td>{h.interface.value}</td><td>{h.status.value}</td>"
                f'<td>{h.bind.value}</td><td class="mono">{banner}</td></tr>'
            )
        out.append("</tbody></table>")
    if report.findings:
        out.append("<table><thead><tr><th>severity</th><th>finding</th></tr></thead><tbody>")
        for f in report.findings:
            out.append(
                f'<tr class="{f.severity.value}"><td>{_sev(f.severity)}</td>'
                f'<td>{text(f.message, 1000)}<div class="uuid">{text(f.code)}</div></td></tr>'
            )
        out.append("</tbody></table>")
    return "".join(out)


def _host_inventory(host: HostResult) -> str:
    names = {e.uuid: e.name for e in host.endpoints if e.name}
    lines = []
    for p in host.inventory or ():
        hidden = [i for i in p.interfaces if not i.registered]
        method = p.method.value if p.method is not None else ""
        line = f"{p.port:>5}  {p.status.value:<14} {method:<5} "
        line += counted(len(p.interfaces), "interface")
        if hidden:
            listed = ", ".join(
                f"{text(names.get(i.uuid) or i.uuid)} v{text(i.version)}" for i in hidden
            )
            line += f', <span class="unreg">{len(hidden)} not registered</span>: {listed}'
        error = p.error or p.mgmt_error
        if error:
            line += f" ({text(error)})"
        lines.append(line)
    return (
        "<h4>What each TCP port serves (--inventory)</h4>"
        '<pre class="listing">' + "\n".join(lines) + "</pre>"
    )


def _host_endpoints(host: HostResult, security: SecurityHostReport) -> str:
    """Every endpoint, two lines per interface: name, UUID and annotations; where."""
    risk: dict[str, Severity] = {}
    for f in security.findings:
        if f.uuid and (f.uuid not in risk or f.severity.rank > risk[f.uuid].rank):
            risk[f.uuid] = f.severity
    groups: dict[tuple[str, str], list[EndpointRecord]] = {}
    for e in host.endpoints:
        groups.setdefault((e.uuid, e.version), []).append(e)
    address = host.address
    lines = []
    for (uuid, version), records in groups.items():
        first = records[0]
        name = text(first.name) if first.name else "(unknown interface)"
        severity = risk.get(uuid)
        if severity is not None and severity is not Severity.INFO:
            name = f'<b class="{severity.value}">{name}</b>'
        line = f"{name}  {text(uuid)} v{text(version)}"
        annotations = list(dict.fromkeys(r.annotation for r in records if r.annotation))
        if annotations:
            line += "  " + ", ".join(f"&quot;{text(a)}&quot;" for a in annotations)
        places: list[str] = []
        for r in records:
            if r.tower_error:
                place = f'<span class="bad">tower not parsed: {text(r.tower_error)}</span>'
            else:
                place = _place(r, address)
            if not r.registered:
                place += ' <span class="unreg">not registered</span>'
            if place not in places:
                places.append(place)
        lines.append(line)
        lines.append("    " + " · ".join(places))
    heading = f"{counted(len(host.endpoints), 'endpoint')} of {counted(len(groups), 'interface')}"
    return f'<h4>{heading}</h4><pre class="listing">' + "\n".join(lines) + "</pre>"
