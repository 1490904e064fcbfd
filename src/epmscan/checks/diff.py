"""Compare two results: every change of what ``check`` reports, and which ones count.

:func:`diff_results` matches hosts by (target, address). Per host it compares the
endpoint mapper's status, the endpoint set (an endpoint whose (uuid, version,
transport) is still registered but on another port is a *move*), each Exchange
interface's resolved port and the bind result on it, each RPC-over-HTTP probe
(greeting, banner, the bind behind it) and the findings (added, resolved). Endpoints
served but not registered (``--inventory``) are compared only where both results took
an inventory of the host.

Which changes count (the command exits 1) is decided by the expectation the host is
judged against (AFTER's, or the one ``--policy`` gives): a changed status always; a
new finding at error or worse always; for Exchange ports and probes, the interfaces the
expectation cares about (a static port expected, or the ones Outlook uses on its role);
for RPC over HTTP, the required ports. With no expectation at all every Exchange port or
probe change counts. Ordinary Windows endpoints come and go and never count.
A result saved before ``access_denied`` existed says ``rpc_fault`` with fault status 0x5
for the same answer: it is compared as ``access_denied``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

from epmscan.facts.exchange import EXCHANGE_BY_UUID, ROLE_INTERFACES
from epmscan.models import (
    EndpointRecord,
    ExchangeHostReport,
    ExchangeInterface,
    ExchangePortChange,
    Expectation,
    Finding,
    HostDiff,
    HostResult,
    HostStatus,
    HttpChange,
    HttpPortProbe,
    MissingHost,
    PortMove,
    ResolvedPort,
    ResultDiff,
    Severity,
)
from epmscan.protocol.constants import RPC_S_ACCESS_DENIED

EndpointIdentity = tuple[str, str, str, int | None, str | None]
COUNTING_SEVERITY = Severity.ERROR
"""A finding that appears at this severity or worse makes the diff fail."""

InScope = Callable[[ExchangeHostReport], bool | None]
"""Whether a result scanned a host (None: cannot tell)."""


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


def _port_changes(
    old: ExchangeHostReport, new: ExchangeHostReport
) -> tuple[ExchangePortChange, ...]:
    def by_key(
        report: ExchangeHostReport,
    ) -> dict[tuple[ExchangeInterface, str], list[ResolvedPort]]:
        found: dict[tuple[ExchangeInterface, str], list[ResolvedPort]] = {}
        for p in report.ports:
            found.setdefault((p.interface, p.transport), []).append(p)
        return found

    before, after = by_key(old), by_key(new)
    changes = []
    order = list(ExchangeInterface)
    for key in sorted(set(before) | set(after), key=lambda k: (order.index(k[0]), k[1])):
        was = before.get(key, [])
        now = after.get(key, [])
        was_ports = [(p.port, p.probe) for p in was]
        now_ports = [(p.port, p.probe) for p in now]
        if sorted(was_ports, key=str) == sorted(now_ports, key=str):
            continue
        old_port, old_probe = was_ports[0] if was_ports else (None, None)
        new_port, new_probe = now_ports[0] if now_ports else (None, None)
        changes.append(ExchangePortChange(key[0], key[1], old_port, new_port, old_probe, new_probe))
    return tuple(changes)


def _http_view(probe: HttpPortProbe) -> tuple[object, ...]:
    return (probe.status, probe.bind, probe.banner)


def _http_changes(old: ExchangeHostReport, new: ExchangeHostReport) -> tuple[HttpChange, ...]:
    before = {p.port: p for p in old.http}
    after = {p.port: p for p in new.http}
    changes = []
    for port in sorted(set(before) | set(after)):
        was, now = before.get(port), after.get(port)
        if was is not None and now is not None and _http_view(was) == _http_view(now):
            continue
        changes.append(HttpChange(port, was, now))
    return tuple(changes)


def _finding_key(finding: Finding) -> tuple[str, str | None]:
    return (finding.code, finding.found)


def _finding_changes(
    old: ExchangeHostReport, new: ExchangeHostReport
) -> tuple[tuple[Finding, ...], tuple[Finding, ...]]:
    before = {_finding_key(f): f for f in old.findings}
    after = {_finding_key(f): f for f in new.findings}
    added = tuple(f for k, f in after.items() if k not in before)
    resolved = tuple(f for k, f in before.items() if k not in after)
    return added, resolved


def cares_about(expectation: Expectation | None, interface: ExchangeInterface) -> bool:
    """Whether a change of ``interface``'s port or bind counts for this expectation."""
    if expectation is None:
        return True
    if expectation.static_port(interface) is not None:
        return True
    if interface is ExchangeInterface.ASYNC_MAPI:
        interface = ExchangeInterface.MAPI
    return interface in ROLE_INTERFACES.get(expectation.role, frozenset())


