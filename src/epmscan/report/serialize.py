"""Models to plain JSON-able dicts and back.

One shape for every output: ``dump --json``, each ``--jsonl`` line, the ``--json``
document and ``--save`` files all use :func:`host_to_dict`. Loading a saved file goes
through :func:`host_from_dict`, so a result survives the round trip unchanged. ``check``
adds an ``exchange`` member to the host object, ``scan --findings`` a ``security`` member
(:func:`security_to_dict`); with orjson both are encoded straight from the dataclasses.
"""

from __future__ import annotations

import json
from dataclasses import fields
from enum import Enum
from typing import Any

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is installed where it has wheels
    orjson = None  # type: ignore[assignment]

from epmscan.models import (
    Confidence,
    DynamicRanges,
    EndpointRecord,
    ExchangeHostReport,
    ExchangeInterface,
    Expectation,
    ExposureFinding,
    Finding,
    HostResult,
    HostRole,
    HostStatus,
    HttpPortProbe,
    HttpProbeStatus,
    IcmpError,
    InferredRole,
    InventoryMethod,
    PortClass,
    PortInventory,
    PortProbeStatus,
    PortRange,
    Reachability,
    ResolvedPort,
    Role,
    RunInfo,
    RunSummary,
    SecurityHostReport,
    ServedInterface,
    Severity,
)

SCHEMA_VERSION = 2
"""The shape of saved documents. It goes up when a field is removed, renamed or changes
meaning; new fields do not change it. Readers accept every schema up to their own
(docs/json.md lists the changes): 2 adds per-host ``expectation``, the scanned targets
and ``only_answered`` in the header, times in UTC with milliseconds."""


