"""Classification of resolved ports and the findings built from constructed results."""

from __future__ import annotations

import pytest

from epmscan.checks.classify import classify_port, classify_ports
from epmscan.checks.findings import build_report, evaluate, exit_code_for
from epmscan.models import (
    DynamicRanges,
    ExchangeInterface,
    Expectation,
    Finding,
    HostResult,
    HostStatus,
    HttpPortProbe,
    HttpProbeStatus,
    Policy,
    PortClass,
    PortProbeStatus,
    PortRange,
    ResolvedPort,
    Role,
    Severity,
)

MAPI, ASYNC, NSPI, RFR = (
    ExchangeInterface.MAPI,
    ExchangeInterface.ASYNC_MAPI,
    ExchangeInterface.NSPI,
    ExchangeInterface.RFR,
)
HOST = HostResult(target="cas01", address="192.0.2.10", port=135, status=HostStatus.OK)
CAS = Expectation(
    group="cas",
    role=Role.CLIENT_ACCESS,
    static_ports=((MAPI, 60001), (NSPI, 60002), (RFR, 60002)),
    require_http=(6001, 6002, 6004),
    allow_dynamic=False,
)


def tcp(
    interface: ExchangeInterface, port: int | None, probe: PortProbeStatus = PortProbeStatus.BOUND
) -> ResolvedPort:
    return ResolvedPort(interface, "ncacn_ip_tcp", port, "both", probe=probe)


def http(port: int, status: HttpProbeStatus, **kw: object) -> HttpPortProbe:
    iface = {6001: MAPI, 6002: RFR, 6004: NSPI}[port]
    return HttpPortProbe(port, iface, status, **kw)  # type: ignore[arg-type]


GOOD_PORTS = (tcp(MAPI, 60001), tcp(NSPI, 60002), tcp(RFR, 60002))
GOOD_HTTP = tuple(
    http(p, HttpProbeStatus.NCACN_HTTP, bind=PortProbeStatus.BOUND) for p in (6001, 6002, 6004)
)


def codes(findings: tuple[Finding, ...]) -> dict[str, Severity]:
    return {f.code: f.severity for f in findings}


def problems(findings: tuple[Finding, ...]) -> dict[str, Severity]:
    """The codes without the ``in_dynamic_range`` notes of interfaces with no expected port."""
    return {f.code: f.severity for f in findings if not f.code.endswith(".in_dynamic_range")}


# --- classification ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("port", "expected", "result"),
    [
        (None, 60001, PortClass.NOT_REGISTERED),
        (None, None, PortClass.NOT_REGISTERED),
        (60001, 60001, PortClass.STATIC_EXPECTED),  # inside both dynamic ranges, still expected
        (1025, 1025, PortClass.STATIC_EXPECTED),
        (49152, 60001, PortClass.DYNAMIC_WINDOWS),
        (65535, None, PortClass.DYNAMIC_WINDOWS),  # Windows range only
        (60002, 60001, PortClass.DYNAMIC_WINDOWS),  # overlap: Windows range wins
        (6005, 60001, PortClass.DYNAMIC_EXCHANGE),
        (49151, None, PortClass.DYNAMIC_EXCHANGE),
        (6004, 60001, PortClass.STATIC_UNEXPECTED),
        (5000, None, PortClass.DYNAMIC_WINDOWS),  # the legacy range: no role, so it may apply
        (1025, None, PortClass.DYNAMIC_WINDOWS),
        (1024, None, PortClass.STATIC_UNCHECKED),
        (5001, None, PortClass.STATIC_UNCHECKED),
    ],
)
def test_classify_port(port: int | None, expected: int | None, result: PortClass) -> None:
    assert classify_port(port, expected, DynamicRanges()) is result


def test_classify_port_uses_configured_ranges() -> None:
    ranges = DynamicRanges(PortRange(50000, 50010), PortRange(6005, 59530))
    assert classify_port(59531, 60001, ranges) is PortClass.STATIC_UNEXPECTED
    assert classify_port(50005, None, ranges) is PortClass.DYNAMIC_WINDOWS
    assert classify_port(59530, None, ranges) is PortClass.DYNAMIC_EXCHANGE


