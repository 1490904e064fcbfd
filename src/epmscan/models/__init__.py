"""Typed results shared by every layer: frozen dataclasses and ``(str, Enum)`` statuses.

Everything the engine observes, every verdict ``checks`` gives and every saved result
is one of these; ``report`` only reads them. Statuses are ``(str, Enum)`` so that they
serialise as their value. The submodules, each owning one thing:

- :mod:`.endpoints`: interfaces, towers, endpoints and one host's result (``HostResult``);
- :mod:`.exchange`: the Exchange interfaces, port probes, findings, severities and roles;
- :mod:`.policy`: what is expected of a host (``Expectation``, ``Policy``);
- :mod:`.reports`: one host's full report (``ExchangeHostReport``), a run's header
  (``RunInfo``), its summary (``RunSummary``) and a result read back (``SavedRun``);
- :mod:`.diff`: what changed between two results (``ResultDiff``);
- :mod:`.security`: the interface catalogue's entries, inferred roles, exposure findings
  and one host's security view (``SecurityHostReport``).
"""

from epmscan.models.diff import (
    ExchangePortChange,
    HostDiff,
    HttpChange,
    MissingHost,
    PortMove,
    ResultDiff,
)
from epmscan.models.endpoints import (
    BindOutcome,
    EndpointRecord,
    Floor,
    HostResult,
    HostStatus,
    IcmpError,
    InterfaceId,
    InventoryMethod,
    LookupEntry,
    PortInventory,
    ServedInterface,
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
from epmscan.models.reports import ExchangeHostReport, RunInfo, RunSummary, SavedRun
from epmscan.models.security import (
    Confidence,
    ExposureFinding,
    HostRole,
    InferredRole,
    InterfaceCatalogue,
    InterfaceCategory,
    Reachability,
    RoleRule,
    SecurityHostReport,
    SecurityInterface,
)

__all__ = [
    "EXCHANGE_DYNAMIC",
    "WINDOWS_DYNAMIC",
    "BindOutcome",
    "Confidence",
    "DynamicRanges",
    "EndpointRecord",
    "ExchangeHostReport",
    "ExchangeInterface",
    "ExchangeObservation",
    "ExchangePortChange",
    "Expectation",
    "ExposureFinding",
    "Finding",
    "Floor",
    "HostDiff",
    "HostResult",
    "HostRole",
    "HostStatus",
    "HttpChange",
    "HttpPortProbe",
    "HttpProbeStatus",
    "IcmpError",
    "InferredRole",
    "InterfaceCatalogue",
    "InterfaceCategory",
    "InterfaceId",
    "InventoryMethod",
    "LookupEntry",
    "MissingHost",
    "Policy",
    "PortClass",
    "PortInventory",
    "PortMove",
    "PortProbeStatus",
    "PortRange",
    "Reachability",
    "ResolvedPort",
    "ResultDiff",
    "Role",
    "RoleRule",
    "RunInfo",
    "RunSummary",
    "SavedRun",
    "SecurityHostReport",
    "SecurityInterface",
    "ServedInterface",
    "ServerGroup",
    "Severity",
    "Tower",
]
