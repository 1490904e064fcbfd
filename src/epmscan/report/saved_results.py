"""Reading a saved result back into the models: one loader for ``diff``, ``firewall``, ``report``.

Tolerant of the envelope: a JSON document (``{"epmscan": header, "hosts": [...]}``, a
list of host objects, an object with ``hosts``/``results``, or one host object) or a
JSONL stream (an ``{"epmscan": header}`` line, one host object per line, a summary
line). Each host object has the :func:`~epmscan.report.serialize.host_to_dict` shape,
with an ``exchange`` member for a ``check`` and a ``security`` member for
``scan --findings`` (both read back; :attr:`SavedRun.security` shares each host's
:class:`~epmscan.models.HostResult` with :attr:`SavedRun.hosts`). The closing summary is
read too where there is one. Every schema up to
:data:`~epmscan.report.serialize.SCHEMA_VERSION` is read.

A file cut short (a run killed before it finished: ``PATH.partial``, or JSON lines whose
last line is incomplete) is read as far as it goes, with a note. Everything else that
is wrong (not JSON, not UTF-8, binary, no host in it, a newer schema) is one
:class:`~epmscan.errors.UsageError` line naming the file.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is installed where it has wheels
    orjson = None  # type: ignore[assignment]

from epmscan.errors import UsageError
from epmscan.models import ExchangeHostReport, RunInfo, RunSummary, SavedRun, SecurityHostReport
from epmscan.report.serialize import (
    SCHEMA_VERSION,
    exchange_from_dict,
    info_from_dict,
    security_member_from_dict,
    summary_from_dict,
)
from epmscan.report.text import counted

MAX_SAVED_BYTES = 4 * 1024 * 1024 * 1024
"""A saved result larger than this is refused rather than read into memory."""


def _is_host(obj: object) -> bool:
    return isinstance(obj, dict) and "status" in obj and ("address" in obj or "target" in obj)


def _hosts_in(document: object) -> list[dict[str, Any]]:
    if _is_host(document):
        return [document]  # type: ignore[list-item]
    if isinstance(document, list):
        return [h for h in document if _is_host(h)]
    if isinstance(document, dict):
        for key in ("hosts", "results"):
            if isinstance(document.get(key), list):
                return [h for h in document[key] if _is_host(h)]
        inner = document.get("host")
        if _is_host(inner):
            return [inner]  # type: ignore[list-item]
    return []


def _header_in(document: object) -> dict[str, Any] | None:
    if isinstance(document, dict) and isinstance(document.get("epmscan"), dict):
        header: dict[str, Any] = document["epmscan"]
        return header
    return None


def _summary_in(document: object) -> dict[str, Any] | None:
    if isinstance(document, dict) and isinstance(document.get("summary"), dict):
        summary: dict[str, Any] = document["summary"]
        return summary
    return None


def _loads(text: str | bytes) -> Any:
    """``json.loads``, through orjson where it is installed (several times faster)."""
    if orjson is not None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass  # what orjson refuses (NaN, huge integers) json may still read
    return json.loads(text)


def _line_item(line: str) -> Any:
    """One line of a layout read a line at a time (raises ``json.JSONDecodeError``)."""
    try:
        return _loads(line)
    except json.JSONDecodeError:
        if line.startswith('{"epmscan":'):  # a document's first line: its header, no end
            return _loads(line + "}")
        if line.startswith('"summary":'):  # a document's last but one line
            return _loads("{" + line + "}")
        raise


def _read_lines(lines: Iterable[str | bytes], source: str) -> SavedRun:
    """JSON lines, or a document a host per line (also one cut short), as models.

    Each host's models are made as its line is read, so a big result never sits in
    memory as text and dicts at once. Trailing commas and the document's brackets are
    skipped; a last line cut short is a note, any other line that is not JSON an error.
    """
    built = _RunBuilder(source)
    bad: list[tuple[int, str]] = []
    malformed: UsageError | None = None
    written = 0
    for number, raw in enumerate(lines, 1):
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        line = text.strip().rstrip(",")
        if text.strip():
            written += 1
        if not line or line in ("[", "]", "{", "}", '"hosts": ['):
            continue
        try:
            item = _line_item(line)
        except json.JSONDecodeError as exc:
            bad.append((number, exc.msg))
            continue
        header = _header_in(item)
        if header is not None:
            built.header(header)
        summary = _summary_in(item)
        if summary is not None and not _is_host(item):
            built.summary_of(summary)
        for host in _hosts_in(item):
            try:
                built.host(host)
            except UsageError as exc:  # told after a line that is not JSON, as a whole read
                malformed = malformed or exc
    notes: tuple[str, ...] = ()
    if bad:
        if len(bad) == 1 and bad[0][0] >= written and built.hosts:
            notes = (
                f"{source}: the file ends inside line {bad[0][0]} (a run cut short?): "
                f"read the {counted(len(built.hosts), 'host')} before it",
            )
        else:
            number, message = bad[0]
            raise UsageError(f"{source}:{number}: not a saved epmscan result ({message})")
    if malformed is not None:
        raise malformed
    return built.run(notes)


def _read_whole(text: str | bytes, source: str) -> SavedRun:
    """A result decoded whole (any JSON holding host results); not JSON: read by lines."""
    try:
        document = _loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError):
        lines = text.decode("utf-8") if isinstance(text, bytes) else text
        return _read_lines(lines.splitlines(), source)
    built = _RunBuilder(source)
    header, summary = _header_in(document), _summary_in(document)
    hosts = _hosts_in(document)
    del document  # each host's dict goes once its models are made
    if not hosts:
        return built.run()
    if header is not None:
        built.header(header)
    for number, data in enumerate(hosts):
        hosts[number] = {}
        built.host(data)
    if summary is not None:
        built.summary_of(summary)
    return built.run()


def _report(data: dict[str, Any]) -> ExchangeHostReport:
    data = dict(data)
    data.setdefault("target", data.get("address", ""))
    return exchange_from_dict(data)


def parse_saved_run(text: str, source: str = "<saved>") -> SavedRun:
    """A saved result's text as models."""
    if "\x00" in text:
        raise UsageError(f"{source}: a binary file, not a saved epmscan result")
    return _read_whole(text, source)


