"""``epmscan trace`` against the lab on loopback: on ``lo`` every packet is counted once.

A packet socket on ``lo`` sees each packet twice (leaving and arriving). The trace must
record each once: a connect that worked shows one SYN, one SYN-ACK and one ACK. A port
the endpoint mapper (or the RPC proxy) advertises but where nothing listens is reset by
the server's own stack, with the TTL of its SYN-ACKs from the endpoint mapper. A port
that accepts the connection and never answers is a handshake followed by silence. Capturing
on ``lo`` needs root; without it the test is skipped with the reason. Addresses in
127.113.0.0/24.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.cli import CliRun, run_cli
from tests.support.lab import RunningLab, running_lab
from tests.support.loopback import can_bind
from tests.support.skips import require_root

EPM_PORT = 13135
LAB_PORTS = (EPM_PORT, 60001, 60002, 6001, 6002, 6004)


def _lab_address(skip: str = "") -> str:
    for last in range(20, 250):
        address = f"127.113.0.{last}"
        if address != skip and all(can_bind(address, port) for port in LAB_PORTS):
            return address
    pytest.skip("no free address in 127.113.0.0/24 for the lab's ports")


@pytest.fixture(scope="module")
def lab() -> Iterator[RunningLab]:
    require_root("capturing on lo")
    address = _lab_address()
    with running_lab("exchange2010-cas-static", address, EPM_PORT, http_closed=[6004]) as made:
        yield made


def trace(lab: RunningLab, *args: str) -> CliRun:
    return run_cli(
        "trace", lab.address, "-p", str(EPM_PORT), "--connect-timeout", "2",
        "--read-timeout", "2", "--json", *args, timeout=60,
    )  # fmt: skip


def flags(step: dict[str, Any]) -> list[str]:
    return [e["flags"] for e in step["evidence"] if e["source"] == "wire"]


def test_each_packet_on_lo_is_counted_once(lab: RunningLab) -> None:
    run = trace(lab, "--rpc", "mapi", "--no-http")
    assert run.returncode == 0, run.describe()
    data = run.json()
    assert data["capture"]["active"] is True and data["capture"]["net_iface"] == "lo"
    connects = [s for s in data["steps"] if s["step"] == "connect"]
    assert [c["port"] for c in connects] == [EPM_PORT, 60001]
    for connect in connects:
        assert flags(connect) == ["S", "SA", "A"], connect["evidence"]
    bind = data["steps"][-1]
    assert (bind["step"], bind["outcome"]) == ("bind", "bound")
    sent = [e for e in bind["evidence"] if e["src"] == bind["local_address"] and e["flags"] == "PA"]
    assert len(sent) == 1, "the bind went out once"


def test_an_advertised_port_where_nothing_listens_is_reset_by_the_server(lab: RunningLab) -> None:
    run = trace(lab, "--rpc", "nspi")
    assert run.returncode == 1, run.describe()
    data = run.json()
    tcp = [s for s in data["steps"] if s["transport"] == "ncacn_ip_tcp"]
    assert [(s["step"], s["outcome"]) for s in tcp][-2:] == [("connect", "ok"), ("bind", "bound")]
    (closed,) = [s for s in data["steps"] if s["outcome"] != "ok" and s["port"] == 6004]
    assert closed["step"] == "connect" and closed["outcome"] == "closed"
    assert flags(closed)[0] == "S" and flags(closed)[1] in ("R", "RA")
    assert "reset by the server itself" in closed["explanation"]


@pytest.fixture(scope="module")
def silent_lab(lab: RunningLab) -> Iterator[RunningLab]:
    address = _lab_address(skip=lab.address)
    with running_lab("exchange2010-cas-static", address, EPM_PORT, silent_ports=[60001]) as made:
        yield made


def test_a_handshake_then_silence_is_a_timeout(silent_lab: RunningLab) -> None:
    run = trace(silent_lab, "--rpc", "mapi", "--no-http", "--read-timeout", "1")
    assert run.returncode == 1, run.describe()
    bind = run.json()["steps"][-1]
    assert (bind["step"], bind["port"], bind["outcome"]) == ("bind", 60001, "timeout")
    assert bind["explanation"].startswith(
        "the handshake completed (SYN-ACK TTL 64), this end sent the bind ("
    )
    assert "nothing came back within" in bind["explanation"]
    assert not [
        e for e in bind["evidence"] if e["src"] == silent_lab.address and e["flags"] == "PA"
    ]


def test_a_capture_that_cannot_start_is_said_and_the_trace_runs(lab: RunningLab) -> None:
    run = trace(lab, "--rpc", "rfr", "--no-http", "--net-iface", "epmtr-none0")
    assert run.returncode == 0, run.describe()
    data = run.json()
    assert data["capture"]["active"] is False
    assert "epmtr-none0" in data["capture"]["reason"]
    assert data["notes"] and data["notes"][0].startswith("no packet capture")
    assert [s["outcome"] for s in data["steps"]] == ["ok", "bound", "ok", "ok", "bound"]
