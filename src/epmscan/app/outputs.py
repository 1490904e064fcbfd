"""The output files of a run as an observer: JSON lines, one JSON document, CSV, saves.

Every path is checked before anything is opened and before the first connection goes
out (a path that cannot be written, or two outputs on one path, is a
:class:`~epmscan.errors.UsageError`: nothing sent, no existing file touched); each host
is written as soon as it is done, the summary when the run ends, also when it was
interrupted. A write error during the run (a full disk) is remembered and stops the run;
the caller reports it (exit 2) and what was written stays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from epmscan.app.observer import RunObserver, RunStart
from epmscan.models import HostStatus, RunSummary
from epmscan.report.order import address_key
from epmscan.report.serialize import info_to_dict, summary_to_dict
from epmscan.report.writers import (
    CheckCsvWriter,
    CsvWriter,
    JsonDocumentWriter,
    JsonlWriter,
    OutputError,
    SecurityCsvWriter,
    WriterSet,
    check_paths,
)
from epmscan.settings import OutputSettings

R = TypeVar("R")

SILENT_STATUSES = frozenset(
    {HostStatus.CLOSED, HostStatus.FILTERED, HostStatus.UNREACHABLE, HostStatus.UNRESOLVED}
)
"""Statuses of hosts that did not answer at all (left out by ``--only-answered``)."""


def host_status(result: Any) -> HostStatus:
    """The status of a result: a :class:`HostResult`, or anything with one in ``.host``."""
    host = getattr(result, "host", result)
    status: HostStatus = host.status
    return status


def output_paths(outputs: OutputSettings) -> list[tuple[str, str]]:
    """(option, path) of every output asked for."""
    named = (
        ("--jsonl", outputs.jsonl),
        ("--json", outputs.json_document),
        ("--save", outputs.save),
        ("--csv", outputs.csv),
    )
    return [(option, path) for option, path in named if path]


class OutputFiles(RunObserver[R], Generic[R]):
    """Writes every result to the files ``outputs`` names."""

    def __init__(
        self,
        outputs: OutputSettings,
        *,
        to_json: Callable[[R], str],
        to_dict: Callable[[R], dict[str, Any]],
        csv_writer: type[CsvWriter | CheckCsvWriter | SecurityCsvWriter] = CsvWriter,
    ) -> None:
        check_paths(output_paths(outputs))
        self.outputs = outputs
        self.to_json = to_json
        self.to_dict = to_dict
        self.error: OutputError | None = None
        self._stop: Callable[[], None] | None = None
        self.writers = WriterSet()
        try:
            # The sorted outputs open PATH.partial and touch no existing file; JSON lines
            # open their path itself, so they come last: a path that fails to open before
            # them costs nothing.
            if outputs.json_document:
                self.writers.add(JsonDocumentWriter(outputs.json_document))
            if outputs.save:
                self.writers.add(JsonDocumentWriter(outputs.save))
            if outputs.csv:
                self.writers.add(csv_writer(outputs.csv))
            if outputs.jsonl:
                self.writers.add(JsonlWriter(outputs.jsonl))
        except OutputError:
            self.writers.discard()
            raise

    def _failed(self, exc: OutputError) -> None:
        if self.error is None:
            self.error = exc
            self.writers.abandon()
            if self._stop is not None:
                self._stop()

    def run_started(self, start: RunStart) -> None:
        self._stop = start.stop
        try:
            self.writers.start(info_to_dict(start.info))
        except OutputError as exc:
            self._failed(exc)

    def host_done(self, result: R) -> None:
        if self.error is not None:
            return
        if self.outputs.only_answered and host_status(result) in SILENT_STATUSES:
            return
        host: Any = getattr(result, "host", result)
        key = address_key(host.address, host.target)
        try:
            self.writers.write_result(result, key, self.to_json, self.to_dict)
        except OutputError as exc:
            self._failed(exc)

    def run_finished(self, summary: RunSummary) -> None:
        if self.error is not None:
            return
        try:
            self.writers.finish(summary_to_dict(summary))
        except OutputError as exc:
            self._failed(exc)

    def raise_error(self) -> None:
        """Raise the write error that stopped the run, if one did."""
        if self.error is not None:
            raise self.error
