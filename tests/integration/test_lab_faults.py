"""Hostile lab hosts: every fault ends the scan in time, with a named status, and harms no one else.

One lab file holds a host per endpoint mapper behaviour (``fault = ...`` in each
``[[hosts]]``, as a name, an inline table or a ``[hosts.fault]`` table) beside healthy
hosts of every profile. ``epmscan scan ... --jsonl -`` runs over all of them at once with
short read deadlines and a host deadline; each host's line must carry the status and
error the fault calls for, keep the entries it should keep, and end within the host
deadline, and every healthy host must list exactly what the lab registered. A second lab
puts faults on the interface ports and the ncacn_http ports, judged by the Exchange check
(``engine.exchange.observe_exchange_host`` judged by ``checks``).

Where epmscan gets a case wrong today the test states the right behaviour and is marked
``xfail(strict=True)`` with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from epmscan.checks.findings import build_report
from epmscan.cli.lab import host_lines
from epmscan.engine.exchange import observe_exchange_host
from epmscan.lab import Lab, load_lab_file
from epmscan.lab.server import LabHost
from epmscan.models import ExchangeHostReport, HostStatus, HttpProbeStatus, PortProbeStatus
from epmscan.protocol.status_codes import BIND_NAK_REASONS
from epmscan.settings import NetworkSettings, Timeouts
from tests.support.cli import run_cli
from tests.support.lab import lab_on_free_ports

pytestmark = pytest.mark.slow

CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 2.0
HOST_TIMEOUT = 15.0
"""Well above the slowest honest-but-long walk (4,096 pages of ``endless_pages``: about 5 s
while every other host is scanned too)."""
DEADLINE_SLACK = 4.0
"""A host's elapsed time may pass the host deadline by this much (loop latency, load)."""
MAX_ENTS = 50
"""Entries asked per page: several pages per host, so faults can strike mid-walk."""
DRIP_INTERVAL = 0.5
"""Below the read timeout: every read gets its byte, only the host deadline stops it."""

# --- lab files ------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return str(value)


