"""Streaming result writers: JSON lines, one JSON document, CSV; safe with existing files.

Each writer takes one host at a time and puts it on disk at once, so a run that is
interrupted or killed keeps every host it finished:

- JSON lines go straight to their path, one object per line, flushed per host: a
  ``{"epmscan": header}`` line first, a ``{"summary": ...}`` line last.
- A JSON document (``--json``, ``--save``) and a CSV file are written as they go to
  ``PATH.partial``; when the run ends (also by SIGINT/SIGTERM) the hosts are put in
  address order into ``PATH`` (replaced in one rename). A file that existed at PATH is
  untouched until then; after a SIGKILL, ``PATH.partial`` holds every finished host
  (``epmscan diff`` and ``firewall`` read it, with a note).

:func:`check_paths` checks every path before any is opened (writable, not a directory,
no two outputs on one path), so a bad path never costs an existing file. A write error
(a full disk) raises :class:`OutputError`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TextIO, TypeVar

from epmscan.errors import UsageError
from epmscan.report.order import SortKey
from epmscan.report.text import csv_cell

R = TypeVar("R")

PARTIAL_SUFFIX = ".partial"
SORT_LIMIT = 2_000_000
"""Documents with more hosts than this keep the order hosts finished in (the offsets
needed for sorting would cost too much memory); the summary says so."""

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


class OutputError(UsageError):
    """An output file could not be written (a full disk, a removed directory)."""


def check_paths(paths: Iterable[tuple[str, str]]) -> None:
    """Every output path can be written, and no two outputs share one.

    ``paths`` are (option, path) pairs; ``-`` is standard output (at most one output).
    Raises :class:`UsageError` naming the option and the path; opens nothing.
    """
    seen: dict[str, str] = {}
    for option, path in paths:
        key = "-" if path == "-" else os.path.realpath(path)
        if key in seen:
            where = "standard output" if path == "-" else path
            raise UsageError(f"{seen[key]} and {option} both write to {where}; give each its own")
        seen[key] = option
        if path == "-":
            continue
        if os.path.isdir(path):
            raise UsageError(f"{option} {path}: is a directory")
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise UsageError(f"{option} {path}: no such directory {folder}")
        if os.path.exists(path) and not os.access(path, os.W_OK):
            raise UsageError(f"{option} {path}: not writable")
        if not os.access(folder, os.W_OK):
            raise UsageError(f"{option} {path}: cannot create files in {folder}")


def _open(path: str, shown: str) -> TextIO:
    try:
        return open(path, "w", encoding="utf-8", newline="")
    except OSError as exc:
        raise OutputError(f"cannot write {shown}: {exc.strerror or exc}") from None


def write_document(path: str, text: str) -> None:
    """Write a whole document to ``path`` (``-``: stdout) in one rename: never half a file."""
    if path == "-":
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except OSError as exc:
            raise OutputError(f"cannot write standard output: {exc.strerror or exc}") from None
        return
    partial = path + PARTIAL_SUFFIX
    try:
        with _open(partial, path) as stream:
            stream.write(text)
        os.replace(partial, path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


class _Stream:
    """One output: stdout, or a file (written to ``.partial`` when it is sorted at the end)."""

    sorted_at_end = False

    def __init__(self, path: str) -> None:
        self.path = path
        self.to_stdout = path == "-"
        self.shown = "standard output" if self.to_stdout else path
        if self.to_stdout:
            self.file_path = "-"
            self.stream: TextIO = sys.stdout
        else:
            self.file_path = path + PARTIAL_SUFFIX if self.sorted_at_end else path
            self.stream = _open(self.file_path, path)

    def write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except OSError as exc:
            raise OutputError(f"cannot write {self.shown}: {exc.strerror or exc}") from None

    def close(self) -> None:
        try:
            if self.to_stdout:
                self.stream.flush()
            else:
                self.stream.close()
        except OSError as exc:
            raise OutputError(f"cannot write {self.shown}: {exc.strerror or exc}") from None


class JsonlWriter(_Stream):
    """One JSON object per line: the header, each host as it ends, the summary."""

    wants_json = True

    def start(self, header: Mapping[str, Any]) -> None:
        self.write(json.dumps({"epmscan": header}, separators=(",", ":")) + "\n")

    def write_host(self, line: str, key: SortKey) -> None:
        """``line``: the host as one line of JSON, without the newline."""
        self.write(line + "\n")

    def finish(self, summary: Mapping[str, Any]) -> None:
        self.write(json.dumps({"summary": summary}, separators=(",", ":")) + "\n")
        self.close()


class _SortedAtEnd(_Stream):
    """Written as it goes to ``PATH.partial``; put in host order into ``PATH`` at the end."""

    sorted_at_end = True

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self._blocks: list[tuple[SortKey, int, int]] = []
        self._offset = 0
        self.sorted = True

    def _append(self, text: str, key: SortKey | None) -> None:
        size = len(text.encode("utf-8"))
        if key is not None and not self.to_stdout:
            if len(self._blocks) < SORT_LIMIT:
                self._blocks.append((key, self._offset, size))
            else:
                self.sorted = False
        self._offset += size
        self.write(text)

    def _copy_sorted(self, head: str, tail: str, join: str = "") -> None:
        """Write PATH from the partial file: ``head``, the blocks by key, ``tail``."""
        self.close()
        if self.to_stdout:
            return
        blocks = sorted(self._blocks) if self.sorted else self._blocks
        final = self.path + ".tmp"
        try:
            with open(self.file_path, "rb") as source, open(final, "wb") as target:
                target.write(head.encode("utf-8"))
                for index, (_, offset, size) in enumerate(blocks):
                    source.seek(offset)
                    if index and join:
                        target.write(join.encode("utf-8"))
                    target.write(source.read(size))
                target.write(tail.encode("utf-8"))
            os.replace(final, self.path)
            os.unlink(self.file_path)
        except OSError as exc:
            raise OutputError(
                f"cannot write {self.path}: {exc.strerror or exc} "
                f"(every host is in {self.file_path})"
            ) from None


class JsonDocumentWriter(_SortedAtEnd):
    """``{"epmscan": header, "hosts": [...], "summary": {...}}``, hosts by address."""

    wants_json = True

    def start(self, header: Mapping[str, Any]) -> None:
        self._head = '{"epmscan": ' + json.dumps(header) + ',\n "hosts": ['
        self._append(self._head, None)
        self._first = True

    def write_host(self, line: str, key: SortKey) -> None:
        """``line``: the host as one line of JSON."""
        separator = "\n  " if self._first else ",\n  "
        self._first = False
        self._append(separator, None)
        self._append(line, key)

    def finish(self, summary: Mapping[str, Any]) -> None:
        data = dict(summary)
        if not self.sorted or self.to_stdout:  # stdout streams: hosts as they finish
            data["hosts_sorted"] = False
        tail = '\n ],\n "summary": ' + json.dumps(data) + "\n}\n"
        if self.to_stdout:
            self.write(tail)
            self.close()
            return
        self.write(tail)
        self._copy_sorted(self._head + ("\n  " if self._blocks else ""), tail, ",\n  ")


class _CsvBase(_SortedAtEnd):
    wants_json = False
    columns: tuple[str, ...] = ()

    def start(self, header: Mapping[str, Any]) -> None:
        self._header_text = self._rows([self.columns])
        self._append(self._header_text, None)

    @staticmethod
    def _rows(rows: Iterable[Iterable[object]]) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for row in rows:
            writer.writerow([csv_cell(cell) for cell in row])
        return buffer.getvalue()

    def finish(self, summary: Mapping[str, Any]) -> None:
        if self.to_stdout:
            self.close()
            return
        self._copy_sorted(self._header_text, "")


class CsvWriter(_CsvBase):
    """One row per endpoint; a host without endpoints gets one row with its status."""

    columns = CSV_COLUMNS

    def write_host(self, host: Mapping[str, Any], key: SortKey) -> None:
        base = [host["target"], host["address"], host["port"], host["status"], host["error"] or ""]
        endpoints = host.get("endpoints") or ()
        rows: list[list[object]] = []
        if not endpoints:
            rows.append(base + [""] * (len(CSV_COLUMNS) - len(base)))
        for e in endpoints:
            rows.append(
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
        self._append(self._rows(rows), key)


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


class CheckCsvWriter(_CsvBase):
    """``epmscan check`` as CSV: a row per resolved port, per HTTP port, per finding."""

    columns = CHECK_CSV_COLUMNS

    def write_host(self, host: Mapping[str, Any], key: SortKey) -> None:
        base = [host["target"], host["address"], host["status"]]
        ex = host.get("exchange") or {}
        rows: list[list[Any]] = []
        for p in ex.get("ports", ()):
            rows.append(
                ["port", p["interface"], p["transport"], _blank(p.get("port")),
                 _blank(p.get("expected_port")), p.get("port_class") or "", p.get("probe") or "",
                 "", "", p.get("probe_detail") or "", ""]
            )  # fmt: skip
        for h in ex.get("http", ()):
            rows.append(
                ["http", h["interface"], "ncacn_http", h["port"], "", h["status"],
                 h.get("bind") or "", "", "", h.get("banner") or h.get("detail") or "", ""]
            )  # fmt: skip
        for f in ex.get("findings", ()):
            rows.append(
                ["finding", f.get("interface") or "", "", "", f.get("expected") or "",
                 f.get("found") or "", "", f["severity"], f["code"], f["message"],
                 f.get("fix") or ""]
            )  # fmt: skip
        if not rows:
            rows.append(["host"] + [""] * 5 + [host.get("error") or ""] + [""] * 4)
        self._append(self._rows(base + row for row in rows), key)


SECURITY_CSV_COLUMNS = (
    "target",
    "address",
    "status",
    "kind",
    "severity",
    "code",
    "interface",
    "document",
    "uuid",
    "version",
    "transport",
    "port",
    "endpoint",
    "binding",
    "registered",
    "verify",
    "message",
)


class SecurityCsvWriter(_CsvBase):
    """``scan --findings`` as CSV: a row per inferred role, per finding and transport.

    ``kind`` is ``role`` (``code`` is ``role.<role>``, ``interface`` the evidence ids
    joined by ``;``, ``message`` the confidence), ``finding`` (one row per transport the
    interface is reachable on; ``epm.anonymous`` has none) or ``host`` (a host that gave
    neither, with its error).
    """

    columns = SECURITY_CSV_COLUMNS

    def write_host(self, host: Mapping[str, Any], key: SortKey) -> None:
        base = [host["target"], host["address"], host["status"]]
        sec = host.get("security") or {}
        rows: list[list[Any]] = []
        for r in sec.get("roles", ()):
            rows.append(
                ["role", "", f"role.{r['role']}", ";".join(r.get("evidence", ())), "", "",
                 "", "", "", "", "", "", "", f"{r['confidence']} confidence"]
            )  # fmt: skip
        for f in sec.get("findings", ()):
            head = [
                "finding",
                f["severity"],
                f["code"],
                f.get("interface") or "",
                f.get("document") or "",
                f.get("uuid") or "",
                f.get("version") or "",
            ]
            reachable = f.get("reachable") or ()
            if not reachable:
                rows.append(head + [""] * 6 + [f["message"]])
            for t in reachable:
                rows.append(
                    head
                    + [t["transport"], _blank(t.get("port")), t.get("endpoint") or "",
                       t["binding"], "true" if t.get("registered", True) else "false",
                       t.get("verify") or "", f["message"]]
                )  # fmt: skip
        if not rows:
            rows.append(["host"] + [""] * 12 + [host.get("error") or ""])
        self._append(self._rows(base + row for row in rows), key)


def _blank(value: object) -> object:
    return "" if value is None else value


Writer = JsonlWriter | JsonDocumentWriter | CsvWriter | CheckCsvWriter | SecurityCsvWriter


class WriterSet:
    """The writers a run asked for, fed together."""

    def __init__(self) -> None:
        self.writers: list[Writer] = []

    def add(self, writer: Writer) -> None:
        self.writers.append(writer)

    def start(self, header: Mapping[str, Any]) -> None:
        for writer in self.writers:
            writer.start(header)

    def write_result(
        self,
        result: R,
        key: SortKey,
        to_json: Callable[[R], str],
        to_dict: Callable[[R], dict[str, Any]],
    ) -> None:
        """Hand one result to every writer, encoding it at most once per form."""
        line: str | None = None
        data: dict[str, Any] | None = None
        for writer in self.writers:
            if writer.wants_json:
                line = to_json(result) if line is None else line
                writer.write_host(line, key)  # type: ignore[arg-type]
            else:
                data = to_dict(result) if data is None else data
                writer.write_host(data, key)  # type: ignore[arg-type]

    def finish(self, summary: Mapping[str, Any]) -> None:
        errors = []
        for writer in self.writers:
            try:
                writer.finish(summary)
            except OutputError as exc:
                errors.append(str(exc))
        if errors:
            raise OutputError("; ".join(errors))

    def discard(self) -> None:
        """Close and remove the partial files of a run that never started."""
        self.abandon()
        for writer in self.writers:
            if writer.file_path != writer.path:
                try:
                    os.unlink(writer.file_path)
                except OSError:
                    pass

    def abandon(self) -> None:
        """Close every file as it is (after a write error): what was written stays."""
        for writer in self.writers:
            try:
                writer.close()
            except OutputError:
                pass
