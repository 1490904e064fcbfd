"""``trace`` and ``pcap`` on one Outlook problem each, over a real routed network of namespaces.

One network for the module (``tests/support/netns.py``, names ``epmtr-...``, addresses in
10.81.0.0/16), torn down even when a test fails:

    LAN 10.81.1.0/24                         LAN 10.81.2.0/24
      client  10.81.1.2  epmscan trace,        server  one namespace, one `epmscan lab` on 135
              impacket (hept_map + bind),              (Exchange 2010 CAS, MAPI on 60001)
              tcpdump                                  for five addresses:
      router  10.81.1.1 ── forwards ── 10.81.2.1       .10 ok        nothing in the way
                                                       .11 drop      the server's nft drops 60001
                                                       .12 closed    the server sends 60001 to a
                                                                     port where nothing listens
                                                       .13 rreset    the router: reject
                                                                     with tcp reset
                                                       .14 icmp      the router: reject with ICMP
                                                                     admin-prohibited (3/13)

The server's packets reach the client with TTL 63 (one router); the router's own reset
comes with 64: that is how a reset by the server is told from one by the path. Every
case is asked twice, the same way: ``epmscan trace`` (root: packets captured) and a
capture with tcpdump on the client of an Outlook stand-in (impacket's ``hept_map``, then a
bind on the port it got) read by ``epmscan pcap``. Both must name the same outcome and,
for the router's answers, the router. An unprivileged ``trace`` (``setpriv`` drops
CAP_NET_RAW) still runs and says what it could not see. Counts of packets are lower
bounds and timings are never asserted.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import CliRun
from tests.support.lab import start_lab_file
from tests.support.loopback import wait_for_listening
from tests.support.netns import Namespace, TestNetwork, epmscan_env, open_network, stop_process

pytestmark = [pytest.mark.netns, pytest.mark.slow]

PREFIX = "epmtr-"
RANGE = "10.81.0.0/16"
CLIENT = "10.81.1.2"
ROUTER_NEAR = "10.81.1.1"
ROUTER_FAR = "10.81.2.1"
SERVERS = {
    "ok": "10.81.2.10",
    "drop": "10.81.2.11",
    "closed": "10.81.2.12",
    "rreset": "10.81.2.13",
    "icmp": "10.81.2.14",
}
MAPI_PORT = 60001
"""exchange2010-cas-static registers MAPI on 60001: the port each case spoils."""
NOBODY_PORT = 60999
MAPI = ("a4f1db00-ca47-1067-b31f-00dd010662da", "0.81")
SERVER_TTL = 63
ROUTER_TTL = 64
TRACE_TIMEOUTS = ("--connect-timeout", "3", "--read-timeout", "3")
UNPRIVILEGED = ("setpriv", "--inh-caps=-all", "--bounding-set=-net_raw")


def ruleset(
    family: str, name: str, chain: str, hook: str, *rules: str, kind: str = "filter"
) -> str:
    body = "".join(f"    {rule}\n" for rule in rules)
    priority = "dstnat" if kind == "nat" else "0"
    return (
        f"table {family} {name} {{\n  chain {chain} {{\n"
        f"    type {kind} hook {hook} priority {priority}; policy accept;\n{body}  }}\n}}\n"
    )


def lab_file(path: Path) -> Path:
    lines = ["[lab]", "epm_port = 135", "any_address = true"]
    for address in SERVERS.values():
        lines += ["", "[[hosts]]", f'address = "{address}"', 'profile = "exchange2010-cas-static"']
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class Site:
    network: TestNetwork
    client: Namespace
    work: Path
    capture: dict[str, Any]
    outlook: dict[str, dict[str, Any]]

    def trace(self, case: str, *args: str, wrapper: tuple[str, ...] = ()) -> CliRun:
        return self.client.epmscan(
            "trace", SERVERS[case], "--rpc", "mapi", "--no-http", *TRACE_TIMEOUTS, *args,
            "--json", wrapper=wrapper, timeout=120,
        )  # fmt: skip


def run_outlook_stand_in(client: Namespace, address: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "tests.support.outlook_client", address, *MAPI]
    done = subprocess.run(
        ["ip", "netns", "exec", client.name, *command],
        capture_output=True,
        text=True,
        timeout=60,
        env=epmscan_env(),
        cwd=Path(__file__).resolve().parents[2],
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def wait_for_text(path: Path, text: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared in {path}")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    work = tmp_path_factory.mktemp("netns-trace")
    with open_network("nft", "tcpdump", "setpriv", prefix=PREFIX, address_range=RANGE) as net:
        near = net.lan("10.81.1.0/24")
        far = net.lan("10.81.2.0/24")
        client = net.host("client", near, CLIENT)
        router = net.router("router", {near: ROUTER_NEAR, far: ROUTER_FAR})
        first, *others = SERVERS.values()
        server = net.host("server", far, first, gateway=ROUTER_FAR)
        for address in others:
            server.ip("addr", "add", f"{address}/24", "dev", "eth0")
        client.route("10.81.2.0/24", via=ROUTER_NEAR)
        server.nft(
            ruleset("inet", "epmtr_drop", "input", "input", f"ip daddr {SERVERS['drop']} tcp dport "
                    f"{MAPI_PORT} drop")
        )  # fmt: skip
        server.nft(
            ruleset(
                "ip", "epmtr_nobody", "prerouting", "prerouting",
                f"ip daddr {SERVERS['closed']} tcp dport {MAPI_PORT} "
                f"dnat to {SERVERS['closed']}:{NOBODY_PORT}",
                kind="nat",
            )
        )  # fmt: skip
        router.nft(
            ruleset(
                "inet", "epmtr_path", "forward", "forward",
                f"ip daddr {SERVERS['rreset']} tcp dport {MAPI_PORT} reject with tcp reset",
                f"ip daddr {SERVERS['icmp']} tcp dport {MAPI_PORT} "
                "reject with icmp type admin-prohibited",
            )
        )  # fmt: skip
        lab = start_lab_file(
            lab_file(work / "lab.toml"), first, 135, work / "lab.out",
            netns=server.name, env=epmscan_env(), timeout=30,
        )  # fmt: skip
        net.stoppers.append(lab.stop)
        for address in SERVERS.values():
            assert wait_for_listening(lab.process.pid, address, MAPI_PORT), lab.output_text()

        capture_file = work / "outlook.pcap"
        log = work / "tcpdump.out"
        tcpdump = client.start(
            "tcpdump", "-i", "eth0", "-s", "0", "-U", "--immediate-mode", "-n",
            "-w", str(capture_file), "tcp or icmp", output=log,
        )  # fmt: skip
        wait_for_text(log, "listening on")
        outlook = {case: run_outlook_stand_in(client, SERVERS[case]) for case in SERVERS}
        time.sleep(1.0)  # what the last connection sent is in tcpdump's hands before SIGINT
        stop_process(tcpdump)
        pcap = client.epmscan("pcap", str(capture_file), "--json")
        assert pcap.returncode == 0, pcap.describe()
        yield Site(net, client, work, pcap.json(), outlook)


def mapi_connect(run: CliRun) -> dict[str, Any]:
    """The trace's connect to the port ept_map returned for MAPI."""
    data = run.json()
    connects = [s for s in data["steps"] if s["step"] == "connect" and s["port"] == MAPI_PORT]
    assert len(connects) == 1, run.describe()
    step: dict[str, Any] = connects[0]
    return step


