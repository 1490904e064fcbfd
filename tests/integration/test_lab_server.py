"""The lab on loopback, spoken to over real sockets with epmscan's protocol codec."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from epmscan.lab import Lab, LabConfig, load_lab_file, parse_lab, run_lab, single_host_lab
from epmscan.lab.catalog import CATALOG
from epmscan.models import BindOutcome, InterfaceId
from epmscan.protocol.client_connection import ClientConnection
from epmscan.protocol.constants import (
    EPM_INTERFACE,
    EPT_S_NOT_REGISTERED,
    NCA_S_OP_RNG_ERROR,
    NCA_S_UNK_IF,
    NULL_HANDLE,
)
from epmscan.protocol.epm_client import build_map_request, decode_map_response
from epmscan.protocol.events import BindAck, ClientEvent, Fault, Response
from epmscan.protocol.lookup_walk import LookupWalk
from epmscan.protocol.ncacn_http import NCACN_HTTP_GREETING
from tests.support.loopback import free_port

EPM_PORT = free_port(["127.0.0.1"])
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "labs"
MAPI = CATALOG["mapi"].interface
NSPI = CATALOG["nspi"].interface
RFR = CATALOG["rfr"].interface
T = TypeVar("T")


def run(config: LabConfig, body: Callable[[Lab], Awaitable[T]]) -> T:
    async def main() -> T:
        async with run_lab(config) as lab:
            return await asyncio.wait_for(body(lab), 30)

    return asyncio.run(main())


class Client:
    """One DCE/RPC connection to the lab."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, max_frag: int
    ) -> None:
        self.reader, self.writer = reader, writer
        self.rpc = ClientConnection(max_frag=max_frag)

    @classmethod
    async def open(cls, address: str, port: int, max_frag: int = 4280) -> Client:
        reader, writer = await asyncio.open_connection(address, port)
        return cls(reader, writer, max_frag)

    async def exchange(self, pdu: bytes) -> ClientEvent:
        self.writer.write(pdu)
        while True:
            data = await self.reader.read(65536)
            assert data, "the lab closed the connection"
            events = self.rpc.feed(data)
            if events:
                (event,) = events
                return event

    async def bind(self, interface: InterfaceId) -> BindAck:
        event = await self.exchange(self.rpc.bind(interface))
        assert isinstance(event, BindAck)
        return event

    async def call(self, opnum: int, stub: bytes, context_id: int = 0) -> Response | Fault:
        event = await self.exchange(self.rpc.request(opnum, stub, context_id))
        assert isinstance(event, Response | Fault)
        return event

    async def lookup_all(self, max_ents: int) -> LookupWalk:
        walk = LookupWalk(max_ents=max_ents)
        while (stub := walk.next_request()) is not None:
            answer = await self.call(2, stub)
            assert isinstance(answer, Response), answer
            walk.handle_response(answer.stub)
        return walk

    def close(self) -> None:
        self.writer.close()


