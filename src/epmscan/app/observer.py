"""Observers of a run over many hosts (sslyze's ``ScannerObserver`` shape).

The program layer calls an observer as the run goes: once when it starts (what it
will do, and live counters for a progress display), once per host as soon as that host
is done, for warnings, and once at the end with the summary. The console, the progress
bar and the output files are each an observer; :class:`ObserverGroup` feeds several.
All calls happen on the event loop's thread, so an observer must not block for long.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from epmscan.engine.scanner import ScanProgress
from epmscan.models import RunInfo, RunSummary

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class RunStart:
    """What a run is about to do."""

    info: RunInfo
    total: int
    """Targets the run will go through (host names count once)."""
    progress: ScanProgress
    """Live counters, updated as hosts start and end (read them; do not write)."""
    stop: Callable[[], None]
    """Stop the run as SIGINT would (an observer that cannot go on, e.g. a full disk)."""


class RunObserver(Generic[R]):
    """Override what you need; every method does nothing by default."""

    def run_started(self, start: RunStart) -> None:
        """The targets are parsed and the first connections are about to go out."""

    def host_done(self, result: R) -> None:
        """One host is done; ``result`` is its final result (each host comes once)."""

    def warning(self, message: str) -> None:
        """Something the user should know that does not stop the run (one line)."""

    def run_finished(self, summary: RunSummary) -> None:
        """The run ended (finished, or interrupted: ``summary.interrupted``)."""


class ObserverGroup(RunObserver[R]):
    """Several observers fed in order."""

    def __init__(self, observers: Iterable[RunObserver[R]]) -> None:
        self.observers = list(observers)

    def run_started(self, start: RunStart) -> None:
        for observer in self.observers:
            observer.run_started(start)

    def host_done(self, result: R) -> None:
        for observer in self.observers:
            observer.host_done(result)

    def warning(self, message: str) -> None:
        for observer in self.observers:
            observer.warning(message)

    def run_finished(self, summary: RunSummary) -> None:
        for observer in self.observers:
            observer.run_finished(summary)
