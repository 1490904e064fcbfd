"""One host's full report, and a saved run: what files hold and what ``diff`` compares."""

from __future__ import annotations

from dataclasses import dataclass

from epmscan.models.endpoints import HostResult, HostStatus
from epmscan.models.exchange import Finding, HttpPortProbe, ResolvedPort, Role
from epmscan.models.policy import Expectation
from epmscan.models.security import SecurityHostReport


@dataclass(frozen=True, slots=True)
class ExchangeHostReport:
    """The Exchange view of one host: its dump, resolved ports, HTTP ports, findings."""

    host: HostResult
    role: Role | None = None
    group: str | None = None
    ports: tuple[ResolvedPort, ...] = ()
    http: tuple[HttpPortProbe, ...] = ()
    findings: tuple[Finding, ...] = ()
    expectation: Expectation | None = None
    """What the host was judged against (None: no expectation, or a plain scan)."""


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What a run was asked to do: the header of its saved document."""

    command: str
    targets: tuple[str, ...]
    port: int
    mode: str
    seed: int
    shard: str
    started: str
    """When the run started: UTC, ISO 8601 with milliseconds."""
    policy: str | None = None
    """The policy file a ``check`` judged by (None: command-line expectations)."""
    input_files: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    exclude_files: tuple[str, ...] = ()
    only_answered: bool = False
    """Hosts that did not answer are not in the file (they were scanned all the same)."""
    schema: int = 0
    """The schema of the document it was read from (0: made by this run)."""


@dataclass(frozen=True, slots=True)
class RunSummary:
    """How a run of many hosts ended: counts by status, time, interruption."""

    targets: int
    done: int
    interrupted: bool
    signal: str | None
    elapsed: float
    statuses: tuple[tuple[HostStatus, int], ...]
    """Every status with its count, in the order of :class:`HostStatus`."""
    port: int
    mode: str
    local_errors: int
    seed: int | None = None
    """The seed of the scan order (``--seed`` repeats the run's order)."""
    shard: str = "1/1"

    @property
    def hosts_per_second(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0


@dataclass(frozen=True, slots=True)
class SavedRun:
    """A result read back from a file: its header (when it has one) and every host."""

    info: RunInfo | None
    hosts: tuple[ExchangeHostReport, ...]
    """Every host; a plain scan's hosts have empty Exchange parts."""
    exchange_checked: bool
    """True when the hosts carry an Exchange check (``check``), not just a dump."""
    source: str = ""
    """Where it was read from (a file name, ``--live``)."""
    notes: tuple[str, ...] = ()
    """What the reader could not read (a file cut short)."""
    security: tuple[SecurityHostReport | None, ...] = ()
    """Each host's security view as saved (``scan --findings``), in the order of
    ``hosts`` (None for a host saved without one); empty when no host has one."""
    security_catalogue: int | None = None
    """The interface catalogue version the saved security views rest on (the newest
    one named, when hosts differ); None when none was saved."""
    summary: RunSummary | None = None
    """The run's closing summary as saved (None: the file has none, a run cut short)."""
