"""Proving ports: bind an interface on a TCP port, read an ncacn_http greeting.

The firewall question: the endpoint mapper says 60001, but can a client reach it and
does the interface answer there? Each probe is one connection with its own connect
and read deadlines and ends in a status, never an exception.
"""

from __future__ import annotations

import asyncio

from epmscan.engine.epm_session import status_for_error
from epmscan.engine.session import RpcSession
from epmscan.engine.transport import Connection, open_tcp
from epmscan.errors import (
    ConnectionClosedError,
    EpmscanError,
    LocalResourceError,
    ReadTimeoutError,
)
from epmscan.models import (
    ExchangeInterface,
    HostStatus,
    HttpPortProbe,
    HttpProbeStatus,
    InterfaceId,
    PortProbeStatus,
)
from epmscan.protocol.ncacn_http import NCACN_HTTP_GREETING, classify_greeting
from epmscan.settings import Timeouts

GREETING_LIMIT = 256


_PROBE_STATUS = {
    HostStatus.CLOSED: PortProbeStatus.CLOSED,
    HostStatus.FILTERED: PortProbeStatus.FILTERED,
    HostStatus.UNREACHABLE: PortProbeStatus.UNREACHABLE,
    HostStatus.TIMEOUT: PortProbeStatus.TIMEOUT,
    HostStatus.BIND_REJECTED: PortProbeStatus.WRONG_SERVICE,
    HostStatus.RPC_FAULT: PortProbeStatus.WRONG_SERVICE,
    HostStatus.PROTOCOL_ERROR: PortProbeStatus.PROTOCOL_ERROR,
}


def _connect_status(exc: EpmscanError) -> PortProbeStatus:
    return _PROBE_STATUS[status_for_error(exc)]


async def bind_on(
    connection: Connection, interface: InterfaceId, read_timeout: float
) -> tuple[PortProbeStatus, str | None]:
    """Bind ``interface`` over an open connection."""
    session = RpcSession(connection, read_timeout=read_timeout)
    try:
        ack = await session.bind(interface)
    except LocalResourceError:
        raise
    except EpmscanError as exc:
        return _connect_status(exc), str(exc)
    return PortProbeStatus.BOUND, f"bind accepted (max_xmit {ack.max_xmit_frag})"


async def probe_bind(
    address: str, port: int, interface: InterfaceId, timeouts: Timeouts
) -> tuple[PortProbeStatus, str | None]:
    """Connect to ``address:port`` and bind ``interface``: bound, wrong service, closed, ..."""
    try:
        conn = await open_tcp(address, port, connect_timeout=timeouts.connect)
    except LocalResourceError:
        raise
    except EpmscanError as exc:
        return _connect_status(exc), str(exc)
    try:
        return await bind_on(conn, interface, timeouts.read)
    finally:
        conn.close(abort=True)


async def read_greeting(connection: Connection, timeout: float) -> bytes:
    """What the port sends first, up to the greeting's length or until it goes quiet."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    data = b""
    while len(data) < len(NCACN_HTTP_GREETING):
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        try:
            data += await connection.read(remaining)
        except ReadTimeoutError:
            break
        except ConnectionClosedError:
            break
        if not NCACN_HTTP_GREETING.startswith(data[: len(NCACN_HTTP_GREETING)]):
            break
        if len(data) >= GREETING_LIMIT:
            break
    return data


async def probe_http(
    address: str,
    port: int,
    interface: ExchangeInterface,
    interface_id: InterfaceId,
    timeouts: Timeouts,
) -> HttpPortProbe:
    """Read the ``ncacn_http/1.0`` greeting on ``port``; where it came, bind behind it."""
    try:
        conn = await open_tcp(address, port, connect_timeout=timeouts.connect)
    except LocalResourceError:
        raise
    except EpmscanError as exc:
        status = _connect_status(exc)
        http_status = {
            PortProbeStatus.CLOSED: HttpProbeStatus.CLOSED,
            PortProbeStatus.UNREACHABLE: HttpProbeStatus.UNREACHABLE,
        }.get(status, HttpProbeStatus.FILTERED)
        return HttpPortProbe(port, interface, http_status, detail=str(exc))
    try:
        data = await read_greeting(conn, timeouts.read)
        if not data:
            return HttpPortProbe(
                port,
                interface,
                HttpProbeStatus.SILENT,
                detail=f"connected, nothing sent within {timeouts.read:g} s",
            )
        is_http, banner = classify_greeting(data)
        if not is_http:
            return HttpPortProbe(port, interface, HttpProbeStatus.OTHER_SERVICE, banner=banner)
        bind, detail = await bind_on(conn, interface_id, timeouts.read)
        return HttpPortProbe(
            port, interface, HttpProbeStatus.NCACN_HTTP, banner=banner, bind=bind, detail=detail
        )
    finally:
        conn.close(abort=True)
