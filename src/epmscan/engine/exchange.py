"""What one host's Exchange interfaces look like on the network: resolve, bind, greet.

One association to the endpoint mapper does the lookup walk and then ``ept_map`` for
MAPI, AsyncEMSMDB, NSPI and RFR (ncacn_ip_tcp and ncacn_http); ``mode=map`` asks only
``ept_map``. Every distinct TCP port found for them is then connected and bound for its
interface; the RPC-over-HTTP ports are probed for their greeting and, where it came,
the interface behind is bound. At most ``per_host`` connections to the host are open at
once. Everything, the lookup and every probe, ends by one host deadline
(``timeouts.host`` from the start): a port that drips its answer cannot hold the check.
The result is an :class:`~epmscan.models.ExchangeObservation`: what was seen, no
verdict (``checks`` judges it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import replace

from epmscan.engine.ept_map import map_host, map_interfaces
from epmscan.engine.lookup import dump_host
from epmscan.engine.probes import probe_bind, probe_http
from epmscan.engine.session import RpcSession
from epmscan.errors import RpcFaultError
from epmscan.facts.exchange import EXCHANGE_INTERFACES, RPC_HTTP_PORTS, resolved_ports
from epmscan.models import (
    EndpointRecord,
    ExchangeInterface,
    ExchangeObservation,
    HostStatus,
    HttpPortProbe,
    PortProbeStatus,
    ResolvedPort,
)
from epmscan.settings import NetworkSettings, ScanMode


async def observe_exchange_host(
    target: str,
    address: str,
    network: NetworkSettings,
    *,
    mode: ScanMode = ScanMode.DUMP,
    use_map: bool = True,
    required_http: Iterable[int] = (),
    default_http: Iterable[int] = tuple(RPC_HTTP_PORTS),
) -> ExchangeObservation:
    """Resolve the Exchange interfaces of one host and prove every port found.

    ``required_http`` are RPC-over-HTTP ports that must be probed; when there are none,
    ``default_http`` are probed on a host that registers any Exchange interface.
    """
    mapped: list[EndpointRecord] = []
    deadline = asyncio.get_running_loop().time() + network.timeouts.host

    async def ask_map(session: RpcSession) -> None:
        try:
            await map_interfaces(session, address, EXCHANGE_INTERFACES.values(), records=mapped)
        except RpcFaultError:
            pass  # some endpoint mappers refuse ept_map; the lookup walk already answered

    if mode is ScanMode.MAP:
        host = await map_host(target, address, EXCHANGE_INTERFACES.values(), network)
        mapped, host = list(host.endpoints), replace(host, endpoints=())
    else:
        host = await dump_host(target, address, network, then=ask_map if use_map else None)
    limit = asyncio.Semaphore(max(1, network.per_host))
    probed: list[ResolvedPort] = []
    if host.status is HostStatus.OK:
        ports = resolved_ports(host.endpoints, mapped)
        probed = await asyncio.gather(
            *(_probe_port(address, p, network, limit, deadline) for p in ports)
        )
    http_ports = http_ports_to_probe(probed, tuple(required_http), tuple(default_http))
    http = await asyncio.gather(
        *(
            _probe_http(address, port, RPC_HTTP_PORTS.get(port), network, limit, deadline)
            for port in http_ports
        )
    )
    return ExchangeObservation(host=host, ports=tuple(probed), http=tuple(http))


def http_ports_to_probe(
    resolved: Iterable[ResolvedPort], required: tuple[int, ...], defaults: tuple[int, ...]
) -> list[int]:
    """The RPC-over-HTTP ports worth a probe on one host.

    Those required, and those the endpoint mapper advertises for an Exchange interface
    (``ncacn_http:[6001]``: is it true?). When none are required, the ``defaults`` too
    if the host registers any Exchange interface. A plain Windows host with no
    requirement gets none, so it is not flagged for ports it never had.
    """
    resolved = list(resolved)
    advertised = [p.port for p in resolved if p.transport == "ncacn_http" and p.port]
    extra = list(defaults) if resolved and not required else []
    return sorted({*required, *advertised, *extra})


async def _probe_port(
    address: str,
    resolved: ResolvedPort,
    network: NetworkSettings,
    limit: asyncio.Semaphore,
    deadline: float,
) -> ResolvedPort:
    if resolved.transport != "ncacn_ip_tcp" or resolved.port is None:
        return resolved
    async with limit:
        status, detail = await probe_bind(
            address,
            resolved.port,
            EXCHANGE_INTERFACES[resolved.interface],
            network.timeouts,
            deadline=deadline,
        )
    return replace(
        resolved, probe=status, probe_detail=None if status is PortProbeStatus.BOUND else detail
    )


async def _probe_http(
    address: str,
    port: int,
    interface: ExchangeInterface | None,
    network: NetworkSettings,
    limit: asyncio.Semaphore,
    deadline: float,
) -> HttpPortProbe:
    interface = interface or ExchangeInterface.MAPI
    async with limit:
        return await probe_http(
            address,
            port,
            interface,
            EXCHANGE_INTERFACES[interface],
            network.timeouts,
            deadline=deadline,
        )
