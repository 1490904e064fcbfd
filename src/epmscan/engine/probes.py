"""Proving ports: bind an interface on a TCP port, read an ncacn_http greeting.

The firewall question: the endpoint mapper says 60001, but can a client reach it and
does the interface answer there? Each probe is one connection with its own connect
and read deadlines, and with the host's deadline when one is given (the Exchange check
passes it, so probes cannot outlast the host), and ends in a status, never an exception.
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
"""Bytes of a greeting kept at most (the banner of another service shows 80)."""


_PROBE_STATUS = {
    HostStatus.CLOSED: PortProbeStatus.CLOSED,
    HostStatus.FILTERED: PortProbeStatus.FILTERED,
    HostStatus.UNREACHABLE: PortProbeStatus.UNREACHABLE,
    HostStatus.TIMEOUT: PortProbeStatus.TIMEOUT,
    HostStatus.BIND_REJECTED: PortProbeStatus.WRONG_SERVICE,
    HostStatus.RPC_FAULT: PortProbeStatus.WRONG_SERVICE,
    HostStatus.ACCESS_DENIED: PortProbeStatus.WRONG_SERVICE,
    HostStatus.AUTH_FAILED: PortProbeStatus.WRONG_SERVICE,
    HostStatus.PROTOCOL_ERROR: PortProbeStatus.PROTOCOL_ERROR,
}


def _connect_status(exc: EpmscanError) -> PortProbeStatus:
    return _PROBE_STATUS[status_for_error(exc)]


async def bind_on(
    connection: Connection,
    interface: InterfaceId,
    read_timeout: float,
    *,
    deadline: float | None = None,
    host_timeout: float | None = None,
) -> tuple[PortProbeStatus, str | None]:
    """Bind ``interface`` over an open connection, by ``deadline`` (loop time) if given."""
    session = RpcSession(connection, read_timeout=read_timeout)
    try:
        async with asyncio.timeout_at(deadline):
            ack = await session.bind(interface)
    except TimeoutError:
        return PortProbeStatus.TIMEOUT, _deadline_text(host_timeout)
    except LocalResourceError:
        raise
    except EpmscanError as exc:
        return _connect_status(exc), str(exc)
    return PortProbeStatus.BOUND, f"bind accepted (max_xmit {ack.max_xmit_frag})"


def _deadline_text(host_timeout: float | None) -> str:
    if host_timeout is None:
        return "host deadline exceeded"
    return f"host deadline of {host_timeout:g} s exceeded"


async def probe_bind(
    address: str,
    port: int,
    interface: InterfaceId,
    timeouts: Timeouts,
    *,
    deadline: float | None = None,
) -> tuple[PortProbeStatus, str | None]:
    """Connect to ``address:port`` and bind ``interface``: bound, wrong service, closed, ...

    ``deadline`` (event loop time) ends the probe as ``timeout`` whatever phase it is
    in: a port that drips its answer a byte at a time cannot hold the host's check.
    """
    try:
        async with asyncio.timeout_at(deadline):
            conn = await open_tcp(address, port, connect_timeout=timeouts.connect)
    except TimeoutError:
        return PortProbeStatus.TIMEOUT, _deadline_text(timeouts.host)
    except LocalResourceError:
        raise
    except EpmscanError as exc:
        return _connect_status(exc), str(exc)
    try:
        return await bind_on(
            conn, interface, timeouts.read, deadline=deadline, host_timeout=timeouts.host
        )
    finally:
        conn.close(abort=True)


async def read_greeting(
    connection: Connection, timeout: float, deadline: float | None = None
) -> bytes:
    """What the port sends first: until the greeting is complete, differs from it, or no
    byte came within ``timeout`` (each wait), or ``deadline`` (loop time) passed.

    A greeting dripped a byte at a time is read to its end as long as every byte comes
    within ``timeout``; at most :data:`GREETING_LIMIT` bytes are kept.
    """
    loop = asyncio.get_running_loop()
    data = b""
    while len(data) < len(NCACN_HTTP_GREETING):
        wait = timeout if deadline is None else min(timeout, deadline - loop.time())
        if wait <= 0:
            break
        try:
            data += await connection.read(wait)
        except (ReadTimeoutError, ConnectionClosedError):
            break
        if not NCACN_HTTP_GREETING.startswith(data[: len(NCACN_HTTP_GREETING)]):
            break
    return data[:GREETING_LIMIT]


async def probe_http(
    address: str,
    port: int,
    interface: ExchangeInterface,
    interface_id: InterfaceId,
    timeouts: Timeouts,
    *,
    deadline: float | None = None,
) -> HttpPortProbe:
    """Read the ``ncacn_http/1.0`` greeting on ``port``; where it came, bind behind it.

    A port that sends the start of the greeting and then nothing is ``silent`` (with what
    it sent as the banner), not another service. ``deadline`` (event loop time) bounds
    the whole probe.
    """
    try:
        async with asyncio.timeout_at(deadline):
            conn = await open_tcp(address, port, connect_timeout=timeouts.connect)
    except TimeoutError:
        return HttpPortProbe(
            port, interface, HttpProbeStatus.FILTERED, detail=_deadline_text(timeouts.host)
        )
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
        data = await read_greeting(conn, timeouts.read, deadline)
        cut = deadline is not None and asyncio.get_running_loop().time() >= deadline
        quiet = _deadline_text(timeouts.host) if cut else f"nothing within {timeouts.read:g} s"
        if not data:
            return HttpPortProbe(
                port,
                interface,
                HttpProbeStatus.SILENT,
                detail=(
                    f"connected, nothing sent ({_deadline_text(timeouts.host)})"
                    if cut
                    else f"connected, nothing sent within {timeouts.read:g} s"
                ),
            )
        is_http, banner = classify_greeting(data)
        if not is_http and NCACN_HTTP_GREETING.startswith(data):
            return HttpPortProbe(
                port,
                interface,
                HttpProbeStatus.SILENT,
                banner=banner,
                detail=(
                    f"sent {banner!r} (the start of {NCACN_HTTP_GREETING.decode()}), then {quiet}"
                ),
            )
        if not is_http:
            return HttpPortProbe(port, interface, HttpProbeStatus.OTHER_SERVICE, banner=banner)
        bind, detail = await bind_on(
            conn, interface_id, timeouts.read, deadline=deadline, host_timeout=timeouts.host
        )
        return HttpPortProbe(
            port, interface, HttpProbeStatus.NCACN_HTTP, banner=banner, bind=bind, detail=detail
        )
    finally:
        conn.close(abort=True)