def _plain(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        out[f.name] = value.value if isinstance(value, Enum) else value
    return out


def endpoint_to_dict(e: EndpointRecord) -> dict[str, Any]:
    """One endpoint (a literal, not ``dataclasses.fields``: this runs per endpoint)."""
    return {
        "uuid": e.uuid,
        "version": e.version,
        "name": e.name,
        "annotation": e.annotation,
        "transport": e.transport,
        "address": e.address,
        "port": e.port,
        "endpoint": e.endpoint,
        "binding": e.binding,
        "object_uuid": e.object_uuid,
        "provider": e.provider,
        "tower_error": e.tower_error,
        "tower_hex": e.tower_hex,
        "registered": e.registered,
    }


def host_to_dict(host: HostResult) -> dict[str, Any]:
    """The JSON object of one host (the ``dump --json`` shape)."""
    return _host_fields(
        host, [endpoint_to_dict(e) for e in host.endpoints], _inventory(host.inventory)
    )


def port_inventory_to_dict(port: PortInventory) -> dict[str, Any]:
    """One port of a host's inventory (the key order of the dataclass, as orjson writes it)."""
    return {
        "port": port.port,
        "status": port.status.value,
        "method": port.method.value if port.method is not None else None,
        "interfaces": [
            {"uuid": i.uuid, "version": i.version, "registered": i.registered}
            for i in port.interfaces
        ],
        "error": port.error,
        "mgmt_error": port.mgmt_error,
        "candidates": port.candidates,
    }


def _inventory(ports: tuple[PortInventory, ...] | None) -> list[dict[str, Any]] | None:
    return None if ports is None else [port_inventory_to_dict(p) for p in ports]


def _inventory_from(data: list[dict[str, Any]] | None) -> tuple[PortInventory, ...] | None:
    if data is None:
        return None
    return tuple(
        PortInventory(
            port=int(p["port"]),
            status=HostStatus(p["status"]),
            method=InventoryMethod(p["method"]) if p.get("method") else None,
            interfaces=tuple(
                ServedInterface(str(i["uuid"]), str(i["version"]), bool(i["registered"]))
                for i in p.get("interfaces", ())
            ),
            error=p.get("error"),
            mgmt_error=p.get("mgmt_error"),
            candidates=int(p.get("candidates", 0)),
        )
        for p in data
    )


def exchange_to_dict(report: ExchangeHostReport) -> dict[str, Any]:
    """A host object with an ``exchange`` member: resolved ports, HTTP ports, findings."""
    out = host_to_dict(report.host)
    out["exchange"] = {
        "role": report.role.value if report.role else None,
        "group": report.group,
        "ports": [_plain(p) for p in report.ports],
        "http": [_plain(h) for h in report.http],
        "findings": [_plain(f) for f in report.findings],
        "expectation": expectation_to_dict(report.expectation),
    }
    return out


def expectation_to_dict(expectation: Expectation | None) -> dict[str, Any] | None:
    """What a host was judged against, as saved: every field, in a stable order."""
    if expectation is None:
        return None
    ranges = expectation.ranges
    return {
        "group": expectation.group,
        "role": expectation.role.value if expectation.role else None,
        "static_ports": {iface.value: port for iface, port in expectation.static_ports},
        "require_http": list(expectation.require_http),
        "allow_dynamic": expectation.allow_dynamic,
        "ranges": {
            "windows": [ranges.windows.first, ranges.windows.last],
            "exchange": [ranges.exchange.first, ranges.exchange.last],
            "legacy": [ranges.legacy.first, ranges.legacy.last],
        },
        "severity_overrides": [[code, sev.value] for code, sev in expectation.severity_overrides],
    }


def expectation_from_dict(data: dict[str, Any] | None) -> Expectation | None:
    """The inverse of :func:`expectation_to_dict` (missing parts take their defaults)."""
    if not data:
        return None
    defaults = DynamicRanges()
    saved = data.get("ranges") or {}

    def span(key: str, default: PortRange) -> PortRange:
        value = saved.get(key)
        return PortRange(int(value[0]), int(value[1])) if value else default

    return Expectation(
        group=data.get("group"),
        role=Role(data["role"]) if data.get("role") else None,
        static_ports=tuple(
            (ExchangeInterface(name), int(port))
            for name, port in (data.get("static_ports") or {}).items()
        ),
        require_http=tuple(int(p) for p in data.get("require_http") or ()),
        allow_dynamic=bool(data.get("allow_dynamic", True)),
        ranges=DynamicRanges(
            span("windows", defaults.windows),
            span("exchange", defaults.exchange),
            span("legacy", defaults.legacy),
        ),
        severity_overrides=tuple(
            (str(code), Severity(sev)) for code, sev in data.get("severity_overrides") or ()
        ),
    )


def reachability_to_dict(reach: Reachability) -> dict[str, Any]:
    """One transport an interface is reachable on."""
    return {
        "transport": reach.transport,
        "binding": reach.binding,
        "port": reach.port,
        "endpoint": reach.endpoint,
        "registered": reach.registered,
        "verify": reach.verify.value if reach.verify is not None else None,
        "verify_detail": reach.verify_detail,
    }


def exposure_to_dict(finding: ExposureFinding) -> dict[str, Any]:
    """One security finding, with the transports it rests on."""
    return {
        "severity": finding.severity.value,
        "host": finding.host,
        "code": finding.code,
        "message": finding.message,
        "why": finding.why,
        "interface": finding.interface,
        "document": finding.document,
        "uuid": finding.uuid,
        "version": finding.version,
        "reachable": [reachability_to_dict(r) for r in finding.reachable],
        "source": finding.source,
    }


def role_to_dict(role: InferredRole) -> dict[str, Any]:
    return {
        "role": role.role.value,
        "confidence": role.confidence.value,
        "evidence": list(role.evidence),
    }


def _security_member(report: SecurityHostReport, catalogue_version: int) -> dict[str, Any]:
    return {
        "catalogue": catalogue_version,
        "verified": report.verified,
        "worst": report.worst.value if report.worst is not None else None,
        "roles": [role_to_dict(r) for r in report.roles],
        "findings": [exposure_to_dict(f) for f in report.findings],
    }


def security_to_dict(report: SecurityHostReport, catalogue_version: int = 1) -> dict[str, Any]:
    """A host object with a ``security`` member: inferred roles and findings."""
    out = host_to_dict(report.host)
    out["security"] = _security_member(report, catalogue_version)
    return out


def security_to_json(report: SecurityHostReport, catalogue_version: int = 1) -> str:
    """:func:`security_to_dict` as one line of compact JSON."""
    if orjson is not None:
        data = _host_fields(report.host, report.host.endpoints, report.host.inventory)
        data["security"] = {
            "catalogue": catalogue_version,
            "verified": report.verified,
            "worst": report.worst,
            "roles": report.roles,
            "findings": report.findings,
        }
        return orjson.dumps(data).decode()
    return _stdlib_encode(security_to_dict(report, catalogue_version))


def security_from_dict(data: dict[str, Any]) -> SecurityHostReport:
    """Rebuild a :class:`SecurityHostReport`; a host object without ``security`` has none."""
    return security_member_from_dict(data.get("security") or {}, host_from_dict(data))


def security_member_from_dict(sec: dict[str, Any], host: HostResult) -> SecurityHostReport:
    """The ``security`` member of a host object, around ``host`` (already rebuilt)."""
    roles = tuple(
        InferredRole(HostRole(r["role"]), Confidence(r["confidence"]), tuple(r.get("evidence", ())))
        for r in sec.get("roles", ())
    )
    findings = tuple(
        ExposureFinding(
            severity=Severity(f["severity"]),
            host=f["host"],
            code=f["code"],
            message=f["message"],
            why=f.get("why"),
            interface=f.get("interface"),
            document=f.get("document"),
            uuid=f.get("uuid"),
            version=f.get("version"),
            reachable=tuple(
                Reachability(
                    transport=r["transport"],
                    binding=r["binding"],
                    port=r.get("port"),
                    endpoint=r.get("endpoint"),
                    registered=bool(r.get("registered", True)),
                    verify=PortProbeStatus(r["verify"]) if r.get("verify") else None,
                    verify_detail=r.get("verify_detail"),
                )
                for r in f.get("reachable", ())
            ),
            source=f.get("source"),
        )
        for f in sec.get("findings", ())
    )
    return SecurityHostReport(host, roles, findings, verified=bool(sec.get("verified", False)))


def _host_fields(host: HostResult, endpoints: object, inventory: object) -> dict[str, Any]:
    return {
        "target": host.target,
        "address": host.address,
        "port": host.port,
        "status": host.status.value,
        "error": host.error,
        "elapsed": round(host.elapsed, 6),
        "lookup_pages": host.lookup_pages,
        "lookup_status": _hex(host.lookup_status),
        "fault_status": _hex(host.fault_status),
        "icmp": _icmp(host.icmp),
        "endpoints": endpoints,
        "inventory": inventory,
    }


def _icmp(icmp: IcmpError | None) -> dict[str, Any] | None:
    if icmp is None:
        return None
    return {
        "type": icmp.type,
        "code": icmp.code,
        "sender": icmp.sender,
        "protocol": icmp.protocol,
        "description": icmp.description,
    }


def _icmp_from(data: dict[str, Any] | None) -> IcmpError | None:
    if not data:
        return None
    return IcmpError(
        type=int(data["type"]),
        code=int(data["code"]),
        sender=str(data.get("sender", "")),
        protocol=str(data.get("protocol", "icmp")),
    )


_stdlib_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def host_to_json(host: HostResult) -> str:
    """:func:`host_to_dict` as one line of compact JSON, the fast way.

    With orjson the records are encoded straight from the dataclasses (no dict per
    endpoint); without it, through the dicts. Both give the same JSON.
    """
    if orjson is not None:
        return orjson.dumps(_host_fields(host, host.endpoints, host.inventory)).decode()
    return _stdlib_encode(host_to_dict(host))


def exchange_to_json(report: ExchangeHostReport) -> str:
    """:func:`exchange_to_dict` as one line of compact JSON."""
    if orjson is not None:
        data = _host_fields(report.host, report.host.endpoints, report.host.inventory)
        data["exchange"] = {
            "role": report.role.value if report.role else None,
            "group": report.group,
            "ports": report.ports,
            "http": report.http,
            "findings": report.findings,
            "expectation": expectation_to_dict(report.expectation),
        }
        return orjson.dumps(data).decode()
    return _stdlib_encode(exchange_to_dict(report))


def info_to_dict(info: RunInfo) -> dict[str, Any]:
    """The header of a saved document (``"epmscan": {...}``), schema number first."""
    data: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "command": info.command,
        "targets": list(info.targets),
        "input_files": list(info.input_files),
        "exclude": list(info.exclude),
        "exclude_files": list(info.exclude_files),
        "only_answered": info.only_answered,
        "port": info.port,
        "mode": info.mode,
        "seed": info.seed,
        "shard": info.shard,
        "started": info.started,
    }
    if info.command == "check":
        data["policy"] = info.policy
    return data


