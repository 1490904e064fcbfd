"""``scan`` and ``check`` over a real network of namespaces: every status through the kernel.

One network for the module (``tests/support/netns.py``), torn down even when a test fails:

    LAN 10.77.1.0/24 (bridge)                                LAN 10.77.9.0/24 (bridge)
      client   10.77.1.2   runs epmscan scan / check           far 10.77.9.10
      exch     10.77.1.10  epmscan lab, Exchange 2010 CAS       (default route via .1)
                           (static ports); nft drops 60002          |
      member   10.77.1.11  epmscan lab --profile windows-member     |
                           --bind 10.77.1.11 --any-address          |
      slow     10.77.1.12  epmscan lab, Windows member,             |
                           delay = 0.8 s per answer                 |
      samba    10.77.1.20  Samba's samba-dcerpcd                    |
      empty    10.77.1.30  nothing listening                        |
      drop     10.77.1.31  epmscan lab; nft drops SYNs to 135       |
      reset    10.77.1.32  epmscan lab; nft rejects 135 with a RST  |
      router   10.77.1.254 ─── forwards ─── 10.77.9.1 ──────────────┘
                           nft rejects TCP 135 to 10.77.9.10 with ICMP admin-prohibited
      10.77.1.96-99: no host (ARP gets no answer)

The client routes 10.77.9.0/24 via the router. Nothing runs in the test's own namespace
but the test: every packet stays between the namespaces of this network.

An address with no host: the kernel sends ARP requests for about 3 s (3 probes, 1 s
apart), then fails the connect with EHOSTUNREACH and queues an ICMP host unreachable
(type 3 code 1) that it sent itself, so the sender is the client's own address. With a
connect timeout shorter than that, the connect is abandoned first: ``filtered``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.cli import CliRun
from tests.support.netns import Namespace, TestNetwork, existing_namespaces, open_network
from tests.support.samba import SambaEpm, find_samba_dcerpcd

pytestmark = [pytest.mark.netns, pytest.mark.slow]

CLIENT = "10.77.1.2"
EXCH = "10.77.1.10"
MEMBER = "10.77.1.11"
SLOW = "10.77.1.12"
SAMBA = "10.77.1.20"
EMPTY = "10.77.1.30"
DROP = "10.77.1.31"
RESET = "10.77.1.32"
ROUTER_NEAR = "10.77.1.254"
ROUTER_FAR = "10.77.9.1"
FAR = "10.77.9.10"
NO_HOST = "10.77.1.99"
NO_HOST_SHORT = "10.77.1.98"
NO_HOST_CHECK = "10.77.1.97"
NO_HOST_SWEEP = "10.77.1.96"
SLOW_DELAY = 0.8
ADDRESS_BOOK_PORT = 60002
"""exchange2010-cas-static serves NSPI and RFR on 60002: the port nft drops on exch."""

LSARPC = "12345778-1234-abcd-ef00-0123456789ab"
SAMR = "12345778-1234-abcd-ef00-0123456789ac"
SRVSVC = "4b324fc8-1670-01d3-1278-5a47bf6ee188"
WINREG = "338cd001-2244-31f1-aaaa-900038001003"


def ruleset(chain_hook: str, *rules: str) -> str:
    body = "".join(f"    {rule}\n" for rule in rules)
    return (
        "table inet epmn {\n"
        f"  chain filter_{chain_hook} {{\n"
        f"    type filter hook {chain_hook} priority 0; policy accept;\n"
        f"{body}"
        "  }\n"
        "}\n"
    )


@dataclass
class Site:
    """The running network and what runs on it."""

    network: TestNetwork
    client: Namespace
    samba: SambaEpm | None
    samba_missing: str | None

    def scan(self, *args: str, timeout: float = 90.0) -> tuple[CliRun, dict[str, dict[str, Any]]]:
        """``epmscan scan ARGS --jsonl -`` from the client: the run and each host's object."""
        run = self.client.epmscan("scan", *args, "--jsonl", "-", "--no-progress", timeout=timeout)
        return run, by_address(run)

    def check(self, *args: str, timeout: float = 90.0) -> tuple[CliRun, dict[str, dict[str, Any]]]:
        run = self.client.epmscan("check", *args, "--jsonl", "-", "--no-progress", timeout=timeout)
        return run, by_address(run)