def wire(step: dict[str, Any], flags: str | None = None) -> list[dict[str, Any]]:
    return [
        e
        for e in step["evidence"]
        if e["source"] == "wire" and (flags is None or e["flags"] == flags)
    ]


def pcap_verdict(site: Site, case: str) -> dict[str, Any]:
    address = SERVERS[case]
    found = [
        v
        for v in site.capture["verdicts"]
        if v["server"] == address and v["port"] == MAPI_PORT and v["exchange"] == "mapi"
    ]
    assert len(found) == 1, [v for v in site.capture["verdicts"] if v["server"] == address]
    verdict: dict[str, Any] = found[0]
    return verdict


def pcap_connection(site: Site, case: str) -> dict[str, Any]:
    address = SERVERS[case]
    found = [
        c for c in site.capture["connections"] if c["server"] == address and c["port"] == MAPI_PORT
    ]
    assert found, site.capture["connections"]
    connection: dict[str, Any] = found[-1]
    return connection


# --- every step, as Outlook takes them ---------------------------------------------------


def test_a_working_server_passes_every_step(site: Site) -> None:
    run = site.trace("ok")
    assert run.returncode == 0, run.describe()
    data = run.json()
    assert [(s["step"], s["port"], s["outcome"]) for s in data["steps"]] == [
        ("connect", 135, "ok"),
        ("bind", 135, "bound"),
        ("ept_map", 135, "ok"),
        ("connect", MAPI_PORT, "ok"),
        ("bind", MAPI_PORT, "bound"),
    ], run.describe()
    assert data["steps"][2]["resolved_port"] == MAPI_PORT
    assert data["capture"]["active"] is True and data["capture"]["net_iface"] == "eth0"
    for step in data["steps"]:
        assert step["started"].endswith("Z") and len(step["started"]) == len(
            "2024-01-01T00:00:00.000Z"
        )
        assert step["elapsed_ms"] >= 0
        assert step["explanation"] is None
    (synack,) = wire(data["steps"][0], "SA")
    assert (synack["src"], synack["ttl"]) == (SERVERS["ok"], SERVER_TTL)
    assert site.outlook["ok"]["outcome"] == "bound"
    assert pcap_verdict(site, "ok")["status"] == "bound"