def lab_toml(hosts: list[dict[str, Any]]) -> str:
    """A lab file; a host's ``fault`` table goes in a ``[hosts.fault]`` table when it has
    ``"table": True`` in it, inline otherwise."""
    lines = ["[lab]", "seed = 11", ""]
    for host in hosts:
        lines.append("[[hosts]]")
        fault = host.get("fault")
        for key, value in host.items():
            if key != "fault":
                lines.append(f"{key} = {_toml_value(value)}")
        if isinstance(fault, dict) and fault.get("table"):
            lines.append("[hosts.fault]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in fault.items() if k != "table"]
        elif fault is not None:
            lines.append(f"fault = {_toml_value(fault)}")
        lines.append("")
    return "\n".join(lines)


@dataclass
class RunningFaultLab:
    lab: Lab
    epm_port: int
    """The endpoint mapper's actual port (nominal port + offset)."""
    port_offset: int


@contextlib.contextmanager
def running_fault_lab(path: Path) -> Iterator[RunningFaultLab]:
    """The lab file in a :class:`LabThread`, on an endpoint mapper port and offset found free."""
    with lab_on_free_ports(load_lab_file(path), f"the lab of {path}") as moved:
        yield RunningFaultLab(moved.lab, moved.epm_port, moved.offset)


EndpointKey = tuple[str, str, str, int | None, str | None]


def registered(host: LabHost) -> list[EndpointKey]:
    """What the lab registered for ``host``, in endpoint map order."""
    return [
        (e.interface.uuid, e.interface.version, e.transport, e.port, e.endpoint)
        for e in host.plan.entries
    ]


def received(endpoints: list[dict[str, Any]]) -> list[EndpointKey]:
    return [(e["uuid"], e["version"], e["transport"], e["port"], e["endpoint"]) for e in endpoints]


# --- the endpoint mapper faults, scanned with `epmscan scan` ---------------------------


@dataclass(frozen=True)
class Case:
    """One faulty host: its fault and what the scan must say about it."""

    id: str
    fault: Any
    status: str
    error: str = ""
    """Text the host's error line must contain."""
    keep: str = "none"
    """Endpoints kept: ``none``, ``all`` (what the lab registered), ``first_page`` (the first
    ``MAX_ENTS`` registered), ``many`` (10,000: the registered ones and fillers),
    ``cap`` (the walk's caps: more than 4,000), ``towers`` (all, lying towers reported)."""
    profile: str = "windows-member"
    xfail: str | None = None


EPM_CASES = [
    Case("silent", "silent", "timeout", "no answer within"),
    Case("drip", {"kind": "drip", "interval": DRIP_INTERVAL}, "timeout", "host deadline"),
    Case("endless_stream", "endless_stream", "protocol_error", "not DCE/RPC"),
    Case("speaks_http", "speaks_http", "protocol_error", "not DCE/RPC"),
    Case("speaks_tls", "speaks_tls", "protocol_error", "not DCE/RPC 5.0/5.1: version 21.3"),
    Case("garbage", {"kind": "garbage", "size": 200}, "protocol_error", "not DCE/RPC"),
    Case("close_mid_pdu", "close_mid_pdu", "closed", "closed by peer"),
    Case(
        "close_mid_pdu_page_2",
        {"kind": "close_mid_pdu", "at": "call", "call": 2},
        "closed",
        "closed by peer",
        "first_page",
    ),
    Case("frag_short", "frag_short", "protocol_error", "frag_length 10 is shorter"),
    Case("frag_long", "frag_long", "timeout", "no answer within"),
    Case(
        "frag_long_page_2",
        {"kind": "frag_long", "at": "call", "call": 2, "table": True},
        "timeout",
        "no answer within",
        "first_page",
    ),
    Case("frag_huge", "frag_huge", "timeout", "no answer within"),
    Case("frag_huge_in_call", {"kind": "frag_huge", "at": "call"}, "timeout", "no answer"),
    Case(
        "wrong_version",
        {"kind": "wrong_version", "version": "6.0"},
        "protocol_error",
        "version 6.0",
    ),
    Case(
        "wrong_version_in_call",
        {"kind": "wrong_version", "at": "call"},
        "protocol_error",
        "version 4.0",
    ),
    Case("wrong_ptype", "wrong_ptype", "protocol_error", "unexpected request PDU"),
    Case(
        "wrong_ptype_in_call",
        {"kind": "wrong_ptype", "at": "call", "ptype": "bind_ack"},
        "protocol_error",
        "unexpected bind_ack",
    ),
    Case("wrong_call_id", "wrong_call_id", "protocol_error", "which was not made"),
    Case(
        "wrong_call_id_on_bind",
        {"kind": "wrong_call_id", "at": "bind"},
        "protocol_error",
        "bind_ack for call",
    ),
    Case("fault_on_bind", "fault", "access_denied", "fault on bind: rpc_s_access_denied"),
    Case(
        "access_denied_in_call",
        {"kind": "fault", "at": "call"},
        "access_denied",
        "rpc fault rpc_s_access_denied",
    ),
    Case(
        "fault_in_call",
        {"kind": "fault", "at": "call", "status": 0x1C010002, "table": True},
        "rpc_fault",
        "nca_s_op_rng_error",
    ),
    Case(
        "fault_on_page_2",
        {"kind": "fault", "at": "call", "call": 2, "status": 0x16C9A0CD},
        "rpc_fault",
        "ept_s_cant_perform_op",
        "first_page",
    ),
    Case("endless_response", "endless_response", "protocol_error", "exceeds the limit"),
    *(
        Case(
            f"bind_nak_{reason}",
            {"kind": "bind_nak", "reason": reason},
            "bind_rejected",
            f"bind_nak: {text}",
        )
        for reason, text in BIND_NAK_REASONS.items()
    ),
    Case(
        "bind_nak_unknown_reason",
        {"kind": "bind_nak", "reason": 77},
        "bind_rejected",
        "bind_nak: unknown_reason_77",
    ),
    Case(
        "bind_reject_transfer",
        "bind_reject",
        "bind_rejected",
        "provider_rejection: proposed_transfer_syntaxes_not_supported",
    ),
    Case(
        "bind_reject_user",
        {"kind": "bind_reject", "rejection": "user", "reason": 1},
        "bind_rejected",
        "user_rejection: abstract_syntax_not_supported",
    ),
    Case("alloc_hint", "alloc_hint", "ok", keep="all"),
    Case("alloc_hint_exchange", "alloc_hint", "ok", keep="all", profile="exchange2010-cas-static"),
    Case(
        "stuck_handle_empty",
        {"kind": "stuck_handle", "empty": True},
        "protocol_error",
        "handle does not advance",
        "first_page",
    ),
    Case(
        "stuck_handle_repeating",
        "stuck_handle",
        "protocol_error",
        "handle does not advance: same handle, the same 50 entries again",
        "first_page",
    ),
    Case(
        "endless_pages", "endless_pages", "protocol_error", "did not end within 4096 pages", "cap"
    ),
    Case("num_ents_lie", "num_ents_lie", "protocol_error", "announced but the array holds"),
    Case(
        "num_ents_lie_page_2",
        {"kind": "num_ents_lie", "page": 2, "extra": 1},
        "protocol_error",
        "51 announced but the array holds 50",
        "first_page",
    ),
    Case(
        "num_ents_lie_array",
        {"kind": "num_ents_lie", "array": True, "extra": 1000},
        "protocol_error",
        "ept_lookup announces 1050 entries in",
    ),
    Case(
        "num_ents_lie_array_by_one",
        {"kind": "num_ents_lie", "array": True, "extra": 1},
        "protocol_error",
        "ept_lookup entries: 51 announced, but entry 51 cannot be read",
    ),
    Case("tower_floor_count_high", "tower_floor_count", "ok", keep="towers"),
    Case(
        "tower_floor_count_low",
        {"kind": "tower_floor_count", "floors": 3},
        "ok",
        keep="towers",
    ),
    Case("tower_floor_length", "tower_floor_length", "ok", keep="towers"),
    Case("tower_short_floor", "tower_short_floor", "ok", keep="towers"),
    Case(
        "tower_no_floors",
        {"kind": "tower_no_floors", "entries": 3},
        "ok",
        keep="towers",
    ),
    Case("annotation_unterminated", "annotation_unterminated", "ok", keep="all"),
    Case("many_entries", "many_entries", "ok", keep="many"),
]
HEALTHY_PROFILES = [
    ("windows-member", "windows"),
    ("exchange2010-cas-static", "windows"),
    ("exchange2010-cas-dynamic", "samba"),
    ("exchange2010-mailbox-pf", "samba-dc"),
    ("windows-member", "samba"),
]
EPM_NET = "127.102.1."


def epm_hosts() -> tuple[list[dict[str, Any]], dict[str, str], dict[str, Case]]:
    """The lab's hosts, healthy address → profile, and faulty address → case."""
    hosts: list[dict[str, Any]] = []
    healthy: dict[str, str] = {}
    faulty: dict[str, Case] = {}
    number = 0
    for profile, paging in HEALTHY_PROFILES:
        number += 1
        address = f"{EPM_NET}{number}"
        hosts.append({"address": address, "profile": profile, "paging": paging})
        healthy[address] = profile
    for case in EPM_CASES:
        number += 1
        address = f"{EPM_NET}{number}"
        hosts.append({"address": address, "profile": case.profile, "fault": case.fault})
        faulty[address] = case
    return hosts, healthy, faulty


@dataclass
class EpmScan:
    lab: RunningFaultLab
    healthy: dict[str, str]
    faulty: dict[str, Case]
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    wall_time: float = 0.0
    lines: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def epm_scan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EpmScan]:
    hosts, healthy, faulty = epm_hosts()
    path = tmp_path_factory.mktemp("faults") / "faults.toml"
    path.write_text(lab_toml(hosts))
    with running_fault_lab(path) as running:
        outcome = EpmScan(running, healthy, faulty, lines=host_lines(running.lab))
        started = time.monotonic()
        run = run_cli(
            "scan",
            *[host["address"] for host in hosts],
            "--port",
            str(running.epm_port),
            "--jsonl",
            "-",
            "--no-progress",
            "--concurrency",
            "500",
            "--connect-timeout",
            str(CONNECT_TIMEOUT),
            "--read-timeout",
            str(READ_TIMEOUT),
            "--host-timeout",
            str(HOST_TIMEOUT),
            "--max-ents",
            str(MAX_ENTS),
            timeout=180,
        )
        outcome.wall_time = time.monotonic() - started
        assert run.returncode == 0, run.describe()
        for line in run.stdout.splitlines():
            item = json.loads(line)
            if "summary" in item:
                outcome.summary = item["summary"]
            elif "epmscan" not in item:
                outcome.results[item["address"]] = item
        yield outcome


