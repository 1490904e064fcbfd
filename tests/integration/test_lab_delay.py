"""A slow lab host (``delay``): every answer waits, so a read timeout below it times out.

On loopback, 127.103.0.0/16: the lab runs in this process (``run_lab``) and epmscan's own
engine talks to it. The delay is a lower bound on each answer; no upper bound is asserted
beyond the read timeouts themselves.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from epmscan.engine.lookup import dump_host
from epmscan.engine.probes import probe_bind, probe_http
from epmscan.lab import Lab, LabConfig, run_lab, single_host_lab
from epmscan.lab.catalog import CATALOG
from epmscan.models import ExchangeInterface, HostStatus, HttpProbeStatus, PortProbeStatus
from epmscan.settings import NetworkSettings, Timeouts
from tests.support.cli import run_cli
from tests.support.lab import start_lab_file, write_lab_file
from tests.support.loopback import can_bind

DELAY = 0.4
PORT_OFFSET = 20000
T = TypeVar("T")


def free_address(ports: tuple[int, ...]) -> str:
    """An address of 127.103.0.0/16 where every port in ``ports`` can be bound."""
    for last in range(1, 255):
        address = f"127.103.1.{last}"
        if all(can_bind(address, port) for port in ports):
            return address
    raise RuntimeError(f"no free address in 127.103.1.0/24 for {ports}")


def run(config: LabConfig, body: Callable[[Lab], Awaitable[T]]) -> T:
    async def main() -> T:
        async with run_lab(config) as lab:
            return await asyncio.wait_for(body(lab), 60)

    return asyncio.run(main())


def test_every_pdu_answer_waits_the_delay() -> None:
    address = free_address((13135,))
    config = single_host_lab("windows-member", address, epm_port=13135, delay=DELAY)

    async def body(lab: Lab) -> None:
        patient = await dump_host(
            address, address, NetworkSettings(port=13135, timeouts=Timeouts(5, 5, 30))
        )
        assert patient.status is HostStatus.OK, patient.error
        assert patient.endpoints
        # bind_ack, then one page per ept_lookup call: each waited
        assert patient.elapsed >= DELAY * (1 + patient.lookup_pages)
        hasty = await dump_host(
            address, address, NetworkSettings(port=13135, timeouts=Timeouts(5, DELAY / 4, 30))
        )
        assert hasty.status is HostStatus.TIMEOUT
        assert hasty.error == f"no answer within {DELAY / 4:g} s"

        lsarpc_port = lab.host(address).tcp_endpoints["lsarpc"]
        started = time.monotonic()
        bound, _ = await probe_bind(
            address, lsarpc_port, CATALOG["lsarpc"].interface, Timeouts(5, 5, 30)
        )
        assert bound is PortProbeStatus.BOUND
        assert time.monotonic() - started >= DELAY
        late, detail = await probe_bind(
            address, lsarpc_port, CATALOG["lsarpc"].interface, Timeouts(5, DELAY / 4, 30)
        )
        assert late is PortProbeStatus.TIMEOUT, detail

    run(config, body)


def test_the_ncacn_http_greeting_waits_the_delay() -> None:
    http_port = 6001 + PORT_OFFSET
    address = free_address(tuple(port + PORT_OFFSET for port in (13135, 6001, 6002, 6004)))
    config = single_host_lab(
        "exchange2010-cas-dynamic",
        address,
        epm_port=13135,
        port_offset=PORT_OFFSET,
        delay=DELAY,
    )
    mapi = CATALOG["mapi"].interface

    async def body(lab: Lab) -> None:
        assert http_port in lab.host(address).http_ports
        started = time.monotonic()
        greeted = await probe_http(
            address, http_port, ExchangeInterface.MAPI, mapi, Timeouts(5, 5, 30)
        )
        assert greeted.status is HttpProbeStatus.NCACN_HTTP
        assert greeted.bind is PortProbeStatus.BOUND
        assert time.monotonic() - started >= 2 * DELAY  # the greeting, then the bind_ack
        silent = await probe_http(
            address, http_port, ExchangeInterface.MAPI, mapi, Timeouts(5, DELAY / 4, 30)
        )
        assert silent.status is HttpProbeStatus.SILENT

    run(config, body)


def test_lab_command_reads_delay_ms_and_shows_it(tmp_path: Path) -> None:
    address = free_address((13135,))
    config = write_lab_file(tmp_path / "slow.toml", "windows-member", address, 13135, delay_ms=300)
    lab = start_lab_file(config, address, 13135, tmp_path / "lab.out")
    try:
        run = run_cli("dump", address, "--port", "13135", "--timeout", "5", "--json")
        assert run.returncode == 0, run.describe()
        assert run.json()["elapsed"] >= 0.3 * 2
        hasty = run_cli("dump", address, "--port", "13135", "--timeout", "0.1", "--json")
        assert hasty.returncode == 1, hasty.describe()
        assert hasty.json()["status"] == "timeout"
    finally:
        lab.stop()
    assert "delay=0.3s" in lab.output_text()


@pytest.mark.parametrize("key", ["delay", "delay_ms"])
def test_a_negative_delay_is_a_one_line_usage_error(tmp_path: Path, key: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(f'[[hosts]]\naddress = "127.103.1.1"\nprofile = "windows-member"\n{key} = -5\n')
    run = run_cli("lab", "--config", str(path), "--epm-port", "13135")
    assert run.returncode == 2, run.describe()
    assert run.stderr.count("\n") == 1
    assert f"hosts[0].{key}: -5 out of range" in run.stderr
