"""dump_host against small hostile or broken loopback servers: every failure is a status."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest

from epmscan.engine.lookup import dump_host
from epmscan.models import HostStatus
from epmscan.protocol.constants import EPM_INTERFACE, OP_EPT_LOOKUP
from epmscan.protocol.epm_server import encode_lookup_entry, encode_lookup_response
from epmscan.protocol.events import BindRequest, Request
from epmscan.protocol.server_connection import ServerConnection
from epmscan.protocol.towers import encode_tower
from epmscan.settings import Decoder, NetworkSettings, Timeouts

FAST = Timeouts(connect=0.5, read=0.5, host=5.0)
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def serve(handler: Handler) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_against(handler: Handler, **kwargs: object):
    async def main():
        server, port = await serve(handler)
        async with server:
            return await dump_host(
                "victim", "127.0.0.1", NetworkSettings(port=port, timeouts=FAST, **kwargs)
            )

    return asyncio.run(main())


async def rpc_server(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    on_bind: Callable[[ServerConnection, BindRequest], bytes],
    on_request: Callable[[ServerConnection, Request], bytes | None],
) -> None:
    conn = ServerConnection()
    try:
        while data := await reader.read(65536):
            for event in conn.feed(data):
                if isinstance(event, BindRequest):
                    writer.write(on_bind(conn, event))
                else:
                    answer = on_request(conn, event)
                    if answer is None:
                        return
                    writer.write(answer)
            await writer.drain()
    finally:
        writer.close()


def accept_epm(conn: ServerConnection, bind: BindRequest) -> bytes:
    return conn.bind_ack(bind, lambda ctx: ctx.abstract_syntax == EPM_INTERFACE, "135")


def test_closed_port_is_closed() -> None:
    result = asyncio.run(
        dump_host("x", "127.0.0.1", NetworkSettings(port=free_port(), timeouts=FAST))
    )
    assert result.status is HostStatus.CLOSED
    assert result.error == "connection refused"
    assert result.endpoints == ()


def test_full_backlog_drops_syns_and_reads_as_filtered() -> None:
    # A listener that never accepts: once its queue is full the kernel drops SYNs,
    # exactly what a silently dropping firewall looks like to the client.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        result = asyncio.run(
            dump_host(
                "x",
                "127.0.0.1",
                NetworkSettings(port=port, timeouts=Timeouts(connect=0.3, read=0.3, host=3)),
            )
        )
    finally:
        for s in fillers:
            s.close()
        listener.close()
    assert result.status is HostStatus.FILTERED


def test_silent_server_times_out_mid_exchange() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3)
        writer.close()

    result = run_against(silent)
    assert result.status is HostStatus.TIMEOUT
    assert "no answer" in (result.error or "")


def test_garbage_is_a_protocol_error() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(1)
        writer.close()

    result = run_against(garbage)
    assert result.status is HostStatus.PROTOCOL_ERROR


def test_reset_after_connect_is_closed() -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.close()

    result = run_against(reset)
    assert result.status is HostStatus.CLOSED


def test_bind_nak_is_bind_rejected_with_the_c706_reason() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await rpc_server(
            reader, writer, lambda conn, bind: conn.bind_nak(bind.call_id, 4), lambda c, r: None
        )

    result = run_against(handler)
    assert result.status is HostStatus.BIND_REJECTED
    assert "protocol_version_not_supported" in (result.error or "")


def test_provider_rejection_is_bind_rejected() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await rpc_server(
            reader,
            writer,
            lambda conn, bind: conn.bind_ack(bind, lambda ctx: False, "135"),
            lambda c, r: None,
        )

    result = run_against(handler)
    assert result.status is HostStatus.BIND_REJECTED
    assert "abstract_syntax_not_supported" in (result.error or "")


def test_fault_on_lookup_is_an_rpc_fault() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await rpc_server(
            reader, writer, accept_epm, lambda conn, req: conn.fault(req.call_id, 0x1C010002)
        )

    result = run_against(handler)
    assert result.status is HostStatus.RPC_FAULT
    assert result.fault_status == 0x1C010002


def tcp_entry(port: int) -> object:
    tower = encode_tower(EPM_INTERFACE, "ncacn_ip_tcp", port=port, address="0.0.0.0")
    return encode_lookup_entry("00000000-0000-0000-0000-000000000000", tower, f"entry {port}")


def test_entries_already_received_survive_a_timeout_on_the_next_page() -> None:
    pages = 0

    def answer(conn: ServerConnection, req: Request) -> bytes | None:
        nonlocal pages
        assert req.opnum == OP_EPT_LOOKUP
        pages += 1
        if pages > 1:
            return b""  # go silent on the second page
        handle = b"\x00" * 4 + b"\x11" * 16
        stub = encode_lookup_response(handle, [tcp_entry(50000)], 0)
        return conn.response(req.call_id, stub)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await rpc_server(reader, writer, accept_epm, answer)

    result = run_against(handler, max_ents=1)
    assert result.status is HostStatus.TIMEOUT
    assert [(e.port, e.address, e.annotation) for e in result.endpoints] == [
        (50000, "127.0.0.1", "entry 50000")
    ]


def test_a_handle_that_never_advances_is_a_protocol_error_and_keeps_entries() -> None:
    requests: list[int] = []

    def answer(conn: ServerConnection, req: Request) -> bytes | None:
        requests.append(req.opnum)
        handle = b"\x00" * 4 + b"\x22" * 16
        if req.opnum == OP_EPT_LOOKUP:
            return conn.response(req.call_id, encode_lookup_response(handle, [tcp_entry(1)], 0))
        return conn.response(req.call_id, handle + b"\x00" * 4)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await rpc_server(reader, writer, accept_epm, answer)

    result = run_against(handler, max_ents=1)
    assert result.status is HostStatus.PROTOCOL_ERROR
    assert len(result.endpoints) >= 1
    # The abandoned handle was freed with ept_lookup_handle_free (opnum 4).
    assert requests[-1] == 4


@pytest.mark.parametrize("decoder", ["fast", "impacket"])
def test_both_decoders_give_the_same_dump(decoder: str) -> None:
    def answer(conn: ServerConnection, req: Request) -> bytes | None:
        stub = encode_lookup_response(b"\x00" * 20, [tcp_entry(p) for p in (135, 49152, 60001)], 0)
        return conn.response(req.call_id, stub)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await rpc_server(reader, writer, accept_epm, answer)

    result = run_against(handler, decoder=Decoder(decoder))
    assert result.status is HostStatus.OK
    assert [e.port for e in result.endpoints] == [135, 49152, 60001]
    assert all(e.binding == f"ncacn_ip_tcp:127.0.0.1[{e.port}]" for e in result.endpoints)


def test_ipv6_loopback_works_like_ipv4() -> None:
    with socket.socket(socket.AF_INET6) as probe:
        try:
            probe.bind(("::1", 0))
        except OSError:
            pytest.skip("this machine has no IPv6 loopback")
        port = probe.getsockname()[1]
    result = asyncio.run(dump_host("::1", "::1", NetworkSettings(port=port, timeouts=FAST)))
    assert result.status is HostStatus.CLOSED
