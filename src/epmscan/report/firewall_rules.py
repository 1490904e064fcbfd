"""Firewall rules in a firewall's own language, from :func:`~epmscan.checks.firewall.plan_rules`.

``netsh`` commands, PowerShell ``New-NetFirewallRule`` calls, an ``nft -f`` file, an
``iptables-restore --noflush`` file, or CSV. Rules are inbound to the servers
(destination = server address); the source is any address unless one is given.
"""

from __future__ import annotations

import csv
import io
import ipaddress
from collections.abc import Sequence

from epmscan.errors import UsageError
from epmscan.models.firewall import RulePort, ServerRules
from epmscan.settings import FirewallFormat

_MULTIPORT_MAX = 15
"""iptables multiport takes at most 15 ports, a range counting as two."""

Source = ipaddress.IPv4Network | ipaddress.IPv6Network


def render_rules(plans: Sequence[ServerRules], fmt: FirewallFormat, src: Source | None) -> str:
    """The rules of ``plans`` in ``fmt``; ``src`` the clients allowed in (None: any)."""
    if not plans:
        raise UsageError("no servers to write firewall rules for")
    for plan in plans:
        if src is not None and src.version != plan.version:
            raise UsageError(
                f"firewall source {src} is IPv{src.version} but {plan.address} is IPv{plan.version}"
            )
    renderer = {
        FirewallFormat.NETSH: _netsh,
        FirewallFormat.POWERSHELL: _powershell,
        FirewallFormat.NFTABLES: _nftables,
        FirewallFormat.IPTABLES: _iptables,
        FirewallFormat.CSV: _csv,
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


def _netsh(plans: Sequence[ServerRules], src: Source | None) -> str:
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


def _powershell(plans: Sequence[ServerRules], src: Source | None) -> str:
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


def _nftables(plans: Sequence[ServerRules], src: Source | None) -> str:
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


def _iptables(plans: Sequence[ServerRules], src: Source | None) -> str:
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


def _csv(plans: Sequence[ServerRules], src: Source | None) -> str:
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