def info_from_dict(data: dict[str, Any]) -> RunInfo:
    """A saved header back (schema 1 headers have no targets' details: empty)."""
    return RunInfo(
        command=str(data.get("command", "")),
        targets=tuple(str(t) for t in data.get("targets") or ()),
        port=int(data.get("port", 135)),
        mode=str(data.get("mode", "dump")),
        seed=int(data.get("seed", 0)),
        shard=str(data.get("shard", "1/1")),
        started=str(data.get("started", "")),
        policy=data.get("policy"),
        input_files=tuple(str(t) for t in data.get("input_files") or ()),
        exclude=tuple(str(t) for t in data.get("exclude") or ()),
        exclude_files=tuple(str(t) for t in data.get("exclude_files") or ()),
        only_answered=bool(data.get("only_answered", False)),
        schema=int(data.get("schema", 1)),
    )


def summary_to_dict(summary: RunSummary) -> dict[str, Any]:
    """The closing ``summary`` object of a run."""
    return {
        "targets": summary.targets,
        "done": summary.done,
        "interrupted": summary.interrupted,
        "signal": summary.signal,
        "elapsed": round(summary.elapsed, 3),
        "hosts_per_second": round(summary.hosts_per_second, 1),
        "statuses": {status.value: count for status, count in summary.statuses},
        "port": summary.port,
        "mode": summary.mode,
        "local_errors": summary.local_errors,
        "seed": summary.seed,
        "shard": summary.shard,
    }