def by_address(run: CliRun) -> dict[str, dict[str, Any]]:
    hosts: dict[str, dict[str, Any]] = {}
    for line in run.stdout.splitlines():
        if not line.startswith("{"):
            continue
        data = json.loads(line)
        if "summary" not in data and "epmscan" not in data:
            hosts[data["address"]] = data
    return hosts


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("netns-network")
    with open_network("nft") as net:
        near = net.lan("10.77.1.0/24")
        far_lan = net.lan("10.77.9.0/24")
        client = net.host("client", near, CLIENT)
        exch = net.host("exch", near, EXCH)
        member = net.host("member", near, MEMBER)
        slow = net.host("slow", near, SLOW)
        samba_host = net.host("samba", near, SAMBA)
        net.host("empty", near, EMPTY)
        drop = net.host("drop", near, DROP)
        reset = net.host("reset", near, RESET)
        router = net.router("router", {near: ROUTER_NEAR, far_lan: ROUTER_FAR})
        net.host("far", far_lan, FAR, gateway=ROUTER_FAR)
        client.route("10.77.9.0/24", via=ROUTER_NEAR)

        exch.nft(ruleset("input", f"tcp dport {ADDRESS_BOOK_PORT} drop"))
        drop.nft(ruleset("input", "tcp dport 135 drop"))
        reset.nft(ruleset("input", "tcp dport 135 reject with tcp reset"))
        router.nft(
            ruleset(
                "forward",
                f"ip daddr {FAR} tcp dport 135 reject with icmp type admin-prohibited",
            )
        )

        exch.start_lab(root, "exchange2010-cas-static")
        member.start_lab_profile(root, "windows-member")  # --profile ... --any-address
        slow.start_lab(root, "windows-member", delay=SLOW_DELAY)
        drop.start_lab(root, "windows-member")
        reset.start_lab(root, "windows-member")
        binary = find_samba_dcerpcd()
        samba = samba_host.start_samba(binary, root / "samba") if binary else None
        yield Site(net, client, samba, None if binary else "samba is not installed (apt samba)")


def require_samba(site: Site) -> SambaEpm:
    if site.samba is None:
        reason = site.samba_missing or "samba-dcerpcd did not start"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; .ci/run installs it")
        pytest.skip(reason)
    return site.samba


def tcp_endpoints(host: dict[str, Any]) -> dict[str, set[int]]:
    """Interface UUID -> the ncacn_ip_tcp ports the host's endpoint mapper gave for it."""
    found: dict[str, set[int]] = {}
    for endpoint in host["endpoints"]:
        if endpoint["transport"] == "ncacn_ip_tcp":
            found.setdefault(endpoint["uuid"], set()).add(endpoint["port"])
    return found


# --- scan -----------------------------------------------------------------------------


def test_scan_gets_every_status_through_the_kernel(site: Site) -> None:
    targets = [EXCH, MEMBER, SLOW, EMPTY, DROP, RESET, FAR, NO_HOST_SWEEP]
    run, hosts = site.scan(
        *targets, "--connect-timeout", "6", "--read-timeout", "4", "--host-timeout", "40"
    )
    assert run.returncode == 0, run.describe()
    assert set(hosts) == set(targets), run.describe()
    statuses = {address: host["status"] for address, host in hosts.items()}
    assert statuses == {
        EXCH: "ok",
        MEMBER: "ok",
        SLOW: "ok",
        EMPTY: "closed",
        DROP: "filtered",
        RESET: "closed",
        FAR: "unreachable",
        NO_HOST_SWEEP: "unreachable",
    }, run.describe()
    for address in (EMPTY, RESET):
        assert hosts[address]["error"] == "connection refused"
    assert hosts[DROP]["error"] == "no answer to connect within 6 s"
    for address in (EMPTY, DROP, RESET):
        assert hosts[address]["icmp"] is None
        assert hosts[address]["endpoints"] == []
    far, missing = hosts[FAR]["icmp"], hosts[NO_HOST_SWEEP]["icmp"]
    assert (far["type"], far["code"], far["sender"]) == (3, 13, ROUTER_NEAR)
    assert (missing["type"], missing["code"], missing["sender"]) == (3, 1, CLIENT)


