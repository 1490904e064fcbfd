"""Typed results shared by every layer: frozen dataclasses and ``(str, Enum)`` statuses.

Everything the engine observes, every verdict ``checks`` gives and every saved result
is one of these; ``report`` only reads them. Statuses are ``(str, Enum)`` so that they
serialise as their value. The submodules, each owning one thing:

- :mod:`.endpoints`: interfaces, towers, endpoints and one host's result (``HostResult``);
- :mod:`.exchange`: the Exchange interfaces, port probes, findings, severities and roles;
- :mod:`.policy`: what is expected of a host (``Expectation``, ``Policy``);
- :mod:`.reports`: one host's full report (``ExchangeHostReport``).
"""

from epmscan.models.endpoints import (
    BindOutcome,
    EndpointRecord,
    Floor,
    HostResult,
    HostStatus,
    InterfaceId,
    LookupEntry,
    Tower,
)
from epmscan.models.exchange import (
    ExchangeInterface,
    ExchangeObservation,
    Finding,
    HttpPortProbe,
    HttpProbeStatus,
    PortClass,
    PortProbeStatus,
    ResolvedPort,
    Role,
    Severity,
)
from epmscan.models.policy import (
    EXCHANGE_DYNAMIC,
    WINDOWS_DYNAMIC,
    DynamicRanges,
    Expectation,
    Policy,
    PortRange,
    ServerGroup,
)
from epmscan.models.reports import ExchangeHostReport

__all__ = [
    "EXCHANGE_DYNAMIC",
    "WINDOWS_DYNAMIC",
    "BindOutcome",
    "DynamicRanges",
    "EndpointRecord",
    "ExchangeHostReport",
    "ExchangeInterface",
    "ExchangeObservation",
    "Expectation",
    "Finding",
    "Floor",
    "HostResult",
    "HostStatus",
    "HttpPortProbe",
    "HttpProbeStatus",
    "InterfaceId",
    "LookupEntry",
    "Policy",
    "PortClass",
    "PortProbeStatus",
    "PortRange",
    "ResolvedPort",
    "Role",
    "ServerGroup",
    "Severity",
    "Tower",
]