def test_classify_ports_fills_expectation_for_tcp_only() -> None:
    ports = (tcp(MAPI, 60001), ResolvedPort(MAPI, "ncacn_http", 6001, "lookup"), tcp(ASYNC, 50000))
    mapi_tcp, mapi_http, async_tcp = classify_ports(ports, CAS)
    assert (mapi_tcp.port_class, mapi_tcp.expected_port) == (PortClass.STATIC_EXPECTED, 60001)
    assert (mapi_http.port_class, mapi_http.expected_port) == (PortClass.STATIC_UNCHECKED, None)
    # AsyncEMSMDB has no port of its own in CAS: it is expected where MAPI is pinned.
    assert (async_tcp.port_class, async_tcp.expected_port) == (PortClass.DYNAMIC_WINDOWS, 60001)


# --- findings ---------------------------------------------------------------------------


def test_all_static_and_reachable_gives_no_findings() -> None:
    assert evaluate(HOST, GOOD_PORTS, GOOD_HTTP, CAS) == ()


def test_wrong_static_port() -> None:
    findings = evaluate(HOST, (tcp(MAPI, 5999), *GOOD_PORTS[1:]), GOOD_HTTP, CAS)
    assert codes(findings) == {"mapi.wrong_static": Severity.ERROR}
    finding = findings[0]
    assert (finding.expected, finding.found, finding.host) == ("60001", "5999", "cas01")
    assert finding.fix is not None
    assert r"MSExchangeRPC\ParametersSystem" in finding.fix and '"TCP/IP Port"' in finding.fix
    assert "= 60001" in finding.fix and "MSExchangeRPC" in finding.fix


@pytest.mark.parametrize(("port", "which"), [(52000, "Windows"), (10000, "Exchange")])
def test_dynamic_port_where_static_expected(port: int, which: str) -> None:
    findings = evaluate(HOST, (GOOD_PORTS[0], tcp(NSPI, port), GOOD_PORTS[2]), GOOD_HTTP, CAS)
    assert codes(findings) == {"nspi.dynamic": Severity.ERROR}
    assert f"{which} dynamic range" in findings[0].message
    assert findings[0].fix is not None
    assert r"MSExchangeAB\Parameters" in findings[0].fix and "RpcTcpPort" in findings[0].fix
    assert "= 60002" in findings[0].fix


def test_allow_dynamic_does_not_excuse_a_listed_static_port() -> None:
    relaxed = Expectation(static_ports=((MAPI, 60001),), allow_dynamic=True)
    assert codes(evaluate(HOST, (tcp(MAPI, 50000), tcp(NSPI, 50001)), (), relaxed)) == {
        "mapi.dynamic": Severity.ERROR,
        "nspi.in_dynamic_range": Severity.INFO,  # nothing listed for NSPI: only a note
    }


def test_no_dynamic_allowed_without_listed_port() -> None:
    strict = Expectation(role=Role.CLIENT_ACCESS, allow_dynamic=False)
    found = codes(evaluate(HOST, (tcp(MAPI, 50000), tcp(NSPI, 6100), tcp(RFR, 6100)), (), strict))
    assert found == {
        "mapi.dynamic": Severity.ERROR,
        "nspi.dynamic": Severity.ERROR,
        "rfr.dynamic": Severity.ERROR,
    }


def test_async_mapi_dynamic_is_informational_when_mapi_is_not_pinned() -> None:
    unpinned = Expectation(static_ports=((NSPI, 60002), (RFR, 60002)), role=Role.CLIENT_ACCESS)
    findings = evaluate(HOST, (*GOOD_PORTS, tcp(ASYNC, 50123)), GOOD_HTTP, unpinned)
    assert codes(findings) == {
        "mapi.in_dynamic_range": Severity.INFO,
        "async_mapi.in_dynamic_range": Severity.INFO,
    }


def test_async_mapi_follows_the_pinned_mapi_port() -> None:
    on_mapi_port = evaluate(HOST, (*GOOD_PORTS, tcp(ASYNC, 60001)), GOOD_HTTP, CAS)
    assert codes(on_mapi_port) == {}
    elsewhere = evaluate(HOST, (*GOOD_PORTS, tcp(ASYNC, 50123)), GOOD_HTTP, CAS)
    assert codes(elsewhere) == {"async_mapi.dynamic": Severity.ERROR}


def test_a_missing_async_mapi_is_not_a_finding() -> None:
    assert codes(evaluate(HOST, GOOD_PORTS, GOOD_HTTP, CAS)) == {}