def test_the_scan_ends_within_the_host_deadline(epm_scan: EpmScan) -> None:
    total = len(epm_scan.healthy) + len(epm_scan.faulty)
    assert len(epm_scan.results) == total
    assert epm_scan.summary["done"] == total and not epm_scan.summary["interrupted"]
    # Every host ran at once: the scan takes about one host deadline, never one per host.
    assert epm_scan.wall_time < HOST_TIMEOUT * 4 + 30
    late = {
        address: result["elapsed"]
        for address, result in epm_scan.results.items()
        if result["elapsed"] > HOST_TIMEOUT + DEADLINE_SLACK
    }
    assert not late, f"hosts past the {HOST_TIMEOUT:g} s deadline: {late}"


def test_every_healthy_host_is_unaffected(epm_scan: EpmScan) -> None:
    for address in epm_scan.healthy:
        result = epm_scan.results[address]
        assert result["status"] == "ok" and result["error"] is None, result["error"]
        host = epm_scan.lab.lab.host(address)
        assert received(result["endpoints"]) == registered(host), address


def _params() -> list[Any]:
    params = []
    for case in EPM_CASES:
        marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
        params.append(pytest.param(case, id=case.id, marks=marks))
    return params


@pytest.mark.parametrize("case", _params())
def test_faulty_host_gets_its_named_status(epm_scan: EpmScan, case: Case) -> None:
    (address,) = [a for a, c in epm_scan.faulty.items() if c is case]
    result = epm_scan.results[address]
    host = epm_scan.lab.lab.host(address)
    what = f"{case.id} on {address}: {result['status']}: {result['error']}"
    assert result["status"] == case.status, what
    if case.status == "ok":
        assert result["error"] is None, what
    else:
        assert result["error"] and case.error in result["error"], what
    if case.status == "rpc_fault":
        status = case.fault.get("status", 5) if isinstance(case.fault, dict) else 5
        assert result["fault_status"] == f"0x{status:08x}", what
    expected = registered(host)
    got = received(result["endpoints"])
    if case.keep == "none":
        assert got == [], what
    elif case.keep == "all":
        assert got == expected, what
    elif case.keep == "first_page":
        assert got == expected[:MAX_ENTS], what
    elif case.keep == "many":
        assert len(got) == 10000 and got[: len(expected)] == expected, what
    elif case.keep == "cap":
        assert len(got) > 4000 and set(got) <= set(expected), what
    else:
        _assert_tower_errors(host, result, what)


