"""Firewall rules: exact text per format, refusals, and validation by nft / iptables-restore."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from epmscan.checks.findings import build_report
from epmscan.checks.firewall import plan_rules
from epmscan.cli.parsing import parse_firewall_format, parse_sources
from epmscan.errors import UsageError
from epmscan.models import (
    DynamicRanges,
    ExchangeHostReport,
    ExchangeInterface,
    Expectation,
    HostResult,
    HostStatus,
    HttpPortProbe,
    HttpProbeStatus,
    PortRange,
    ResolvedPort,
    Role,
)
from epmscan.report.firewall_rules import left_out_lines, render_rules
from epmscan.settings import FirewallFormat

MAPI, NSPI, RFR = ExchangeInterface.MAPI, ExchangeInterface.NSPI, ExchangeInterface.RFR
CAS = Expectation(
    role=Role.CLIENT_ACCESS, static_ports=((MAPI, 60001), (NSPI, 60002), (RFR, 60002))
)


def render_firewall(
    reports: Sequence[ExchangeHostReport],
    fmt: str,
    *,
    source: str = "any",
    allow_dynamic: bool = False,
    ranges: DynamicRanges | None = None,
) -> str:
    """``epmscan firewall``'s pipeline on reports: options parsed, rules planned, rendered."""
    format_, sources = parse_firewall_format(fmt), parse_sources([source])
    plan = plan_rules(reports, allow_dynamic=allow_dynamic, ranges=ranges)
    if not plan.servers:
        raise UsageError("; ".join(left_out_lines(plan)))
    return render_rules(plan, format_, sources)


def host(target: str, address: str) -> HostResult:
    return HostResult(target=target, address=address, port=135, status=HostStatus.OK)


def tcp(interface: ExchangeInterface, port: int) -> ResolvedPort:
    return ResolvedPort(interface, "ncacn_ip_tcp", port, "both")


def static_cas(target: str = "cas01", address: str = "192.0.2.10") -> ExchangeHostReport:
    return build_report(
        host(target, address),
        (
            tcp(MAPI, 60001),
            tcp(NSPI, 60002),
            tcp(RFR, 60002),
            ResolvedPort(NSPI, "ncacn_http", 6004, "lookup"),
        ),
        (
            HttpPortProbe(6001, MAPI, HttpProbeStatus.NCACN_HTTP),
            HttpPortProbe(6002, RFR, HttpProbeStatus.CLOSED),
            HttpPortProbe(6004, NSPI, HttpProbeStatus.OTHER_SERVICE, banner="SSH-2.0"),
        ),
        CAS,
    )


def dynamic_host() -> ExchangeHostReport:
    """An Exchange server whose MAPI port is in the Windows range, no port expected."""
    return build_report(host("ex01", "192.0.2.20"), (tcp(MAPI, 50123),), (), Expectation())


REPORTS = (static_cas(), static_cas("cas02", "192.0.2.11"))

EXPECTED_NETSH = """\
@echo off
REM Inbound rules for Exchange RPC, written by epmscan. Run on each server (elevated).

REM cas01 (192.0.2.10), from clients: any address
REM   TCP 135: endpoint mapper
REM   TCP 6001: RPC over HTTP, MAPI (EMSMDB)
REM   TCP 60001: MAPI (EMSMDB)
REM   TCP 60002: address book (NSPI), referral (RFR)
netsh advfirewall firewall add rule name="epmscan Exchange RPC 192.0.2.10" dir=in action=allow \
protocol=TCP localip=192.0.2.10 localport=135,6001,60001,60002 remoteip=any

REM cas02 (192.0.2.11), from clients: any address
REM   TCP 135: endpoint mapper
REM   TCP 6001: RPC over HTTP, MAPI (EMSMDB)
REM   TCP 60001: MAPI (EMSMDB)
REM   TCP 60002: address book (NSPI), referral (RFR)
netsh advfirewall firewall add rule name="epmscan Exchange RPC 192.0.2.11" dir=in action=allow \
protocol=TCP localip=192.0.2.11 localport=135,6001,60001,60002 remoteip=any
"""

