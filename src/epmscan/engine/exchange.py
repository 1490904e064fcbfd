"""The Exchange check of one host: dump, ``ept_map``, bind probes, HTTP probes, verdict.

One association to the endpoint mapper does the lookup walk and then ``ept_map`` for
MAPI, AsyncEMSMDB, NSPI and RFR (ncacn_ip_tcp and ncacn_http). Every distinct TCP port
found for them is then connected and bound; the RPC-over-HTTP ports are probed for
their greeting. At most ``per_host`` connections to the host are open at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, replace

from epmscan.checks.findings import build_report
from epmscan.engine.dump import Timeouts, dump_host
from epmscan.engine.mapping import map_host, map_interfaces
from epmscan.engine.probes import probe_bind, probe_http
from epmscan.engine.session import RpcSession
from epmscan.errors import RpcFaultError
from epmscan.facts.exchange import EXCHANGE_BY_UUID, EXCHANGE_INTERFACES, RPC_HTTP_PORTS
from epmscan.models import (
    EndpointRecord,
    ExchangeHostReport,
    ExchangeInterface,
    Expectation,
    HostStatus,
    HttpPortProbe,
    PortProbeStatus,
    ResolvedPort,
)
from epmscan.protocol.constants import EPM_PORT

CHECK_TIMEOUTS = Timeouts(connect=2.0, read=5.0, host=60.0)


@dataclass(frozen=True, slots=True)
class CheckOptions:
    port: int = EPM_PORT
    timeouts: Timeouts = CHECK_TIMEOUTS
    max_ents: int = 500
    decoder: str = "fast"
    per_host: int = 4
    http_ports: tuple[int, ...] = tuple(RPC_HTTP_PORTS)
    use_map: bool = True
    mode: str = "dump"
    """``dump``: full lookup walk, then ``ept_map``; ``map``: only ``ept_map`` (cheaper)."""


def resolved_ports(
    from_lookup: Iterable[EndpointRecord], from_map: Iterable[EndpointRecord]
) -> tuple[ResolvedPort, ...]:
    """Exchange interface ports from both sources, each (interface, transport, port) once."""
    sources: dict[tuple[ExchangeInterface, str, int | None], set[str]] = {}
    for source, records in (("lookup", from_lookup), ("map", from_map)):
        for record in records:
            interface = EXCHANGE_BY_UUID.get(record.uuid)
            if interface is None or record.transport not in ("ncacn_ip_tcp", "ncacn_http"):
                continue
            sources.setdefault((interface, record.transport, record.port), set()).add(source)
    order = list(ExchangeInterface)
    keys = sorted(sources, key=lambda k: (order.index(k[0]), k[1] != "ncacn_ip_tcp", k[2] or 0))
    result = []
    for interface, transport, port in keys:
        found_by = sources[(interface, transport, port)]
        source = "both" if len(found_by) == 2 else next(iter(found_by))
        result.append(ResolvedPort(interface, transport, port, source))
    return tuple(result)


async def check_host(
    target: str,
    address: str,
    expectation: Expectation | None,
    options: CheckOptions | None = None,
) -> ExchangeHostReport:
    """Everything ``epmscan check`` knows about one host, judged against ``expectation``."""
    options = options or CheckOptions()
    mapped: list[EndpointRecord] = []

    async def ask_map(session: RpcSession) -> None:
        try:
            await map_interfaces(session, address, EXCHANGE_INTERFACES.values(), records=mapped)
        except RpcFaultError:
            pass  # some endpoint mappers refuse ept_map; the lookup walk already answered

    if options.mode == "map":
        host = await map_host(
            target,
            address,
            EXCHANGE_INTERFACES.values(),
            options.port,
            timeouts=options.timeouts,
            abort_close=True,
        )
        mapped, host = list(host.endpoints), replace(host, endpoints=())
    else:
        host = await dump_host(
            target,
            address,
            options.port,
            timeouts=options.timeouts,
            max_ents=options.max_ents,
            decoder=options.decoder,
            abort_close=True,
            then=ask_map if options.use_map else None,
        )
    limit = asyncio.Semaphore(max(1, options.per_host))
    probed: list[ResolvedPort] = []
    if host.status is HostStatus.OK:
        ports = resolved_ports(host.endpoints, mapped)
        probed = await asyncio.gather(*(_probe_port(address, p, options, limit) for p in ports))
    http_ports = http_ports_to_probe(options, expectation, probed)
    http = await asyncio.gather(
        *(
            _probe_http(address, port, RPC_HTTP_PORTS.get(port), options, limit)
            for port in http_ports
        )
    )
    return build_report(host, probed, http, expectation)


def http_ports_to_probe(
    options: CheckOptions, expectation: Expectation | None, resolved: Iterable[ResolvedPort]
) -> list[int]:
    """The RPC-over-HTTP ports worth a probe on one host.

    Those the expectation requires, and those the endpoint mapper advertises for an
    Exchange interface (``ncacn_http:[6001]``: is it true?). When the expectation names
    no HTTP ports, the standard three too if the host registers any Exchange interface.
    A plain Windows host with no requirement gets none, so it is not flagged for ports
    it never had.
    """
    resolved = list(resolved)
    required = list(expectation.require_http) if expectation else []
    advertised = [p.port for p in resolved if p.transport == "ncacn_http" and p.port]
    defaults = list(options.http_ports) if resolved and not required else []
    return sorted({*required, *advertised, *defaults})


async def _probe_port(
    address: str, resolved: ResolvedPort, options: CheckOptions, limit: asyncio.Semaphore
) -> ResolvedPort:
    if resolved.transport != "ncacn_ip_tcp" or resolved.port is None:
        return resolved
    async with limit:
        status, detail = await probe_bind(
            address, resolved.port, EXCHANGE_INTERFACES[resolved.interface], options.timeouts
        )
    return ResolvedPort(
        interface=resolved.interface,
        transport=resolved.transport,
        port=resolved.port,
        source=resolved.source,
        probe=status,
        probe_detail=None if status is PortProbeStatus.BOUND else detail,
    )


async def _probe_http(
    address: str,
    port: int,
    interface: ExchangeInterface | None,
    options: CheckOptions,
    limit: asyncio.Semaphore,
) -> HttpPortProbe:
    interface = interface or ExchangeInterface.MAPI
    async with limit:
        return await probe_http(
            address, port, interface, EXCHANGE_INTERFACES[interface], options.timeouts
        )
