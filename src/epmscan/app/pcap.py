"""``pcap``: what a capture shows of endpoint-mapper conversations and what came after.

The capture package reads the file frame by frame and reconstructs the conversations
and connections (observations); ``checks`` turns them into verdicts per client, server
and interface.
"""

from __future__ import annotations

from dataclasses import replace

from epmscan.capture.analysis import CaptureAnalyzer
from epmscan.capture.source import CaptureSource
from epmscan.checks.capture_verdicts import build_verdicts
from epmscan.models.capture import CaptureInfo, CaptureReport
from epmscan.settings import PcapSettings


def analyze_capture(settings: PcapSettings) -> CaptureReport:
    """Read the capture (pcap or pcapng, gzip or not) and judge what it shows.

    Raises :class:`~epmscan.errors.UsageError` when the file cannot be read as a capture
    at all; a damaged or truncated one gives what was read, with notes.
    """
    analyzer = CaptureAnalyzer(epm_ports=settings.epm_ports)
    with CaptureSource(settings.file) as source:
        add = analyzer.add
        for record in source:
            add(record)
        for note in source.notes:
            analyzer.note(note)
        info = CaptureInfo(
            file=settings.file,
            format=source.format,
            frames=source.frames,
            tcp_segments=0,
            first_time=source.first_time,
            last_time=source.last_time,
            complete=source.complete,
        )
    return judged(analyzer.finish(info))


def judged(report: CaptureReport) -> CaptureReport:
    """The report with its verdicts, from what the capture showed."""
    verdicts = build_verdicts(report.epm_calls, report.mappings, report.connections)
    return replace(report, verdicts=verdicts)
