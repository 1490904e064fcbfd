"""Which ports to open so that Outlook clients reach the Exchange servers that were checked.

:func:`plan_rules` decides what to open per server: TCP 135 (endpoint mapper), every
static port the endpoint mapper resolved for an Exchange interface, and the RPC-over-HTTP
ports (6001/6002/6004) that answered with the ncacn_http greeting. A dynamic port is
refused (:class:`~epmscan.errors.UsageError`) unless ``allow_dynamic=True``, which opens
the whole dynamic range instead, with a warning comment: a dynamic port changes when the
service restarts, so a rule for the one port seen today breaks tomorrow. Writing the
plan in a firewall's language is :mod:`epmscan.report.firewall_rules`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from epmscan.checks.classify import DYNAMIC_CLASSES, classify_port, uses_legacy_range
from epmscan.checks.fixes import label
from epmscan.errors import UsageError
from epmscan.models import (
    DynamicRanges,
    ExchangeHostReport,
    HttpProbeStatus,
    PortClass,
    PortRange,
    Role,
)
from epmscan.models.firewall import RulePort, ServerRules
from epmscan.protocol.constants import EPM_PORT


def _dynamic_range(
    report: ExchangeHostReport, classes: set[PortClass], ports: list[int], ranges: DynamicRanges
) -> PortRange:
    """Exchange 2010 setup widens the range, so an Exchange server opens the Exchange range
    unless the host is a plain Windows server and every port sat in the Windows range. Ports
    in the legacy range (a server on Windows before 2008, or Exchange 2007) open that range."""
    if uses_legacy_range(report.role) and all(
        p in ranges.legacy and p not in ranges.windows for p in ports
    ):
        return ranges.legacy
    if report.role is Role.WINDOWS and classes == {PortClass.DYNAMIC_WINDOWS}:
        return ranges.windows
    return ranges.exchange


def plan_rules(
    reports: Iterable[ExchangeHostReport],
    *,
    allow_dynamic: bool = False,
    ranges: DynamicRanges | None = None,
) -> tuple[ServerRules, ...]:
    """The ports to open per server, merged by address, in first-seen order.

    Only ``ncacn_ip_tcp`` registrations count as RPC ports; an RPC-over-HTTP port is
    opened only when its probe got the ncacn_http greeting.
    """
    ranges = ranges or DynamicRanges()
    merged: dict[str, tuple[str, dict[tuple[int, int], RulePort]]] = {}
    for report in reports:
        address = report.host.address
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise UsageError(
                f"{report.host.target}: no IP address to write a rule for ({address!r})"
            ) from None
        name, ports = merged.setdefault(address, (report.host.target, {}))
        ports.setdefault(
            (EPM_PORT, EPM_PORT), RulePort(PortRange(EPM_PORT, EPM_PORT), "endpoint mapper")
        )
        dynamic_classes: set[PortClass] = set()
        dynamic_ports: list[int] = []
        dynamic_names: list[str] = []
        for resolved in report.ports:
            if resolved.port is None or resolved.transport != "ncacn_ip_tcp":
                continue
            port_class = resolved.port_class or classify_port(
                resolved.port, resolved.expected_port, ranges, report.role
            )
            if port_class in DYNAMIC_CLASSES:
                dynamic_classes.add(port_class)
                dynamic_ports.append(resolved.port)
                dynamic_names.append(f"{label(resolved.interface)} on {resolved.port}")
                continue
            key = (resolved.port, resolved.port)
            reason = label(resolved.interface)
            existing = ports.get(key)
            if existing is not None and reason not in existing.reason:
                reason = f"{existing.reason}, {reason}"
            ports[key] = RulePort(PortRange(resolved.port, resolved.port), reason)
        for probe in report.http:
            if probe.status is HttpProbeStatus.NCACN_HTTP:
                key = (probe.port, probe.port)
                if key not in ports:
                    ports[key] = RulePort(
                        PortRange(probe.port, probe.port),
                        f"RPC over HTTP, {label(probe.interface)}",
                    )
        if dynamic_classes:
            span = _dynamic_range(report, dynamic_classes, dynamic_ports, ranges)
            if not allow_dynamic:
                raise UsageError(
                    f"{name} ({address}): {', '.join(dynamic_names)} is a dynamic port; "
                    f"pin it to a static port first, or allow dynamic ports to open the whole "
                    f"range {span}"
                )
            ports[(span.first, span.last)] = RulePort(
                span, f"dynamic RPC range for {', '.join(dynamic_names)}", dynamic=True
            )
    plans: list[ServerRules] = []
    for address, (name, ports) in merged.items():
        spans = [p.ports for p in ports.values() if p.dynamic]
        kept = [
            p
            for p in ports.values()
            if p.dynamic or not any(p.ports.first in s and p.ports.last in s for s in spans)
        ]
        kept.sort(key=lambda p: (p.ports.first, p.ports.last))
        plans.append(ServerRules(address, name, tuple(kept)))
    return tuple(plans)
