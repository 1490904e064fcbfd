"""``epmscan report --html`` as a user runs it, opened in a real browser that can reach nothing.

A lab (a domain controller, a member server, an Exchange 2010 CAS, an address where
nothing listens) on 127.114.1.x is scanned by the CLI (``scan --findings --verify
--save``, ``check --save``, a plain ``scan --save``); each result becomes a page with
``epmscan report RESULT --html PAGE``, and the page is opened by Debian's Chromium,
headless, inside a network namespace of its own whose only interface (``lo``) is down
(``tests/support/browser.py`` drives it over its DevTools pipe). For each page: a
screenshot is written (a PNG with something drawn), nothing was logged (no uncaught
exception, no console error, no refused load: the page's Content-Security-Policy would
log any fetch), no script is in the DOM, and every number the page shows
(``data-count``) is the one counted here from the saved JSON. A synthetic /16 (65,536
hosts, 500 answered) is opened the same way (marker ``slow``).

Needs root (``ip netns add``) and chromium; skips with the reason otherwise (fails in CI
as root, where ``.ci/run`` installs chromium).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from epmscan.lab import LabThread
from epmscan.lab.config import parse_lab
from tests.support.browser import PageRun, open_page, require_chromium
from tests.support.cli import run_cli
from tests.support.loopback import free_port
from tests.support.netns import open_network
from tests.support.report_data import write_synthetic_scan

NET = "127.114.1"
EPM_PORT = free_port([f"{NET}.{n}" for n in range(1, 5)])
HOSTS = [
    {"address": f"{NET}.1", "profile": "windows-dc", "name": "DC01"},
    {"address": f"{NET}.2", "profile": "windows-member"},
    {"address": f"{NET}.3", "profile": "exchange2010-cas-static"},
    {"address": f"{NET}.4", "profile": "windows-member", "down": True},
]
TARGETS = f"{NET}.1-4"
FAST = ("--connect-timeout", "0.5", "--read-timeout", "3", "--host-timeout", "20")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def chromium() -> str:
    return require_chromium()


@pytest.fixture(scope="module")
def netns(chromium: str) -> Iterator[str]:
    """An empty namespace (``lo`` down): the browser inside it can reach nothing."""
    with open_network(prefix="epmrep-", address_range="10.114.0.0/16") as network:
        yield network.namespace("browser", lo_up=False).name


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """The lab scanned three ways by the CLI: each saved result by its name."""
    folder = tmp_path_factory.mktemp("report")
    config = parse_lab({"lab": {"epm_port": EPM_PORT, "seed": 3}, "hosts": HOSTS}, "lab")
    saved = {name: folder / f"{name}.json" for name in ("verify", "findings", "plain", "check")}
    port = ("--port", str(EPM_PORT), "--no-progress", *FAST)
    with LabThread(config):
        runs = [
            run_cli("scan", TARGETS, *port, "--verify", "--save", str(saved["verify"])),
            run_cli("scan", TARGETS, *port, "--findings", "--save", str(saved["findings"])),
            run_cli("scan", TARGETS, *port, "--save", str(saved["plain"])),
            run_cli(
                "check", TARGETS, *port, "--expect", "mapi=60001", "--save", str(saved["check"])
            ),
        ]
    for run in runs:
        assert run.returncode in (0, 1), run.describe()
    yield saved


def report(result: Path) -> Path:
    page = result.with_suffix(".html")
    run = run_cli("report", str(result), "--html", str(page), timeout=300)
    assert run.returncode == 0, run.describe()
    assert run.stdout == "", run.describe()
    assert f"wrote {page}" in run.stderr
    return page


def shown(page: PageRun) -> dict[str, int]:
    return {name: int(value.replace(",", "")) for name, value in page.counts().items()}


def expected_hosts(document: dict[str, Any]) -> dict[str, int]:
    """What the summary must show for the hosts of a saved document."""
    hosts = document["hosts"]
    statuses = Counter(h["status"] for h in hosts)
    counts = {"hosts": len(hosts), "endpoints": sum(len(h["endpoints"]) for h in hosts)}
    for status in ("ok", "closed", "filtered", "unreachable", "timeout", "bind_rejected"):
        counts[f"status-{status}"] = statuses[status]
    return counts


def expected_security(document: dict[str, Any]) -> dict[str, int]:
    """The security numbers of a ``scan --findings`` document, counted from its JSON."""
    severities: Counter[str] = Counter()
    worst: Counter[str] = Counter()
    exposed: Counter[str] = Counter()
    roles: Counter[str] = Counter()
    anonymous = 0
    for host in document["hosts"]:
        security = host["security"]
        severities.update(f["severity"] for f in security["findings"])
        if security["worst"]:
            worst[security["worst"]] += 1
        exposed.update({f["code"] for f in security["findings"] if f["interface"]})
        anonymous += any(f["code"] == "epm.anonymous" for f in security["findings"])
        for role in security["roles"]:
            suffix = "" if role["confidence"] == "high" else "-low"
            roles[f"role-{role['role']}{suffix}"] += 1
    counts = {"anonymous": anonymous, **roles}
    for severity in ("info", "warning", "error", "critical"):
        counts[f"severity-{severity}"] = severities[severity]
        counts[f"worst-{severity}"] = worst[severity]
    counts.update({f"interface-{code}": n for code, n in exposed.items()})
    return counts


def assert_clean_render(page: PageRun, screenshot: Path) -> None:
    assert page.errors() == []
    assert page.evaluate("document.scripts.length") == 0
    page.screenshot(screenshot)
    data = screenshot.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 20_000, "a blank page compresses to a few kB"


def test_a_findings_scan_renders_with_the_json_numbers(
    results: dict[str, Path], netns: str, chromium: str
) -> None:
    document = json.loads(results["verify"].read_text())
    html = report(results["verify"])
    with open_page(html, binary=chromium, netns=netns) as page:
        # The browser runs in the empty namespace, not in ours.
        browser_ns = os.stat(f"/proc/{page.process.pid}/ns/net").st_ino
        assert browser_ns == os.stat(f"/run/netns/{netns}").st_ino
        assert browser_ns != os.stat("/proc/self/ns/net").st_ino
        assert_clean_render(page, html.with_suffix(".png"))
        numbers = shown(page)
        for name, value in (expected_hosts(document) | expected_security(document)).items():
            assert numbers[name] == value, name
        interfaces = {k for k in numbers if k.startswith("interface-")}
        assert interfaces == {k for k in expected_security(document) if k.startswith("interface-")}
        assert (numbers["full"], numbers["summarised"]) == (3, 1)
        linked = page.evaluate(
            "Array.from(document.querySelectorAll('#hosts td a'), a => a.textContent)"
        )
        assert sorted(linked) == [f"{NET}.1", f"{NET}.2", f"{NET}.3"]
        # The domain controller leads (worst first), its print spooler critical there.
        first_row = page.evaluate("document.querySelector('#hosts tbody tr').textContent")
        assert f"{NET}.1" in first_row and "DC01" in first_row and "critical" in first_row
        assert "ms-rprn" in page.evaluate(
            "document.querySelector('#hosts tbody tr td.risky span.critical').textContent"
        )
        # A link from the table opens the host's collapsed detail.
        page.evaluate("location.hash = '#h1'")
        assert page.evaluate("document.getElementById('h1').closest('details').open")
        detail = page.evaluate("document.getElementById('h1').textContent")
        assert "bound" in detail and "[MS-RPRN]" in detail


def test_a_check_result_renders_its_exchange_findings(
    results: dict[str, Path], netns: str, chromium: str
) -> None:
    document = json.loads(results["check"].read_text())
    html = report(results["check"])
    findings = Counter(f["severity"] for h in document["hosts"] for f in h["exchange"]["findings"])
    assert findings, "the lab gives the check something to find"
    with open_page(html, binary=chromium, netns=netns) as page:
        assert_clean_render(page, html.with_suffix(".png"))
        numbers = shown(page)
        for name, value in expected_hosts(document).items():
            assert numbers[name] == value, name
        for severity in ("info", "warning", "error", "critical"):
            assert numbers[f"exchange-{severity}"] == findings[severity]
        exchange_rows = page.evaluate("document.querySelectorAll('#exchange tbody tr').length")
        assert exchange_rows == sum(findings.values())
        assert page.evaluate("document.querySelector('[data-provenance=computed]') !== null")


def test_a_plain_scan_gets_the_findings_scan_numbers_computed_and_says_so(
    results: dict[str, Path], netns: str, chromium: str
) -> None:
    with_findings = json.loads(results["findings"].read_text())
    html = report(results["plain"])
    with open_page(html, binary=chromium, netns=netns) as page:
        assert_clean_render(page, html.with_suffix(".png"))
        numbers = shown(page)
        expected = expected_hosts(with_findings) | expected_security(with_findings)
        for name, value in expected.items():
            assert numbers[name] == value, name
        provenance = page.evaluate("document.querySelector('[data-provenance]').textContent")
        assert "computed at report time" in provenance
        assert "interface catalogue version" in provenance


@pytest.mark.slow
def test_a_16_opens_with_the_json_numbers(tmp_path: Path, netns: str, chromium: str) -> None:
    result = tmp_path / "subnet.json"
    document = write_synthetic_scan(result, 65_536, 500)
    html = report(result)
    with open_page(html, binary=chromium, netns=netns, timeout=300) as page:
        assert_clean_render(page, html.with_suffix(".png"))
        numbers = shown(page)
        for name, value in (expected_hosts(document) | expected_security(document)).items():
            assert numbers[name] == value, name
        assert (numbers["full"], numbers["summarised"]) == (500, 65_036)
        details = page.evaluate("document.querySelectorAll('details.host').length")
        assert details == 500
    size = html.stat().st_size / 1e6
    print(f"/16 page: {size:.1f} MB, opened in {page.navigation_seconds:.1f} s")
