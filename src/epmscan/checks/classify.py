"""How a resolved port relates to the expected static assignment.

Precedence, because the default ranges overlap (49152..65534 is in both):

1. no port → NOT_REGISTERED;
2. the expected port → STATIC_EXPECTED, even when it lies inside a dynamic range
   (60001 does: pinning a port there is what Microsoft's articles show);
3. inside the Windows range → DYNAMIC_WINDOWS. It is checked first because it is the
   narrower range and the operating system's own default: a port there is dynamic
   whether or not Exchange setup widened the range;
4. inside the legacy range (1025..5000), on a server that may use it (role ``legacy``,
   ``windows`` or none) → DYNAMIC_WINDOWS too: it is the Windows range of Windows before
   Server 2008, and the one Exchange 2007 uses (KB 929851);
5. inside the Exchange range → DYNAMIC_EXCHANGE: the port is dynamic only because
   Exchange 2010 setup widened the range (6005..49151 with the defaults);
6. otherwise STATIC_UNEXPECTED when a port was expected, else STATIC_UNCHECKED.

A port inside a dynamic range with no expected port is only *in* that range: nothing says
whether it was pinned there (the findings say so, :mod:`epmscan.checks.findings`).
"""

from __future__ import annotations

from dataclasses import replace

from epmscan.facts.exchange import LEGACY_RANGE_ROLES
from epmscan.models import (
    DynamicRanges,
    ExchangeInterface,
    Expectation,
    PortClass,
    ResolvedPort,
    Role,
)

DYNAMIC_CLASSES = frozenset({PortClass.DYNAMIC_WINDOWS, PortClass.DYNAMIC_EXCHANGE})
STATIC_CLASSES = frozenset(
    {PortClass.STATIC_EXPECTED, PortClass.STATIC_UNEXPECTED, PortClass.STATIC_UNCHECKED}
)


def uses_legacy_range(role: Role | None) -> bool:
    """True when a server of ``role`` may hand out ports from the pre-2008 range."""
    return role in LEGACY_RANGE_ROLES


def classify_port(
    port: int | None,
    expected: int | None,
    ranges: DynamicRanges | None = None,
    role: Role | None = None,
) -> PortClass:
    """Classify one resolved port (see the module docstring for the precedence).

    ``role`` decides whether the legacy range applies; no role means it may.
    """
    ranges = ranges or DynamicRanges()
    if port is None:
        return PortClass.NOT_REGISTERED
    if expected is not None and port == expected:
        return PortClass.STATIC_EXPECTED
    if port in ranges.windows:
        return PortClass.DYNAMIC_WINDOWS
    if uses_legacy_range(role) and port in ranges.legacy:
        return PortClass.DYNAMIC_WINDOWS
    if port in ranges.exchange:
        return PortClass.DYNAMIC_EXCHANGE
    return PortClass.STATIC_UNEXPECTED if expected is not None else PortClass.STATIC_UNCHECKED


def dynamic_range_name(port: int, port_class: PortClass, ranges: DynamicRanges) -> str:
    """How messages name the dynamic range a port of ``port_class`` lies in."""
    if port_class is PortClass.DYNAMIC_EXCHANGE:
        return f"Exchange dynamic range {ranges.exchange}"
    if port not in ranges.windows and port in ranges.legacy:
        return (
            f"legacy dynamic range {ranges.legacy} (Windows before Server 2008, and Exchange 2007)"
        )
    return f"Windows dynamic range {ranges.windows}"


def classify_ports(
    ports: tuple[ResolvedPort, ...] | list[ResolvedPort], expectation: Expectation | None
) -> tuple[ResolvedPort, ...]:
    """The same ports with ``port_class`` and ``expected_port`` filled in.

    Only ``ncacn_ip_tcp`` ports are held against the static expectation; an
    ``ncacn_http`` registration keeps ``expected_port=None`` (its port is the RPC/HTTP
    port, 6001/6002/6004, not the pinned TCP port). AsyncEMSMDB with no port of its own
    is expected on MAPI's: the same process serves both (RPC Client Access on Exchange
    2010), so pinning MAPI pins it too.
    """
    ranges = expectation.ranges if expectation else DynamicRanges()
    role = expectation.role if expectation else None
    result: list[ResolvedPort] = []
    for resolved in ports:
        expected = None
        if expectation is not None and resolved.transport == "ncacn_ip_tcp":
            expected = expectation.static_port(resolved.interface)
            if expected is None and resolved.interface is ExchangeInterface.ASYNC_MAPI:
                expected = expectation.static_port(ExchangeInterface.MAPI)
        result.append(
            replace(
                resolved,
                port_class=classify_port(resolved.port, expected, ranges, role),
                expected_port=expected,
            )
        )
    return tuple(result)
