"""The security view of one host: which roles it plays, which risky interfaces it exposes.

Pure functions over a :class:`~epmscan.models.HostResult` and the interface catalogue
(:mod:`epmscan.facts.security`):

- :func:`infer_roles`: each role rule of the catalogue gives a ``high`` guess when one of
  its ``high`` interfaces is served, a ``low`` one for its ``low`` interfaces alone.
  A low guess whose every interface is also evidence of a role guessed high is dropped
  (MAPI on a Mailbox server whose store is identified does not make it a Client Access
  server). ``member`` is guessed when no other role is ``high``: ``high`` itself when no
  other guess was made at all, ``low`` beside low guesses.
- :func:`exposure_findings`: ``epm.anonymous`` when the endpoint map was read (no
  credentials are ever sent), and one finding per catalogued interface reachable from
  another host, listing every transport it is on (TCP port, named pipe, RPC over HTTP,
  UDP), each ``registered`` or not: an endpoint from the endpoint mapper is registered;
  an endpoint found otherwise (an inventory) carries ``registered = False`` on its
  record and is reported the same way. Interfaces on local RPC only are not findings.
- With a verification (``--verify``: the bind result of each advertised TCP port), each
  TCP transport carries its proof; an interface whose every TCP port refused the bind
  and that has no other remote transport is reported at ``info``: advertised, not
  reachable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from epmscan.facts.security import CATALOGUE
from epmscan.models import (
    Confidence,
    EndpointRecord,
    ExposureFinding,
    HostResult,
    HostRole,
    InferredRole,
    InterfaceCatalogue,
    InterfaceId,
    PortProbeStatus,
    Reachability,
    SecurityHostReport,
    SecurityInterface,
    Severity,
)

Verification = Mapping[tuple[int, str], tuple[PortProbeStatus, str | None]]
"""The bind proof of each advertised TCP port: ``(port, uuid) -> (status, detail)``."""

ANONYMOUS_CODE = "epm.anonymous"
TRANSPORT_LABELS = {
    "ncacn_ip_tcp": "TCP",
    "ncacn_http": "HTTP",
    "ncacn_np": "pipe",
    "ncadg_ip_udp": "UDP",
}


def is_registered(record: EndpointRecord) -> bool:
    """Whether the endpoint mapper listed the endpoint (records found otherwise say no)."""
    return bool(getattr(record, "registered", True))


def catalogued(
    endpoints: Iterable[EndpointRecord], catalogue: InterfaceCatalogue = CATALOGUE
) -> dict[str, list[EndpointRecord]]:
    """The endpoints of each catalogued interface, by catalogue id, in catalogue order."""
    found: dict[str, list[EndpointRecord]] = {}
    for record in endpoints:
        entry = catalogue.by_uuid(record.uuid)
        if entry is not None:
            found.setdefault(entry.id, []).append(record)
    order = {entry.id: i for i, entry in enumerate(catalogue.interfaces)}
    return dict(sorted(found.items(), key=lambda item: order[item[0]]))


def infer_roles(
    endpoints: Iterable[EndpointRecord], catalogue: InterfaceCatalogue = CATALOGUE
) -> tuple[InferredRole, ...]:
    """What the host appears to be, from the interfaces it serves (several guesses may hold).

    Interfaces the inventory found unregistered count like registered ones: a port that
    serves drsuapi is a domain controller's whoever lists it.
    """
    records = list(endpoints)
    if not records:
        return ()
    present = set(catalogued(records, catalogue))
    high: list[InferredRole] = []
    low: list[InferredRole] = []
    for rule in catalogue.roles:
        if rule.role is HostRole.MEMBER:
            continue
        strong = [i for i in rule.high if i in present]
        weak = [i for i in rule.low if i in present]
        if strong:
            high.append(InferredRole(rule.role, Confidence.HIGH, tuple(strong + weak)))
        elif weak:
            low.append(InferredRole(rule.role, Confidence.LOW, tuple(weak)))
    explained: set[str] = set()
    for guess in high:
        found = catalogue.rule(guess.role)
        if found is not None:
            explained.update(found.high + found.low)
    low = [guess for guess in low if not set(guess.evidence) <= explained]
    guesses = high + low
    if not high:
        confidence = Confidence.LOW if low else Confidence.HIGH
        guesses.append(InferredRole(HostRole.MEMBER, confidence))
    order = list(HostRole)
    return tuple(sorted(guesses, key=lambda g: order.index(g.role)))


def is_domain_controller(roles: Iterable[InferredRole]) -> bool:
    """A domain controller guessed with high confidence."""
    return any(
        r.role is HostRole.DOMAIN_CONTROLLER and r.confidence is Confidence.HIGH for r in roles
    )


def _interface_of(record: EndpointRecord) -> InterfaceId | None:
    major, _, minor = record.version.partition(".")
    if not (major.isdigit() and minor.isdigit()):
        return None
    return InterfaceId(record.uuid, int(major), int(minor))


def ports_to_verify(
    host: HostResult, catalogue: InterfaceCatalogue = CATALOGUE
) -> tuple[tuple[int, InterfaceId], ...]:
    """Each advertised TCP port of a catalogued interface, once, with the interface to bind."""
    seen: dict[tuple[int, str], InterfaceId] = {}
    for records in catalogued(host.endpoints, catalogue).values():
        for record in records:
            if record.transport != "ncacn_ip_tcp" or record.port is None:
                continue
            interface = _interface_of(record)
            if interface is not None:
                seen.setdefault((record.port, record.uuid), interface)
    return tuple((port, interface) for (port, _), interface in seen.items())


def _reachability(
    records: Sequence[EndpointRecord], verification: Verification | None
) -> tuple[Reachability, ...]:
    result: dict[tuple[str, int | None, str | None, bool], Reachability] = {}
    for record in records:
        if record.transport == "unknown" or not record.binding:
            continue
        key = (record.transport, record.port, record.endpoint, is_registered(record))
        if key in result:
            continue
        status: PortProbeStatus | None = None
        detail: str | None = None
        if (
            verification is not None
            and record.transport == "ncacn_ip_tcp"
            and record.port is not None
        ):
            status, detail = verification.get(
                (record.port, record.uuid), (PortProbeStatus.NOT_PROBED, None)
            )
        result[key] = Reachability(
            transport=record.transport,
            binding=record.binding,
            port=record.port,
            endpoint=record.endpoint,
            registered=key[3],
            verify=status,
            verify_detail=detail,
        )
    return tuple(result.values())


def _where(reach: Reachability) -> str:
    label = TRANSPORT_LABELS.get(reach.transport, reach.transport)
    place = reach.endpoint if reach.transport == "ncacn_np" else reach.port
    text = f"{label} {place}" if place is not None else label
    if not reach.registered:
        text += " (not registered)"
    if reach.verify is not None and reach.verify is not PortProbeStatus.NOT_PROBED:
        text += f" ({reach.verify.value})"
    return text


def _unreachable_when_verified(reachable: Sequence[Reachability]) -> bool:
    tcp = [r for r in reachable if r.transport == "ncacn_ip_tcp"]
    others = [r for r in reachable if r.transport != "ncacn_ip_tcp"]
    verified = [r for r in tcp if r.verify not in (None, PortProbeStatus.NOT_PROBED)]
    return (
        bool(tcp)
        and not others
        and len(verified) == len(tcp)
        and all(r.verify is not PortProbeStatus.BOUND for r in tcp)
    )


def _finding(
    host: str,
    entry: SecurityInterface,
    reachable: tuple[Reachability, ...],
    on_dc: bool,
) -> ExposureFinding:
    severity = entry.severity_on_dc if on_dc and entry.severity_on_dc else entry.severity
    places = ", ".join(_where(r) for r in reachable)
    named = entry.name if entry.document.lower() == "none" else f"{entry.name} [{entry.document}]"
    message = f"{named} reachable on {places}"
    if on_dc and entry.severity_on_dc:
        message += " (a domain controller)"
    if _unreachable_when_verified(reachable):
        severity = Severity.INFO
        message = f"{named} advertised on {places}, but no port accepted a bind"
    return ExposureFinding(
        severity=severity,
        host=host,
        code=entry.code,
        message=message,
        why=entry.why,
        interface=entry.id,
        document=entry.document,
        uuid=entry.interface.uuid,
        version=entry.interface.version,
        reachable=reachable,
        source=entry.source,
    )


def exposure_findings(
    host: HostResult,
    roles: Iterable[InferredRole] = (),
    *,
    verification: Verification | None = None,
    catalogue: InterfaceCatalogue = CATALOGUE,
) -> tuple[ExposureFinding, ...]:
    """Anonymous endpoint-mapper access, then each catalogued interface reachable remotely."""
    if not host.ok:
        return ()
    name = host.address or host.target
    interfaces = len({(e.uuid, e.version) for e in host.endpoints})
    findings = [
        ExposureFinding(
            severity=Severity.INFO,
            host=name,
            code=ANONYMOUS_CODE,
            message=(
                f"the endpoint mapper listed {len(host.endpoints)} endpoints of {interfaces} "
                "interfaces to a caller without credentials"
            ),
            why=(
                "Anyone who reaches port 135 learns every registered service, its ports "
                "and pipes: the map of what to attack next."
            ),
        )
    ]
    on_dc = is_domain_controller(roles)
    for entry_id, records in catalogued(host.endpoints, catalogue).items():
        reachable = tuple(r for r in _reachability(records, verification) if r.remote)
        if reachable:
            findings.append(_finding(name, catalogue.by_id(entry_id), reachable, on_dc))
    return tuple(findings)


def build_security_report(
    host: HostResult,
    *,
    verification: Verification | None = None,
    catalogue: InterfaceCatalogue = CATALOGUE,
) -> SecurityHostReport:
    """Roles and findings of one host (``verification``: the ``--verify`` bind results)."""
    roles = infer_roles(host.endpoints, catalogue) if host.ok else ()
    findings = exposure_findings(host, roles, verification=verification, catalogue=catalogue)
    return SecurityHostReport(host, roles, findings, verified=verification is not None)


def reaches(findings: Iterable[ExposureFinding], threshold: Severity | None) -> bool:
    """A finding at ``threshold`` or worse (never, when the threshold is None)."""
    if threshold is None:
        return False
    return any(f.severity.rank >= threshold.rank for f in findings)