def test_mailbox_role_ignores_dynamic_ports() -> None:
    mailbox = Expectation(role=Role.MAILBOX, allow_dynamic=True)
    assert evaluate(HOST, (tcp(MAPI, 50000), tcp(NSPI, 50001)), (), mailbox) == ()


def test_public_folder_mailbox_fix_mentions_public_folders() -> None:
    pf = Expectation(role=Role.MAILBOX_PUBLIC_FOLDERS, static_ports=((MAPI, 60001),))
    (finding,) = evaluate(HOST, (tcp(MAPI, 50000),), (), pf)
    assert finding.code == "mapi.dynamic" and finding.fix is not None
    assert "public folder" in finding.fix and r"MSExchangeRPC\ParametersSystem" in finding.fix


def test_legacy_fix_names_system_attendant_values() -> None:
    legacy = Expectation(
        role=Role.LEGACY, static_ports=((NSPI, 59532), (RFR, 59533), (MAPI, 59531))
    )
    findings = evaluate(HOST, (tcp(NSPI, 5111), tcp(RFR, 5112), tcp(MAPI, 5113)), (), legacy)
    fixes = {f.code: f.fix or "" for f in findings}
    assert r"MSExchangeSA\Parameters" in fixes["nspi.wrong_static"]
    assert '"TCP/IP NSPI Port"' in fixes["nspi.wrong_static"]
    assert (
        '"TCP/IP Port"' in fixes["rfr.wrong_static"] and "MSExchangeSA" in fixes["rfr.wrong_static"]
    )
    assert r"MSExchangeIS\ParametersSystem" in fixes["mapi.wrong_static"]


def test_not_registered_expected_interface_is_an_error() -> None:
    findings = evaluate(HOST, GOOD_PORTS[:2], GOOD_HTTP, CAS)
    assert codes(findings) == {"rfr.not_registered": Severity.ERROR}


def test_not_registered_on_client_access_without_expectation_is_a_warning() -> None:
    cas = Expectation(role=Role.CLIENT_ACCESS)
    assert codes(evaluate(HOST, (tcp(MAPI, 60001),), (), cas)) == {
        "mapi.in_dynamic_range": Severity.INFO,  # 60001 is in the Windows range, none expected
        "nspi.not_registered": Severity.WARNING,
        "rfr.not_registered": Severity.WARNING,
    }


@pytest.mark.parametrize(
    ("probe", "code", "fix_fragment"),
    [
        (PortProbeStatus.FILTERED, "mapi.filtered", "Allow TCP 60001 for MAPI (EMSMDB) inbound"),
        (PortProbeStatus.UNREACHABLE, "mapi.unreachable", "Allow TCP 60001 for"),
        (PortProbeStatus.CLOSED, "mapi.closed", "the server refuses connections to it"),
        (PortProbeStatus.TIMEOUT, "mapi.timeout", "opening a firewall will not help"),
        (
            PortProbeStatus.WRONG_SERVICE,
            "mapi.wrong_service",
            "Another program listens on TCP 60001 and refused the MAPI (EMSMDB) bind",
        ),
        (PortProbeStatus.PROTOCOL_ERROR, "mapi.protocol_error", "is not DCE/RPC"),
    ],
)
def test_resolved_port_that_does_not_bind(
    probe: PortProbeStatus, code: str, fix_fragment: str
) -> None:
    ports = (tcp(MAPI, 60001, probe), *GOOD_PORTS[1:])
    findings = evaluate(HOST, ports, GOOD_HTTP, CAS)
    assert codes(findings) == {code: Severity.ERROR}
    assert fix_fragment in (findings[0].fix or "")


def test_not_probed_port_is_not_judged() -> None:
    ports = tuple(tcp(p.interface, p.port, PortProbeStatus.NOT_PROBED) for p in GOOD_PORTS)
    assert evaluate(HOST, ports, GOOD_HTTP, CAS) == ()


@pytest.mark.parametrize(
    ("probe", "code"),
    [
        (
            http(6004, HttpProbeStatus.OTHER_SERVICE, banner="SSH-2.0-OpenSSH"),
            "http6004.other_service",
        ),
        (http(6004, HttpProbeStatus.SILENT), "http6004.silent"),
        (http(6004, HttpProbeStatus.CLOSED), "http6004.closed"),
        (http(6004, HttpProbeStatus.FILTERED), "http6004.filtered"),
        (http(6004, HttpProbeStatus.UNREACHABLE), "http6004.unreachable"),
        (
            http(6004, HttpProbeStatus.NCACN_HTTP, bind=PortProbeStatus.WRONG_SERVICE),
            "http6004.bind_failed",
        ),
    ],
)
def test_http_port_failures(probe: HttpPortProbe, code: str) -> None:
    probes = (*GOOD_HTTP[:2], probe)
    required = evaluate(HOST, GOOD_PORTS, probes, CAS)
    assert codes(required) == {code: Severity.ERROR}
    optional = evaluate(HOST, GOOD_PORTS, probes, Expectation())
    assert problems(optional) == {code: Severity.WARNING}


