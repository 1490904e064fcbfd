"""Firewall rules that let Outlook clients reach the Exchange servers that were checked.

:func:`plan_rules` decides what to open per server: TCP 135 (endpoint mapper), every
static port the endpoint mapper resolved for an Exchange interface, and the RPC-over-HTTP
ports (6001/6002/6004) that answered with the ncacn_http greeting. A dynamic port is
refused (:class:`~epmscan.errors.UsageError`) unless ``allow_dynamic=True``, which opens
the whole dynamic range instead, with a warning comment: a dynamic port changes when the
service restarts, so a rule for the one port seen today breaks tomorrow.

:func:`render_firewall` writes the plan as ``netsh`` commands, PowerShell
``New-NetFirewallRule`` calls, an ``nft -f`` file, an ``iptables-restore --noflush``
file, or CSV. Rules are inbound to the servers (destination = server address); the
source is ``any`` unless given.
"""

from __future__ import annotations

import csv
import io
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from epmscan.checks.classify import DYNAMIC_CLASSES, classify_port
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
from epmscan.protocol.constants import EPM_PORT

FORMATS = ("netsh", "powershell", "nftables", "iptables", "csv")
_MULTIPORT_MAX = 15
"""iptables multiport takes at most 15 ports, a range counting as two."""


@dataclass(frozen=True, slots=True)
class RulePort:
    """One port (or range) to open on one server, and why."""

    ports: PortRange
    reason: str
    dynamic: bool = False

    @property
    def text(self) -> str:
        first, last = self.ports.first, self.ports.last
        return str(first) if first == last else f"{first}-{last}"


@dataclass(frozen=True, slots=True)
class ServerRules:
    """Everything to open towards one server address."""

    address: str
    name: str
    ports: tuple[RulePort, ...]

    @property
    def version(self) -> int:
        return ipaddress.ip_address(self.address).version

    @property
    def has_dynamic(self) -> bool:
        return any(p.dynamic for p in self.ports)


def _dynamic_range(
    report: ExchangeHostReport, classes: set[PortClass], ranges: DynamicRanges
) -> PortRange:
    """Exchange 2010 setup widens the range, so an Exchange server opens the Exchange range
    unless the host is a plain Windows server and every port sat in the Windows range."""
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
        dynamic_names: list[str] = []
        for resolved in report.ports:
            if resolved.port is None or resolved.transport != "ncacn_ip_tcp":
                continue
            port_class = resolved.port_class or classify_port(
                resolved.port, resolved.expected_port, ranges
            )
            if port_class in DYNAMIC_CLASSES:
                dynamic_classes.add(port_class)
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
            span = _dynamic_range(report, dynamic_classes, ranges)
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


