"""The live progress bar of a run over many hosts (only on a terminal), as an observer.

It reads the engine's counters a few times a second from its own task: nothing per host.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Generic, TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
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


BARLESS_TERMINAL = 90
"""Terminals narrower than this get no bar at all: the counts matter more."""


def progress_columns(label: str, width: int) -> list[ProgressColumn]:
    """The columns of the live line for a terminal ``width`` columns wide (it fits 80)."""
    wide = width >= WIDE_TERMINAL
    columns: list[ProgressColumn] = [TextColumn(f"[bold]{label}")]
    if width >= BARLESS_TERMINAL:
        columns.append(BarColumn(bar_width=None if wide else NARROW_BAR))
    columns += [
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>8} hosts/s" if wide else "{task.fields[rate]}/s"),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
    ]
    if wide:
        columns.append(TimeRemainingColumn())
    return columns


def status_counts(statuses: Mapping[HostStatus, int], in_flight: int, *, wide: bool) -> str:
    """Hosts by status so far, in the words of the results (``ok``, not ``open``)."""
    counts = (
        f"[green]ok {statuses[HostStatus.OK]:,}[/] [red]closed {statuses[HostStatus.CLOSED]:,}[/] "
        f"[yellow]filtered {statuses[HostStatus.FILTERED]:,}[/]"
    )
    return f"{counts} in flight {in_flight:,}" if wide else counts


class ProgressBar(RunObserver[R], Generic[R]):
    """Shows done/total, hosts per second and counts by status while a run goes."""

    def __init__(self, label: str = "scan") -> None:
        self._label = label
        self._bar: Progress | None = None
        self._bar_task: TaskID | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._counters: ScanProgress | None = None
        self._started = 0.0
        self._wide = True

    def run_started(self, start: RunStart) -> None:
        self._counters = start.progress
        console = Console(stderr=True)
        self._wide = console.width >= WIDE_TERMINAL
        columns = progress_columns(self._label, console.width)
        self._bar = Progress(*columns, console=console, transient=True)
        self._bar.start()
        self._bar_task = self._bar.add_task(self._label, total=start.total, rate="0", counts="")
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
        counts = status_counts(c.statuses, c.in_flight, wide=self._wide)
        rate = f"{c.done / elapsed:,.0f}" if elapsed > 0 else "0"
        self._bar.update(self._bar_task, completed=c.done, rate=rate, counts=counts)