def _assert_tower_errors(host: LabHost, result: dict[str, Any], what: str) -> None:
    """The target for towers that lie: every entry kept, a lying tower named as such."""
    endpoints = result["endpoints"]
    honest, sent = host.endpoint_map.towers, host.endpoint_map.lookup_towers
    assert len(endpoints) == len(honest), what
    lying = [index for index, tower in enumerate(sent) if tower != honest[index]]
    assert lying, "the lab sent no lying tower"
    for index, endpoint in enumerate(endpoints):
        if index not in lying:
            assert received([endpoint]) == registered(host)[index : index + 1], what
            continue
        assert endpoint.get("tower_error"), f"{what}: no tower_error in {endpoint}"
        assert any(sent[index].hex() in str(value) for value in endpoint.values()), (
            f"{what}: the raw tower {sent[index].hex()} is not in {endpoint}"
        )
        assert "unknown(" not in endpoint["binding"] and "[None]" not in endpoint["binding"]


def test_annotations_without_terminator_keep_their_text(epm_scan: EpmScan) -> None:
    (address,) = [a for a, c in epm_scan.faulty.items() if c.id == "annotation_unterminated"]
    host = epm_scan.lab.lab.host(address)
    annotations = [e["annotation"] for e in epm_scan.results[address]["endpoints"]]
    assert annotations == [entry.annotation for entry in host.plan.entries]


