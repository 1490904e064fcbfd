"""Dump one host's endpoint mapper: connect, bind, walk ``ept_lookup``, close.

Every outcome is a :class:`~epmscan.models.HostResult`; no exception escapes
:func:`dump_host` except cancellation. Entries already received are kept when the
walk ends early (timeout, fault, protocol error).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from epmscan.engine.session import RpcSession
from epmscan.engine.transport import Connection, open_tcp
from epmscan.errors import (
    BindRejectedError,
    ConnectionClosedError,
    ConnectRefusedError,
    ConnectTimeoutError,
    EpmscanError,
    HostUnreachableError,
    LocalResourceError,
    ProtocolError,
    ReadTimeoutError,
    RpcFaultError,
)
from epmscan.models import EndpointRecord, HostResult, HostStatus, LookupEntry
from epmscan.protocol.constants import EPM_INTERFACE, OP_EPT_LOOKUP, OP_EPT_LOOKUP_HANDLE_FREE
from epmscan.protocol.epm import LookupResponse, LookupWalk, decode_lookup_response
from epmscan.protocol.towers import endpoint_record

DEFAULT_EPM_PORT = 135


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Deadlines in seconds: per connect attempt, per read, and for a whole host."""

    connect: float = 3.0
    read: float = 5.0
    host: float = 30.0


DEFAULT_TIMEOUTS = Timeouts()

LookupDecoder = Callable[[bytes], LookupResponse]


def lookup_decoder(name: str) -> LookupDecoder:
    """``fast`` (our struct decoder) or ``impacket`` (the reference, for debugging)."""
    if name == "fast":
        return decode_lookup_response
    if name == "impacket":
        from epmscan.protocol.reference import reference_decode_lookup_response

        return reference_decode_lookup_response
    raise ValueError(f"unknown decoder {name!r} (fast, impacket)")


def status_for_error(exc: EpmscanError) -> HostStatus:
    """The host status an error stands for."""
    if isinstance(exc, ConnectRefusedError):
        return HostStatus.CLOSED
    if isinstance(exc, ConnectTimeoutError):
        return HostStatus.FILTERED
    if isinstance(exc, HostUnreachableError):
        return HostStatus.UNREACHABLE
    if isinstance(exc, ReadTimeoutError):
        return HostStatus.TIMEOUT
    if isinstance(exc, ConnectionClosedError):
        return HostStatus.CLOSED
    if isinstance(exc, BindRejectedError):
        return HostStatus.BIND_REJECTED
    if isinstance(exc, RpcFaultError):
        return HostStatus.RPC_FAULT
    return HostStatus.PROTOCOL_ERROR


def _records(entries: list[LookupEntry], address: str) -> tuple[EndpointRecord, ...]:
    return tuple(endpoint_record(entry, address) for entry in entries)


async def walk_lookup(session: RpcSession, walk: LookupWalk) -> None:
    """Page through ``ept_lookup`` until the walk is done; free the handle if abandoned."""
    try:
        while (request := walk.next_request()) is not None:
            stub = await session.call(OP_EPT_LOOKUP, request)
            walk.handle_response(stub)
    except ProtocolError:
        free = walk.free_request()
        if free is not None:
            try:
                await session.call(OP_EPT_LOOKUP_HANDLE_FREE, free)
            except EpmscanError:
                pass
        raise


async def dump_host(
    target: str,
    address: str,
    port: int = DEFAULT_EPM_PORT,
    *,
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
    max_ents: int = 500,
    decoder: str = "fast",
    abort_close: bool = False,
    connection: Connection | None = None,
    then: Callable[[RpcSession], Awaitable[None]] | None = None,
) -> HostResult:
    """Ask ``address:port`` for every registered endpoint.

    ``target`` is the spec as the user gave it and is only reported. ``connection``
    lets a caller pass an already-open connection (the scanner's retry logic does).
    ``abort_close`` ends the connection with a RST, as scanners do, to leave no
    TIME_WAIT behind. ``then`` runs more calls on the same bound session after the
    walk (the Exchange check asks ``ept_map`` there); its errors count like the walk's.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    walk = LookupWalk(max_ents=max_ents, decode=lookup_decoder(decoder))
    conn = connection
    status = HostStatus.OK
    error: str | None = None
    fault: int | None = None
    try:
        async with asyncio.timeout(timeouts.host):
            if conn is None:
                conn = await open_tcp(address, port, connect_timeout=timeouts.connect)
            session = RpcSession(conn, read_timeout=timeouts.read)
            await session.bind(EPM_INTERFACE)
            await walk_lookup(session, walk)
            if then is not None:
                await then(session)
    except TimeoutError:
        status, error = HostStatus.TIMEOUT, f"host deadline of {timeouts.host:g} s exceeded"
    except LocalResourceError:
        raise
    except EpmscanError as exc:
        status, error = status_for_error(exc), str(exc)
        if isinstance(exc, RpcFaultError):
            fault = exc.status
    finally:
        if conn is not None:
            conn.close(abort=abort_close)
    return HostResult(
        target=target,
        address=address,
        port=port,
        status=status,
        error=error,
        endpoints=_records(walk.entries, address),
        elapsed=loop.time() - started,
        lookup_pages=walk.pages,
        lookup_status=walk.final_status,
        fault_status=fault,
    )