@pytest.mark.parametrize("paging", ["windows", "samba", "samba-dc"])
@pytest.mark.parametrize("max_ents", [1, 10, 500])
def test_lookup_returns_every_entry_in_every_paging_style(paging: str, max_ents: int) -> None:
    address = "127.61.1.1"
    config = single_host_lab("exchange2010-cas-static", address, epm_port=EPM_PORT, paging=paging)

    async def body(lab: Lab) -> None:
        host = lab.hosts[address]
        client = await Client.open(address, EPM_PORT)
        ack = await client.bind(EPM_INTERFACE)
        assert ack.accepted and ack.secondary_address == str(EPM_PORT)
        walk = await client.lookup_all(max_ents)
        client.close()
        assert len(walk.entries) == len(host.plan.entries)
        expected_pages = -(-len(host.plan.entries) // max_ents) + (paging == "samba-dc")
        assert walk.pages == expected_pages
        assert walk.final_status == (0 if paging == "windows" else EPT_S_NOT_REGISTERED)
        mapi_ports = {
            e.tower.port
            for e in walk.entries
            if e.tower is not None
            and e.tower.interface == MAPI
            and e.tower.transport == "ncacn_ip_tcp"
        }
        assert mapi_ports == {60001}
        assert host.stats.accepted == 1

    run(config, body)


def test_responses_are_fragmented_to_the_clients_max_recv_frag() -> None:
    address = "127.61.1.2"

    async def body(lab: Lab) -> None:
        client = await Client.open(address, EPM_PORT, max_frag=1432)
        ack = await client.bind(EPM_INTERFACE)
        assert ack.max_xmit_frag == 1432
        walk = await client.lookup_all(500)
        assert walk.pages == 1
        assert len(walk.entries) == len(lab.hosts[address].plan.entries)
        client.close()

    run(single_host_lab("windows-member", address, epm_port=EPM_PORT), body)


def test_ept_map_over_tcp_for_mapi_tcp_http_and_absent() -> None:
    address = "127.61.1.3"
    config = single_host_lab(
        "exchange2010-cas-dynamic", address, epm_port=EPM_PORT, zero_address_towers=True
    )

    async def body(lab: Lab) -> None:
        client = await Client.open(address, EPM_PORT)
        await client.bind(EPM_INTERFACE)
        answer = await client.call(3, build_map_request(MAPI, "ncacn_ip_tcp"))
        assert isinstance(answer, Response)
        tcp = decode_map_response(answer.stub)
        assert [(t.port, t.address) for t in tcp.towers] == [
            (lab.hosts[address].tcp_endpoints["mapi"], "0.0.0.0")
        ]
        answer = await client.call(3, build_map_request(NSPI, "ncacn_http"))
        assert isinstance(answer, Response)
        assert [t.port for t in decode_map_response(answer.stub).towers] == [6004]
        answer = await client.call(3, build_map_request(CATALOG["drsuapi"].interface))
        assert isinstance(answer, Response)
        absent = decode_map_response(answer.stub)
        assert (absent.status, absent.towers, absent.handle) == (
            EPT_S_NOT_REGISTERED,
            (),
            NULL_HANDLE,
        )
        client.close()

    run(config, body)


def test_epm_faults_unknown_opnum_and_unbound_context() -> None:
    address = "127.61.1.4"

    async def body(lab: Lab) -> None:
        client = await Client.open(address, EPM_PORT)
        await client.bind(EPM_INTERFACE)
        fault = await client.call(9, b"")
        assert isinstance(fault, Fault) and fault.status == NCA_S_OP_RNG_ERROR
        fault = await client.call(2, b"", context_id=5)
        assert isinstance(fault, Fault) and fault.status == NCA_S_UNK_IF
        client.close()
        dcom = await Client.open(address, EPM_PORT)
        assert (await dcom.bind(CATALOG["remote_activation"].interface)).accepted
        dcom.close()

    run(single_host_lab("windows-member", address, epm_port=EPM_PORT), body)


def test_interface_port_accepts_its_interfaces_and_rejects_others() -> None:
    address = "127.61.1.5"

    async def body(lab: Lab) -> None:
        client = await Client.open(address, 60002)
        ack = await client.bind(NSPI)
        assert ack.accepted and ack.secondary_address == "60002"
        fault = await client.call(0, b"\x00" * 8)
        assert isinstance(fault, Fault) and fault.status == NCA_S_OP_RNG_ERROR
        client.close()
        for interface in (MAPI, EPM_INTERFACE, InterfaceId(NSPI.uuid, NSPI.major + 1, 0)):
            other = await Client.open(address, 60002)
            ack = await other.bind(interface)
            other.close()
            (result,) = ack.results
            assert result.outcome is BindOutcome.PROVIDER_REJECTION
            assert result.reason == 1  # abstract syntax not supported
        lsass_port = lab.hosts[address].tcp_endpoints["samr"]
        lsass = await Client.open(address, lsass_port)
        assert (await lsass.bind(CATALOG["lsarpc"].interface)).accepted
        lsass.close()

    run(single_host_lab("exchange2010-cas-static", address, epm_port=EPM_PORT), body)


def test_http_ports_greet_then_bind_the_interface_behind_them() -> None:
    address = "127.61.1.6"
    config = single_host_lab(
        "exchange2010-cas-static", address, epm_port=EPM_PORT, http_closed=[6004]
    )

    async def body(lab: Lab) -> None:
        assert lab.hosts[address].http_ports == (6001, 6002)
        for port, good, bad in ((6001, MAPI, NSPI), (6002, RFR, MAPI)):
            reader, writer = await asyncio.open_connection(address, port)
            greeting = await reader.readexactly(len(NCACN_HTTP_GREETING))
            assert greeting == NCACN_HTTP_GREETING
            client = Client(reader, writer, 4280)
            assert (await client.bind(good)).accepted
            client.close()
            reader, writer = await asyncio.open_connection(address, port)
            await reader.readexactly(len(NCACN_HTTP_GREETING))
            client = Client(reader, writer, 4280)
            assert not (await client.bind(bad)).accepted
            client.close()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(address, 6004)

    run(config, body)


def test_down_host_refuses_everything() -> None:
    data = {
        "lab": {"epm_port": EPM_PORT},
        "hosts": [
            {"address": "127.61.1.7", "profile": "exchange2010-cas-static", "down": True},
            {"address": "127.61.1.8", "profile": "windows-member"},
        ],
    }

    async def body(lab: Lab) -> None:
        assert lab.hosts["127.61.1.7"].down
        assert lab.hosts["127.61.1.7"].listening_ports == ()
        for port in (EPM_PORT, 60001, 6001):
            with pytest.raises(ConnectionRefusedError):
                await asyncio.open_connection("127.61.1.7", port)
        _reader, writer = await asyncio.open_connection("127.61.1.8", EPM_PORT)
        writer.close()
        assert [host.address for host in lab.live_hosts] == ["127.61.1.8"]

    run(parse_lab(data, "test"), body)


async def _stays_silent(address: str, port: int, pdu: bytes) -> None:
    reader, writer = await asyncio.open_connection(address, port)
    writer.write(pdu)
    await writer.drain()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(reader.read(1), 0.5)
    writer.close()


def test_silent_ports_accept_and_never_answer() -> None:
    address = "127.61.1.9"
    config = single_host_lab(
        "exchange2010-cas-static",
        address,
        epm_port=EPM_PORT,
        silent_ports=[60001, 6004],
        silent_epm=True,
    )

    async def body(lab: Lab) -> None:
        host = lab.hosts[address]
        bind = ClientConnection().bind(MAPI)
        await _stays_silent(address, 60001, bind)
        await _stays_silent(address, 6004, b"")
        await _stays_silent(address, EPM_PORT, ClientConnection().bind(EPM_INTERFACE))
        assert host.stats.by_port[60001] == 1 and host.stats.by_port[EPM_PORT] == 1
        client = await Client.open(address, 60002)  # not silent
        assert (await client.bind(NSPI)).accepted
        client.close()

    run(config, body)


def test_connection_counters_track_concurrency() -> None:
    address = "127.61.1.10"

    async def body(lab: Lab) -> None:
        host = lab.hosts[address]
        clients = [await Client.open(address, EPM_PORT) for _ in range(3)]
        for client in clients:
            await client.bind(EPM_INTERFACE)  # answered: the server has counted it
        assert (host.stats.in_flight, host.stats.peak_in_flight, host.stats.accepted) == (3, 3, 3)
        assert lab.stats.accepted == 3
        for client in clients:
            client.close()
        for _ in range(200):
            if host.stats.in_flight == 0:
                break
            await asyncio.sleep(0.01)
        assert host.stats.in_flight == 0 and host.stats.peak_in_flight == 3

    run(single_host_lab("windows-member", address, epm_port=EPM_PORT), body)


def test_exchange_site_fixture_runs_every_host() -> None:
    config = load_lab_file(FIXTURES / "exchange-site.toml").with_ports(
        epm_port=24135, port_offset=1000
    )

    async def body(lab: Lab) -> None:
        assert len(lab.hosts) == 7
        excas02 = lab.hosts["127.42.0.12"]
        assert excas02.tcp_endpoints["mapi"] == 7123
        assert excas02.http_ports == (7001, 7002)
        for host in lab.live_hosts:
            client = await Client.open(host.address, 25135)
            await client.bind(EPM_INTERFACE)
            walk = await client.lookup_all(500)
            client.close()
            assert len(walk.entries) == len(host.plan.entries)
            addresses = {
                e.tower.address
                for e in walk.entries
                if e.tower is not None and e.tower.transport == "ncacn_ip_tcp"
            }
            assert addresses == {host.address}
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.42.0.32", 25135)

    run(config, body)


def test_a_port_in_use_is_a_clear_error() -> None:
    address = "127.61.1.11"

    async def body(lab: Lab) -> None:
        with pytest.raises(Exception, match=rf"cannot listen on {address}:{EPM_PORT}"):
            async with run_lab(single_host_lab("windows-member", address, epm_port=EPM_PORT)):
                pass

    run(single_host_lab("windows-member", address, epm_port=EPM_PORT), body)


WILDCARD_EPM = 23135
WILDCARD_OFFSET = 3000


def wildcard_config(live: int) -> LabConfig:
    return parse_lab(
        {
            "lab": {"epm_port": WILDCARD_EPM - WILDCARD_OFFSET, "port_offset": WILDCARD_OFFSET},
            "wildcard": {
                "hosts": "127.62.0.0/24",
                "live": live,
                "seed": 3,
                "profiles": ["exchange2010-cas-static", "windows-member"],
                "dynamic_pool": 8,
            },
        },
        "wildcard-test",
    )


async def _reset_on_read(address: str, port: int) -> None:
    reader, writer = await asyncio.open_connection(address, port)
    with contextlib.suppress(ConnectionResetError):
        assert await reader.read(1) == b""
    writer.close()


def test_wildcard_mode_answers_by_local_address() -> None:
    async def body(lab: Lab) -> None:
        assert len(lab.hosts) == 40
        ports = {port for _, port in lab.listen_addresses}
        assert WILDCARD_EPM in ports and len(ports) == 1 + 3 + 2 + 8  # epm, http, mapi/ab, pool
        hosts = list(lab.hosts.values())
        for host in hosts[:4]:
            client = await Client.open(host.address, WILDCARD_EPM)
            await client.bind(EPM_INTERFACE)
            walk = await client.lookup_all(50)
            client.close()
            tcp = {
                (e.tower.address, e.tower.port)
                for e in walk.entries
                if e.tower is not None and e.tower.transport == "ncacn_ip_tcp"
            }
            assert {address for address, _ in tcp} == {host.address}
            assert {port for _, port in tcp} == set(host.tcp_endpoints.values())
            assert host.stats.accepted == 1
            lsass = await Client.open(host.address, host.tcp_endpoints["lsarpc"])
            assert (await lsass.bind(CATALOG["samr"].interface)).accepted
            lsass.close()
        live = set(lab.hosts)
        dead = next(f"127.62.0.{i}" for i in range(1, 255) if f"127.62.0.{i}" not in live)
        await _reset_on_read(dead, WILDCARD_EPM)
        member = next(h for h in hosts if h.profile == "windows-member")
        await _reset_on_read(member.address, 6001 + WILDCARD_OFFSET)
        assert member.stats.reset == 1
        assert lab.stats.reset == 2

    run(wildcard_config(40), body)


@pytest.mark.slow
def test_wildcard_mode_serves_a_thousand_hosts_lazily() -> None:
    config = parse_lab(
        {
            "lab": {"epm_port": WILDCARD_EPM - WILDCARD_OFFSET, "port_offset": WILDCARD_OFFSET},
            "wildcard": {"hosts": "127.63.0.0/16", "live": 1000, "seed": 9},
        },
        "wildcard-1000",
    )

    async def body(lab: Lab) -> None:
        assert len(lab.hosts) == 1000
        sample = list(lab.hosts.values())[::100]
        for host in sample:
            client = await Client.open(host.address, WILDCARD_EPM)
            await client.bind(EPM_INTERFACE)
            walk = await client.lookup_all(500)
            client.close()
            assert len(walk.entries) == len(host.plan.entries)
        built = sum("endpoint_map" in vars(host) for host in lab.hosts.values())
        assert built == len(sample)

    run(config, body)