def test_dropped_syns_are_filtered(site: Site) -> None:
    run = site.trace("drop")
    assert run.returncode == 1, run.describe()
    step = mapi_connect(run)
    assert step["outcome"] == "filtered"
    syns = wire(step, "S")
    assert len(syns) >= 2, "a 3 s connect retransmits its SYN at least once"
    assert all(s["dst"] == SERVERS["drop"] and s["dport"] == MAPI_PORT for s in syns)
    assert not [e for e in wire(step) if e["src"] == SERVERS["drop"]]
    assert "got no answer" in step["explanation"] and "dropped on the way" in step["explanation"]
    last = run.json()["steps"][-1]  # nothing after the failed connect
    assert (last["step"], last["port"]) == ("connect", MAPI_PORT)

    assert site.outlook["drop"]["binding"] == f"ncacn_ip_tcp:{SERVERS['drop']}[{MAPI_PORT}]"
    assert pcap_verdict(site, "drop")["status"] == "filtered"
    assert pcap_connection(site, "drop")["syn_count"] >= 2


def test_nothing_listening_is_reset_by_the_server(site: Site) -> None:
    run = site.trace("closed")
    assert run.returncode == 1, run.describe()
    step = mapi_connect(run)
    assert step["outcome"] == "closed"
    resets = [e for e in wire(step) if e["flags"] in ("R", "RA")]
    assert resets and resets[0]["src"] == SERVERS["closed"]
    assert resets[0]["ttl"] == SERVER_TTL
    assert "reset by the server itself" in step["explanation"]
    assert f"TTL {SERVER_TTL}" in step["explanation"]

    assert pcap_verdict(site, "closed")["status"] == "closed"
    connection = pcap_connection(site, "closed")
    assert (connection["reset_source"], connection["reset_ttl"]) == ("server", SERVER_TTL)


def test_a_reset_from_the_router_is_told_by_its_ttl(site: Site) -> None:
    run = site.trace("rreset")
    assert run.returncode == 1, run.describe()
    step = mapi_connect(run)
    assert step["outcome"] == "closed"
    resets = [e for e in wire(step) if e["flags"] in ("R", "RA")]
    assert resets and resets[0]["ttl"] == ROUTER_TTL
    assert "reset by a device on the path" in step["explanation"]
    assert f"TTL {ROUTER_TTL}" in step["explanation"]
    assert f"TTL {SERVER_TTL}" in step["explanation"]

    verdict = pcap_verdict(site, "rreset")
    assert verdict["status"] == "closed"
    assert "device on the path" in verdict["text"]
    connection = pcap_connection(site, "rreset")
    assert (connection["reset_source"], connection["reset_ttl"]) == ("path", ROUTER_TTL)
    assert connection["server_ttl"] == SERVER_TTL


def test_admin_prohibited_names_the_router(site: Site) -> None:
    run = site.trace("icmp")
    assert run.returncode == 1, run.describe()
    step = mapi_connect(run)
    assert step["outcome"] == "unreachable"
    assert (step["icmp"]["type"], step["icmp"]["code"], step["icmp"]["sender"]) == (
        3,
        13,
        ROUTER_NEAR,
    )
    icmp = [e for e in wire(step) if e["icmp_type"] is not None]
    assert icmp and (icmp[0]["src"], icmp[0]["icmp_type"], icmp[0]["icmp_code"]) == (
        ROUTER_NEAR,
        3,
        13,
    )
    assert icmp[0]["ttl"] == ROUTER_TTL
    assert ROUTER_NEAR in step["explanation"]
    assert "administratively prohibited" in step["explanation"]

    verdict = pcap_verdict(site, "icmp")
    assert verdict["status"] == "unreachable"
    assert ROUTER_NEAR in verdict["text"]
    connection = pcap_connection(site, "icmp")
    assert (connection["icmp_type"], connection["icmp_code"], connection["icmp_from"]) == (
        3,
        13,
        ROUTER_NEAR,
    )


# --- --path ------------------------------------------------------------------------------


