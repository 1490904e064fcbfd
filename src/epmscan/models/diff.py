"""What changed between two results: hosts that appeared, disappeared or changed."""

from __future__ import annotations

from dataclasses import dataclass

from epmscan.models.endpoints import EndpointRecord, HostStatus
from epmscan.models.exchange import (
    ExchangeInterface,
    Finding,
    HttpPortProbe,
    PortProbeStatus,
)
from epmscan.models.reports import ExchangeHostReport


@dataclass(frozen=True, slots=True)
class PortMove:
    """The same interface (uuid, version, transport) registered on another port."""

    uuid: str
    version: str
    name: str | None
    transport: str
    old_port: int | None
    new_port: int | None
    exchange_interface: ExchangeInterface | None


@dataclass(frozen=True, slots=True)
class ExchangePortChange:
    """An Exchange interface on one transport: its resolved port or its bind result moved.

    ``None`` on a side: not resolved (``port``) or not probed (``probe``) in that result.
    """

    interface: ExchangeInterface
    transport: str
    old_port: int | None
    new_port: int | None
    old_probe: PortProbeStatus | None
    new_probe: PortProbeStatus | None


@dataclass(frozen=True, slots=True)
class HttpChange:
    """An RPC-over-HTTP port whose probe changed (greeting, banner, bind behind it).

    ``None`` on a side: the port was not probed in that result.
    """

    port: int
    old: HttpPortProbe | None
    new: HttpPortProbe | None


@dataclass(frozen=True, slots=True)
class HostDiff:
    """Everything that changed on one host present in both results, and what counts.

    ``significant`` holds the changes the host's expectation cares about (the command
    exits 1 for them); the other changes are reported and do not fail the diff.
    """

    target: str
    address: str
    old_status: HostStatus
    new_status: HostStatus
    added: tuple[EndpointRecord, ...] = ()
    removed: tuple[EndpointRecord, ...] = ()
    moved: tuple[PortMove, ...] = ()
    port_changes: tuple[ExchangePortChange, ...] = ()
    http_changes: tuple[HttpChange, ...] = ()
    findings_added: tuple[Finding, ...] = ()
    findings_resolved: tuple[Finding, ...] = ()
    significant: tuple[str, ...] = ()
    """Why this host fails the diff: one short reason per kind of change that counts."""
    expectation_changed: bool = False
    """BEFORE was judged against another expectation than AFTER (AFTER's is used)."""

    @property
    def status_changed(self) -> bool:
        return self.old_status != self.new_status

    @property
    def changed(self) -> bool:
        return bool(
            self.status_changed
            or self.added
            or self.removed
            or self.moved
            or self.port_changes
            or self.http_changes
            or self.findings_added
            or self.findings_resolved
        )


@dataclass(frozen=True, slots=True)
class MissingHost:
    """A host in only one of the results, and what that means."""

    report: ExchangeHostReport
    reason: str
    """``new``, ``gone``, ``stopped_answering`` (left out by --only-answered), or
    ``out_of_scope`` (the other result did not scan it)."""
    significant: bool


@dataclass(frozen=True, slots=True)
class ResultDiff:
    """The difference between an earlier and a later result."""

    appeared: tuple[MissingHost, ...]
    disappeared: tuple[MissingHost, ...]
    changed: tuple[HostDiff, ...]
    unchanged: int
    warnings: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.appeared or self.disappeared or self.changed)

    @property
    def significant(self) -> bool:
        """A change the expectations care about (the command exits 1)."""
        return any(h.significant for h in self.appeared + self.disappeared) or any(
            h.significant for h in self.changed
        )
