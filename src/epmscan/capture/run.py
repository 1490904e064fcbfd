"""A capture file in, a :class:`~epmscan.capture.models.CaptureReport` out."""

from __future__ import annotations

from collections.abc import Iterable

from epmscan.capture.analysis import CaptureAnalyzer
from epmscan.capture.flows import Limits
from epmscan.capture.models import CaptureInfo, CaptureReport
from epmscan.capture.source import CaptureSource


def analyze_file(
    path: str, limits: Limits | None = None, *, epm_ports: Iterable[int] = ()
) -> CaptureReport:
    """Read ``path`` (pcap or pcapng, gzip or not) frame by frame and analyse it.

    ``epm_ports`` are TCP ports to read as endpoint mappers besides 135 and 593.

    Raises :class:`~epmscan.capture.source.CaptureFileError` when the file cannot be read
    as a capture at all; a damaged or truncated one gives what was read, with notes.
    """
    analyzer = CaptureAnalyzer(limits, epm_ports=epm_ports)
    with CaptureSource(path) as source:
        add = analyzer.add
        for record in source:
            add(record)
        for note in source.notes:
            analyzer.note(note)
        info = CaptureInfo(
            file=path,
            format=source.format,
            frames=source.frames,
            tcp_segments=0,
            first_time=source.first_time,
            last_time=source.last_time,
            complete=source.complete,
        )
    return analyzer.finish(info)
