"""``report``: one self-contained HTML page for a saved result.

The saved result is read by the one loader (:func:`~epmscan.report.saved_results.load_saved_run`).
Each host's security view is the one ``scan --findings`` saved; a host saved without one
(a plain scan, a ``check``) gets it computed here from its endpoints with
:func:`~epmscan.checks.exposure.build_security_report` and the packaged catalogue (no
port is bound: nothing is sent), and the page says so. The page is written by
:func:`~epmscan.report.html.render_html` and put in place in one rename
(:func:`~epmscan.report.writers.write_document`), after every path was checked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from epmscan.checks.exposure import build_security_report
from epmscan.errors import UsageError
from epmscan.facts.security import CATALOGUE
from epmscan.models import SavedRun, SecurityHostReport
from epmscan.report.html import ReportContent, ReportTally, render_html, tally
from epmscan.report.saved_results import load_saved_run
from epmscan.report.text import utc_timestamp
from epmscan.report.writers import check_paths, write_document
from epmscan.settings import ReportSettings


@dataclass(frozen=True, slots=True)
class ReportOutcome:
    """What was written: the page's size, and the numbers it states."""

    path: str
    size: int
    """Bytes of the page (UTF-8)."""
    counts: ReportTally
    computed: int
    """Hosts whose security view was computed at report time."""
    notes: tuple[str, ...] = ()


def security_views(saved: SavedRun) -> tuple[tuple[SecurityHostReport, ...], int]:
    """Each host's security view (saved, else computed now) and how many were computed."""
    views: list[SecurityHostReport] = []
    computed = 0
    saved_views = saved.security or (None,) * len(saved.hosts)
    for report, view in zip(saved.hosts, saved_views, strict=True):
        if view is None:
            view = build_security_report(report.host)
            computed += 1
        views.append(view)
    return tuple(views), computed


def report_content(saved: SavedRun, settings: ReportSettings) -> ReportContent:
    """What the page of ``saved`` shows, security views completed."""
    views, computed = security_views(saved)
    return ReportContent(
        saved=saved,
        security=views,
        computed=computed,
        catalogue=CATALOGUE.version,
        generated=utc_timestamp(),
        full_hosts=settings.full_hosts,
    )


def write_report(settings: ReportSettings) -> ReportOutcome:
    """Read ``settings.result``, write its page to ``settings.html``.

    Raises :class:`~epmscan.errors.UsageError` (an unwritable output, a file that is not
    a saved result, a newer schema) before anything is written.
    """
    check_paths([("--html", settings.html)])
    if settings.html != "-" and os.path.realpath(settings.html) == os.path.realpath(
        settings.result
    ):
        raise UsageError(f"--html {settings.html}: that is the result being read; give another")
    saved = load_saved_run(settings.result)
    content = report_content(saved, settings)
    counts = tally(content)
    page = render_html(content, counts)
    write_document(settings.html, page)
    return ReportOutcome(
        path=settings.html,
        size=len(page.encode("utf-8")),
        counts=counts,
        computed=content.computed,
        notes=saved.notes,
    )