def test_lab_host_lines_show_the_fault(epm_scan: EpmScan) -> None:
    by_address = {line.split()[0]: line for line in epm_scan.lines}
    for address in epm_scan.healthy:
        assert "fault=" not in by_address[address]
    for address, case in epm_scan.faulty.items():
        kind = case.fault if isinstance(case.fault, str) else case.fault["kind"]
        assert f" fault={kind}@epm" in by_address[address], by_address[address]
    drip = next(a for a, c in epm_scan.faulty.items() if c.id == "drip")
    assert f"fault=drip@epm,interval={DRIP_INTERVAL:g}" in by_address[drip]


# --- faults on the interface ports and the ncacn_http ports, seen by the check -----------

CHECK_NET = "127.102.2."
CHECK_TIMEOUTS = Timeouts(connect=CONNECT_TIMEOUT, read=1.0, host=4.0)
CHECK_FAULTS: dict[str, Any] = {
    "healthy": None,
    "rpc_bind_nak": {"kind": "bind_nak", "on": "rpc", "reason": 3, "table": True},
    "rpc_bind_reject": {"kind": "bind_reject", "on": "rpc"},
    "rpc_silent": {"kind": "silent", "on": "rpc"},
    "rpc_garbage": {"kind": "garbage", "on": "rpc"},
    "rpc_drip": {"kind": "drip", "on": "rpc", "interval": 0.4},
    "greeting_wrong": "greeting_wrong",
    "greeting_wrong_text": {"kind": "greeting_wrong", "text": "HTTP/1.1 400 Bad Request\r\n"},
    "greeting_endless": "greeting_endless",
    "http_silent": {"kind": "silent", "on": "http"},
}


@dataclass
class CheckRun:
    lab: RunningFaultLab
    addresses: dict[str, str]
    reports: dict[str, ExchangeHostReport | None]
    """None: the check did not end within the bound."""
    elapsed: dict[str, float]


CHECK_BOUND = CHECK_TIMEOUTS.host + DEADLINE_SLACK


@pytest.fixture(scope="module")
def check_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CheckRun]:
    addresses = {name: f"{CHECK_NET}{i}" for i, name in enumerate(CHECK_FAULTS, 1)}
    hosts = []
    for name, fault in CHECK_FAULTS.items():
        host: dict[str, Any] = {"address": addresses[name], "profile": "exchange2010-cas-static"}
        if fault is not None:
            host["fault"] = fault
        hosts.append(host)
    path = tmp_path_factory.mktemp("faults") / "check.toml"
    path.write_text(lab_toml(hosts))
    with running_fault_lab(path) as running:
        offset = running.port_offset
        network = NetworkSettings(port=running.epm_port, timeouts=CHECK_TIMEOUTS)
        http_ports = (6001 + offset, 6002 + offset, 6004 + offset)

        async def check_host(address: str) -> ExchangeHostReport:
            seen = await observe_exchange_host(address, address, network, default_http=http_ports)
            return build_report(seen.host, seen.ports, seen.http, None)

        reports: dict[str, ExchangeHostReport | None] = {}
        elapsed: dict[str, float] = {}

        async def one(name: str) -> None:
            started = time.monotonic()
            check = check_host(addresses[name])
            try:
                reports[name] = await asyncio.wait_for(check, CHECK_BOUND)
            except TimeoutError:
                reports[name] = None
            elapsed[name] = time.monotonic() - started

        async def main() -> None:
            await asyncio.gather(*(one(name) for name in CHECK_FAULTS))

        asyncio.run(main())
        yield CheckRun(running, addresses, reports, elapsed)


def _report(check_run: CheckRun, name: str) -> ExchangeHostReport:
    report = check_run.reports[name]
    assert report is not None, (
        f"the check of {name} did not end within {CHECK_BOUND:g} s"
        f" (host deadline {CHECK_TIMEOUTS.host:g} s)"
    )
    return report


def _tcp_probes(report: ExchangeHostReport) -> list[tuple[PortProbeStatus, str | None]]:
    return [(p.probe, p.probe_detail) for p in report.ports if p.transport == "ncacn_ip_tcp"]


def _http(report: ExchangeHostReport) -> list[tuple[int, HttpProbeStatus, PortProbeStatus]]:
    return [(h.port, h.status, h.bind) for h in report.http]


