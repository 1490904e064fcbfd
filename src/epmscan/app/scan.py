"""``scan``: the endpoint map (or the Exchange ports) of many hosts, streamed.

With ``settings.findings.enabled`` each host's result is its security view
(:class:`~epmscan.models.SecurityHostReport`): the dump, then the roles and findings
:mod:`epmscan.checks.exposure` gives, and with ``verify`` a bind on every advertised TCP
port of a catalogued interface (:func:`~epmscan.engine.probes.probe_bind`, at most
``per_host`` at once, within the host's deadline from the start of its dump). The
outcome carries the worst severity seen over every host, and whether it reached
``fail_on``, as ``check``'s does.

With ``inventory`` each host's job goes on after the dump: every advertised TCP port (and
those the settings add) is asked what it serves (:mod:`epmscan.engine.inventory`), within
the same host deadline; the fallback binds the candidates of
:mod:`epmscan.facts.inventory_candidates`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from epmscan.app.observer import ObserverGroup, RunObserver
from epmscan.app.outputs import OutputFiles
from epmscan.app.running import RunOutcome, execute_run, plan_run
from epmscan.checks.exposure import (
    Verification,
    build_security_report,
    ports_to_verify,
    reaches,
)
from epmscan.engine.inventory import add_inventory
from epmscan.engine.probes import probe_bind
from epmscan.engine.scanner import HostJob, default_job
from epmscan.errors import UsageError
from epmscan.facts.inventory_candidates import INVENTORY_CANDIDATES
from epmscan.facts.security import CATALOGUE
from epmscan.models import (
    HostResult,
    InterfaceId,
    PortProbeStatus,
    SecurityHostReport,
    Severity,
)
from epmscan.report.serialize import host_to_dict, host_to_json, security_to_dict, security_to_json
from epmscan.report.writers import CsvWriter, SecurityCsvWriter
from epmscan.settings import NetworkSettings, ScanMode, ScanSettings


@dataclass(frozen=True, slots=True)
class ScanOutcome(RunOutcome):
    """How a scan ended; with findings, the worst severity and whether it reached ``fail_on``."""

    worst: Severity | None = None
    """The worst finding over every host (None: no findings, or none asked)."""
    failed: bool = False
    """A finding at ``fail_on`` or worse on some host."""


class _WorstSeverity(RunObserver[SecurityHostReport]):
    def __init__(self, threshold: Severity | None) -> None:
        self.threshold = threshold
        self.worst: Severity | None = None
        self.failed = False

    def host_done(self, result: SecurityHostReport) -> None:
        worst = result.worst
        if worst is not None and (self.worst is None or worst.rank > self.worst.rank):
            self.worst = worst
        if not self.failed and reaches(result.findings, self.threshold):
            self.failed = True


def run_scan(settings: ScanSettings, observer: RunObserver[Any]) -> ScanOutcome:
    """Scan every target of ``settings``; each host goes to the files and to ``observer``.

    Each host is a :class:`HostResult`, or with ``settings.findings.enabled`` a
    :class:`SecurityHostReport`. Raises :class:`~epmscan.errors.UsageError` (bad targets,
    an unwritable output, findings asked of a ``map`` scan) before anything is sent.
    """
    if settings.findings.enabled:
        return _run_security_scan(settings, observer)
    plan = plan_run(settings, command="scan", sockets_per_host=_sockets_per_host(settings))
    files: OutputFiles[HostResult] = OutputFiles(
        settings.outputs, to_json=host_to_json, to_dict=host_to_dict, csv_writer=CsvWriter
    )
    job = inventory_job(plan.settings) if settings.inventory else None
    outcome = execute_run(plan, ObserverGroup([files, observer]), job=job)
    files.raise_error()
    return ScanOutcome(outcome.summary, outcome.info)


def _sockets_per_host(settings: ScanSettings) -> int:
    """Connections one host may hold at once: more than one for the inventory and --verify."""
    several = settings.inventory or settings.findings.verify
    return settings.network.per_host if several else 1


def inventory_job(
    settings: ScanSettings, candidates: tuple[InterfaceId, ...] = INVENTORY_CANDIDATES
) -> HostJob[HostResult]:
    """The scan's per-host job followed by the host's inventory, both by one deadline."""
    dump = default_job(settings)
    network = settings.network

    async def job(target: str, address: str) -> HostResult:
        deadline = asyncio.get_running_loop().time() + network.timeouts.host
        host = await dump(target, address)
        return await add_inventory(
            host,
            network,
            candidates,
            extra_ports=settings.inventory_ports,
            deadline=deadline,
        )

    return job


async def verify_ports(
    address: str,
    ports: tuple[tuple[int, InterfaceId], ...],
    network: NetworkSettings,
    deadline: float,
) -> Verification:
    """Bind each (port, interface) on ``address``, ``per_host`` at once, by ``deadline``."""
    limit = asyncio.Semaphore(max(1, network.per_host))

    async def one(
        port: int, interface: InterfaceId
    ) -> tuple[tuple[int, str], tuple[PortProbeStatus, str | None]]:
        async with limit:
            result = await probe_bind(address, port, interface, network.timeouts, deadline=deadline)
        return (port, interface.uuid), result

    return dict(await asyncio.gather(*(one(port, iface) for port, iface in ports)))


def _run_security_scan(settings: ScanSettings, observer: RunObserver[Any]) -> ScanOutcome:
    if settings.mode is not ScanMode.DUMP:
        raise UsageError("--findings needs the whole endpoint map: use --mode dump")
    findings = settings.findings
    plan = plan_run(settings, command="scan", sockets_per_host=_sockets_per_host(settings))
    network = plan.settings.network
    dump = inventory_job(plan.settings) if settings.inventory else default_job(plan.settings)

    async def job(target: str, address: str) -> SecurityHostReport:
        deadline = asyncio.get_running_loop().time() + network.timeouts.host
        host = await dump(target, address)
        verification: Verification | None = None
        if findings.verify:
            ports = ports_to_verify(host) if host.ok else ()
            verification = await verify_ports(address, ports, network, deadline)
        return build_security_report(host, verification=verification)

    def unresolved(host: HostResult) -> SecurityHostReport:
        return build_security_report(host)

    def to_json(report: SecurityHostReport) -> str:
        return security_to_json(report, CATALOGUE.version)

    def to_dict(report: SecurityHostReport) -> dict[str, Any]:
        return security_to_dict(report, CATALOGUE.version)

    files: OutputFiles[SecurityHostReport] = OutputFiles(
        settings.outputs, to_json=to_json, to_dict=to_dict, csv_writer=SecurityCsvWriter
    )
    worst = _WorstSeverity(findings.fail_on)
    outcome = execute_run(
        plan, ObserverGroup([files, worst, observer]), job=job, unresolved=unresolved
    )
    files.raise_error()
    return ScanOutcome(outcome.summary, outcome.info, worst=worst.worst, failed=worst.failed)
