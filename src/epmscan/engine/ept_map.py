"""``ept_map`` for a few interfaces on one host: cheaper than a full lookup walk.

Used by ``scan --mode map`` and by the Exchange checks. Each interface is asked for
its ncacn_ip_tcp and ncacn_http towers over one association.
"""

from __future__ import annotations

from collections.abc import Iterable

from epmscan.engine.epm_session import run_epm_session
from epmscan.engine.session import RpcSession
from epmscan.facts.exchange import EXCHANGE_TRANSPORTS
from epmscan.models import EndpointRecord, HostResult, InterfaceId, LookupEntry
from epmscan.protocol.constants import NIL_UUID, OP_EPT_MAP
from epmscan.protocol.epm_client import build_map_request, decode_map_response
from epmscan.protocol.towers import endpoint_record
from epmscan.settings import NetworkSettings


async def map_interfaces(
    session: RpcSession,
    address: str,
    interfaces: Iterable[InterfaceId],
    transports: Iterable[str] = EXCHANGE_TRANSPORTS,
    records: list[EndpointRecord] | None = None,
) -> list[EndpointRecord]:
    """``ept_map`` each interface for each transport over a bound EPM session.

    Records are appended to ``records`` as they come, so a caller keeps what was
    resolved before a timeout.
    """
    records = [] if records is None else records
    transports = tuple(transports)
    for interface in interfaces:
        for transport in transports:
            stub = await session.call(OP_EPT_MAP, build_map_request(interface, transport))
            response = decode_map_response(stub)
            for tower in response.towers:
                if tower.transport != transport:
                    continue
                entry = LookupEntry(object_uuid=NIL_UUID, tower=tower, annotation="")
                records.append(endpoint_record(entry, address))
    return records


async def map_host(
    target: str,
    address: str,
    interfaces: Iterable[InterfaceId],
    network: NetworkSettings,
) -> HostResult:
    """Resolve ``interfaces`` through ``ept_map``; the result lists what was found."""
    records: list[EndpointRecord] = []

    async def work(session: RpcSession) -> None:
        await map_interfaces(session, address, interfaces, records=records)

    outcome = await run_epm_session(address, network, work)
    return HostResult(
        target=target,
        address=address,
        port=network.port,
        status=outcome.status,
        error=outcome.error,
        endpoints=tuple(records),
        elapsed=outcome.elapsed,
        fault_status=outcome.fault,
        icmp=outcome.icmp,
    )