def summary_from_dict(data: dict[str, Any]) -> RunSummary:
    """The inverse of :func:`summary_to_dict` (statuses it does not name count 0)."""
    saved = data.get("statuses") or {}
    return RunSummary(
        targets=int(data.get("targets", 0)),
        done=int(data.get("done", 0)),
        interrupted=bool(data.get("interrupted", False)),
        signal=data.get("signal"),
        elapsed=float(data.get("elapsed", 0.0)),
        statuses=tuple((status, int(saved.get(status.value, 0))) for status in HostStatus),
        port=int(data.get("port", 135)),
        mode=str(data.get("mode", "dump")),
        local_errors=int(data.get("local_errors", 0)),
    )


def _hex(value: int | None) -> str | None:
    return None if value is None else f"0x{value:08x}"


def _unhex(value: str | int | None) -> int | None:
    if value is None:
        return None
    return value if isinstance(value, int) else int(value, 16)


_ENDPOINT_DEFAULTS = {f.name: f.default for f in fields(EndpointRecord)}


def endpoint_from_dict(e: dict[str, Any]) -> EndpointRecord:
    """The inverse of :func:`endpoint_to_dict` (the optional fields may be missing)."""
    get = e.get
    return EndpointRecord(
        e["uuid"],
        e["version"],
        e["name"],
        e["annotation"],
        e["transport"],
        e["address"],
        e["port"],
        e["endpoint"],
        e["binding"],
        get("object_uuid", _ENDPOINT_DEFAULTS["object_uuid"]),
        get("provider"),
        get("tower_error"),
        get("tower_hex"),
        get("registered", True),
    )


def host_from_dict(data: dict[str, Any]) -> HostResult:
    """Rebuild a :class:`HostResult` from :func:`host_to_dict`'s shape."""
    return HostResult(
        target=data["target"],
        address=data.get("address", data["target"]),
        port=int(data["port"]),
        status=HostStatus(data["status"]),
        error=data.get("error"),
        endpoints=tuple(map(endpoint_from_dict, data.get("endpoints", ()))),
        elapsed=float(data.get("elapsed", 0.0)),
        lookup_pages=int(data.get("lookup_pages", 0)),
        lookup_status=_unhex(data.get("lookup_status")),
        fault_status=_unhex(data.get("fault_status")),
        icmp=_icmp_from(data.get("icmp")),
        inventory=_inventory_from(data.get("inventory")),
    )


def exchange_from_dict(data: dict[str, Any]) -> ExchangeHostReport:
    """Rebuild an :class:`ExchangeHostReport`; a plain host object gives empty Exchange parts."""
    host = host_from_dict(data)
    ex = data.get("exchange") or {}
    ports = tuple(
        ResolvedPort(
            interface=ExchangeInterface(p["interface"]),
            transport=p["transport"],
            port=p.get("port"),
            source=p.get("source", "lookup"),
            probe=PortProbeStatus(p.get("probe", "not_probed")),
            probe_detail=p.get("probe_detail"),
            port_class=PortClass(p["port_class"]) if p.get("port_class") else None,
            expected_port=p.get("expected_port"),
        )
        for p in ex.get("ports", ())
    )
    http = tuple(
        HttpPortProbe(
            port=int(h["port"]),
            interface=ExchangeInterface(h["interface"]),
            status=HttpProbeStatus(h["status"]),
            banner=h.get("banner"),
            bind=PortProbeStatus(h.get("bind", "not_probed")),
            detail=h.get("detail"),
        )
        for h in ex.get("http", ())
    )
    findings = tuple(
        Finding(
            severity=Severity(f["severity"]),
            host=f["host"],
            code=f["code"],
            message=f["message"],
            interface=ExchangeInterface(f["interface"]) if f.get("interface") else None,
            expected=f.get("expected"),
            found=f.get("found"),
            fix=f.get("fix"),
        )
        for f in ex.get("findings", ())
    )
    return ExchangeHostReport(
        host=host,
        role=Role(ex["role"]) if ex.get("role") else None,
        group=ex.get("group"),
        ports=ports,
        http=http,
        findings=findings,
        expectation=expectation_from_dict(ex.get("expectation")),
    )