def _source(source: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if source.strip().lower() == "any":
        return None
    try:
        return ipaddress.ip_network(source.strip(), strict=False)
    except ValueError:
        raise UsageError(f"firewall source {source!r} is not 'any', an address or a CIDR") from None


def render_firewall(
    reports: Sequence[ExchangeHostReport],
    fmt: str,
    *,
    source: str = "any",
    allow_dynamic: bool = False,
    ranges: DynamicRanges | None = None,
) -> str:
    """Firewall rules for ``reports`` in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown firewall format {fmt!r} (expected one of: {', '.join(FORMATS)})")
    src = _source(source)
    plans = plan_rules(reports, allow_dynamic=allow_dynamic, ranges=ranges)
    if not plans:
        raise UsageError("no servers to write firewall rules for")
    for plan in plans:
        if src is not None and src.version != plan.version:
            raise UsageError(
                f"firewall source {source} is IPv{src.version} "
                f"but {plan.address} is IPv{plan.version}"
            )
    renderer = {
        "netsh": _netsh,
        "powershell": _powershell,
        "nftables": _nftables,
        "iptables": _iptables,
        "csv": _csv,
    }[fmt]
    return renderer(plans, src)


def _describe(plan: ServerRules) -> list[str]:
    lines = [f"{plan.name} ({plan.address})" if plan.name != plan.address else plan.address]
    for port in plan.ports:
        lines.append(f"  TCP {port.text}: {port.reason}")
        if port.dynamic:
            lines.append(
                "  WARNING: opens the whole dynamic range because a port is dynamic; "
                "pin static ports and narrow this rule"
            )
    return lines


def _netsh(
    plans: Sequence[ServerRules], src: ipaddress.IPv4Network | ipaddress.IPv6Network | None
) -> str:
    remote = "any" if src is None else str(src)
    out = [
        "@echo off",
        "REM Inbound rules for Exchange RPC, written by epmscan. Run on each server (elevated).",
    ]
    for plan in plans:
        out.append("")
        out.extend(f"REM {line}" for line in _describe(plan))
        ports = ",".join(p.text for p in plan.ports)
        out.append(
            f'netsh advfirewall firewall add rule name="epmscan Exchange RPC {plan.address}" '
            f"dir=in action=allow protocol=TCP localip={plan.address} localport={ports} "
            f"remoteip={remote}"
        )
    return "\n".join(out) + "\n"


def _powershell(
    plans: Sequence[ServerRules], src: ipaddress.IPv4Network | ipaddress.IPv6Network | None
) -> str:
    remote = "Any" if src is None else str(src)
    out = ["# Inbound rules for Exchange RPC, written by epmscan. Run on each server (elevated)."]
    for plan in plans:
        out.append("")
        out.extend(f"# {line}" for line in _describe(plan))
        ports = ",".join(f"'{p.text}'" for p in plan.ports)
        out.append(
            f"New-NetFirewallRule -DisplayName 'epmscan Exchange RPC {plan.address}' "
            f"-Direction Inbound -Action Allow -Protocol TCP -LocalAddress '{plan.address}' "
            f"-LocalPort {ports} -RemoteAddress '{remote}'"
        )
    return "\n".join(out) + "\n"


def _nftables(
    plans: Sequence[ServerRules], src: ipaddress.IPv4Network | ipaddress.IPv6Network | None
) -> str:
    out = [
        "#!/usr/sbin/nft -f",
        "# Exchange RPC towards the servers below, written by epmscan. Load with: nft -f FILE",
        "# The chain only accepts (policy accept); the deny belongs to your own ruleset,",
        "# or change the policy to drop once established traffic is accepted too.",
        "table inet epmscan",
        "delete table inet epmscan",
        "table inet epmscan {",
        "\tchain exchange_rpc {",
        "\t\ttype filter hook forward priority filter; policy accept;",
    ]
    for plan in plans:
        family = "ip" if plan.version == 4 else "ip6"
        out.extend(f"\t\t# {line}" for line in _describe(plan))
        match_source = f"{family} saddr {src} " if src is not None else ""
        ports = ", ".join(p.text for p in plan.ports)
        out.append(
            f"\t\t{match_source}{family} daddr {plan.address} tcp dport {{ {ports} }} accept"
        )
    out += ["\t}", "}"]
    return "\n".join(out) + "\n"


def _multiport_chunks(ports: Sequence[RulePort]) -> list[list[RulePort]]:
    chunks: list[list[RulePort]] = [[]]
    used = 0
    for port in ports:
        cost = 1 if port.ports.first == port.ports.last else 2
        if used + cost > _MULTIPORT_MAX:
            chunks.append([])
            used = 0
        chunks[-1].append(port)
        used += cost
    return chunks


def _iptables(
    plans: Sequence[ServerRules], src: ipaddress.IPv4Network | ipaddress.IPv6Network | None
) -> str:
    for plan in plans:
        if plan.version != 4:
            raise UsageError(
                f"iptables output is IPv4 only and {plan.address} is IPv6; use --format nftables"
            )
    chain = "EPMSCAN-EXCHANGE"
    out = [
        "# Exchange RPC towards the servers below, written by epmscan.",
        "# Load with: iptables-restore --noflush FILE",
        "# (without --noflush it replaces the whole filter table)",
        f"# then send traffic through it once: iptables -I FORWARD -j {chain}",
        "*filter",
        f":{chain} - [0:0]",
    ]
    match_source = f"-s {src} " if src is not None else ""
    for plan in plans:
        out.extend(f"# {line}" for line in _describe(plan))
        for chunk in _multiport_chunks(plan.ports):
            ports = ",".join(p.text.replace("-", ":") for p in chunk)
            out.append(
                f"-A {chain} {match_source}-d {plan.address}/32 -p tcp -m multiport "
                f"--dports {ports} -j ACCEPT"
            )
    out.append("COMMIT")
    return "\n".join(out) + "\n"


def _csv(
    plans: Sequence[ServerRules], src: ipaddress.IPv4Network | ipaddress.IPv6Network | None
) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["server", "address", "protocol", "port", "source", "reason", "dynamic"])
    for plan in plans:
        for port in plan.ports:
            writer.writerow(
                [
                    plan.name,
                    plan.address,
                    "tcp",
                    port.text,
                    "any" if src is None else str(src),
                    port.reason,
                    "yes" if port.dynamic else "no",
                ]
            )
    return buffer.getvalue()