@pytest.mark.parametrize("name", [n for n in CHECK_FAULTS if n != "rpc_drip"])
def test_endpoint_mapper_is_unaffected_by_faults_elsewhere(check_run: CheckRun, name: str) -> None:
    report = _report(check_run, name)
    assert report.host.status is HostStatus.OK, report.host.error
    host = check_run.lab.lab.host(check_run.addresses[name])
    got = [(e.uuid, e.version, e.transport, e.port, e.endpoint) for e in report.host.endpoints]
    assert got == registered(host)
    assert check_run.elapsed[name] <= CHECK_BOUND


def test_healthy_exchange_host_binds_everywhere(check_run: CheckRun) -> None:
    report = _report(check_run, "healthy")
    probes = _tcp_probes(report)
    assert len(probes) == 4 and all(status is PortProbeStatus.BOUND for status, _ in probes)
    assert [h.status for h in report.http] == [HttpProbeStatus.NCACN_HTTP] * 3


@pytest.mark.parametrize(
    ("name", "status", "detail"),
    [
        ("rpc_bind_nak", PortProbeStatus.WRONG_SERVICE, "bind_nak: called_paddr_unknown"),
        (
            "rpc_bind_reject",
            PortProbeStatus.WRONG_SERVICE,
            "bind rejected (provider_rejection: proposed_transfer_syntaxes_not_supported)",
        ),
        ("rpc_silent", PortProbeStatus.TIMEOUT, "no answer within"),
        ("rpc_garbage", PortProbeStatus.PROTOCOL_ERROR, "not DCE/RPC"),
    ],
)
def test_interface_port_faults_are_named_per_port(
    check_run: CheckRun, name: str, status: PortProbeStatus, detail: str
) -> None:
    report = _report(check_run, name)
    probes = _tcp_probes(report)
    assert len(probes) == 4
    for probe, text in probes:
        assert probe is status and detail in (text or ""), (probe, text)
    assert _http(report) == _http(_report(check_run, "healthy"))


def test_a_dripping_interface_port_ends_within_the_host_deadline(check_run: CheckRun) -> None:
    report = _report(check_run, "rpc_drip")
    assert report.host.status is HostStatus.OK
    assert all(status is PortProbeStatus.TIMEOUT for status, _ in _tcp_probes(report))


@pytest.mark.parametrize(
    ("name", "banner"),
    [("greeting_wrong", "ncacn_http/2.0"), ("greeting_wrong_text", "HTTP/1.1 400 Bad Request")],
)
def test_a_wrong_greeting_is_another_service(check_run: CheckRun, name: str, banner: str) -> None:
    report = _report(check_run, name)
    assert len(report.http) == 3
    for probe in report.http:
        assert probe.status is HttpProbeStatus.OTHER_SERVICE
        assert probe.banner == banner
        assert probe.bind is PortProbeStatus.NOT_PROBED
    assert _tcp_probes(report) == _tcp_probes(_report(check_run, "healthy"))


def test_an_endless_greeting_ends_in_a_failed_bind(check_run: CheckRun) -> None:
    report = _report(check_run, "greeting_endless")
    assert len(report.http) == 3
    for probe in report.http:
        assert probe.status is HttpProbeStatus.NCACN_HTTP
        assert probe.bind is PortProbeStatus.PROTOCOL_ERROR
        assert "not DCE/RPC" in (probe.detail or "")
    assert _tcp_probes(report) == _tcp_probes(_report(check_run, "healthy"))


def test_a_silent_http_port_is_silent(check_run: CheckRun) -> None:
    report = _report(check_run, "http_silent")
    assert [h.status for h in report.http] == [HttpProbeStatus.SILENT] * 3


# --- the lab command -----------------------------------------------------------------


def test_a_bad_fault_in_a_lab_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        lab_toml(
            [
                {
                    "address": "127.102.3.1",
                    "profile": "windows-member",
                    "fault": {"kind": "bind_nak", "reason": "no_such_reason"},
                }
            ]
        )
    )
    run = run_cli("lab", "--config", str(path), "--epm-port", "1", timeout=30)
    assert run.returncode == 2, run.describe()
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.describe()
    assert str(path) in lines[0] and "hosts[0].fault.reason" in lines[0], run.describe()
