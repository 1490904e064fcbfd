"""A lab host on the IPv6 loopback (::1): dump, check and trace over IPv6 end to end.

Towers carry an IPv4 address floor only, so an IPv6 host registers 0.0.0.0 (as Windows
does for endpoints that listen on every address) and a client connects to the address it
asked. Skipped, with the reason, on a machine without an IPv6 loopback.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from tests.support.cli import run_cli
from tests.support.lab import RunningLab, running_lab

PROFILE = "exchange2010-cas-static"


def _free_ipv6_port() -> int:
    with socket.socket(socket.AF_INET6) as probe:
        try:
            probe.bind(("::1", 0))
        except OSError:
            pytest.skip("this machine has no IPv6 loopback")
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def lab() -> Iterator[RunningLab]:
    with running_lab(PROFILE, "::1", _free_ipv6_port()) as made:
        yield made


def test_the_lab_registers_0_0_0_0_for_an_ipv6_host(lab: RunningLab) -> None:
    addresses = {e.address for e in lab.host.plan.entries if e.transport == "ncacn_ip_tcp"}
    assert addresses == {"0.0.0.0"}
    assert lab.host.config.name == "EXCAS-0-1"


def test_dump_reads_every_endpoint_over_ipv6(lab: RunningLab) -> None:
    run = run_cli("dump", "::1", "-p", str(lab.epm_port), "--json")
    assert run.returncode == 0, run.describe()
    endpoints = json.loads(run.stdout)["endpoints"]
    assert len(endpoints) == len(lab.host.plan.entries)
    mapi = [e for e in endpoints if e["uuid"] == "a4f1db00-ca47-1067-b31f-00dd010662da"]
    assert {(e["transport"], e["address"], e["port"]) for e in mapi} >= {
        ("ncacn_ip_tcp", "::1", 60001)
    }


def test_check_binds_every_exchange_port_over_ipv6(lab: RunningLab) -> None:
    run = run_cli(
        "check", "::1", "-p", str(lab.epm_port), "--expect", "mapi=60001",
        "--expect", "nspi=60002", "--expect", "rfr=60002", "--jsonl", "-",
    )  # fmt: skip
    assert run.returncode == 0, run.describe()
    (host,) = [json.loads(line) for line in run.stdout.splitlines() if '"exchange"' in line]
    tcp = {p["interface"]: (p["port"], p["probe"]) for p in host["exchange"]["ports"]
           if p["transport"] == "ncacn_ip_tcp"}  # fmt: skip
    assert tcp == {
        "mapi": (60001, "bound"),
        "async_mapi": (60001, "bound"),
        "nspi": (60002, "bound"),
        "rfr": (60002, "bound"),
    }
    assert {p["port"]: p["status"] for p in host["exchange"]["http"]} == {
        6001: "ncacn_http",
        6002: "ncacn_http",
        6004: "ncacn_http",
    }


def test_trace_follows_outlook_over_ipv6(lab: RunningLab) -> None:
    run = run_cli("trace", "::1", "-p", str(lab.epm_port), "--no-capture", "--json", timeout=60)
    assert run.returncode == 0, run.describe()
    steps = run.json()["steps"]
    assert all(s["ok"] if "ok" in s else s["outcome"] in ("ok", "bound", "ncacn_http")
               for s in steps)  # fmt: skip
    resolved = {s["interface"]: s["resolved_port"] for s in steps if s["step"] == "ept_map"}
    assert resolved == {"mapi": 60001, "async_mapi": 60001, "nspi": 60002, "rfr": 60002}
