"""Compare two results: what appeared, disappeared, moved or changed status.

:func:`diff_results` matches hosts by (target, address) and, per host, endpoints by
(uuid, version, transport, port, endpoint). An endpoint whose (uuid, version,
transport) is still registered but on another port is a *move*, not a removal plus an
addition. :func:`diff_exit_code` answers 1 when anything the policy cares about changed.
A result saved before ``access_denied`` existed says ``rpc_fault`` with fault status 0x5
for the same answer: it is compared as ``access_denied``.
"""

from __future__ import annotations

from collections.abc import Iterable

from epmscan.facts.exchange import EXCHANGE_BY_UUID
from epmscan.models import (
    EndpointRecord,
    ExchangeHostReport,
    ExchangeInterface,
    ExchangePortChange,
    HostDiff,
    HostResult,
    HostStatus,
    HttpChange,
    HttpProbeStatus,
    Policy,
    PortMove,
    ResultDiff,
)
from epmscan.protocol.constants import RPC_S_ACCESS_DENIED

EndpointIdentity = tuple[str, str, str, int | None, str | None]


def compared_status(host: HostResult) -> HostStatus:
    """A host's status as the diff compares it (an old ``rpc_fault`` 0x5 is ``access_denied``)."""
    if host.status is HostStatus.RPC_FAULT and host.fault_status == RPC_S_ACCESS_DENIED:
        return HostStatus.ACCESS_DENIED
    return host.status


def endpoint_identity(endpoint: EndpointRecord) -> EndpointIdentity:
    """What makes two saved endpoints the same registration."""
    return (
        endpoint.uuid.lower(),
        endpoint.version,
        endpoint.transport,
        endpoint.port,
        endpoint.endpoint,
    )


def exchange_interface_of(endpoint: EndpointRecord) -> ExchangeInterface | None:
    return EXCHANGE_BY_UUID.get(endpoint.uuid.lower())


def _endpoint_diff(
    old: Iterable[EndpointRecord], new: Iterable[EndpointRecord]
) -> tuple[tuple[EndpointRecord, ...], tuple[EndpointRecord, ...], tuple[PortMove, ...]]:
    old_by_id = {endpoint_identity(e): e for e in old}
    new_by_id = {endpoint_identity(e): e for e in new}
    removed = [e for i, e in old_by_id.items() if i not in new_by_id]
    added = [e for i, e in new_by_id.items() if i not in old_by_id]
    moves: list[PortMove] = []
    for gone in sorted(removed, key=lambda e: (e.uuid, e.version, e.transport, e.port or 0)):
        if gone.port is None:
            continue
        for fresh in sorted(added, key=lambda e: e.port or 0):
            same = (fresh.uuid, fresh.version, fresh.transport) == (
                gone.uuid,
                gone.version,
                gone.transport,
            )
            if same and fresh.port is not None:
                moves.append(
                    PortMove(
                        gone.uuid,
                        gone.version,
                        gone.name or fresh.name,
                        gone.transport,
                        gone.port,
                        fresh.port,
                        exchange_interface_of(gone),
                    )
                )
                removed.remove(gone)
                added.remove(fresh)
                break
    return tuple(added), tuple(removed), tuple(moves)


def _http_diff(old: ExchangeHostReport, new: ExchangeHostReport) -> tuple[HttpChange, ...]:
    before: dict[int, HttpProbeStatus] = {p.port: p.status for p in old.http}
    after: dict[int, HttpProbeStatus] = {p.port: p.status for p in new.http}
    return tuple(
        HttpChange(port, before.get(port), after.get(port))
        for port in sorted(set(before) | set(after))
        if before.get(port) != after.get(port)
    )


def _exchange_port_diff(
    old: ExchangeHostReport, new: ExchangeHostReport
) -> tuple[ExchangePortChange, ...]:
    before = {(p.interface, p.transport): p.port for p in old.ports}
    after = {(p.interface, p.transport): p.port for p in new.ports}
    keys = sorted(set(before) | set(after), key=lambda k: (k[0].value, k[1]))
    return tuple(
        ExchangePortChange(key[0], key[1], before.get(key), after.get(key))
        for key in keys
        if before.get(key) != after.get(key)
    )


def _key(report: ExchangeHostReport) -> tuple[str, str]:
    return (report.host.target, report.host.address)


def diff_results(
    old: Iterable[ExchangeHostReport], new: Iterable[ExchangeHostReport]
) -> ResultDiff:
    """Compare two results host by host."""
    old_by_key = {_key(h): h for h in old}
    new_by_key = {_key(h): h for h in new}
    appeared = tuple(h for k, h in new_by_key.items() if k not in old_by_key)
    disappeared = tuple(h for k, h in old_by_key.items() if k not in new_by_key)
    changed: list[HostDiff] = []
    unchanged = 0
    for key, before in old_by_key.items():
        after = new_by_key.get(key)
        if after is None:
            continue
        added, removed, moved = _endpoint_diff(before.host.endpoints, after.host.endpoints)
        host_diff = HostDiff(
            target=after.host.target,
            address=after.host.address,
            old_status=compared_status(before.host),
            new_status=compared_status(after.host),
            added=added,
            removed=removed,
            moved=moved,
            http_changes=_http_diff(before, after),
            exchange_port_changes=_exchange_port_diff(before, after),
        )
        if host_diff.changed:
            changed.append(host_diff)
        else:
            unchanged += 1
    return ResultDiff(appeared, disappeared, tuple(changed), unchanged)


def diff_exit_code(diff: ResultDiff, policy: Policy | None = None) -> int:
    """1 when something the policy cares about changed, else 0.

    Always cared about: hosts that appeared or disappeared, a changed host status, and
    any Exchange interface endpoint that moved, appeared or vanished. RPC-over-HTTP
    changes count for the ports the host's expectation requires; with no policy, any
    HTTP change counts. Other endpoints (ordinary Windows services on dynamic ports)
    come and go and never fail the diff.
    """
    if diff.appeared or diff.disappeared:
        return 1
    for host in diff.changed:
        exchange_moves = any(m.exchange_interface is not None for m in host.moved)
        exchange_endpoints = any(
            exchange_interface_of(e) is not None for e in host.added + host.removed
        )
        if (
            host.status_changed
            or exchange_moves
            or exchange_endpoints
            or host.exchange_port_changes
        ):
            return 1
        if not host.http_changes:
            continue
        if policy is None:
            return 1
        expectation = policy.expectation_for(host.address, host.target)
        required = set(expectation.require_http) if expectation else set()
        if any(change.port in required for change in host.http_changes):
            return 1
    return 0
