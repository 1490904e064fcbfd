"""The program layer called as a library, without the command line: results collected."""

from __future__ import annotations

from typing import Generic, TypeVar

from epmscan.app.check import CheckOutcome, run_check
from epmscan.app.observer import RunObserver
from epmscan.app.running import RunOutcome
from epmscan.app.scan import run_scan
from epmscan.models import ExchangeHostReport, HostResult, RunSummary
from epmscan.settings import CheckSettings, ScanSettings

R = TypeVar("R")


class Collector(RunObserver[R], Generic[R]):
    """Keeps every result and the summary, and counts the observer calls."""

    def __init__(self) -> None:
        self.results: list[R] = []
        self.started = 0
        self.warnings: list[str] = []
        self.summary: RunSummary | None = None

    def run_started(self, start: object) -> None:
        self.started += 1

    def host_done(self, result: R) -> None:
        self.results.append(result)

    def warning(self, message: str) -> None:
        self.warnings.append(message)

    def run_finished(self, summary: RunSummary) -> None:
        self.summary = summary


def scan_hosts(settings: ScanSettings) -> tuple[list[HostResult], RunOutcome]:
    collector: Collector[HostResult] = Collector()
    outcome = run_scan(settings, collector)
    return collector.results, outcome


def check_hosts(settings: CheckSettings) -> tuple[list[ExchangeHostReport], CheckOutcome]:
    collector: Collector[ExchangeHostReport] = Collector()
    outcome = run_check(settings, collector)
    return collector.results, outcome
