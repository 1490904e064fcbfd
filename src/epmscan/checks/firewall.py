"""Which ports to open so that Outlook clients reach the Exchange servers that were checked.

:func:`plan_rules` decides what to open per server: TCP 135 (endpoint mapper), every
static port the endpoint mapper resolved for an Exchange interface, and the RPC-over-HTTP
ports (6001/6002/6004) that answered with the ncacn_http greeting, for the interfaces the
server's role serves Outlook. A server with a port in a dynamic range that no expectation
says is pinned is left out, with why (the plan lists every server left out), unless
``allow_dynamic=True``, which opens the whole dynamic range instead, with a warning
comment: a dynamic port changes when the service restarts, so a rule for the one port
seen today breaks tomorrow. Writing the
plan in a firewall's language is :mod:`epmscan.report.firewall_rules`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from epmscan.checks.classify import DYNAMIC_CLASSES, classify_port, uses_legacy_range
from epmscan.checks.fixes import label
from epmscan.errors import UsageError
from epmscan.facts.exchange import (
    OUTLOOK_INTERFACES,
    ROLE_HTTP_PORTS,
    ROLE_INTERFACES,
    RPC_HTTP_PORTS,
)
from epmscan.models import (
    DynamicRanges,
    ExchangeHostReport,
    ExchangeInterface,
    HostStatus,
    HttpProbeStatus,
    PortClass,
    PortRange,
    Role,
)
from epmscan.models.firewall import FirewallPlan, LeftOut, RulePort, ServerRules
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


def _needed_interfaces(report: ExchangeHostReport) -> frozenset[ExchangeInterface]:
    """The interfaces a server's role needs open for Outlook (plus any pinned one)."""
    expectation = report.expectation
    role = expectation.role if expectation is not None else report.role
    needed = set(ROLE_INTERFACES.get(role, OUTLOOK_INTERFACES))
    if ExchangeInterface.MAPI in needed:
        needed.add(ExchangeInterface.ASYNC_MAPI)
    if expectation is not None:
        needed.update(iface for iface, _ in expectation.static_ports)
    return frozenset(needed)


def _needed_http(report: ExchangeHostReport) -> frozenset[int]:
    expectation = report.expectation
    role = expectation.role if expectation is not None else report.role
    needed = set(ROLE_HTTP_PORTS.get(role, frozenset(RPC_HTTP_PORTS)))
    if expectation is not None:
        needed.update(expectation.require_http)
    return frozenset(needed)


def plan_rules(
    reports: Iterable[ExchangeHostReport],
    *,
    allow_dynamic: bool = False,
    ranges: DynamicRanges | None = None,
) -> FirewallPlan:
    """The ports to open per server, merged by address, in first-seen order; the servers
    left out, each with why.

    Only ``ncacn_ip_tcp`` registrations count as RPC ports, and only for the interfaces
    the server's role serves to Outlook; an RPC-over-HTTP port is opened only when its
    probe got the ncacn_http greeting and the role needs it. A port in a dynamic range
    is opened only when the expectation says it is the pinned one; otherwise the server
    is left out (pin it, say it is pinned with ``--expect``/``--policy``), or, with
    ``allow_dynamic``, the whole range is opened instead with a warning.
    """
    ranges = ranges or DynamicRanges()
    merged: dict[str, tuple[str, dict[tuple[int, int], RulePort]]] = {}
    left_out: list[LeftOut] = []
    for report in reports:
        host = report.host
        address, name = host.address, host.target
        if host.status is not HostStatus.OK:
            left_out.append(
                LeftOut(address, name, f"the endpoint mapper did not answer ({host.status.value})")
            )
            continue
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise UsageError(f"{name}: no IP address to write a rule for ({address!r})") from None
        rules, problem = _server_ports(report, allow_dynamic, ranges)
        if problem is not None:
            left_out.append(problem)
            continue
        if rules is None:
            left_out.append(LeftOut(address, name, _nothing_needed(report)))
            continue
        _, ports = merged.setdefault(address, (name, {}))
        for key, rule in rules.items():
            existing = ports.get(key)
            if existing is not None and rule.reason not in existing.reason:
                rule = RulePort(
                    rule.ports, f"{existing.reason}, {rule.reason}", rule.dynamic, rule.proxy_only
                )
            ports[key] = rule
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
    return FirewallPlan(tuple(plans), tuple(left_out))


def _nothing_needed(report: ExchangeHostReport) -> str:
    role = report.expectation.role if report.expectation is not None else report.role
    if role in (Role.WINDOWS, Role.MAILBOX):
        return f"its role ({role.value}) serves Outlook no RPC port"
    return "no Exchange interface is registered with its endpoint mapper"


def _server_ports(
    report: ExchangeHostReport, allow_dynamic: bool, ranges: DynamicRanges
) -> tuple[dict[tuple[int, int], RulePort] | None, LeftOut | None]:
    """The rules of one answering server, or why it is left out (None, None: nothing)."""
    host = report.host
    needed = _needed_interfaces(report)
    ports: dict[tuple[int, int], RulePort] = {}
    dynamic_classes: set[PortClass] = set()
    dynamic_ports: list[int] = []
    dynamic_names: list[str] = []
    unverified = False
    for resolved in report.ports:
        if resolved.port is None or resolved.transport != "ncacn_ip_tcp":
            continue
        if resolved.interface not in needed:
            continue
        port_class = resolved.port_class or classify_port(
            resolved.port, resolved.expected_port, ranges, report.role
        )
        if port_class in DYNAMIC_CLASSES:
            dynamic_classes.add(port_class)
            dynamic_ports.append(resolved.port)
            dynamic_names.append(f"{label(resolved.interface)} on {resolved.port}")
            unverified = unverified or resolved.expected_port is None
            continue
        key = (resolved.port, resolved.port)
        reason = label(resolved.interface)
        existing = ports.get(key)
        if existing is not None and reason not in existing.reason:
            reason = f"{existing.reason}, {reason}"
        ports[key] = RulePort(PortRange(resolved.port, resolved.port), reason)
    http_needed = _needed_http(report)
    for probe in report.http:
        if probe.status is HttpProbeStatus.NCACN_HTTP and probe.port in http_needed:
            key = (probe.port, probe.port)
            if key not in ports:
                ports[key] = RulePort(
                    PortRange(probe.port, probe.port),
                    f"RPC over HTTP, {label(probe.interface)}",
                    proxy_only=True,
                )
    if dynamic_classes:
        span = _dynamic_range(report, dynamic_classes, dynamic_ports, ranges)
        if not allow_dynamic:
            where = ", ".join(dynamic_names)
            if unverified:
                reason = (
                    f"{where}: in the dynamic range {span}, not verified as pinned; give the "
                    "pinned ports (--expect or --policy, here or to check --save), or "
                    "--allow-dynamic to open the whole range"
                )
            else:
                reason = (
                    f"{where}: a dynamic port, not the expected static one; pin it first, or "
                    f"--allow-dynamic to open the whole range {span}"
                )
            return None, LeftOut(host.address, host.target, reason, blocking=True)
        ports[(span.first, span.last)] = RulePort(
            span, f"dynamic RPC range for {', '.join(dynamic_names)}", dynamic=True
        )
    if not ports:
        return None, None
    ports.setdefault(
        (EPM_PORT, EPM_PORT), RulePort(PortRange(EPM_PORT, EPM_PORT), "endpoint mapper")
    )
    return ports, None