EXPECTED_POWERSHELL_RULE = (
    "New-NetFirewallRule -DisplayName 'epmscan Exchange RPC 192.0.2.10' -Direction Inbound "
    "-Action Allow -Protocol TCP -LocalAddress '192.0.2.10' "
    "-LocalPort '135','6001','60001','60002' -RemoteAddress '198.51.100.0/24'"
)

EXPECTED_NFT = """\
#!/usr/sbin/nft -f
# Exchange RPC towards the servers below, written by epmscan. Load with: nft -f FILE
# The chain only accepts (policy accept); the deny belongs to your own ruleset,
# or change the policy to drop once established traffic is accepted too.
table inet epmscan
delete table inet epmscan
table inet epmscan {
\tchain exchange_rpc {
\t\ttype filter hook forward priority filter; policy accept;
\t\t# cas01 (192.0.2.10), from clients: any address
\t\t#   TCP 135: endpoint mapper
\t\t#   TCP 6001: RPC over HTTP, MAPI (EMSMDB)
\t\t#   TCP 60001: MAPI (EMSMDB)
\t\t#   TCP 60002: address book (NSPI), referral (RFR)
\t\tip daddr 192.0.2.10 tcp dport { 135, 6001, 60001, 60002 } accept
\t\t# cas02 (192.0.2.11), from clients: any address
\t\t#   TCP 135: endpoint mapper
\t\t#   TCP 6001: RPC over HTTP, MAPI (EMSMDB)
\t\t#   TCP 60001: MAPI (EMSMDB)
\t\t#   TCP 60002: address book (NSPI), referral (RFR)
\t\tip daddr 192.0.2.11 tcp dport { 135, 6001, 60001, 60002 } accept
\t}
}
"""

EXPECTED_IPTABLES_RULES = [
    "-A EPMSCAN-EXCHANGE -s 198.51.100.0/24 -d 192.0.2.10/32 -p tcp -m multiport "
    "--dports 135,6001,60001,60002 -j ACCEPT",
    "-A EPMSCAN-EXCHANGE -s 198.51.100.0/24 -d 192.0.2.11/32 -p tcp -m multiport "
    "--dports 135,6001,60001,60002 -j ACCEPT",
]


def test_netsh_text() -> None:
    assert render_firewall(REPORTS, "netsh") == EXPECTED_NETSH


def test_powershell_text_with_source() -> None:
    text = render_firewall(REPORTS, "powershell", source="198.51.100.0/24")
    rules = [line for line in text.splitlines() if line.startswith("New-NetFirewallRule")]
    assert rules[0] == EXPECTED_POWERSHELL_RULE
    assert len(rules) == 2


def test_nftables_text() -> None:
    assert render_firewall(REPORTS, "nftables") == EXPECTED_NFT


def test_iptables_text_with_source() -> None:
    text = render_firewall(REPORTS, "iptables", source="198.51.100.7")
    lines = text.splitlines()
    assert lines[lines.index("*filter") + 1] == ":EPMSCAN-EXCHANGE - [0:0]"
    assert [line for line in lines if line.startswith("-A ")] == [
        rule.replace("198.51.100.0/24", "198.51.100.7/32") for rule in EXPECTED_IPTABLES_RULES
    ]
    assert lines[-1] == "COMMIT"


def test_csv_rows() -> None:
    rows = list(csv.DictReader(io.StringIO(render_firewall(REPORTS[:1], "csv"))))
    assert [(r["address"], r["port"], r["reason"]) for r in rows] == [
        ("192.0.2.10", "135", "endpoint mapper"),
        ("192.0.2.10", "6001", "RPC over HTTP, MAPI (EMSMDB)"),
        ("192.0.2.10", "60001", "MAPI (EMSMDB)"),
        ("192.0.2.10", "60002", "address book (NSPI), referral (RFR)"),
    ]
    assert {r["source"] for r in rows} == {"any"} and {r["dynamic"] for r in rows} == {"no"}


def test_an_unverified_dynamic_port_leaves_its_server_out_with_why() -> None:
    plan = plan_rules([*REPORTS, dynamic_host()])
    assert [s.address for s in plan.servers] == ["192.0.2.10", "192.0.2.11"]
    (left,) = plan.left_out
    assert left.blocking and left.address == "192.0.2.20"
    assert "MAPI (EMSMDB) on 50123" in left.reason and "not verified as pinned" in left.reason
    assert "--expect" in left.reason and "--allow-dynamic" in left.reason
    text = render_firewall([*REPORTS, dynamic_host()], "nftables")
    assert "#   ex01 (192.0.2.20): MAPI (EMSMDB) on 50123" in text


