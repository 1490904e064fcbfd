"""``scan``: the endpoint map (or the Exchange ports) of many hosts, streamed."""

from __future__ import annotations

from epmscan.app.observer import ObserverGroup, RunObserver
from epmscan.app.outputs import OutputFiles
from epmscan.app.running import RunOutcome, execute_run, plan_run
from epmscan.models import HostResult
from epmscan.report.serialize import host_to_dict, host_to_json
from epmscan.report.writers import CsvWriter
from epmscan.settings import ScanSettings


def run_scan(settings: ScanSettings, observer: RunObserver[HostResult]) -> RunOutcome:
    """Scan every target of ``settings``; each host goes to the files and to ``observer``.

    Raises :class:`~epmscan.errors.UsageError` (bad targets, an unwritable output)
    before anything is sent.
    """
    plan = plan_run(settings, command="scan")
    files: OutputFiles[HostResult] = OutputFiles(
        settings.outputs, to_json=host_to_json, to_dict=host_to_dict, csv_writer=CsvWriter
    )
    outcome = execute_run(plan, ObserverGroup([files, observer]))
    files.raise_error()
    return outcome
