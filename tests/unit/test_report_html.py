"""The HTML report's renderer: escaping of hostile server text, the numbers, the scale.

Pages are read back with the standard library's HTML parser: every tag and attribute
the page has, every ``data-count`` number, and the text a reader sees. Expected numbers
are counted in the tests from the models (or the JSON), not taken from the renderer.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections import Counter
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from epmscan.app.report import report_content, security_views, write_report
from epmscan.checks.exposure import build_security_report
from epmscan.errors import UsageError
from epmscan.facts.security import CATALOGUE
from epmscan.models import (
    Confidence,
    EndpointRecord,
    ExchangeHostReport,
    ExchangeInterface,
    Finding,
    HostResult,
    HostStatus,
    SavedRun,
    SecurityHostReport,
    Severity,
)
from epmscan.report.html import ReportContent, host_key, ranges, render_html, tally
from epmscan.report.order import address_key
from epmscan.report.saved_results import parse_saved_run
from epmscan.report.serialize import exchange_to_dict, host_to_dict, security_to_dict
from epmscan.settings import ReportSettings
from tests.support.report_data import profile_endpoints, scan_document, synthetic_hosts

HOSTILE_ANNOTATION = "<script>alert(1)</script>"
HOSTILE_NAME = 'a"b\' onmouseover="alert(2)" x=\''
ESCAPE_SEQUENCE = "\x1b]0;owned\x07\x1b[31mred"
BIDI = "evil\u202etxt.exe"
ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "h4",
    "dl", "dt", "dd", "nav", "a", "main", "section", "div", "span", "p", "table", "thead",
    "tbody", "tr", "th", "td", "details", "summary", "pre", "b", "i", "br", "code", "svg",
    "g", "rect", "text", "tspan", "footer",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "lang", "charset", "http-equiv", "content", "name", "class", "id", "href", "rel",
    "data-count", "data-code", "data-role", "data-chart", "data-provenance", "viewbox",
    "role", "aria-label", "xmlns", "x", "y", "width", "height", "text-anchor", "rowspan",
}  # fmt: skip


class Page(HTMLParser):
    """Every start tag with its attributes, the ``data-count`` numbers, the visible text."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.counts: dict[str, int] = {}
        self.text_parts: list[str] = []
        self.style = ""
        self._counting: list[str | None] = []
        self._in_style = False
        self.feed(source)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        self._counting.append(attributes.get("data-count"))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        if self._counting:
            self._counting.pop()
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.style += data
            return
        self.text_parts.append(data)
        name = self._counting[-1] if self._counting else None
        if name is not None and data.strip():
            self.counts[name] = int(data.replace(",", ""))

    @property
    def text(self) -> str:
        return "".join(self.text_parts)


