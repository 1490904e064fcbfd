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
