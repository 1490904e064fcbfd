"""The live progress line fits the terminal: nothing of it is cut at 80 columns."""

from __future__ import annotations

import io
from collections import Counter

import pytest
from rich.console import Console
from rich.progress import Progress

from epmscan.cli.progress import progress_columns, status_counts
from epmscan.models import HostStatus


def rendered(width: int, total: int, done: int, statuses: Counter[HostStatus]) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False)
    wide = width >= 110
    progress = Progress(*progress_columns("check", width), console=console, auto_refresh=False)
    task = progress.add_task(
        "check",
        total=total,
        rate="12,345",
        counts=status_counts(statuses, 2000, wide=wide),
        completed=done,
    )
    progress.update(task, completed=done)
    console.print(progress.get_renderable())
    return buffer.getvalue()


@pytest.mark.parametrize("width", [80, 100, 120, 200])
@pytest.mark.parametrize("total", [32, 65_536])
def test_the_line_fits_and_keeps_every_count(width: int, total: int) -> None:
    statuses = Counter({HostStatus.OK: total // 2, HostStatus.CLOSED: total // 3})
    statuses[HostStatus.FILTERED] = total - statuses[HostStatus.OK] - statuses[HostStatus.CLOSED]
    text = rendered(width, total, total, statuses)
    (line,) = text.splitlines()
    assert "…" not in line and len(line) <= width, line
    for word, status in (("ok", HostStatus.OK), ("closed", HostStatus.CLOSED)):
        assert f"{word} {statuses[status]:,}" in line, line
    assert f"{total}/{total}" in line and "/s" in line
    assert "0:00:00" in line  # the elapsed time, whole


def test_the_counts_use_the_words_of_the_results() -> None:
    counts = status_counts(Counter({HostStatus.OK: 3}), 7, wide=True)
    assert "ok 3" in counts and "open" not in counts and "in flight 7" in counts