def endpoint(uuid: str, **changes: object) -> EndpointRecord:
    base = EndpointRecord(
        uuid=uuid,
        version="1.0",
        name="Print System Remote Protocol",
        annotation="",
        transport="ncacn_ip_tcp",
        address="192.0.2.5",
        port=49667,
        endpoint=None,
        binding="ncacn_ip_tcp:192.0.2.5[49667]",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


SPOOLER = "12345678-1234-abcd-ef00-0123456789ab"


def hostile_host() -> HostResult:
    records = (
        endpoint(SPOOLER, annotation=HOSTILE_ANNOTATION),
        endpoint(
            SPOOLER,
            transport="ncacn_np",
            address="\\\\" + HOSTILE_NAME,
            port=None,
            endpoint="\\PIPE\\" + ESCAPE_SEQUENCE,
            binding=f"ncacn_np:\\\\{HOSTILE_NAME}[\\PIPE\\spoolss]",
        ),
        endpoint("11111111-2222-3333-4444-555555555555", name=BIDI, annotation=HOSTILE_NAME),
    )
    return HostResult(
        target="evil" + ESCAPE_SEQUENCE,
        address="192.0.2.5",
        port=135,
        status=HostStatus.OK,
        endpoints=records,
    )


def content_of(reports: list[SecurityHostReport], **saved: object) -> ReportContent:
    run = SavedRun(
        info=None,
        hosts=tuple(ExchangeHostReport(r.host) for r in reports),
        exchange_checked=False,
        source="result.json",
        security=tuple(reports),
        security_catalogue=CATALOGUE.version,
    )
    run = replace(run, **saved)  # type: ignore[arg-type]
    return ReportContent(run, tuple(reports), generated="2026-01-01T00:00:00.000Z")


def test_server_strings_are_escaped_everywhere() -> None:
    report = build_security_report(hostile_host())
    page_text = render_html(content_of([report]))
    page = Page(page_text)
    # No markup from the server: only our tags and attributes, no event handlers.
    for tag, attributes in page.tags:
        assert tag in ALLOWED_TAGS, tag
        assert set(attributes) <= ALLOWED_ATTRIBUTES, (tag, attributes)
        href = attributes.get("href")
        assert href is None or href.startswith(("#", "https://")), href
    assert "<script" not in page_text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page_text
    assert HOSTILE_ANNOTATION in page.text  # shown as text, not run
    # Quotes are escaped in text and attributes: the name never leaves its element.
    assert "a&quot;b&#x27; onmouseover=&quot;alert(2)&quot;" in page_text
    # Control and bidi characters become visible escapes, never reach the page raw.
    for raw in ("\x1b", "\x07", "\u202e"):
        assert raw not in page_text
    assert "\\x1b]0;owned\\x07\\x1b[31mred" in page.text
    assert "evil\\u202etxt.exe" in page.text


def test_a_hostile_code_in_a_saved_file_stays_inside_its_attribute() -> None:
    report = build_security_report(hostile_host())
    bad_code = 'coercion.ms-rprn" onclick="alert(3)'
    findings = tuple(
        replace(f, code=bad_code, source="javascript:alert(4)") if f.interface else f
        for f in report.findings
    )
    page_text = render_html(content_of([replace(report, findings=findings)]))
    page = Page(page_text)
    for _, attributes in page.tags:
        assert "onclick" not in attributes
        assert not (attributes.get("href") or "").startswith("javascript")
    assert f"interface-{bad_code}" in page.counts


def test_the_page_allows_only_its_own_stylesheet() -> None:
    page_text = render_html(content_of([build_security_report(hostile_host())]))
    page = Page(page_text)
    policy = next(a["content"] for t, a in page.tags if a.get("http-equiv"))
    assert policy is not None
    assert "default-src 'none'" in policy and "script-src 'none'" in policy
    digest = base64.b64encode(hashlib.sha256(page.style.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in policy
    assert "<script" not in page_text and "style=" not in page_text


def lab_reports() -> list[SecurityHostReport]:
    """Lab profiles' endpoint maps, a host that did not answer, a walk cut short."""
    hosts = []
    for number, profile in enumerate(
        ("windows-dc", "windows-member", "exchange2010-cas-static", "windows-file-server"), 1
    ):
        records = profile_endpoints(profile, number)
        address = f"192.0.2.{number}"
        hosts.append(HostResult(address, address, 135, HostStatus.OK, endpoints=records))
    hosts.append(HostResult("192.0.2.9", "192.0.2.9", 135, HostStatus.CLOSED, error="refused"))
    cut = profile_endpoints("windows-member", 7)[:5]
    hosts.append(
        HostResult("192.0.2.8", "192.0.2.8", 135, HostStatus.TIMEOUT, "silent", endpoints=cut)
    )
    return [build_security_report(host) for host in hosts]


def test_one_host_is_one_host() -> None:
    (member,) = [r for r in lab_reports() if r.host.address == "192.0.2.2"]
    page = Page(render_html(content_of([member])))
    assert re.search(r"\b1 hosts\b", page.text) is None
    assert "1 host" in page.text


def test_the_numbers_are_those_of_the_models() -> None:
    reports = lab_reports()
    page = Page(render_html(content_of(reports)))
    statuses = Counter(r.host.status for r in reports)
    assert page.counts["hosts"] == len(reports)
    for status in HostStatus:
        assert page.counts[f"status-{status.value}"] == statuses[status]
    severities = Counter(f.severity for r in reports for f in r.findings)
    worst = Counter(r.worst for r in reports if r.worst is not None)
    for severity in Severity:
        assert page.counts[f"severity-{severity.value}"] == severities[severity]
        assert page.counts[f"worst-{severity.value}"] == worst[severity]
    assert page.counts["endpoints"] == sum(len(r.host.endpoints) for r in reports)
    exposed: Counter[str] = Counter()
    for r in reports:
        exposed.update({f.code for f in r.findings if f.interface is not None})
    assert {k: v for k, v in page.counts.items() if k.startswith("interface-")} == {
        f"interface-{code}": n for code, n in exposed.items()
    }
    high = Counter(g.role for r in reports for g in r.roles if g.confidence is Confidence.HIGH)
    low = Counter(g.role for r in reports for g in r.roles if g.confidence is Confidence.LOW)
    shown_roles = {k: v for k, v in page.counts.items() if k.startswith("role-")}
    assert shown_roles == {f"role-{role.value}": n for role, n in high.items()} | {
        f"role-{role.value}-low": n for role, n in low.items()
    }
    # In full: the four that answered and the walk cut short; the closed one summarised.
    assert (page.counts["full"], page.counts["summarised"]) == (5, 1)
    assert page.counts["summarised-closed"] == 1
    assert page.counts["anonymous"] == 4


def test_hosts_in_full_come_worst_first_with_every_endpoint() -> None:
    reports = lab_reports()
    page_text = render_html(content_of(reports))
    details = re.findall(r'<details class="host"><summary><span class="mono">([0-9.]+)', page_text)
    ranks = {r.host.address: (r.worst.rank if r.worst else -1) for r in reports}
    assert sorted(details, key=lambda a: (-ranks[a], address_key(a))) == details
    dc = reports[0]
    start = page_text.index('<span class="mono">192.0.2.1')
    section = page_text[start : page_text.index("</details>", start)]
    groups = {(e.uuid, e.version) for e in dc.host.endpoints}
    assert f"{len(dc.host.endpoints)} endpoints of {len(groups)} interfaces" in section
    for uuid, version in groups:
        assert f"{uuid} v{version}" in section


def test_a_result_without_findings_is_computed_and_says_so(tmp_path: Path) -> None:
    reports = lab_reports()
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({"hosts": [host_to_dict(r.host) for r in reports]}))
    saved = parse_saved_run(plain.read_text(), str(plain))
    assert saved.security == ()
    views, computed = security_views(saved)
    assert computed == len(reports)
    assert [v.findings for v in views] == [r.findings for r in reports]
    out = tmp_path / "plain.html"
    outcome = write_report(ReportSettings(result=str(plain), html=str(out)))
    page = Page(out.read_text(encoding="utf-8"))
    assert outcome.computed == len(reports)
    assert f"interface catalogue version {CATALOGUE.version}" in page.text
    assert "computed at report time" in page.text
    assert any(a.get("data-provenance") == "computed" for _, a in page.tags)
    severities = Counter(f.severity for r in reports for f in r.findings)
    assert page.counts["severity-critical"] == severities[Severity.CRITICAL]


def test_saved_security_is_read_back_and_not_recomputed(tmp_path: Path) -> None:
    reports = lab_reports()
    # A saved finding the catalogue would not give: the page must show the file's view.
    first = reports[0]
    odd = replace(first.findings[-1], severity=Severity.CRITICAL, code="coercion.ms-even")
    reports[0] = replace(first, findings=(*first.findings, odd))
    document = {"hosts": [security_to_dict(r, 7) for r in reports]}
    saved = parse_saved_run(json.dumps(document), "saved.json")
    assert saved.security_catalogue == 7
    assert [s.findings if s else None for s in saved.security] == [r.findings for r in reports]
    assert all(
        s is not None and s.host is h.host for s, h in zip(saved.security, saved.hosts, strict=True)
    )
    _, computed = security_views(saved)
    assert computed == 0
    page = Page(render_html(report_content(saved, ReportSettings("saved.json", "-"))))
    assert page.counts["severity-critical"] == sum(
        1 for r in reports for f in r.findings if f.severity is Severity.CRITICAL
    )
    assert "interface catalogue version 7" in page.text


def test_hosts_saved_without_a_security_view_get_one_computed() -> None:
    reports = lab_reports()
    objects = [security_to_dict(r) for r in reports]
    del objects[1]["security"]
    saved = parse_saved_run(json.dumps({"hosts": objects}), "mixed.json")
    assert saved.security[1] is None and saved.security[0] is not None
    views, computed = security_views(saved)
    assert computed == 1
    assert views[1].findings == reports[1].findings
    page = Page(render_html(report_content(saved, ReportSettings("mixed.json", "-"))))
    assert "for 1 of 6 hosts" in page.text and "for 5 of 6 hosts" in page.text


def test_the_summary_of_a_saved_document_is_read() -> None:
    hosts = synthetic_hosts(20, 3)
    document = scan_document(hosts)
    document["summary"]["interrupted"] = True
    document["summary"]["signal"] = "SIGINT"
    saved = parse_saved_run(json.dumps(document), "cut.json")
    assert saved.summary is not None
    assert (saved.summary.targets, saved.summary.interrupted) == (20, True)
    statuses = dict(saved.summary.statuses)
    assert sum(statuses.values()) == 20 and statuses[HostStatus.OK] == 3
    lines = "\n".join(
        [json.dumps({"epmscan": document["epmscan"]})]
        + [json.dumps(h) for h in document["hosts"]]
        + [json.dumps({"summary": document["summary"]})]
    )
    from_lines = parse_saved_run(lines, "cut.jsonl")
    assert from_lines.summary == saved.summary
    assert len(from_lines.hosts) == 20
    page = Page(render_html(report_content(saved, ReportSettings("cut.json", "-"))))
    assert "The run was interrupted (SIGINT)" in page.text


def test_a_check_result_shows_its_exchange_findings() -> None:
    reports = lab_reports()
    cas = reports[2].host
    finding = Finding(
        severity=Severity.ERROR,
        host=cas.address,
        code="mapi.dynamic",
        message="MAPI on a dynamic port <b>",
        interface=ExchangeInterface.MAPI,
        fix="Pin it.",
    )
    hosts = [ExchangeHostReport(r.host) for r in reports]
    hosts[2] = ExchangeHostReport(cas, findings=(finding,))
    document = {"hosts": [exchange_to_dict(h) for h in hosts]}
    saved = parse_saved_run(json.dumps(document), "check.json")
    assert saved.exchange_checked and saved.security == ()
    page_text = render_html(report_content(saved, ReportSettings("check.json", "-")))
    page = Page(page_text)
    assert page.counts["exchange-error"] == 1
    assert page.counts["exchange-critical"] == 0
    assert 'id="exchange"' in page_text
    assert "MAPI on a dynamic port &lt;b&gt;" in page_text
    assert "mapi.dynamic" in page.text and "Pin it." in page.text


def test_a_16_stays_small_and_summarises_the_silent_hosts() -> None:
    hosts = synthetic_hosts(65_536, 40)
    reports = [build_security_report(h) for h in hosts]
    page_text = render_html(content_of(reports))
    page = Page(page_text)
    assert page.counts["hosts"] == 65_536
    assert page.counts["full"] == 40
    assert page.counts["summarised"] == 65_536 - 40
    silent = Counter(h.status for h in hosts if not h.ok)
    for status, number in silent.items():
        assert page.counts[f"summarised-{status.value}"] == number
    assert page_text.count('<details class="host">') == 40
    assert len(page_text.encode()) < 2_500_000
    # The silent hosts are address ranges, not one element each.
    assert len(page.tags) < 20_000


def test_answered_hosts_past_the_limit_are_summarised_not_dropped() -> None:
    hosts = synthetic_hosts(300, 30)
    reports = [build_security_report(h) for h in hosts]
    content = replace(content_of(reports), full_hosts=10)
    page_text = render_html(content)
    page = Page(page_text)
    assert page.counts["full"] == 10
    assert page.counts["summarised-ok"] == 20
    assert page.counts["status-ok"] == 30
    assert page_text.count('<details class="host">') == 10
    assert "20 more hosts answered" in page.text
    assert tally(content).full == 10


def test_ranges_merge_consecutive_addresses() -> None:
    addresses = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.7", "10.0.0.255", "10.0.1.0"]
    addresses += ["10.0.1.1", "2001:db8::1", "host.example"]
    keyed = sorted((host_key(a), a) for a in addresses)
    assert ranges(keyed) == [
        "10.0.0.1-3",
        "10.0.0.7",
        "10.0.0.255-10.0.1.1",
        "2001:db8::1",
        "host.example",
    ]


@pytest.mark.parametrize(
    "address", ["10.0.0.1", "255.255.255.255", "0.0.0.0", "010.0.0.1", "1.2.3", "::1", "name"]
)
def test_the_quick_sort_key_agrees_with_the_house_order(address: str) -> None:
    assert host_key(address) == address_key(address)


def test_write_report_refuses_to_overwrite_its_input(tmp_path: Path) -> None:
    result = tmp_path / "scan.json"
    text = json.dumps({"hosts": [host_to_dict(lab_reports()[0].host)]})
    result.write_text(text)
    with pytest.raises(UsageError, match="that is the result being read"):
        write_report(ReportSettings(result=str(result), html=str(result)))
    assert result.read_text() == text
