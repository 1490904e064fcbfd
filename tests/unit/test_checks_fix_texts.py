"""Fix texts an Exchange administrator can follow, and findings that say only what is known.

- a fix text names no host, so servers with the same problem share one text;
- ``<iface>.timeout`` points at a hung service or a filtering proxy, not at a firewall rule;
- the endpoint mapper port named is the one the check used;
- a port in a dynamic range with nothing expected is "not verified as pinned";
- the legacy range (1025-5000) is dynamic on servers that may use it;
- a public-folder Mailbox server is reached over HTTP on 6001 only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import pytest

from epmscan.checks import fixes
from epmscan.checks.classify import classify_port, classify_ports
from epmscan.checks.findings import build_report, evaluate
from epmscan.checks.firewall import plan_rules
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
HOSTS = (
    HostResult(target="cas01", address="192.0.2.10", port=135, status=HostStatus.OK),
    HostResult(target="cas02.example.net", address="198.51.100.77", port=135, status=HostStatus.OK),
)
CAS = Expectation(
    group="cas",
    role=Role.CLIENT_ACCESS,
    static_ports=((MAPI, 60001), (NSPI, 60002), (RFR, 60002)),
    require_http=(6001, 6002, 6004),
    allow_dynamic=False,
)
LEGACY = Expectation(role=Role.LEGACY, static_ports=((MAPI, 5101), (NSPI, 5102), (RFR, 5103)))
PUBLIC_FOLDERS = Expectation(role=Role.MAILBOX_PUBLIC_FOLDERS, static_ports=((MAPI, 60001),))


def tcp(
    interface: ExchangeInterface,
    port: int | None,
    probe: PortProbeStatus = PortProbeStatus.BOUND,
    detail: str | None = None,
) -> ResolvedPort:
    return ResolvedPort(interface, "ncacn_ip_tcp", port, "both", probe=probe, probe_detail=detail)


def http(port: int, status: HttpProbeStatus, **kw: object) -> HttpPortProbe:
    iface = {6001: MAPI, 6002: RFR, 6004: NSPI}[port]
    return HttpPortProbe(port, iface, status, **kw)  # type: ignore[arg-type]


GOOD_HTTP = tuple(
    http(p, HttpProbeStatus.NCACN_HTTP, bind=PortProbeStatus.BOUND) for p in (6001, 6002, 6004)
)
GOOD_PORTS = (tcp(MAPI, 60001), tcp(NSPI, 60002), tcp(RFR, 60002))


def by_code(findings: Iterable[Finding]) -> dict[str, Finding]:
    return {f.code: f for f in findings}


# Each scenario: (name, expectation, the ports of the first host, of the second host, http).
# The two hosts have the same problem; where a port was handed out dynamically, each host
# has its own.
Scenario = tuple[
    str,
    Expectation | None,
    tuple[ResolvedPort, ...],
    tuple[ResolvedPort, ...],
    tuple[HttpPortProbe, ...],
]
SCENARIOS: list[Scenario] = [
    (
        "filtered",
        CAS,
        (tcp(MAPI, 60001, PortProbeStatus.FILTERED, "no answer to connect within 0.5 s"),),
        (tcp(MAPI, 60001, PortProbeStatus.FILTERED, "no answer to connect within 0.5 s"),),
        GOOD_HTTP,
    ),
    (
        "unreachable",
        CAS,
        (tcp(MAPI, 60001, PortProbeStatus.UNREACHABLE),),
        (tcp(MAPI, 60001, PortProbeStatus.UNREACHABLE),),
        GOOD_HTTP,
    ),
    (
        "timeout",
        CAS,
        (tcp(MAPI, 60001, PortProbeStatus.TIMEOUT, "no answer within 1.5 s"),),
        (tcp(MAPI, 60001, PortProbeStatus.TIMEOUT, "no answer within 1.5 s"),),
        GOOD_HTTP,
    ),
    (
        "closed on a dynamic port each",
        None,
        (tcp(MAPI, 50123, PortProbeStatus.CLOSED),),
        (tcp(MAPI, 61877, PortProbeStatus.CLOSED),),
        GOOD_HTTP,
    ),
    (
        "wrong service",
        CAS,
        (tcp(NSPI, 60002, PortProbeStatus.WRONG_SERVICE),),
        (tcp(NSPI, 60002, PortProbeStatus.WRONG_SERVICE),),
        GOOD_HTTP,
    ),
    (
        "protocol error",
        CAS,
        (tcp(NSPI, 60002, PortProbeStatus.PROTOCOL_ERROR),),
        (tcp(NSPI, 60002, PortProbeStatus.PROTOCOL_ERROR),),
        GOOD_HTTP,
    ),
    (
        "dynamic where pinned expected",
        CAS,
        (tcp(MAPI, 50123), tcp(NSPI, 60002), tcp(RFR, 60002)),
        (tcp(MAPI, 52001), tcp(NSPI, 60002), tcp(RFR, 60002)),
        GOOD_HTTP,
    ),
    (
        "dynamic, policy allows none",
        Expectation(role=Role.CLIENT_ACCESS, allow_dynamic=False),
        (tcp(MAPI, 50123), tcp(NSPI, 6100), tcp(RFR, 6100)),
        (tcp(MAPI, 52001), tcp(NSPI, 7000), tcp(RFR, 7000)),
        (),
    ),
    (
        "wrong static",
        CAS,
        (tcp(MAPI, 5999), *GOOD_PORTS[1:]),
        (tcp(MAPI, 5999), *GOOD_PORTS[1:]),
        GOOD_HTTP,
    ),
    ("not registered", CAS, GOOD_PORTS[:2], GOOD_PORTS[:2], GOOD_HTTP),
    (
        "legacy on dynamic ports",
        LEGACY,
        (tcp(MAPI, 1032), tcp(NSPI, 4997), tcp(RFR, 4997)),
        (tcp(MAPI, 1190), tcp(NSPI, 1201), tcp(RFR, 1201)),
        (),
    ),
    (
        "no expectations, in the dynamic range",
        None,
        (tcp(MAPI, 60001), tcp(NSPI, 60002), tcp(RFR, 60002)),
        (tcp(MAPI, 63971), tcp(NSPI, 50200), tcp(RFR, 50200)),
        GOOD_HTTP,
    ),
    (
        "http failures",
        CAS,
        GOOD_PORTS,
        GOOD_PORTS,
        (
            http(6001, HttpProbeStatus.OTHER_SERVICE, banner="HTTP/1.1 400 Bad Request"),
            http(6002, HttpProbeStatus.CLOSED),
            http(6004, HttpProbeStatus.NCACN_HTTP, bind=PortProbeStatus.WRONG_SERVICE),
        ),
    ),
]


@pytest.mark.parametrize(
    ("expectation", "first", "second", "probes"),
    [s[1:] for s in SCENARIOS],
    ids=[s[0] for s in SCENARIOS],
)
def test_the_same_problem_gets_the_same_fix_on_every_host(
    expectation: Expectation | None,
    first: tuple[ResolvedPort, ...],
    second: tuple[ResolvedPort, ...],
    probes: tuple[HttpPortProbe, ...],
) -> None:
    one = evaluate(HOSTS[0], first, probes, expectation)
    two = evaluate(HOSTS[1], second, probes, expectation)
    assert one, "the scenario must produce findings"
    assert [(f.code, f.fix) for f in one] == [(f.code, f.fix) for f in two]
    for finding, host in ((f, HOSTS[0]) for f in one):
        assert finding.fix, finding.code
        assert host.address not in finding.fix and host.target not in finding.fix
        assert not re.search(r"\b\d{1,3}(\.\d{1,3}){3}\b", finding.fix), finding.fix
        assert finding.host == host.target  # the finding, not its fix, carries the host


@pytest.mark.parametrize(
    "status",
    [HostStatus.CLOSED, HostStatus.FILTERED, HostStatus.TIMEOUT, HostStatus.PROTOCOL_ERROR],
)
def test_endpoint_mapper_fix_is_host_free_and_names_the_port_used(status: HostStatus) -> None:
    a = HostResult("cas01", "192.0.2.10", 13135, status, error="x")
    b = HostResult("cas02", "198.51.100.77", 13135, status, error="y")
    (fa,) = evaluate(a, (), (), None)
    (fb,) = evaluate(b, (), (), None)
    assert fa.fix == fb.fix and fa.fix is not None
    assert "TCP 13135" in fa.fix and "TCP 135" not in fa.fix
    assert "192.0.2.10" not in fa.fix
    assert fa.expected == "endpoint mapper answers on TCP 13135"
    assert "192.0.2.10:13135" in fa.message  # the message carries the host


def test_endpoint_mapper_fix_names_135_when_that_was_used() -> None:
    down = HostResult("cas01", "192.0.2.10", 135, HostStatus.FILTERED)
    (finding,) = evaluate(down, (), (), None)
    assert finding.fix is not None and "TCP 135 is allowed" in finding.fix


def test_unresolved_name_gets_a_name_fix() -> None:
    unresolved = HostResult("cas09.example.net", "cas09.example.net", 135, HostStatus.UNRESOLVED)
    (finding,) = evaluate(unresolved, (), (), None)
    assert finding.code == "epm.unreachable"
    assert finding.fix is not None and "DNS" in finding.fix
    assert "cas09" not in finding.fix


def test_timeout_points_at_a_hung_service_or_a_filtering_proxy_not_a_firewall_rule() -> None:
    ports = (tcp(MAPI, 60001, PortProbeStatus.TIMEOUT, "no answer within 1.5 s"), *GOOD_PORTS[1:])
    finding = by_code(evaluate(HOSTS[0], ports, GOOD_HTTP, CAS))["mapi.timeout"]
    assert finding.severity is Severity.ERROR
    fix = finding.fix or ""
    assert "hung or overloaded" in fix and "filtering proxy" in fix
    assert "MSExchangeRPC" in fix  # the service to look at
    assert "opening a firewall will not help" in fix
    assert "Allow TCP" not in fix and "inbound" not in fix
    assert "accepted the connection and never answered the bind" in finding.message


def test_timeout_fix_names_the_legacy_service_on_legacy_servers() -> None:
    ports = (tcp(NSPI, 5102, PortProbeStatus.TIMEOUT), tcp(MAPI, 5101), tcp(RFR, 5103))
    fix = by_code(evaluate(HOSTS[0], ports, (), LEGACY))["nspi.timeout"].fix or ""
    assert "MSExchangeSA" in fix and "MSExchangeAB" not in fix


def test_filtered_still_asks_for_the_firewall_rule() -> None:
    ports = (tcp(MAPI, 60001, PortProbeStatus.FILTERED), *GOOD_PORTS[1:])
    fix = by_code(evaluate(HOSTS[0], ports, GOOD_HTTP, CAS))["mapi.filtered"].fix or ""
    assert fix.startswith("Allow TCP 60001 for MAPI (EMSMDB) inbound to the server")


# --- no doubled words ------------------------------------------------------------------

_DOUBLED = re.compile(r"\b(\w+)\s+\1\b", re.IGNORECASE)


def _every_fix_text() -> list[str]:
    roles: list[Role | None] = [None, *Role]
    texts: list[str] = []
    for interface in ExchangeInterface:
        for role in roles:
            texts += [
                fixes.pin_port_fix(interface, 60001, role),
                fixes.pin_port_fix(interface, None, role),
                fixes.verify_pinned_fix(interface, role),
                fixes.timeout_fix(interface, role),
                fixes.closed_fix(interface, role),
                fixes.wrong_service_fix(interface, 60001, role),
                fixes.wrong_service_fix(interface, 60001, role, not_rpc=True),
            ]
        texts.append(fixes.firewall_fix(60001, fixes.label(interface)))
        for state in ("closed", "filtered", "refusing the bind (wrong_service)"):
            texts.append(fixes.http_fix(6001, interface, state))
    texts += [
        fixes.epm_fix(135),
        fixes.epm_fix(135, answered=True),
        fixes.epm_fix(135, resolved=False),
    ]
    return texts


def _every_finding() -> list[Finding]:
    found: list[Finding] = []
    for _, expectation, first, _, probes in SCENARIOS:
        found += evaluate(HOSTS[0], first, probes, expectation)
    for status in HostStatus:
        if status is not HostStatus.OK:
            found += evaluate(HostResult("h", "192.0.2.1", 135, status, error="e"), (), (), None)
    return found


@pytest.mark.parametrize(
    "texts",
    [
        _every_fix_text,
        lambda: [f.message for f in _every_finding()],
        lambda: [f.fix or "" for f in _every_finding()],
    ],
    ids=["fix functions", "finding messages", "finding fixes"],
)
def test_no_doubled_words(texts: Callable[[], list[str]]) -> None:
    for text in texts():
        assert not _DOUBLED.search(text), text
        for sentence in re.split(r"[.;:]\s", text):
            assert len(re.findall(r"\bbut\b", sentence)) <= 1, sentence


# --- a port in a dynamic range with nothing expected ------------------------------------


@pytest.mark.parametrize(
    "expectation",
    [None, Policy.from_expectations().default, Expectation(role=Role.CLIENT_ACCESS)],
    ids=["no expectation", "check without --expect", "role only"],
)
def test_without_expectations_a_dynamic_range_port_is_not_verified_as_pinned(
    expectation: Expectation | None,
) -> None:
    ports = (tcp(MAPI, 60001), tcp(ASYNC, 60001), tcp(NSPI, 6100), tcp(RFR, 6100))
    report = build_report(HOSTS[0], ports, GOOD_HTTP, expectation)
    notes = by_code(report.findings)
    assert set(notes) == {
        "mapi.in_dynamic_range",
        "nspi.in_dynamic_range",
        "rfr.in_dynamic_range",
    }  # AsyncEMSMDB on MAPI's port: MAPI's note says it
    for finding in notes.values():
        assert finding.severity is Severity.INFO
        assert "not verified as pinned" in finding.message
        assert not re.search(r"\b(is|on) (a )?dynamic port\b", finding.message), finding.message
        assert "pinned" not in finding.message.replace("not verified as pinned", "")
        assert finding.expected is None
    assert "Windows dynamic range 49152-65535" in notes["mapi.in_dynamic_range"].message
    assert "Exchange dynamic range 6005-65534" in notes["nspi.in_dynamic_range"].message
    fix = notes["mapi.in_dynamic_range"].fix or ""
    assert r"MSExchangeRPC\ParametersSystem" in fix and "--expect mapi=PORT" in fix
    assert "RpcTcpPort" in (notes["nspi.in_dynamic_range"].fix or "")


def test_a_port_outside_every_dynamic_range_gets_no_note() -> None:
    ports = (tcp(MAPI, 5999), tcp(NSPI, 5998), tcp(RFR, 5998))
    assert evaluate(HOSTS[0], ports, GOOD_HTTP, None) == ()


def test_async_mapi_on_a_port_of_its_own_gets_its_own_note() -> None:
    ports = (tcp(MAPI, 5999), tcp(ASYNC, 50123), tcp(NSPI, 5998), tcp(RFR, 5998))
    found = by_code(evaluate(HOSTS[0], ports, GOOD_HTTP, None))
    assert set(found) == {"async_mapi.in_dynamic_range"}


def test_the_note_can_be_raised_to_a_warning_by_policy() -> None:
    strict_notes = Expectation(severity_overrides=(("*.in_dynamic_range", Severity.WARNING),))
    found = evaluate(HOSTS[0], GOOD_PORTS, GOOD_HTTP, strict_notes)
    assert {f.severity for f in found} == {Severity.WARNING}


def test_mailbox_role_gets_no_notes_for_interfaces_outlook_does_not_use() -> None:
    mailbox = Expectation(role=Role.MAILBOX)
    assert evaluate(HOSTS[0], (tcp(MAPI, 50000), tcp(ASYNC, 50001)), (), mailbox) == ()


# --- the legacy dynamic range -----------------------------------------------------------


@pytest.mark.parametrize("role", [Role.LEGACY, None, Role.WINDOWS])
@pytest.mark.parametrize("port", [1032, 4997, 1025, 5000])
def test_legacy_range_ports_are_dynamic_not_static(role: Role | None, port: int) -> None:
    assert classify_port(port, None, DynamicRanges(), role) is PortClass.DYNAMIC_WINDOWS
    assert classify_port(port, 5101, DynamicRanges(), role) is PortClass.DYNAMIC_WINDOWS
    assert classify_port(port, port, DynamicRanges(), role) is PortClass.STATIC_EXPECTED


@pytest.mark.parametrize("role", [Role.CLIENT_ACCESS, Role.MAILBOX, Role.MAILBOX_PUBLIC_FOLDERS])
def test_exchange_2010_roles_do_not_use_the_legacy_range(role: Role) -> None:
    assert classify_port(1032, None, DynamicRanges(), role) is PortClass.STATIC_UNCHECKED
    assert classify_port(1032, 60001, DynamicRanges(), role) is PortClass.STATIC_UNEXPECTED


def test_an_exchange_2003_era_server_is_classified_dynamic() -> None:
    """MAPI on 1032 and NSPI on 4997, as a real Exchange 2003-era server answers."""
    legacy = Expectation(role=Role.LEGACY)
    ports = classify_ports((tcp(MAPI, 1032), tcp(NSPI, 4997), tcp(RFR, 4997)), legacy)
    assert {p.port_class for p in ports} == {PortClass.DYNAMIC_WINDOWS}
    findings = by_code(evaluate(HOSTS[0], ports, (), legacy))
    assert set(findings) == {
        "mapi.in_dynamic_range",
        "nspi.in_dynamic_range",
        "rfr.in_dynamic_range",
    }
    message = findings["mapi.in_dynamic_range"].message
    assert "legacy dynamic range 1025-5000" in message
    assert "on static port" not in message and "is static" not in message
    assert r"MSExchangeIS\ParametersSystem" in (findings["mapi.in_dynamic_range"].fix or "")


def test_legacy_port_against_an_expected_static_port_is_dynamic() -> None:
    ports = (tcp(MAPI, 1032), tcp(NSPI, 5102), tcp(RFR, 5103))
    findings = by_code(evaluate(HOSTS[0], ports, (), LEGACY))
    assert set(findings) == {"mapi.dynamic"}
    assert "legacy dynamic range 1025-5000" in findings["mapi.dynamic"].message
    assert findings["mapi.dynamic"].found == "1032 (dynamic_windows)"


def test_a_configured_legacy_range_is_used() -> None:
    widened = Expectation(
        role=Role.LEGACY,
        ranges=DynamicRanges(legacy=PortRange(1025, 65534)),  # MaxUserPort raised
    )
    (port,) = classify_ports((tcp(MAPI, 20000),), widened)
    assert port.port_class is PortClass.DYNAMIC_WINDOWS


def test_firewall_opens_the_legacy_range_for_legacy_dynamic_ports() -> None:
    legacy = Expectation(role=Role.LEGACY)
    report = build_report(HOSTS[0], (tcp(MAPI, 1032), tcp(NSPI, 4997)), (), legacy)
    (server,) = plan_rules([report], allow_dynamic=True).servers
    dynamic = [r.ports for r in server.ports if r.dynamic]
    assert dynamic == [PortRange(1025, 5000)]


# --- RPC over HTTP by role --------------------------------------------------------------

FAILING_ADDRESS_BOOK_HTTP = (
    http(6001, HttpProbeStatus.NCACN_HTTP, bind=PortProbeStatus.BOUND),
    http(6002, HttpProbeStatus.CLOSED),
    http(6004, HttpProbeStatus.SILENT),
)


def test_public_folder_server_is_not_flagged_for_6002_and_6004() -> None:
    assert evaluate(HOSTS[0], (tcp(MAPI, 60001),), FAILING_ADDRESS_BOOK_HTTP, PUBLIC_FOLDERS) == ()


def test_public_folder_server_is_flagged_for_6001() -> None:
    probes = (http(6001, HttpProbeStatus.CLOSED), *FAILING_ADDRESS_BOOK_HTTP[1:])
    found = evaluate(HOSTS[0], (tcp(MAPI, 60001),), probes, PUBLIC_FOLDERS)
    assert {f.code: f.severity for f in found} == {"http6001.closed": Severity.WARNING}


def test_a_required_port_is_held_to_whatever_the_role() -> None:
    combined = Expectation(
        role=Role.MAILBOX_PUBLIC_FOLDERS,
        static_ports=((MAPI, 60001),),
        require_http=(6001, 6002, 6004),
    )
    found = evaluate(HOSTS[0], (tcp(MAPI, 60001),), FAILING_ADDRESS_BOOK_HTTP, combined)
    assert {f.code: f.severity for f in found} == {
        "http6002.closed": Severity.ERROR,
        "http6004.silent": Severity.ERROR,
    }


@pytest.mark.parametrize("expectation", [None, Expectation(role=Role.CLIENT_ACCESS)])
def test_client_access_and_unknown_roles_still_get_the_address_book_ports(
    expectation: Expectation | None,
) -> None:
    found = evaluate(HOSTS[0], (tcp(MAPI, 5999),), FAILING_ADDRESS_BOOK_HTTP, expectation)
    codes = {f.code: f.severity for f in found if not f.code.endswith("not_registered")}
    assert codes == {"http6002.closed": Severity.WARNING, "http6004.silent": Severity.WARNING}
