"""Dump one host's endpoint mapper: connect, bind, walk ``ept_lookup``, close.

Every outcome is a :class:`~epmscan.models.HostResult`; no exception escapes
:func:`dump_host` except cancellation. Entries already received are kept when the
walk ends early (timeout, fault, protocol error).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from epmscan.engine.epm_session import run_epm_session
from epmscan.engine.session import RpcSession
from epmscan.errors import EpmscanError, ProtocolError
from epmscan.models import EndpointRecord, HostResult, LookupEntry
from epmscan.protocol.constants import OP_EPT_LOOKUP, OP_EPT_LOOKUP_HANDLE_FREE
from epmscan.protocol.epm_client import LookupResponse, decode_lookup_response
from epmscan.protocol.lookup_walk import LookupWalk
from epmscan.protocol.towers import endpoint_record
from epmscan.settings import Decoder, NetworkSettings

LookupDecoder = Callable[[bytes], LookupResponse]


def lookup_decoder(decoder: Decoder) -> LookupDecoder:
    """Our struct decoder, or impacket's (the reference, for debugging)."""
    if decoder is Decoder.IMPACKET:
        from epmscan.protocol.impacket_reference import reference_decode_lookup_response

        return reference_decode_lookup_response
    return decode_lookup_response


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
    network: NetworkSettings,
    *,
    then: Callable[[RpcSession], Awaitable[None]] | None = None,
) -> HostResult:
    """Ask ``address`` for every registered endpoint.

    ``target`` is the spec as the user gave it and is only reported. ``then`` runs
    more calls on the same bound session after the walk (the Exchange check asks
    ``ept_map`` there); its errors count like the walk's.
    """
    walk = LookupWalk(max_ents=network.max_ents, decode=lookup_decoder(network.decoder))

    async def work(session: RpcSession) -> None:
        await walk_lookup(session, walk)
        if then is not None:
            await then(session)

    outcome = await run_epm_session(address, network, work)
    return HostResult(
        target=target,
        address=address,
        port=network.port,
        status=outcome.status,
        error=outcome.error,
        endpoints=_records(walk.entries, address),
        elapsed=outcome.elapsed,
        lookup_pages=walk.pages,
        lookup_status=walk.final_status,
        fault_status=outcome.fault,
        icmp=outcome.icmp,
    )
