"""The live progress bar of a scan (only on a terminal)."""

from __future__ import annotations

import asyncio
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from epmscan.engine.scanner import ScanProgress
from epmscan.models import HostStatus

REFRESH_SECONDS = 0.2


class ScanDisplay:
    """Reads the scanner's counters a few times a second; costs nothing per host."""

    def __init__(self, progress: ScanProgress, total: int, *, enabled: bool) -> None:
        self._counters = progress
        self._total = total
        self._enabled = enabled
        self._task: asyncio.Task[None] | None = None
        self._bar: Progress | None = None
        self._started = 0.0

    async def __aenter__(self) -> ScanDisplay:
        if not self._enabled:
            return self
        self._bar = Progress(
            TextColumn("[bold]scan"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>8} hosts/s"),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._bar.start()
        self._bar_task = self._bar.add_task("scan", total=self._total, rate="", counts="")
        self._started = asyncio.get_running_loop().time()
        self._task = asyncio.create_task(self._refresh_forever())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._bar is not None:
            self._refresh()
            self._bar.stop()

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            self._refresh()

    def _refresh(self) -> None:
        assert self._bar is not None
        c = self._counters
        elapsed = asyncio.get_running_loop().time() - self._started
        s = c.statuses
        counts = (
            f"[green]open {s[HostStatus.OK]}[/] [red]closed {s[HostStatus.CLOSED]}[/] "
            f"[yellow]filtered {s[HostStatus.FILTERED]}[/] in flight {c.in_flight}"
        )
        rate = f"{c.done / elapsed:,.0f}" if elapsed > 0 else ""
        self._bar.update(self._bar_task, completed=c.done, rate=rate, counts=counts)