def test_a_dynamic_port_other_than_the_expected_one_says_pin_it() -> None:
    moved = build_report(host("cas03", "192.0.2.12"), (tcp(MAPI, 52311),), (), CAS)
    (left,) = plan_rules([moved]).left_out
    assert "not the expected static one; pin it first" in left.reason


def test_a_port_pinned_inside_the_dynamic_range_gets_its_rule() -> None:
    pinned = build_report(host("cas04", "192.0.2.13"), (tcp(MAPI, 60001),), (), CAS)
    (server,) = plan_rules([pinned]).servers
    assert [p.text for p in server.ports] == ["135", "60001"]


def test_servers_whose_role_needs_nothing_or_that_did_not_answer_are_left_out() -> None:
    mailbox = build_report(
        host("mbx01", "192.0.2.14"), (tcp(MAPI, 60001),), (), Expectation(role=Role.MAILBOX)
    )
    down = build_report(
        HostResult("cas07", "192.0.2.40", 135, HostStatus.FILTERED, error="timed out"), (), (), CAS
    )
    empty = build_report(host("win02", "192.0.2.41"), (), (), None)
    plan = plan_rules([mailbox, down, empty])
    assert not plan.servers
    reasons = {left.address: left.reason for left in plan.left_out}
    assert "role (mailbox) serves Outlook no RPC port" in reasons["192.0.2.14"]
    assert reasons["192.0.2.40"] == "the endpoint mapper did not answer (filtered)"
    assert "no Exchange interface" in reasons["192.0.2.41"]
    assert not any(left.blocking for left in plan.left_out)


def test_public_folder_servers_open_mapi_and_6001_only() -> None:
    pf = build_report(
        host("pf01", "192.0.2.15"),
        (tcp(MAPI, 60001), tcp(NSPI, 60002)),
        (
            HttpPortProbe(6001, MAPI, HttpProbeStatus.NCACN_HTTP),
            HttpPortProbe(6004, NSPI, HttpProbeStatus.NCACN_HTTP),
        ),
        Expectation(role=Role.MAILBOX_PUBLIC_FOLDERS, static_ports=((MAPI, 60001),)),
    )
    (server,) = plan_rules([pf]).servers
    assert [p.text for p in server.ports] == ["135", "6001", "60001"]


