"""What each RPC port of a host serves, registered with the endpoint mapper or not.

After the dump, every TCP port the endpoint mapper advertised (and any the user adds)
is asked through the remote management interface: one connection per port, a bind of
``afa8bd80-7d8a-11c9-bef4-08002b102989`` v1.0 and ``rpc_mgmt_inq_if_ids`` (opnum 0),
which lists the interfaces the server behind the port offers, including those it never
registered. Where the management interface is refused (its bind rejected, a fault such as
``rpc_s_access_denied`` on the call, a failure status), each candidate interface is bound
on a fresh connection instead (a bind only, never a call); the list is then the candidates
the port accepted. A port that cannot be reached ends its inventory with its status.

Every connection holds one of ``per_host`` slots, and everything ends by the host's
deadline (a port that drips its answer cannot hold the scan). An interface served on a
port where the endpoint mapper does not list it becomes an endpoint record with
``registered=False``; the management interface itself is left out (every port has it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import replace

from epmscan.engine.epm_session import status_for_error
from epmscan.engine.probes import probe_bind
from epmscan.engine.session import RpcSession
from epmscan.engine.transport import Connection, open_tcp
from epmscan.errors import (
    BindRejectedError,
    EpmscanError,
    LocalResourceError,
    ProtocolError,
    RpcFaultError,
)
from epmscan.models import (
    EndpointRecord,
    HostResult,
    HostStatus,
    InterfaceId,
    InventoryMethod,
    PortInventory,
    PortProbeStatus,
    ServedInterface,
)
from epmscan.protocol.constants import MGMT_INTERFACE, OP_MGMT_INQ_IF_IDS
from epmscan.protocol.interface_names import interface_name
from epmscan.protocol.mgmt import build_inq_if_ids_request, decode_inq_if_ids_response
from epmscan.protocol.status_codes import fault_status_name
from epmscan.settings import NetworkSettings

UNPROBED_STATUSES = frozenset({HostStatus.FILTERED, HostStatus.UNREACHABLE, HostStatus.UNRESOLVED})
"""Hosts whose inventory is not taken: nothing answered there."""

_PROBE_TO_HOST = {
    PortProbeStatus.CLOSED: HostStatus.CLOSED,
    PortProbeStatus.FILTERED: HostStatus.FILTERED,
    PortProbeStatus.UNREACHABLE: HostStatus.UNREACHABLE,
    PortProbeStatus.TIMEOUT: HostStatus.TIMEOUT,
    PortProbeStatus.PROTOCOL_ERROR: HostStatus.PROTOCOL_ERROR,
}
_NOT_SERVED = frozenset({PortProbeStatus.WRONG_SERVICE})


class _MgmtRefused(Exception):
    """The management interface would not list the port's interfaces (fall back)."""

    def __init__(self, status: HostStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def inventory_ports(host: HostResult, extra: Iterable[int] = ()) -> tuple[int, ...]:
    """The TCP ports to take the inventory of: those advertised, and ``extra``."""
    advertised = {
        e.port for e in host.endpoints if e.transport == "ncacn_ip_tcp" and e.port is not None
    }
    return tuple(sorted(advertised | set(extra)))


async def add_inventory(
    host: HostResult,
    network: NetworkSettings,
    candidates: tuple[InterfaceId, ...],
    *,
    extra_ports: Iterable[int] = (),
    deadline: float | None = None,
) -> HostResult:
    """``host`` with its inventory, and an unregistered endpoint per interface served
    where the endpoint mapper does not list it.

    ``candidates`` are bound where the management interface is refused; ``deadline``
    (event loop time) ends every probe. A host where nothing answered (filtered,
    unreachable) gets an empty inventory.
    """
    if host.status in UNPROBED_STATUSES:
        return replace(host, inventory=())
    loop = asyncio.get_running_loop()
    started = loop.time()
    ports = inventory_ports(host, extra_ports)
    registered = {
        (e.uuid, e.version, e.port) for e in host.endpoints if e.transport == "ncacn_ip_tcp"
    }
    limit = asyncio.Semaphore(max(1, network.per_host))
    inventory = await asyncio.gather(
        *(
            _inventory_port(host.address, port, network, candidates, registered, limit, deadline)
            for port in ports
        )
    )
    found = tuple(
        _unregistered_record(host.address, port.port, served)
        for port in inventory
        for served in port.interfaces
        if not served.registered
    )
    return replace(
        host,
        endpoints=host.endpoints + found,
        inventory=tuple(inventory),
        elapsed=host.elapsed + (loop.time() - started),
    )


def _unregistered_record(address: str, port: int, served: ServedInterface) -> EndpointRecord:
    major, _, minor = served.version.partition(".")
    known = interface_name(served.uuid, int(major), int(minor or 0))
    return EndpointRecord(
        uuid=served.uuid,
        version=served.version,
        name=known[0] if known else None,
        annotation="",
        transport="ncacn_ip_tcp",
        address=address,
        port=port,
        endpoint=None,
        binding=f"ncacn_ip_tcp:{address}[{port}]",
        provider=known[1] if known else None,
        registered=False,
    )


def _deadline_text(network: NetworkSettings) -> str:
    return f"host deadline of {network.timeouts.host:g} s exceeded"


async def _inventory_port(
    address: str,
    port: int,
    network: NetworkSettings,
    candidates: tuple[InterfaceId, ...],
    registered: set[tuple[str, str, int | None]],
    limit: asyncio.Semaphore,
    deadline: float | None,
) -> PortInventory:
    def served(interfaces: Iterable[InterfaceId]) -> tuple[ServedInterface, ...]:
        unique = dict.fromkeys(i for i in interfaces if i != MGMT_INTERFACE)
        return tuple(
            ServedInterface(i.uuid, i.version, (i.uuid, i.version, port) in registered)
            for i in unique
        )

    try:
        async with limit:
            listed = await _ask_mgmt(address, port, network, deadline)
    except _MgmtRefused as refused:
        mgmt_error = str(refused)
        if not candidates:
            return PortInventory(
                port, refused.status, None, error=mgmt_error, mgmt_error=mgmt_error
            )
    except TimeoutError:
        return PortInventory(port, HostStatus.TIMEOUT, None, error=_deadline_text(network))
    except LocalResourceError:
        raise
    except EpmscanError as exc:
        return PortInventory(port, status_for_error(exc), None, error=str(exc))
    else:
        return PortInventory(port, HostStatus.OK, InventoryMethod.MGMT, served(listed))
    bound, status, error = await _bind_candidates(
        address, port, network, candidates, limit, deadline
    )
    return PortInventory(
        port,
        status,
        InventoryMethod.BIND,
        served(bound),
        error=error,
        mgmt_error=mgmt_error,
        candidates=len(candidates),
    )


async def _ask_mgmt(
    address: str, port: int, network: NetworkSettings, deadline: float | None
) -> tuple[InterfaceId, ...]:
    """The interfaces ``inq_if_ids`` lists on ``address:port``; :class:`_MgmtRefused` when
    the management interface would not say, our errors when the port failed."""
    timeouts = network.timeouts
    conn: Connection | None = None
    try:
        async with asyncio.timeout_at(deadline):
            conn = await open_tcp(address, port, connect_timeout=timeouts.connect)
            session = RpcSession(conn, read_timeout=timeouts.read)
            try:
                await session.bind(MGMT_INTERFACE)
                stub = await session.call(OP_MGMT_INQ_IF_IDS, build_inq_if_ids_request())
            except BindRejectedError as exc:
                raise _MgmtRefused(HostStatus.BIND_REJECTED, str(exc)) from None
            except RpcFaultError as exc:
                raise _MgmtRefused(HostStatus.RPC_FAULT, str(exc)) from None
            answer = decode_inq_if_ids_response(stub)
            if answer.status != 0:
                text = f"{answer.status:#010x} ({fault_status_name(answer.status)})"
                raise _MgmtRefused(HostStatus.RPC_FAULT, f"inq_if_ids answered status {text}")
            if not answer.present:
                raise ProtocolError("inq_if_ids answered status 0 without an interface vector")
            return answer.interfaces
    finally:
        if conn is not None:
            conn.close(abort=network.reset_on_close)


async def _bind_candidates(
    address: str,
    port: int,
    network: NetworkSettings,
    candidates: tuple[InterfaceId, ...],
    limit: asyncio.Semaphore,
    deadline: float | None,
) -> tuple[list[InterfaceId], HostStatus, str | None]:
    """Bind each candidate on its own connection: those accepted, and the port's status
    (``ok`` when every candidate got an answer, else the first failure and its text)."""

    async def bind(interface: InterfaceId) -> tuple[PortProbeStatus, str | None]:
        async with limit:
            return await probe_bind(address, port, interface, network.timeouts, deadline=deadline)

    results = await asyncio.gather(*(bind(interface) for interface in candidates))
    outcomes = list(zip(candidates, results, strict=True))
    bound = [interface for interface, (status, _) in outcomes if status is PortProbeStatus.BOUND]
    for interface, (status, detail) in outcomes:
        if status is not PortProbeStatus.BOUND and status not in _NOT_SERVED:
            failed = _PROBE_TO_HOST.get(status, HostStatus.PROTOCOL_ERROR)
            return bound, failed, f"binding {interface}: {detail or status.value}"
    return bound, HostStatus.OK, None