def test_http_other_banner_is_reported() -> None:
    probe = http(6001, HttpProbeStatus.OTHER_SERVICE, banner="HTTP/1.1 400 Bad Request")
    (finding,) = evaluate(HOST, GOOD_PORTS, (probe, *GOOD_HTTP[1:]), CAS)
    assert "HTTP/1.1 400 Bad Request" in finding.message
    assert "Outlook Anywhere" in (finding.fix or "")


def test_http_greeting_present_is_fine_and_missing_required_probe_is_flagged() -> None:
    assert (
        problems(evaluate(HOST, GOOD_PORTS, GOOD_HTTP[:1], Expectation(require_http=(6001,)))) == {}
    )
    assert codes(evaluate(HOST, GOOD_PORTS, GOOD_HTTP[:2], CAS)) == {
        "http6004.not_probed": Severity.WARNING
    }


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (HostStatus.FILTERED, "epm.unreachable"),
        (HostStatus.CLOSED, "epm.unreachable"),
        (HostStatus.UNRESOLVED, "epm.unreachable"),
        (HostStatus.BIND_REJECTED, "epm.failed"),
        (HostStatus.PROTOCOL_ERROR, "epm.failed"),
    ],
)
def test_epm_down_is_critical_and_skips_port_checks(status: HostStatus, code: str) -> None:
    down = HostResult("cas01", "192.0.2.10", 135, status, error="connect timed out")
    findings = evaluate(down, (), (), CAS)
    assert [(f.code, f.severity) for f in findings[:1]] == [(code, Severity.CRITICAL)]
    assert "connect timed out" in findings[0].message
    assert not any(f.code.endswith("not_registered") for f in findings)


def test_severity_override_by_pattern() -> None:
    relaxed = Expectation(
        static_ports=CAS.static_ports,
        severity_overrides=(("mapi.*", Severity.INFO),),
    )
    assert codes(evaluate(HOST, (tcp(MAPI, 5999), *GOOD_PORTS[1:]), (), relaxed)) == {
        "mapi.wrong_static": Severity.INFO
    }


def test_findings_are_sorted_most_severe_first() -> None:
    nspi_rfr_only = Expectation(
        role=Role.CLIENT_ACCESS,
        static_ports=((NSPI, 60002), (RFR, 60002)),
        require_http=(6001, 6002, 6004),
    )
    findings = evaluate(
        HOST,
        (tcp(NSPI, 5999), tcp(ASYNC, 50000), GOOD_PORTS[2]),
        (*GOOD_HTTP[:2],),
        nspi_rfr_only,
    )
    ranks = [f.severity.rank for f in findings]
    assert ranks == sorted(ranks, reverse=True) and len(set(ranks)) == 3


def test_build_report_from_quick_case_policy() -> None:
    policy = Policy.from_expectations(expect={"mapi": 60001}, require_http=[6001])
    report = build_report(HOST, (tcp(MAPI, 50000),), (), policy.expectation_for(HOST.address))
    assert report.ports[0].port_class is PortClass.DYNAMIC_WINDOWS
    assert report.ports[0].expected_port == 60001
    assert codes(report.findings) == {
        "mapi.dynamic": Severity.ERROR,
        "http6001.not_probed": Severity.WARNING,
    }
    assert (report.role, report.group) == (None, None)


def test_exit_code_for_threshold() -> None:
    warning = Finding(Severity.WARNING, "h", "x.y", "m")
    error = Finding(Severity.ERROR, "h", "x.z", "m")
    assert exit_code_for([], Severity.INFO) == 0
    assert exit_code_for([warning], Severity.ERROR) == 0
    assert exit_code_for([warning, error], Severity.ERROR) == 1
    assert exit_code_for([warning], Severity.WARNING) == 1
    assert exit_code_for([error], Severity.CRITICAL) == 0
