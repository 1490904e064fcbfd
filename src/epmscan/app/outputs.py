"""The output files of a run as an observer: JSON lines, one JSON document, CSV, saves.

Every path is opened before the first connection goes out (a path that cannot be
written is a :class:`~epmscan.errors.UsageError`, nothing sent); each host is written
as soon as it is done, the summary when the run ends, also when it was interrupted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from epmscan.app.observer import RunObserver, RunStart
from epmscan.errors import UsageError
from epmscan.models import HostStatus, RunSummary
from epmscan.report.serialize import info_to_dict, summary_to_dict
from epmscan.report.writers import (
    CheckCsvWriter,
    CsvWriter,
    JsonDocumentWriter,
    JsonlWriter,
    WriterSet,
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


class OutputFiles(RunObserver[R], Generic[R]):
    """Writes every result to the files ``outputs`` names."""

    def __init__(
        self,
        outputs: OutputSettings,
        *,
        to_json: Callable[[R], str],
        to_dict: Callable[[R], dict[str, Any]],
        csv_writer: type[CsvWriter | CheckCsvWriter] = CsvWriter,
    ) -> None:
        self.outputs = outputs
        self.to_json = to_json
        self.to_dict = to_dict
        self.writers = WriterSet()
        try:
            if outputs.jsonl:
                self.writers.add(JsonlWriter(outputs.jsonl))
            if outputs.json_document:
                self.writers.add(JsonDocumentWriter(outputs.json_document))
            if outputs.save:
                self.writers.add(JsonDocumentWriter(outputs.save))
            if outputs.csv:
                self.writers.add(csv_writer(outputs.csv))
        except OSError as exc:
            raise UsageError(f"cannot write {exc.filename}: {exc.strerror}") from None

    def run_started(self, start: RunStart) -> None:
        self.writers.start(info_to_dict(start.info))

    def host_done(self, result: R) -> None:
        if not self.outputs.only_answered or host_status(result) not in SILENT_STATUSES:
            self.writers.write_result(result, self.to_json, self.to_dict)

    def run_finished(self, summary: RunSummary) -> None:
        self.writers.finish(summary_to_dict(summary))
