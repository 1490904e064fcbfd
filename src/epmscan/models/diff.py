"""What changed between two results: hosts that appeared, disappeared or changed."""

from __future__ import annotations

from dataclasses import dataclass

from epmscan.models.endpoints import EndpointRecord, HostStatus
from epmscan.models.exchange import ExchangeInterface, HttpProbeStatus
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
class HttpChange:
    """An RPC-over-HTTP port whose probe changed (None: not probed in that result)."""

    port: int
    old: HttpProbeStatus | None
    new: HttpProbeStatus | None


@dataclass(frozen=True, slots=True)
class ExchangePortChange:
    """An Exchange interface's resolved port on one transport, before and after."""

    interface: ExchangeInterface
    transport: str
    old_port: int | None
    new_port: int | None


@dataclass(frozen=True, slots=True)
class HostDiff:
    """Everything that changed on one host present in both results."""

    target: str
    address: str
    old_status: HostStatus
    new_status: HostStatus
    added: tuple[EndpointRecord, ...] = ()
    removed: tuple[EndpointRecord, ...] = ()
    moved: tuple[PortMove, ...] = ()
    http_changes: tuple[HttpChange, ...] = ()
    exchange_port_changes: tuple[ExchangePortChange, ...] = ()

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
            or self.http_changes
            or self.exchange_port_changes
        )


@dataclass(frozen=True, slots=True)
class ResultDiff:
    """The difference between an earlier and a later result."""

    appeared: tuple[ExchangeHostReport, ...]
    disappeared: tuple[ExchangeHostReport, ...]
    changed: tuple[HostDiff, ...]
    unchanged: int

    @property
    def empty(self) -> bool:
        return not (self.appeared or self.disappeared or self.changed)