def test_path_shows_the_router_rejecting_the_rpc_port_while_135_goes_through(site: Site) -> None:
    run = site.trace("icmp", "--path")
    assert run.returncode == 1, run.describe()
    path = run.json()["path"]
    assert path["ports"] == [MAPI_PORT, 135]
    probes = {(p["ttl"], p["port"]): p for p in path["probes"]}
    assert (
        probes[(1, 135)]["reply"] == "time_exceeded" and probes[(1, 135)]["address"] == ROUTER_NEAR
    )
    assert (probes[(2, 135)]["reply"], probes[(2, 135)]["address"]) == ("syn_ack", SERVERS["icmp"])
    rejected = probes[(2, MAPI_PORT)]
    assert (rejected["reply"], rejected["address"], rejected["icmp_code"]) == (
        "unreachable",
        ROUTER_NEAR,
        13,
    )
    assert path["verdict"].startswith(f"{ROUTER_NEAR} (hop 1) rejects {MAPI_PORT} with ICMP")


def test_path_shows_where_dropped_syns_die(site: Site) -> None:
    run = site.trace("drop", "--path")
    path = run.json()["path"]
    probes = {(p["ttl"], p["port"]): p for p in path["probes"]}
    assert probes[(1, MAPI_PORT)]["reply"] == "time_exceeded"
    assert probes[(2, MAPI_PORT)]["reply"] == "none"
    assert probes[(2, 135)]["reply"] == "syn_ack"
    assert f"dies after hop 1 ({ROUTER_NEAR})" in path["verdict"], run.describe()
    assert "the server's own hop" in path["verdict"]


# --- without the privilege to capture ----------------------------------------------------


def test_without_cap_net_raw_the_kernel_still_names_the_router(site: Site) -> None:
    run = site.trace("icmp", "--path", wrapper=UNPRIVILEGED)
    assert run.returncode == 1, run.describe()
    data = run.json()
    assert data["capture"]["active"] is False
    assert "CAP_NET_RAW" in data["capture"]["reason"]
    step = mapi_connect(run)
    assert step["outcome"] == "unreachable"
    assert not wire(step)
    (kernel,) = [e for e in step["evidence"] if e["source"] == "kernel"]
    assert (kernel["src"], kernel["icmp_type"], kernel["icmp_code"]) == (ROUTER_NEAR, 3, 13)
    assert ROUTER_NEAR in step["explanation"]
    assert data["path"] is None
    notes = " ".join(data["notes"])
    assert "no packet capture" in notes and "--path: not traced" in notes


def test_without_cap_net_raw_a_reset_says_what_it_cannot_tell(site: Site) -> None:
    run = site.trace("rreset", wrapper=UNPRIVILEGED)
    assert run.returncode == 1, run.describe()
    step = mapi_connect(run)
    assert step["outcome"] == "closed"
    assert "CAP_NET_RAW" in step["explanation"]
    assert "TTL" in step["explanation"]


def test_the_console_timeline_without_privileges(site: Site) -> None:
    run = site.client.epmscan(
        "trace", SERVERS["rreset"], "--rpc", "mapi", "--no-http", *TRACE_TIMEOUTS, "--plain",
        wrapper=UNPRIVILEGED,
    )  # fmt: skip
    assert run.returncode == 1, run.describe()
    lines = run.stdout.splitlines()
    steps = [line.split("\t") for line in lines if line.startswith("step\t")]
    assert [(s[5], s[7]) for s in steps] == [
        ("connect", "ok"),
        ("bind", "bound"),
        ("ept_map", "ok"),
        ("connect", "closed"),
    ], run.stdout
    assert any(line.startswith("verdict\tmapi\tncacn_ip_tcp\tclosed\t") for line in lines)
    assert any(line.startswith("note\tno packet capture") for line in lines)


# --- interrupted -------------------------------------------------------------------------


def test_sigterm_ends_the_trace_with_the_steps_done(site: Site) -> None:
    command = [
        sys.executable, "-m", "epmscan", "trace", SERVERS["drop"], "--rpc", "mapi",
        "--no-http", "--connect-timeout", "30", "--json",
    ]  # fmt: skip
    process = subprocess.Popen(
        ["ip", "netns", "exec", site.client.name, *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=epmscan_env(),
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not _syn_sent_to(site.client, SERVERS["drop"]):
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 143, stderr
    data = json.loads(stdout)
    assert data["interrupted"] == "SIGTERM" and data["ok"] is False
    assert [(s["step"], s["outcome"]) for s in data["steps"]] == [
        ("connect", "ok"),
        ("bind", "bound"),
        ("ept_map", "ok"),
    ]


def _syn_sent_to(client: Namespace, address: str) -> bool:
    """Whether a connect to ``address``:60001 is waiting for its answer (``ss``)."""
    listed = client.run("ss", "-Htn", "state", "syn-sent", "dst", address)
    return f":{MAPI_PORT}" in listed.stdout
