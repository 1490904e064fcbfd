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
from epmscan.models import EndpointRecord, HostResult, HostStatus, IcmpError, LookupEntry
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


_STATUS_BY_ERROR: tuple[tuple[type[EpmscanError], HostStatus], ...] = (
    (ConnectRefusedError, HostStatus.CLOSED),
    (ConnectTimeoutError, HostStatus.FILTERED),
    (HostUnreachableError, HostStatus.UNREACHABLE),
    (ReadTimeoutError, HostStatus.TIMEOUT),
    (ConnectionClosedError, HostStatus.CLOSED),
    (BindRejectedError, HostStatus.BIND_REJECTED),
    (RpcFaultError, HostStatus.RPC_FAULT),
)


def status_for_error(exc: EpmscanError) -> HostStatus:
    """The host status an error stands for (``protocol_error`` for anything else)."""
    for kind, status in _STATUS_BY_ERROR:
        if isinstance(exc, kind):
            return status
    return HostStatus.PROTOCOL_ERROR


@dataclass(slots=True)
class SessionOutcome:
    """How one endpoint mapper session ended."""

    status: HostStatus = HostStatus.OK
    error: str | None = None
    fault: int | None = None
    elapsed: float = 0.0
    icmp: IcmpError | None = None


async def run_epm_session(
    address: str,
    port: int,
    work: Callable[[RpcSession], Awaitable[None]],
    *,
    timeouts: Timeouts,
    abort_close: bool,
) -> SessionOutcome:
    """Connect, bind the endpoint mapper, run ``work``, close; every failure is a status.

    ``work`` keeps what it gathers itself, so a caller has it even when the session
    ended early. Running out of local resources is raised, not reported.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    outcome = SessionOutcome()
    conn: Connection | None = None
    try:
        async with asyncio.timeout(timeouts.host):
            conn = await open_tcp(address, port, connect_timeout=timeouts.connect)
            session = RpcSession(conn, read_timeout=timeouts.read)
            await session.bind(EPM_INTERFACE)
            await work(session)
    except TimeoutError:
        outcome.status = HostStatus.TIMEOUT
        outcome.error = f"host deadline of {timeouts.host:g} s exceeded"
    except LocalResourceError:
        raise
    except EpmscanError as exc:
        outcome.status, outcome.error = status_for_error(exc), str(exc)
        if isinstance(exc, RpcFaultError):
            outcome.fault = exc.status
        elif isinstance(exc, HostUnreachableError):
            outcome.icmp = exc.icmp
    finally:
        if conn is not None:
            conn.close(abort=abort_close)
    outcome.elapsed = loop.time() - started
    return outcome


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
    then: Callable[[RpcSession], Awaitable[None]] | None = None,
) -> HostResult:
    """Ask ``address:port`` for every registered endpoint.

    ``target`` is the spec as the user gave it and is only reported. ``abort_close``
    ends the connection with a RST, as scanners do, to leave no TIME_WAIT behind.
    ``then`` runs more calls on the same bound session after the walk (the Exchange
    check asks ``ept_map`` there); its errors count like the walk's.
    """
    walk = LookupWalk(max_ents=max_ents, decode=lookup_decoder(decoder))

    async def work(session: RpcSession) -> None:
        await walk_lookup(session, walk)
        if then is not None:
            await then(session)

    outcome = await run_epm_session(
        address, port, work, timeouts=timeouts, abort_close=abort_close
    )
    return HostResult(
        target=target,
        address=address,
        port=port,
        status=outcome.status,
        error=outcome.error,
        endpoints=_records(walk.entries, address),
        elapsed=outcome.elapsed,
        lookup_pages=walk.pages,
        lookup_status=walk.final_status,
        fault_status=outcome.fault,
        icmp=outcome.icmp,
    )
