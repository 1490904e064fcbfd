"""One host's full report, and a saved run: what files hold and what ``diff`` compares."""

from __future__ import annotations

from dataclasses import dataclass

from epmscan.models.endpoints import HostResult
from epmscan.models.exchange import Finding, HttpPortProbe, ResolvedPort, Role


@dataclass(frozen=True, slots=True)
class ExchangeHostReport:
    """The Exchange view of one host: its dump, resolved ports, HTTP ports, findings."""

    host: HostResult
    role: Role | None = None
    group: str | None = None
    ports: tuple[ResolvedPort, ...] = ()
    http: tuple[HttpPortProbe, ...] = ()
    findings: tuple[Finding, ...] = ()
