"""The live progress bar of a run over many hosts (only on a terminal), as an observer.

It reads the engine's counters a few times a second from its own task: nothing per host.
"""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from epmscan.app.observer import RunObserver, RunStart
from epmscan.engine.scanner import ScanProgress
from epmscan.models import HostStatus, RunSummary

REFRESH_SECONDS = 0.2
R = TypeVar("R")


WIDE_TERMINAL = 110
"""Narrower terminals get a short bar and no time-remaining column, so nothing is cut."""
NARROW_BAR = 10


class ProgressBar(RunObserver[R], Generic[R]):
    """Shows done/total, hosts per second and counts by status while a run goes."""

    def __init__(self, label: str = "scan") -> None:
        self._label = label
        self._bar: Progress | None = None
        self._bar_task: TaskID | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._counters: ScanProgress | None = None
        self._started = 0.0

    def run_started(self, start: RunStart) -> None:
        self._counters = start.progress
        console = Console(stderr=True)
        wide = console.width >= WIDE_TERMINAL
        columns = [
            TextColumn(f"[bold]{self._label}"),
            BarColumn(bar_width=None if wide else NARROW_BAR),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>8} hosts/s"),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
        ]
        if wide:
            columns.append(TimeRemainingColumn())
        self._bar = Progress(*columns, console=console, transient=True)
        self._bar.start()
        self._bar_task = self._bar.add_task(self._label, total=start.total, rate="", counts="")
        loop = asyncio.get_running_loop()
        self._started = loop.time()
        self._refresher = loop.create_task(self._refresh_forever())

    def run_finished(self, summary: RunSummary) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
        if self._bar is not None:
            self._refresh()
            self._bar.stop()

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            self._refresh()

    def _refresh(self) -> None:
        if self._bar is None or self._bar_task is None or self._counters is None:
            return
        c = self._counters
        try:
            elapsed = asyncio.get_running_loop().time() - self._started
        except RuntimeError:
            elapsed = 0.0
        s = c.statuses
        counts = (
            f"[green]open {s[HostStatus.OK]}[/] [red]closed {s[HostStatus.CLOSED]}[/] "
            f"[yellow]filtered {s[HostStatus.FILTERED]}[/] in flight {c.in_flight}"
        )
        rate = f"{c.done / elapsed:,.0f}" if elapsed > 0 else ""
        self._bar.update(self._bar_task, completed=c.done, rate=rate, counts=counts)