def test_lab_hosts_answer_with_their_own_endpoints(site: Site) -> None:
    run, hosts = site.scan(EXCH, MEMBER, "--connect-timeout", "3")
    assert [hosts[a]["status"] for a in (EXCH, MEMBER)] == ["ok", "ok"], run.describe()
    exch = hosts[EXCH]
    assert exch["error"] is None and exch["icmp"] is None
    ports = tcp_endpoints(exch)
    assert ports["a4f1db00-ca47-1067-b31f-00dd010662da"] == {60001}  # MAPI
    assert ports["f5cc5a18-4264-101a-8c59-08002b2f8426"] == {ADDRESS_BOOK_PORT}  # NSPI
    assert ports["1544f5e0-613c-11d1-93df-00c04fd7bd09"] == {ADDRESS_BOOK_PORT}  # RFR
    for address in (EXCH, MEMBER):
        tcp = [e for e in hosts[address]["endpoints"] if e["transport"] == "ncacn_ip_tcp"]
        assert tcp, run.describe()
        assert {e["address"] for e in tcp} == {address}
        assert all(e["binding"].startswith(f"ncacn_ip_tcp:{address}[") for e in tcp)
    assert LSARPC in tcp_endpoints(hosts[MEMBER])
    assert "a4f1db00-ca47-1067-b31f-00dd010662da" not in tcp_endpoints(hosts[MEMBER])


def test_samba_answers_with_its_interfaces_on_its_ports(site: Site) -> None:
    samba = require_samba(site)
    run, hosts = site.scan(SAMBA, "--connect-timeout", "3")
    host = hosts[SAMBA]
    assert host["status"] == "ok", run.describe()
    assert host["lookup_status"] == "0x16c9a0d6"  # Samba ends its walk with ept_s_not_registered
    ports = tcp_endpoints(host)
    for interface in (LSARPC, SAMR, SRVSVC, WINREG):
        assert interface in ports, f"{interface} missing: {run.describe()}"
    listening = {port for address, port in samba.listening() if address == SAMBA}
    assert 135 in listening  # Samba lists its endpoint mapper too
    assert set().union(*ports.values()) == listening
    tcp = [e for e in host["endpoints"] if e["transport"] == "ncacn_ip_tcp"]
    assert {e["address"] for e in tcp} == {SAMBA}


def test_admin_prohibited_behind_the_router_names_type_code_and_router(site: Site) -> None:
    run, hosts = site.scan(FAR, "--connect-timeout", "3")
    host = hosts[FAR]
    assert host["status"] == "unreachable", run.describe()
    assert host["icmp"] == {
        "type": 3,
        "code": 13,
        "sender": ROUTER_NEAR,
        "protocol": "icmp",
        "description": "ICMP type 3 code 13 (communication administratively prohibited)"
        f" from {ROUTER_NEAR}",
    }
    assert host["error"] == (
        "no route to host: ICMP type 3 code 13 (communication administratively prohibited)"
        f" from {ROUTER_NEAR}"
    )
    assert host["elapsed"] < 3  # the router answered; the connect did not time out


def test_no_host_is_unreachable_once_arp_gives_up(site: Site) -> None:
    run, hosts = site.scan(NO_HOST, "--connect-timeout", "8", "--host-timeout", "20")
    host = hosts[NO_HOST]
    assert host["status"] == "unreachable", run.describe()
    assert host["icmp"]["type"] == 3 and host["icmp"]["code"] == 1  # host unreachable
    assert host["icmp"]["sender"] == CLIENT  # the client's kernel said so itself
    assert "ICMP type 3 code 1 (host unreachable)" in host["error"]
    assert 1.5 <= host["elapsed"] < 8  # ARP's probes (about 3 s), not the connect timeout


def test_no_host_with_a_shorter_connect_timeout_is_filtered(site: Site) -> None:
    run, hosts = site.scan(NO_HOST_SHORT, "--connect-timeout", "1")
    host = hosts[NO_HOST_SHORT]
    assert host["status"] == "filtered", run.describe()
    assert host["error"] == "no answer to connect within 1 s"
    assert host["icmp"] is None


