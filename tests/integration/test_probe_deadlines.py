"""Port probes against peers that drip: a greeting read to its end, a host deadline kept.

Small asyncio servers on 127.106.1.x send their bytes one at a time; the probes of
``engine.probes`` must read a dripped ``ncacn_http/1.0`` greeting to its end, call a
greeting that stops halfway ``silent`` (not another service), and end a bind that
drips past the host deadline as ``timeout``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from epmscan.engine.probes import probe_bind, probe_http
from epmscan.models import ExchangeInterface, HttpProbeStatus, PortProbeStatus
from epmscan.protocol.constants import EPM_INTERFACE
from epmscan.protocol.events import BindRequest
from epmscan.protocol.server_connection import ServerConnection
from epmscan.settings import Timeouts

ADDRESS = "127.106.1.1"
GREETING = b"ncacn_http/1.0"
DRIP = 0.05

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[int]:
    async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(guarded, ADDRESS, 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def drip(writer: asyncio.StreamWriter, data: bytes, interval: float = DRIP) -> None:
    for byte in data:
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(interval)


async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await drip(writer, GREETING)
    await asyncio.sleep(5)


async def greet_halfway(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await drip(writer, GREETING[:4])
    await asyncio.sleep(5)


async def drip_bind_ack(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    server = ServerConnection()
    events = server.feed(await reader.read(4096))
    request = events[0]
    assert isinstance(request, BindRequest)
    await drip(writer, server.bind_ack(request, lambda _ctx: True), 0.1)


TIMEOUTS = Timeouts(connect=1.0, read=0.5, host=1.0)


def test_a_dripped_greeting_is_read_to_its_end() -> None:
    async def main() -> None:
        async with serving(greet) as port:
            probe = await probe_http(
                ADDRESS, port, ExchangeInterface.MAPI, EPM_INTERFACE, Timeouts(read=0.5)
            )
        assert probe.status is HttpProbeStatus.NCACN_HTTP, probe
        assert probe.banner == "ncacn_http/1.0"
        assert probe.bind is PortProbeStatus.TIMEOUT  # nothing answers the bind behind it

    asyncio.run(main())


def test_a_greeting_that_stops_halfway_is_silent_not_another_service() -> None:
    async def main() -> None:
        async with serving(greet_halfway) as port:
            probe = await probe_http(
                ADDRESS, port, ExchangeInterface.MAPI, EPM_INTERFACE, Timeouts(read=0.5)
            )
        assert probe.status is HttpProbeStatus.SILENT, probe
        assert probe.banner == "ncac"
        assert "the start of ncacn_http/1.0" in (probe.detail or "")

    asyncio.run(main())


def test_a_dripping_bind_ends_at_the_host_deadline() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        async with serving(drip_bind_ack) as port:
            started = loop.time()
            status, detail = await probe_bind(
                ADDRESS, port, EPM_INTERFACE, TIMEOUTS, deadline=started + TIMEOUTS.host
            )
            bounded_time = loop.time() - started
            started = loop.time()
            unbounded = await probe_bind(ADDRESS, port, EPM_INTERFACE, TIMEOUTS)
            unbounded_time = loop.time() - started
        assert (status, detail) == (PortProbeStatus.TIMEOUT, "host deadline of 1 s exceeded")
        # Without the deadline every byte comes within the read timeout: the whole
        # bind_ack (about 60 bytes at 0.1 s each) arrives and binds.
        assert unbounded[0] is PortProbeStatus.BOUND
        assert bounded_time < unbounded_time / 2

    asyncio.run(main())


def test_a_greeting_past_the_host_deadline_is_cut_there() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        async with serving(greet) as port:
            probe = await probe_http(
                ADDRESS,
                port,
                ExchangeInterface.MAPI,
                EPM_INTERFACE,
                Timeouts(read=0.5, host=0.3),
                deadline=loop.time() + 0.3,
            )
        assert probe.status is HttpProbeStatus.SILENT, probe
        assert probe.banner and GREETING.decode().startswith(probe.banner)
        assert "then host deadline of 0.3 s exceeded" in (probe.detail or "")

    asyncio.run(main())