class _RunBuilder:
    """Models made host by host, so a big result never holds all its hosts as dicts."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.info: RunInfo | None = None
        self.hosts: list[ExchangeHostReport] = []
        self.security: list[SecurityHostReport | None] = []
        self.catalogues: set[int] = set()
        self.checked = False
        self.summary: RunSummary | None = None

    def header(self, data: dict[str, Any]) -> None:
        try:
            info = info_from_dict(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"{self.source}: its epmscan header is malformed ({exc})") from None
        if info.schema > SCHEMA_VERSION:
            raise UsageError(
                f"{self.source}: saved with schema {info.schema}, newer than this epmscan reads "
                f"({SCHEMA_VERSION}): upgrade epmscan"
            )
        self.info = info

    def host(self, data: dict[str, Any]) -> None:
        number = len(self.hosts) + 1
        self.checked = self.checked or "exchange" in data
        try:
            report = _report(data)
            saved_security = data.get("security")
            if isinstance(saved_security, dict):
                self.security.append(security_member_from_dict(saved_security, report.host))
                self.catalogues.add(int(saved_security.get("catalogue", 1)))
            else:
                self.security.append(None)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UsageError(f"{self.source}: host {number} is malformed ({exc!r})") from None
        self.hosts.append(report)

    def summary_of(self, data: dict[str, Any]) -> None:
        try:
            self.summary = summary_from_dict(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UsageError(f"{self.source}: its summary is malformed ({exc!r})") from None

    def run(self, notes: tuple[str, ...] = ()) -> SavedRun:
        if not self.hosts:
            raise UsageError(f"{self.source}: no host results found (not a saved epmscan result?)")
        return SavedRun(
            info=self.info,
            hosts=tuple(self.hosts),
            exchange_checked=self.checked,
            source=self.source,
            notes=notes,
            security=tuple(self.security) if self.catalogues else (),
            security_catalogue=max(self.catalogues) if self.catalogues else None,
            summary=self.summary,
        )


def load_saved_run(path: str | Path) -> SavedRun:
    """Read a saved result file (``--save``/``--json`` document, ``.partial``, ``--jsonl``).

    epmscan's own layouts are read a line at a time from the file (a /16 never sits in
    memory as text); anything else is read whole.
    """
    file = Path(path)
    source = str(file)
    try:
        if file.is_dir():
            raise UsageError(f"{file}: is a directory, not a saved result")
        if file.stat().st_size > MAX_SAVED_BYTES:
            raise UsageError(f"{file}: larger than {MAX_SAVED_BYTES >> 30} GiB; not read")
        with open(file, "rb") as stream:
            fault = _text_fault(stream)
            if fault is not None:
                raise UsageError(f"{source}: {fault}, not a saved epmscan result")
            stream.seek(0)
            if _epmscan_layout(stream):
                stream.seek(0)
                return _read_lines(stream, source)
        data = file.read_bytes()
    except OSError as exc:
        raise UsageError(f"{file}: cannot read: {exc.strerror or exc}") from None
    return _read_whole(data, source)


def _epmscan_layout(stream: BinaryIO) -> bool:
    """Whether the file starts as epmscan writes results: a header line, a host a line."""
    for line in stream:
        if line.strip():
            return line.startswith(b'{"epmscan":')
    return False


_CHECK_CHUNK = 1 << 20


def _text_fault(stream: BinaryIO) -> str | None:
    """Why the file is no text (a NUL byte, not UTF-8), read a megabyte at a time."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while chunk := stream.read(_CHECK_CHUNK):
            if b"\x00" in chunk:
                return "a binary file"
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "not UTF-8 text"
    return None
