"""Firewall rules in a firewall's own language, from :func:`~epmscan.checks.firewall.plan_rules`.

``netsh`` commands, PowerShell ``New-NetFirewallRule`` calls, an ``nft -f`` file, an
``iptables-restore --noflush`` file, or CSV. Rules are inbound to the servers
(destination = server address). Each server's ports go to the Outlook clients
(``--source``, any address when none is given); the RPC-over-HTTP ports go to the RPC
proxy servers instead when those are given (``--proxy-source``). Servers the plan left
out are listed in a comment at the top, with why.
"""

from __future__ import annotations

import csv
import io
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from epmscan.errors import UsageError
from epmscan.models.firewall import FirewallPlan, RulePort, ServerRules
from epmscan.report.text import printable
from epmscan.settings import FirewallFormat

_MULTIPORT_MAX = 15
"""iptables multiport takes at most 15 ports, a range counting as two."""

Source = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class RuleGroup:
    """Ports of one server opened to one set of sources (empty: any address)."""

    plan: ServerRules
    ports: tuple[RulePort, ...]
    sources: tuple[Source, ...]
    label: str


def _of_family(sources: Sequence[Source], plan: ServerRules, option: str) -> tuple[Source, ...]:
    if not sources:
        return ()
    mine = tuple(s for s in sources if s.version == plan.version)
    if not mine:
        given = ", ".join(str(s) for s in sources)
        raise UsageError(
            f"{option} {given}: no IPv{plan.version} source for {plan.address}; "
            f"add one (IPv{plan.version} servers take IPv{plan.version} sources)"
        )
    return mine


def rule_groups(
    plan: FirewallPlan, clients: Sequence[Source], proxies: Sequence[Source]
) -> list[RuleGroup]:
    """Per server: the ports open to the clients, and those open to the RPC proxies."""
    groups = []
    for server in plan.servers:
        client_sources = _of_family(clients, server, "--source")
        proxy_sources = _of_family(proxies, server, "--proxy-source") if proxies else ()
        if proxy_sources:
            for_clients = tuple(p for p in server.ports if not p.proxy_only)
            for_proxies = tuple(p for p in server.ports if p.proxy_only)
            if for_clients:
                groups.append(RuleGroup(server, for_clients, client_sources, "clients"))
            if for_proxies:
                groups.append(RuleGroup(server, for_proxies, proxy_sources, "rpc proxy"))
        else:
            groups.append(RuleGroup(server, server.ports, client_sources, "clients"))
    return groups


def render_rules(
    plan: FirewallPlan,
    fmt: FirewallFormat,
    clients: Sequence[Source] = (),
    proxies: Sequence[Source] = (),
) -> str:
    """The rules of ``plan`` in ``fmt``: ports to ``clients`` (none: any address), the
    RPC-over-HTTP ports to ``proxies`` when given."""
    if not plan.servers:
        raise UsageError("no servers to write firewall rules for")
    groups = rule_groups(plan, clients, proxies)
    renderer = {
        FirewallFormat.NETSH: _netsh,
        FirewallFormat.POWERSHELL: _powershell,
        FirewallFormat.NFTABLES: _nftables,
        FirewallFormat.IPTABLES: _iptables,
        FirewallFormat.CSV: _csv,
    }[fmt]
    return renderer(groups, plan)


def left_out_lines(plan: FirewallPlan) -> list[str]:
    """One line per server the plan left out: ``name (address): why``."""
    lines = []
    for server in plan.left_out:
        who = (
            server.address if server.name == server.address else f"{server.name} ({server.address})"
        )
        lines.append(printable(f"{who}: {server.reason}"))
    return lines


def _header(plan: FirewallPlan) -> list[str]:
    lines = left_out_lines(plan)
    if not lines:
        return []
    return ["Left out (no rules written for them):", *(f"  {line}" for line in lines)]


def _describe(group: RuleGroup) -> list[str]:
    plan = group.plan
    who = f"{plan.name} ({plan.address})" if plan.name != plan.address else plan.address
    sources = ", ".join(str(s) for s in group.sources) or "any address"
    lines = [printable(f"{who}, from {group.label}: {sources}")]
    for port in group.ports:
        lines.append(f"  TCP {port.text}: {port.reason}")
        if port.dynamic:
            lines.append(
                "  WARNING: opens the whole dynamic range because a port is dynamic; "
                "pin static ports and narrow this rule"
            )
    return lines


def _rule_name(group: RuleGroup) -> str:
    suffix = " RPC proxy" if group.label == "rpc proxy" else ""
    return f"epmscan Exchange RPC {group.plan.address}{suffix}"


