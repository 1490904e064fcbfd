"""``check``'s console on terminals of every width: nothing cut, nothing hidden."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from epmscan.checks.findings import build_report
from epmscan.models import (
    ExchangeHostReport,
    ExchangeInterface,
    Expectation,
    HostResult,
    HostStatus,
    HttpPortProbe,
    HttpProbeStatus,
    PortProbeStatus,
    ResolvedPort,
    Role,
)
from epmscan.report.check_console import print_check
from epmscan.report.output import Output

MAPI, ASYNC, NSPI, RFR = (
    ExchangeInterface.MAPI,
    ExchangeInterface.ASYNC_MAPI,
    ExchangeInterface.NSPI,
    ExchangeInterface.RFR,
)


def report() -> ExchangeHostReport:
    host = HostResult("cas01", "198.51.100.177", 135, HostStatus.OK)
    ports = tuple(
        ResolvedPort(i, "ncacn_ip_tcp", p, "both", probe=PortProbeStatus.BOUND)
        for i, p in ((MAPI, 60001), (ASYNC, 60001), (NSPI, 60002), (RFR, 60002))
    )
    http = (
        HttpPortProbe(6001, MAPI, HttpProbeStatus.NCACN_HTTP, bind=PortProbeStatus.BOUND),
        HttpPortProbe(6002, RFR, HttpProbeStatus.OTHER_SERVICE, banner="HTTP/1.1 400"),
        HttpPortProbe(6004, NSPI, HttpProbeStatus.CLOSED),
    )
    expectation = Expectation(
        role=Role.CLIENT_ACCESS,
        static_ports=((MAPI, 60001), (NSPI, 60002)),
        require_http=(6001, 6002, 6004),
    )
    return build_report(host, ports, http, expectation)


def rendered(width: int) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, markup=False, highlight=False, color_system=None)
    print_check([report()], Output(console, plain=False))
    return buffer.getvalue()


@pytest.mark.parametrize("width", [40, 60, 80, 120, 200])
def test_every_value_is_whole_at_any_width(width: int) -> None:
    text = rendered(width)
    assert "…" not in text
    flat = " ".join(text.split())
    for value in (
        "AsyncMAPI",
        "198.51.100.177",
        "60001 static",
        "6002 other_service",
        "6004 closed",
    ):
        assert value in flat, (width, text)
    assert flat.count(" error") >= 2  # the verdicts of NSPI and RFR


def test_a_wide_terminal_gets_the_table_and_a_narrow_one_lines() -> None:
    assert "┃ Interface" in rendered(120)
    narrow = rendered(60)
    assert "┃" not in narrow
    assert "  NSPI: expected 60002, EPM says 60002 static" in narrow


def silent_report(address: str, status: HostStatus) -> ExchangeHostReport:
    host = HostResult(address, address, 135, status, error="connection refused")
    return build_report(host, (), (), None)


def console_text(reports: list[ExchangeHostReport], *, plain: bool) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, markup=False, highlight=False, color_system=None)
    print_check(reports, Output(console, plain=plain))
    return buffer.getvalue()


def test_servers_that_did_not_answer_keep_their_finding_and_fix_on_a_terminal() -> None:
    reports = [
        report(),
        silent_report("198.51.100.5", HostStatus.CLOSED),
        silent_report("198.51.100.6", HostStatus.FILTERED),
    ]
    tty = console_text(reports, plain=False)
    plain = console_text(reports, plain=True)
    line = next(row for row in tty.splitlines() if "epm.unreachable" in row)
    assert line.startswith("[critical] 2 servers epm.unreachable:")
    assert "1 closed, 1 filtered" in line
    # The same fixes under the same numbers, whatever the output.
    plain_fixes = [r.split("\t")[1:] for r in plain.splitlines() if r.startswith("fix\t")]
    tty_fixes = [r for r in tty.splitlines() if r.startswith("fix ")]
    assert len(tty_fixes) == len(plain_fixes) >= 2
    for row, (number, servers, text) in zip(tty_fixes, plain_fixes, strict=True):
        assert row.startswith(f"fix {number} — {servers}: {text[:40]}")
    epm_fix = next(n for n, _s, t in plain_fixes if "endpoint mapper run" in t)
    assert line.endswith(f"(fix {epm_fix})")