def test_several_sources_and_proxy_sources() -> None:
    plan = plan_rules(REPORTS[:1])
    clients = parse_sources(["10.0.0.0/8", "192.168.1.0/24,10.0.0.0/8"])
    proxies = parse_sources(["198.51.100.7"], "--proxy-source")
    text = render_rules(plan, FirewallFormat.NFTABLES, clients, proxies)
    assert (
        "ip saddr { 10.0.0.0/8, 192.168.1.0/24 } ip daddr 192.0.2.10 tcp dport "
        "{ 135, 60001, 60002 } accept" in text
    )
    assert "ip saddr { 198.51.100.7/32 } ip daddr 192.0.2.10 tcp dport { 6001 } accept" in text
    netsh = render_rules(plan, FirewallFormat.NETSH, clients, proxies)
    assert "remoteip=10.0.0.0/8,192.168.1.0/24" in netsh and "RPC proxy" in netsh


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["10.0.0.5/8"], "has host bits set: write 10.0.0.0/8"),
        (["any", "10.0.0.0/8"], "does not go with other sources"),
        (["clients"], "is not 'any', an address or a CIDR"),
    ],
)
def test_bad_sources_are_one_line(values: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_sources(values)


def test_dynamic_allowed_opens_the_range_with_a_warning() -> None:
    text = render_firewall([dynamic_host()], "nftables", allow_dynamic=True)
    assert "ip daddr 192.0.2.20 tcp dport { 135, 6005-65534 } accept" in text
    assert "WARNING: opens the whole dynamic range" in text


def test_exchange_server_dynamic_opens_the_exchange_range_and_swallows_ports_inside() -> None:
    report = build_report(
        host("cas09", "192.0.2.30"),
        (tcp(MAPI, 50000), tcp(NSPI, 60002)),
        (),
        Expectation(role=Role.CLIENT_ACCESS, static_ports=((NSPI, 60002),)),
    )
    ranges = DynamicRanges(PortRange(49152, 65535), PortRange(6005, 59530))
    (plan,) = plan_rules([report], allow_dynamic=True, ranges=ranges).servers
    assert [p.text for p in plan.ports] == ["135", "6005-59530", "60002"]
    iptables = render_firewall([report], "iptables", allow_dynamic=True, ranges=ranges)
    assert "--dports 135,6005:59530,60002 -j ACCEPT" in iptables


def test_many_ports_are_split_into_multiport_chunks() -> None:
    ports = tuple(tcp(MAPI, 10000 + n) for n in range(20))
    ranges = DynamicRanges(PortRange(49152, 65535), PortRange(40000, 40001))
    unpinned = Expectation(role=Role.CLIENT_ACCESS, ranges=ranges)
    report = build_report(host("x", "198.51.100.9"), ports, (), unpinned)
    text = render_firewall([report], "iptables", ranges=ranges)
    rules = [line for line in text.splitlines() if line.startswith("-A ")]
    assert len(rules) == 2
    assert sum(len(r.split("--dports ")[1].split(" ")[0].split(",")) for r in rules) == 21


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fmt": "pf"}, "unknown firewall format 'pf'"),
        ({"fmt": "netsh", "source": "clients"}, "is not 'any', an address or a CIDR"),
        ({"fmt": "netsh", "source": "2001:db8::/32"}, "no IPv4 source for 192.0.2.10"),
    ],
)
def test_usage_errors(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        render_firewall(REPORTS, **kwargs)  # type: ignore[arg-type]


def test_iptables_refuses_ipv6_but_nftables_writes_ip6() -> None:
    v6 = static_cas("cas6", "2001:db8::10")
    with pytest.raises(UsageError, match="IPv4 only"):
        render_firewall([v6], "iptables")
    assert "ip6 daddr 2001:db8::10 tcp dport" in render_firewall([v6], "nftables")


# --- validation by the real tools --------------------------------------------------------


def _run_or_skip(command: list[str]) -> subprocess.CompletedProcess[str]:
    tool = shutil.which(command[0])
    if tool is None:
        pytest.skip(f"{command[0]} is not installed")
    result = subprocess.run([tool, *command[1:]], capture_output=True, text=True, timeout=30)
    text = result.stderr + result.stdout
    if result.returncode != 0 and any(
        s in text for s in ("Operation not permitted", "Permission denied", "must be root")
    ):
        pytest.skip(f"{command[0]} cannot run here: {text.strip().splitlines()[0]}")
    return result


@pytest.mark.parametrize("allow_dynamic", [False, True])
def test_nft_accepts_the_file(tmp_path: Path, allow_dynamic: bool) -> None:
    reports = [*REPORTS, static_cas("cas6", "2001:db8::10")]
    if allow_dynamic:
        reports.append(dynamic_host())
    file = tmp_path / "rules.nft"
    file.write_text(render_firewall(reports, "nftables", allow_dynamic=allow_dynamic, source="any"))
    result = _run_or_skip(["nft", "-c", "-f", str(file)])
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("source", ["any", "198.51.100.0/24"])
def test_iptables_restore_accepts_the_file(tmp_path: Path, source: str) -> None:
    ranges = DynamicRanges(PortRange(49152, 65535), PortRange(40000, 40001))
    many = build_report(
        host("x", "192.0.2.50"),
        tuple(tcp(MAPI, 10000 + n) for n in range(20)),
        (),
        Expectation(role=Role.CLIENT_ACCESS, ranges=ranges),
    )
    file = tmp_path / "rules.iptables"
    file.write_text(
        render_firewall(
            [*REPORTS, many, dynamic_host()],
            "iptables",
            source=source,
            allow_dynamic=True,
            ranges=ranges,
        )
    )
    result = _run_or_skip(["iptables-restore", "--test", str(file)])
    assert result.returncode == 0, result.stderr


def test_every_format_renders() -> None:
    for fmt in (f.value for f in FirewallFormat):
        assert "192.0.2.11" in render_firewall(REPORTS, fmt)
