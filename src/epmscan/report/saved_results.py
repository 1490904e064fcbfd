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

import json
from pathlib import Path
from typing import Any

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


class _Parsed:
    def __init__(self) -> None:
        self.hosts: list[dict[str, Any]] = []
        self.header: dict[str, Any] | None = None
        self.summary: dict[str, Any] | None = None
        self.notes: list[str] = []


def _parse_lines(text: str, source: str) -> _Parsed:
    """JSON lines, or a document cut short: one object per line, trailing commas allowed."""
    parsed = _Parsed()
    lines = text.splitlines()
    bad: list[tuple[int, str]] = []
    for number, raw in enumerate(lines, 1):
        line = raw.strip().rstrip(",")
        if not line or line in ("[", "]", "{", "}", '"hosts": [', "]"):
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            try:  # the first line of a document: '{"epmscan": {...},' without its end
                item = json.loads(line + "}") if line.startswith('{"epmscan":') else None
            except json.JSONDecodeError:
                item = None
            if item is None:
                bad.append((number, exc.msg))
                continue
        header = _header_in(item)
        if header is not None:
            parsed.header = header
            continue
        summary = _summary_in(item)
        if summary is not None and not _is_host(item):
            parsed.summary = summary
            continue
        parsed.hosts.extend(_hosts_in(item))
    if bad:
        last_line = len([line for line in lines if line.strip()])
        if len(bad) == 1 and bad[0][0] >= last_line and parsed.hosts:
            parsed.notes.append(
                f"{source}: the file ends inside line {bad[0][0]} (a run cut short?): "
                f"read the {counted(len(parsed.hosts), 'host')} before it"
            )
        else:
            number, message = bad[0]
            raise UsageError(f"{source}:{number}: not a saved epmscan result ({message})")
    return parsed


def _loads(text: str) -> Any:
    """``json.loads``, through orjson where it is installed (several times faster)."""
    if orjson is not None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass  # what orjson refuses (NaN, huge integers) json may still read
    return json.loads(text)


def _parse(text: str, source: str) -> _Parsed:
    try:
        document = _loads(text)
    except json.JSONDecodeError:
        return _parse_lines(text, source)
    parsed = _Parsed()
    parsed.header = _header_in(document)
    parsed.summary = _summary_in(document)
    parsed.hosts = _hosts_in(document)
    return parsed


def _report(data: dict[str, Any]) -> ExchangeHostReport:
    data = dict(data)
    data.setdefault("target", data.get("address", ""))
    return exchange_from_dict(data)


def parse_saved_run(text: str, source: str = "<saved>") -> SavedRun:
    """A saved result's text as models."""
    if "\x00" in text:
        raise UsageError(f"{source}: a binary file, not a saved epmscan result")
    parsed = _parse(text, source)
    if not parsed.hosts:
        raise UsageError(f"{source}: no host results found (not a saved epmscan result?)")
    info: RunInfo | None = None
    if parsed.header is not None:
        try:
            info = info_from_dict(parsed.header)
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"{source}: its epmscan header is malformed ({exc})") from None
        if info.schema > SCHEMA_VERSION:
            raise UsageError(
                f"{source}: saved with schema {info.schema}, newer than this epmscan reads "
                f"({SCHEMA_VERSION}): upgrade epmscan"
            )
    hosts = []
    security: list[SecurityHostReport | None] = []
    catalogues: set[int] = set()
    checked = False
    for number, data in enumerate(parsed.hosts, 1):
        parsed.hosts[number - 1] = {}  # each host's dict goes once its models are made
        checked = checked or "exchange" in data
        try:
            report = _report(data)
            saved_security = data.get("security")
            if isinstance(saved_security, dict):
                security.append(security_member_from_dict(saved_security, report.host))
                catalogues.add(int(saved_security.get("catalogue", 1)))
            else:
                security.append(None)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UsageError(f"{source}: host {number} is malformed ({exc!r})") from None
        hosts.append(report)
    summary: RunSummary | None = None
    if parsed.summary is not None:
        try:
            summary = summary_from_dict(parsed.summary)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UsageError(f"{source}: its summary is malformed ({exc!r})") from None
    return SavedRun(
        info=info,
        hosts=tuple(hosts),
        exchange_checked=checked,
        source=source,
        notes=tuple(parsed.notes),
        security=tuple(security) if catalogues else (),
        security_catalogue=max(catalogues) if catalogues else None,
        summary=summary,
    )


def load_saved_run(path: str | Path) -> SavedRun:
    """Read a saved result file (``--save``/``--json`` document, ``.partial``, ``--jsonl``)."""
    file = Path(path)
    try:
        if file.is_dir():
            raise UsageError(f"{file}: is a directory, not a saved result")
        if file.stat().st_size > MAX_SAVED_BYTES:
            raise UsageError(f"{file}: larger than {MAX_SAVED_BYTES >> 30} GiB; not read")
        data = file.read_bytes()
    except OSError as exc:
        raise UsageError(f"{file}: cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{file}: not UTF-8 text, not a saved epmscan result") from None
    del data  # a saved /16 is hundreds of MB: keep one copy
    return parse_saved_run(text, str(file))
