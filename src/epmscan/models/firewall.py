"""Firewall rules to write: per server, the ports to open and why."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from epmscan.models.policy import PortRange


@dataclass(frozen=True, slots=True)
class RulePort:
    """One port (or range) to open on one server, and why."""

    ports: PortRange
    reason: str
    dynamic: bool = False
    proxy_only: bool = False
    """RPC over HTTP: opened only to the RPC proxy servers, when they are given."""

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


@dataclass(frozen=True, slots=True)
class LeftOut:
    """A server the rules leave out, and why (what would let it in, when anything would)."""

    address: str
    name: str
    reason: str
    blocking: bool = False
    """True when the user could get rules for it (with expectations, pinning or
    ``--allow-dynamic``): the command says so and exits 1."""


@dataclass(frozen=True, slots=True)
class FirewallPlan:
    """The rules to write, per server, and the servers left out."""

    servers: tuple[ServerRules, ...]
    left_out: tuple[LeftOut, ...] = ()
