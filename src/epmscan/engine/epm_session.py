"""One session with an endpoint mapper: connect, bind, run the calls, close; every end a status.

:func:`run_epm_session` runs under the host deadline (``timeouts.host``) with a deadline
per connect and per read, binds the endpoint mapper interface and hands the bound
session to ``work`` (the lookup walk, ``ept_map``...). With credentials in the network
settings the bind authenticates with NTLM and every call is signed. Every error becomes a
:class:`~epmscan.models.HostStatus` (:func:`status_for_error`): an ``rpc_s_access_denied``
fault to an anonymous session is ``access_denied`` (a server with RestrictRemoteClients),
a refused authentication or a signature that does not verify ``auth_failed``. Running out
of local resources is raised, since it is this machine's problem and not the host's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from epmscan.engine.session import RpcSession
from epmscan.engine.transport import Connection, open_tcp
from epmscan.errors import (
    AuthenticationFailedError,
    BindRejectedError,
    ConnectionClosedError,
    ConnectRefusedError,
    ConnectTimeoutError,
    EpmscanError,
    HostUnreachableError,
    LocalResourceError,
    ReadTimeoutError,
    RpcFaultError,
    SignatureError,
)
from epmscan.models import HostStatus, IcmpError
from epmscan.protocol.constants import EPM_INTERFACE, RPC_S_ACCESS_DENIED
from epmscan.settings import NetworkSettings

_STATUS_BY_ERROR: tuple[tuple[type[EpmscanError], HostStatus], ...] = (
    (ConnectRefusedError, HostStatus.CLOSED),
    (ConnectTimeoutError, HostStatus.FILTERED),
    (HostUnreachableError, HostStatus.UNREACHABLE),
    (ReadTimeoutError, HostStatus.TIMEOUT),
    (ConnectionClosedError, HostStatus.CLOSED),
    (BindRejectedError, HostStatus.BIND_REJECTED),
    (AuthenticationFailedError, HostStatus.AUTH_FAILED),
    (SignatureError, HostStatus.AUTH_FAILED),
    (RpcFaultError, HostStatus.RPC_FAULT),
)


def status_for_error(exc: EpmscanError) -> HostStatus:
    """The host status an error stands for (``protocol_error`` for anything else)."""
    if isinstance(exc, RpcFaultError) and exc.status == RPC_S_ACCESS_DENIED:
        return HostStatus.ACCESS_DENIED
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
    network: NetworkSettings,
    work: Callable[[RpcSession], Awaitable[None]],
) -> SessionOutcome:
    """Connect, bind the endpoint mapper, run ``work``, close; every failure is a status.

    ``work`` keeps what it gathers itself, so a caller has it even when the session
    ended early. Running out of local resources is raised, not reported.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    outcome = SessionOutcome()
    timeouts = network.timeouts
    conn: Connection | None = None
    try:
        async with asyncio.timeout(timeouts.host):
            conn = await open_tcp(address, network.port, connect_timeout=timeouts.connect)
            session = RpcSession(conn, read_timeout=timeouts.read, credentials=network.credentials)
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
        elif isinstance(exc, AuthenticationFailedError):
            outcome.fault = exc.fault
        elif isinstance(exc, HostUnreachableError):
            outcome.icmp = exc.icmp
    finally:
        if conn is not None:
            conn.close(abort=network.reset_on_close)
    outcome.elapsed = loop.time() - started
    return outcome