def _significant(diff: HostDiff, expectation: Expectation | None) -> tuple[str, ...]:
    reasons = []
    if diff.status_changed:
        reasons.append("status")
    touched = [exchange_interface_of(e) for e in diff.added + diff.removed]
    touched += [m.exchange_interface for m in diff.moved]
    if any(i is not None and cares_about(expectation, i) for i in touched):
        reasons.append("exchange endpoints")
    if any(cares_about(expectation, c.interface) for c in diff.port_changes):
        reasons.append("exchange ports")
    required = set(expectation.require_http) if expectation is not None else None
    if any(required is None or c.port in required for c in diff.http_changes):
        reasons.append("rpc over http")
    if any(f.severity.rank >= COUNTING_SEVERITY.rank for f in diff.findings_added):
        reasons.append("new findings")
    return tuple(reasons)


def _key(report: ExchangeHostReport) -> tuple[str, str]:
    return (report.host.target, report.host.address)


def diff_results(
    old: Iterable[ExchangeHostReport],
    new: Iterable[ExchangeHostReport],
    *,
    judge: Callable[[ExchangeHostReport], Expectation | None] | None = None,
    in_before: InScope | None = None,
    in_after: InScope | None = None,
    after_only_answered: bool = False,
) -> ResultDiff:
    """Compare two results host by host.

    ``judge`` gives the expectation a host is judged against (default: the one AFTER
    recorded for it). ``in_before``/``in_after`` say whether a result scanned a host,
    so that a host missing from a result is told apart: not scanned there, or scanned
    and left out by ``--only-answered`` (``after_only_answered``) because it did not
    answer.
    """
    judge = judge or (lambda report: report.expectation)
    old_by_key = {_key(h): h for h in old}
    new_by_key = {_key(h): h for h in new}
    appeared = []
    for key, report in new_by_key.items():
        if key in old_by_key:
            continue
        scanned = in_before(report) if in_before is not None else None
        if scanned is False:
            appeared.append(MissingHost(report, "out_of_scope", False))
        else:
            appeared.append(MissingHost(report, "new", True))
    disappeared = []
    for key, report in old_by_key.items():
        if key in new_by_key:
            continue
        scanned = in_after(report) if in_after is not None else None
        if scanned is False:
            disappeared.append(MissingHost(report, "out_of_scope", False))
        elif after_only_answered:
            disappeared.append(MissingHost(report, "stopped_answering", report.host.ok))
        else:
            disappeared.append(MissingHost(report, "gone", True))
    changed: list[HostDiff] = []
    unchanged = 0
    warnings: list[str] = []
    inventory_on_one_side = 0
    for key, before in old_by_key.items():
        after = new_by_key.get(key)
        if after is None:
            continue
        old_endpoints, new_endpoints = before.host.endpoints, after.host.endpoints
        if (before.host.inventory is None) != (after.host.inventory is None):
            inventory_on_one_side += 1
            old_endpoints = tuple(e for e in old_endpoints if e.registered)
            new_endpoints = tuple(e for e in new_endpoints if e.registered)
        added, removed, moved = _endpoint_diff(old_endpoints, new_endpoints)
        findings_added, findings_resolved = _finding_changes(before, after)
        expectation = judge(after)
        expectation_changed = (
            before.expectation is not None
            and after.expectation is not None
            and before.expectation != after.expectation
        )
        host_diff = HostDiff(
            target=after.host.target,
            address=after.host.address,
            old_status=compared_status(before.host),
            new_status=compared_status(after.host),
            added=added,
            removed=removed,
            moved=moved,
            port_changes=_port_changes(before, after),
            http_changes=_http_changes(before, after),
            findings_added=findings_added,
            findings_resolved=findings_resolved,
            expectation_changed=expectation_changed,
        )
        if expectation_changed:
            warnings.append(
                f"{after.host.target}: the expectations differ between the two results; "
                "judged with AFTER's"
            )
        if host_diff.changed:
            reasons = _significant(host_diff, expectation)
            changed.append(_with_reasons(host_diff, reasons))
        else:
            unchanged += 1
    if inventory_on_one_side:
        warnings.append(
            f"only one of the results took an inventory (--inventory) of"
            f" {inventory_on_one_side} of the hosts compared: endpoints served but not"
            " registered are compared only where both did"
        )
    return ResultDiff(
        tuple(appeared), tuple(disappeared), tuple(changed), unchanged, tuple(warnings)
    )


def _with_reasons(diff: HostDiff, reasons: tuple[str, ...]) -> HostDiff:
    return replace(diff, significant=reasons)