def test_slow_host_is_ok_when_the_timeouts_allow_it(site: Site) -> None:
    run, hosts = site.scan(SLOW, "--read-timeout", "4", "--host-timeout", "30")
    host = hosts[SLOW]
    assert host["status"] == "ok", run.describe()
    assert host["endpoints"]
    assert host["elapsed"] >= SLOW_DELAY * (1 + host["lookup_pages"])  # bind + each page


def test_slow_host_times_out_when_the_timeouts_do_not(site: Site) -> None:
    run, hosts = site.scan(SLOW, "--read-timeout", "0.3")
    assert hosts[SLOW]["status"] == "timeout", run.describe()
    assert hosts[SLOW]["error"] == "no answer within 0.3 s"
    run, hosts = site.scan(SLOW, "--read-timeout", "4", "--host-timeout", "1")
    assert hosts[SLOW]["status"] == "timeout", run.describe()
    assert hosts[SLOW]["error"] == "host deadline of 1 s exceeded"


# --- check ----------------------------------------------------------------------------

EXPECT = (
    "--expect", "mapi=60001", "--expect", f"nspi={ADDRESS_BOOK_PORT}",
    "--expect", f"rfr={ADDRESS_BOOK_PORT}", "--require-http", "6001,6002,6004",
)  # fmt: skip


def test_check_binds_the_exchange_ports_and_sees_the_dropped_one_filtered(site: Site) -> None:
    run, hosts = site.check(EXCH, *EXPECT, "--connect-timeout", "2")
    assert run.returncode == 1, run.describe()  # nspi/rfr filtered are errors
    exchange = hosts[EXCH]["exchange"]
    probes = {(p["interface"], p["transport"]): p for p in exchange["ports"]}
    mapi = probes[("mapi", "ncacn_ip_tcp")]
    assert (mapi["port"], mapi["probe"], mapi["port_class"]) == (60001, "bound", "static_expected")
    for name in ("nspi", "rfr"):
        probe = probes[(name, "ncacn_ip_tcp")]
        assert (probe["port"], probe["probe"]) == (ADDRESS_BOOK_PORT, "filtered"), probe
        assert probe["port_class"] == "static_expected"
    http = {h["port"]: h for h in exchange["http"]}
    assert set(http) == {6001, 6002, 6004}
    for port, probe in http.items():
        assert (probe["status"], probe["bind"]) == ("ncacn_http", "bound"), (port, probe)
    codes = {f["code"]: f["severity"] for f in exchange["findings"]}
    assert codes.get("nspi.filtered") == "error" and codes.get("rfr.filtered") == "error", codes
    assert not any(code.startswith(("mapi.", "http")) for code in codes), codes


def test_check_reports_unreachable_hosts_with_the_icmp_detail(site: Site) -> None:
    run, hosts = site.check(FAR, NO_HOST_CHECK, *EXPECT, "--connect-timeout", "8")
    assert run.returncode == 1, run.describe()
    far = hosts[FAR]
    assert far["status"] == "unreachable"
    assert (far["icmp"]["type"], far["icmp"]["code"], far["icmp"]["sender"]) == (
        3,
        13,
        ROUTER_NEAR,
    )
    assert "epm.unreachable" in {f["code"] for f in far["exchange"]["findings"]}
    missing = hosts[NO_HOST_CHECK]
    assert missing["status"] == "unreachable"
    assert (missing["icmp"]["code"], missing["icmp"]["sender"]) == (1, CLIENT)


def test_every_namespace_goes_when_the_code_inside_fails() -> None:
    run_ids: list[str] = []
    with pytest.raises(ZeroDivisionError), open_network() as net:
        lan = net.lan("10.77.200.0/24")
        net.host("a", lan, "10.77.200.1")
        net.host("b", lan, "10.77.200.2")
        run_ids.append(net.run_id)
        assert len(existing_namespaces(net.run_id)) == 3
        raise ZeroDivisionError  # as a failed assertion would
    assert existing_namespaces(run_ids[0]) == []
