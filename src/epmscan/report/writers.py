"""Streaming result writers: JSON lines, one JSON document, CSV.

Each writer takes one host at a time and puts it on disk at once (JSONL flushes every
line), so a scan that is interrupted or killed keeps every host it finished. Nothing
here holds the whole result set in memory.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Mapping
from typing import Any, TextIO, TypeVar

R = TypeVar("R")

CSV_COLUMNS = (
    "target",
    "address",
    "epm_port",
    "status",
    "error",
    "uuid",
    "version",
    "name",
    "annotation",
    "transport",
    "endpoint_address",
    "port",
    "endpoint",
    "binding",
)


def open_output(path: str) -> TextIO:
    """``-`` is stdout; anything else a file opened for writing (line-buffered)."""
    if path == "-":
        return sys.stdout
    return open(path, "w", encoding="utf-8", buffering=1, newline="")


class _Writer:
    def __init__(self, path: str) -> None:
        self.path = path
        self.stream = open_output(path)

    def close(self) -> None:
        if self.stream is not sys.stdout:
            self.stream.close()
        else:
            self.stream.flush()


class JsonlWriter(_Writer):
    """One JSON object per host, flushed per line; a last ``{"summary": ...}`` line."""

    wants_json = True

    def start(self, header: Mapping[str, Any]) -> None:
        """Nothing before the first host (each line stands alone)."""

    def write_host(self, line: str) -> None:
        """``line``: the host as one line of JSON, without the newline."""
        self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self, summary: Mapping[str, Any]) -> None:
        self.stream.write(json.dumps({"summary": summary}, separators=(",", ":")) + "\n")
        self.close()


class JsonDocumentWriter(_Writer):
    """``{"epmscan": ..., "hosts": [...], "summary": {...}}`` written as it goes."""

    wants_json = True

    def start(self, header: Mapping[str, Any]) -> None:
        """Open the document with its ``epmscan`` header."""
        self.stream.write('{"epmscan": ' + json.dumps(header) + ',\n "hosts": [')
        self._first = True

    def write_host(self, line: str) -> None:
        """``line``: the host as one line of JSON."""
        self.stream.write(("\n  " if self._first else ",\n  ") + line)
        self._first = False
        self.stream.flush()

    def finish(self, summary: Mapping[str, Any]) -> None:
        self.stream.write('\n ],\n "summary": ' + json.dumps(summary) + "\n}\n")
        self.close()


class CsvWriter(_Writer):
    """One row per endpoint; a host without endpoints gets one row with its status."""

    wants_json = False

    def start(self, header: Mapping[str, Any]) -> None:
        self._csv = csv.writer(self.stream)
        self._csv.writerow(CSV_COLUMNS)

    def write_host(self, host: Mapping[str, Any]) -> None:
        base = [host["target"], host["address"], host["port"], host["status"], host["error"] or ""]
        endpoints = host.get("endpoints") or ()
        if not endpoints:
            self._csv.writerow(base + [""] * (len(CSV_COLUMNS) - len(base)))
        for e in endpoints:
            self._csv.writerow(
                base
                + [
                    e["uuid"],
                    e["version"],
                    e.get("name") or "",
                    e.get("annotation") or "",
                    e["transport"],
                    e.get("address") or "",
                    "" if e.get("port") is None else e["port"],
                    e.get("endpoint") or "",
                    e["binding"],
                ]
            )
        self.stream.flush()

    def finish(self, summary: Mapping[str, Any]) -> None:
        self.close()


class WriterSet:
    """The writers a scan asked for, fed together."""

    def __init__(self) -> None:
        self.writers: list[JsonlWriter | JsonDocumentWriter | CsvWriter | CheckCsvWriter] = []

    def add(self, writer: JsonlWriter | JsonDocumentWriter | CsvWriter | CheckCsvWriter) -> None:
        self.writers.append(writer)

    def write_result(
        self, result: R, to_json: Callable[[R], str], to_dict: Callable[[R], dict[str, Any]]
    ) -> None:
        """Hand one result to every writer, encoding it at most once per form."""
        line: str | None = None
        data: dict[str, Any] | None = None
        for writer in self.writers:
            if writer.wants_json:
                line = to_json(result) if line is None else line
                writer.write_host(line)  # type: ignore[arg-type]
            else:
                data = to_dict(result) if data is None else data
                writer.write_host(data)  # type: ignore[arg-type]

    def start(self, header: Mapping[str, Any]) -> None:
        for writer in self.writers:
            writer.start(header)

    def finish(self, summary: Mapping[str, Any]) -> None:
        for writer in self.writers:
            writer.finish(summary)


CHECK_CSV_COLUMNS = (
    "target",
    "address",
    "status",
    "kind",
    "interface",
    "transport",
    "port",
    "expected",
    "state",
    "probe",
    "severity",
    "code",
    "message",
    "fix",
)


class CheckCsvWriter(_Writer):
    """``epmscan check`` as CSV: a row per resolved port, per HTTP port, per finding."""

    wants_json = False

    def start(self, header: Mapping[str, Any]) -> None:
        self._csv = csv.writer(self.stream)
        self._csv.writerow(CHECK_CSV_COLUMNS)

    def write_host(self, host: Mapping[str, Any]) -> None:
        base = [host["target"], host["address"], host["status"]]
        ex = host.get("exchange") or {}
        rows: list[list[Any]] = []
        for p in ex.get("ports", ()):
            rows.append(
                [
                    "port",
                    p["interface"],
                    p["transport"],
                    _blank(p.get("port")),
                    _blank(p.get("expected_port")),
                    p.get("port_class") or "",
                    p.get("probe") or "",
                    "",
                    "",
                    p.get("probe_detail") or "",
                    "",
                ]
            )
        for h in ex.get("http", ()):
            rows.append(
                [
                    "http",
                    h["interface"],
                    "ncacn_http",
                    h["port"],
                    "",
                    h["status"],
                    h.get("bind") or "",
                    "",
                    "",
                    h.get("banner") or h.get("detail") or "",
                    "",
                ]
            )
        for f in ex.get("findings", ()):
            rows.append(
                [
                    "finding",
                    f.get("interface") or "",
                    "",
                    "",
                    f.get("expected") or "",
                    f.get("found") or "",
                    "",
                    f["severity"],
                    f["code"],
                    f["message"],
                    f.get("fix") or "",
                ]
            )
        if not rows:
            rows.append(["host"] + [""] * 5 + [host.get("error") or ""] + [""] * 4)
        for row in rows:
            self._csv.writerow(base + row)
        self.stream.flush()

    def finish(self, summary: Mapping[str, Any]) -> None:
        self.close()


def _blank(value: object) -> object:
    return "" if value is None else value
