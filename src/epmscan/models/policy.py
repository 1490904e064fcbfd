"""What the servers are expected to look like: groups, static ports, HTTP ports, ranges.

A :class:`Policy` is read from a TOML file (:mod:`epmscan.checks.policy_file`) or built
from the command line's ``--expect``; :meth:`Policy.expectation_for` gives the
:class:`Expectation` a host is judged against (:mod:`epmscan.checks`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from epmscan.models.exchange import ExchangeInterface, Role, Severity

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class PortRange:
    """An inclusive TCP port range."""

    first: int
    last: int

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.first <= port <= self.last

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"


WINDOWS_DYNAMIC = PortRange(49152, 65535)
"""Windows Vista / Server 2008 and later default dynamic range (start 49152, 16384 ports)."""
EXCHANGE_DYNAMIC = PortRange(6005, 65534)
"""What Exchange 2010 setup sets (start 6005, 59530 ports); see docs/exchange-ports.md."""
LEGACY_DYNAMIC = PortRange(1025, 5000)
"""Windows before Server 2008, and Exchange 2007 installed on Windows Server 2008 (KB 929851)."""


@dataclass(frozen=True, slots=True)
class DynamicRanges:
    """The dynamic ranges a resolved port is classified against.

    ``legacy`` applies only to servers that may run Windows before Server 2008 or
    Exchange 2007 (roles ``legacy``, ``windows`` and no role; see
    :data:`epmscan.facts.exchange.LEGACY_RANGE_ROLES`).
    """

    windows: PortRange = WINDOWS_DYNAMIC
    exchange: PortRange = EXCHANGE_DYNAMIC
    legacy: PortRange = LEGACY_DYNAMIC


@dataclass(frozen=True, slots=True)
class Expectation:
    """What one host is expected to look like (a group's settings, or the CLI's)."""

    group: str | None = None
    role: Role | None = None
    static_ports: tuple[tuple[ExchangeInterface, int], ...] = ()
    require_http: tuple[int, ...] = ()
    allow_dynamic: bool = True
    """Whether interfaces with no listed port may sit on a dynamic port. False makes a
    dynamic port an error for every interface Outlook uses on this role; a listed static
    port is always held to, whatever this says."""
    ranges: DynamicRanges = field(default_factory=DynamicRanges)
    severity_overrides: tuple[tuple[str, Severity], ...] = ()
    """(code or fnmatch pattern, severity); the first match wins."""

    def static_port(self, interface: ExchangeInterface) -> int | None:
        """The expected static port of ``interface``, None when there is no expectation."""
        for iface, port in self.static_ports:
            if iface is interface:
                return port
        return None

    def severity_for(self, code: str, default: Severity) -> Severity:
        """``default`` unless the policy overrides ``code``."""
        for pattern, severity in self.severity_overrides:
            if fnmatchcase(code, pattern):
                return severity
        return default

    @property
    def is_exchange(self) -> bool:
        """True unless the role says this is a plain Windows host."""
        return self.role is not Role.WINDOWS


@dataclass(frozen=True, slots=True)
class ServerGroup:
    """Servers matched by address, CIDR or name, and what is expected of them."""

    name: str
    networks: tuple[IPNetwork, ...]
    """Single addresses are /32 or /128 networks."""
    names: tuple[str, ...]
    """Host names, lower case."""
    expectation: Expectation
    specs: tuple[str, ...] = ()
    """The server entries exactly as written, in order (the scan targets)."""

    def matches(self, address: str | None, name: str | None) -> bool:
        """True when ``address`` is inside one of the networks or ``name`` is listed."""
        if name is not None and name.rstrip(".").lower() in self.names:
            return True
        if address is None:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return address.rstrip(".").lower() in self.names
        return any(ip.version == net.version and ip in net for net in self.networks)


@dataclass(frozen=True, slots=True)
class Policy:
    """Groups of servers, checked in order: the first group that matches a host wins."""

    groups: tuple[ServerGroup, ...]
    default: Expectation | None = None
    """Used for hosts no group matches (the CLI quick case has only this)."""
    source: str | None = None

    def targets(self) -> tuple[str, ...]:
        """Every server entry of every group, in file order, without duplicates."""
        seen: dict[str, None] = {}
        for group in self.groups:
            for spec in group.specs:
                seen.setdefault(spec, None)
        return tuple(seen)

    def expectation_for(self, address: str | None, name: str | None = None) -> Expectation | None:
        """The expectation of the first group matching the host, else the default."""
        for group in self.groups:
            if group.matches(address, name):
                return group.expectation
        return self.default

    @classmethod
    def from_expectations(
        cls,
        expect: Mapping[ExchangeInterface, int] | Mapping[str, int] | None = None,
        require_http: Iterable[int] = (),
        *,
        allow_dynamic: bool = True,
        ranges: DynamicRanges | None = None,
        role: Role | None = None,
    ) -> Policy:
        """One expectation for every host (the command line's ``--expect`` case).

        ``expect`` maps interfaces (or their values, ``"mapi"``) to static ports; the
        values are taken as given: validating user input is the caller's job.
        """
        expectation = Expectation(
            group=None,
            role=role,
            static_ports=tuple((ExchangeInterface(k), port) for k, port in (expect or {}).items()),
            require_http=tuple(dict.fromkeys(require_http)),
            allow_dynamic=allow_dynamic,
            ranges=ranges or DynamicRanges(),
        )
        return cls(groups=(), default=expectation, source=None)
