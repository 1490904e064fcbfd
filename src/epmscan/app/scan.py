"""``scan``: the endpoint map (or the Exchange ports) of many hosts, streamed.

With ``inventory`` each host's job goes on after the dump: every advertised TCP port (and
those the settings add) is asked what it serves (:mod:`epmscan.engine.inventory`), within
the same host deadline; the fallback binds the candidates of
:mod:`epmscan.facts.inventory_candidates`.
"""

from __future__ import annotations

import asyncio

from epmscan.app.observer import ObserverGroup, RunObserver
from epmscan.app.outputs import OutputFiles
from epmscan.app.running import RunOutcome, execute_run, plan_run
from epmscan.engine.inventory import add_inventory
from epmscan.engine.scanner import HostJob, default_job
from epmscan.facts.inventory_candidates import INVENTORY_CANDIDATES
from epmscan.models import HostResult, InterfaceId
from epmscan.report.serialize import host_to_dict, host_to_json
from epmscan.report.writers import CsvWriter
from epmscan.settings import ScanSettings


def run_scan(settings: ScanSettings, observer: RunObserver[HostResult]) -> RunOutcome:
    """Scan every target of ``settings``; each host goes to the files and to ``observer``.

    Raises :class:`~epmscan.errors.UsageError` (bad targets, an unwritable output)
    before anything is sent.
    """
    sockets = settings.network.per_host if settings.inventory else 1
    plan = plan_run(settings, command="scan", sockets_per_host=sockets)
    files: OutputFiles[HostResult] = OutputFiles(
        settings.outputs, to_json=host_to_json, to_dict=host_to_dict, csv_writer=CsvWriter
    )
    job = inventory_job(plan.settings) if settings.inventory else None
    outcome = execute_run(plan, ObserverGroup([files, observer]), job=job)
    files.raise_error()
    return outcome


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
