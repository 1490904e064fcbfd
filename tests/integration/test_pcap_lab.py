"""``epmscan pcap`` on a real loopback capture of ``epmscan check`` against the lab.

dumpcap captures on ``lo`` while ``epmscan check`` asks a lab host (Exchange CAS, static
ports) whose NSPI/RFR port drops SYNs, whose 6001 is another service and whose 6004 is
closed. The capture's verdicts must use the scanner's words for what the scanner itself
reported (its JSON), and the ports must be those the lab registered. Needs root (capture)
and tshark; skipped otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.capture import TsharkCapture, find_tshark
from tests.support.cli import run_cli
from tests.support.lab import running_lab
from tests.support.loopback import can_bind
from tests.support.skips import require_root

pytestmark = pytest.mark.peer

EPM_PORT = 13135
LAB_PORTS = (EPM_PORT, 60001, 60002, 6001, 6002, 6004)
UUIDS = {
    "mapi": "a4f1db00-ca47-1067-b31f-00dd010662da",
    "nspi": "f5cc5a18-4264-101a-8c59-08002b2f8426",
    "rfr": "1544f5e0-613c-11d1-93df-00c04fd7bd09",
}


def _lab_address() -> str:
    for last in range(20, 250):
        address = f"127.104.0.{last}"
        if all(can_bind(address, port) for port in LAB_PORTS):
            return address
    pytest.skip("no free address in 127.104.0.0/24 for the lab's ports")


@dataclass(frozen=True)
class Captured:
    address: str
    tcp_endpoints: dict[str, int]
    check: dict[str, Any]
    pcap: dict[str, Any]


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Captured]:
    require_root("capturing on lo")
    tshark = find_tshark()
    if tshark is None:
        pytest.skip("tshark is not installed (apt-get install tshark)")
    work = tmp_path_factory.mktemp("pcap-lab")
    address = _lab_address()
    capture_file = work / "check.pcapng"
    check_file = work / "check.json"
    with running_lab(
        "exchange2010-cas-static",
        address,
        EPM_PORT,
        filtered_ports=[60002],
        http_closed=[6004],
        http_banners={"6001": "HTTP/1.1 400 Bad Request"},
    ) as lab:
        endpoints = dict(lab.host.tcp_endpoints)
        capture = TsharkCapture(tshark, capture_file, f"host {address}")
        capture.start()
        try:
            check = run_cli(
                "check", address, "--port", str(EPM_PORT), "--json", str(check_file),
                "--no-progress", "--connect-timeout", "2", "--read-timeout", "2", timeout=60,
            )  # fmt: skip
        finally:
            capture.stop()
    assert check.returncode in (0, 1), check.describe()
    pcap = run_cli("pcap", str(capture_file), "--epm-port", str(EPM_PORT), "--json")
    assert pcap.returncode == 0, pcap.describe()
    yield Captured(address, endpoints, json.loads(check_file.read_text()), pcap.json())


def _scanner(captured: Captured) -> dict[str, Any]:
    (host,) = captured.check["hosts"]
    return dict(host["exchange"])


def test_the_capture_resolves_the_ports_the_lab_registered(captured: Captured) -> None:
    mapped = {
        (m["uuid"], m["port"])
        for m in captured.pcap["mappings"]
        if m["operation"] == "ept_map" and m["transport"] == "ncacn_ip_tcp"
    }
    expected = {(UUIDS[name], captured.tcp_endpoints[name]) for name in UUIDS}
    assert expected <= mapped
    looked_up = {m["port"] for m in captured.pcap["mappings"] if m["operation"] == "ept_lookup"} - {
        None
    }
    assert set(captured.tcp_endpoints.values()) <= looked_up
    assert all(m["server"] == captured.address for m in captured.pcap["mappings"])


def test_tcp_verdicts_say_what_the_scanner_said(captured: Captured) -> None:
    verdicts = {(v["uuid"], v["port"]): v for v in captured.pcap["verdicts"]}
    for port in _scanner(captured)["ports"]:
        if port["transport"] != "ncacn_ip_tcp" or port["interface"] not in UUIDS:
            continue
        verdict = verdicts[(UUIDS[port["interface"]], port["port"])]
        assert verdict["status"] == port["probe"], (verdict, port)
    assert verdicts[(UUIDS["mapi"], 60001)]["status"] == "bound"
    assert verdicts[(UUIDS["nspi"], 60002)]["status"] == "filtered"


def test_http_verdicts_say_what_the_scanner_said(captured: Captured) -> None:
    by_port: dict[int, list[dict[str, Any]]] = {}
    for verdict in captured.pcap["verdicts"]:
        if verdict["transport"] == "ncacn_http" and verdict["port"] in (6001, 6002, 6004):
            by_port.setdefault(verdict["port"], []).append(verdict)
    for probe in _scanner(captured)["http"]:
        expected = probe["bind"] if probe["status"] == "ncacn_http" else probe["status"]
        assert by_port[probe["port"]], probe
        for verdict in by_port[probe["port"]]:
            assert verdict["status"] == expected, (verdict, probe)
    closed = [c for c in captured.pcap["connections"] if c["port"] == 6004]
    assert closed and all(c["outcome"] == "closed" for c in closed)
    assert {c["reset_source"] for c in closed} == {"server"}, "the kernel's own reset"


def test_connections_to_the_dropping_port_count_their_syns(captured: Captured) -> None:
    dropped = [c for c in captured.pcap["connections"] if c["port"] == 60002]
    assert dropped and all(c["outcome"] == "filtered" for c in dropped)
    assert all(c["syn_count"] >= 2 for c in dropped), "a 2 s connect retransmits its SYN"