def _netsh(groups: Sequence[RuleGroup], plan: FirewallPlan) -> str:
    out = [
        "@echo off",
        "REM Inbound rules for Exchange RPC, written by epmscan. Run on each server (elevated).",
    ]
    out += [f"REM {line}" for line in _header(plan)]
    for group in groups:
        remote = ",".join(str(s) for s in group.sources) or "any"
        out.append("")
        out.extend(f"REM {line}" for line in _describe(group))
        ports = ",".join(p.text for p in group.ports)
        out.append(
            f'netsh advfirewall firewall add rule name="{_rule_name(group)}" '
            f"dir=in action=allow protocol=TCP localip={group.plan.address} localport={ports} "
            f"remoteip={remote}"
        )
    return "\n".join(out) + "\n"


def _powershell(groups: Sequence[RuleGroup], plan: FirewallPlan) -> str:
    out = ["# Inbound rules for Exchange RPC, written by epmscan. Run on each server (elevated)."]
    out += [f"# {line}" for line in _header(plan)]
    for group in groups:
        remote = ",".join(f"'{s}'" for s in group.sources) or "'Any'"
        out.append("")
        out.extend(f"# {line}" for line in _describe(group))
        ports = ",".join(f"'{p.text}'" for p in group.ports)
        out.append(
            f"New-NetFirewallRule -DisplayName '{_rule_name(group)}' "
            f"-Direction Inbound -Action Allow -Protocol TCP -LocalAddress '{group.plan.address}' "
            f"-LocalPort {ports} -RemoteAddress {remote}"
        )
    return "\n".join(out) + "\n"


def _nftables(groups: Sequence[RuleGroup], plan: FirewallPlan) -> str:
    out = [
        "#!/usr/sbin/nft -f",
        "# Exchange RPC towards the servers below, written by epmscan. Load with: nft -f FILE",
        "# The chain only accepts (policy accept); the deny belongs to your own ruleset,",
        "# or change the policy to drop once established traffic is accepted too.",
    ]
    out += [f"# {line}" for line in _header(plan)]
    out += [
        "table inet epmscan",
        "delete table inet epmscan",
        "table inet epmscan {",
        "\tchain exchange_rpc {",
        "\t\ttype filter hook forward priority filter; policy accept;",
    ]
    for group in groups:
        family = "ip" if group.plan.version == 4 else "ip6"
        out.extend(f"\t\t# {line}" for line in _describe(group))
        match_source = ""
        if group.sources:
            match_source = f"{family} saddr {{ {', '.join(str(s) for s in group.sources)} }} "
        ports = ", ".join(p.text for p in group.ports)
        out.append(
            f"\t\t{match_source}{family} daddr {group.plan.address} tcp dport {{ {ports} }} accept"
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


def _iptables(groups: Sequence[RuleGroup], plan: FirewallPlan) -> str:
    for group in groups:
        if group.plan.version != 4:
            raise UsageError(
                f"iptables output is IPv4 only and {group.plan.address} is IPv6; "
                "use --format nftables"
            )
    chain = "EPMSCAN-EXCHANGE"
    out = [
        "# Exchange RPC towards the servers below, written by epmscan.",
        "# Load with: iptables-restore --noflush FILE",
        "# (without --noflush it replaces the whole filter table)",
        f"# then send traffic through it once: iptables -I FORWARD -j {chain}",
    ]
    out += [f"# {line}" for line in _header(plan)]
    out += ["*filter", f":{chain} - [0:0]"]
    for group in groups:
        out.extend(f"# {line}" for line in _describe(group))
        for source in group.sources or (None,):
            match_source = f"-s {source} " if source is not None else ""
            for chunk in _multiport_chunks(group.ports):
                ports = ",".join(p.text.replace("-", ":") for p in chunk)
                out.append(
                    f"-A {chain} {match_source}-d {group.plan.address}/32 -p tcp -m multiport "
                    f"--dports {ports} -j ACCEPT"
                )
    out.append("COMMIT")
    return "\n".join(out) + "\n"


def _csv(groups: Sequence[RuleGroup], plan: FirewallPlan) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["server", "address", "protocol", "port", "source", "reason", "dynamic"])
    for group in groups:
        sources = " ".join(str(s) for s in group.sources) or "any"
        for port in group.ports:
            writer.writerow(
                [
                    group.plan.name,
                    group.plan.address,
                    "tcp",
                    port.text,
                    sources,
                    port.reason,
                    "yes" if port.dynamic else "no",
                ]
            )
    return buffer.getvalue()
