"""Reading a saved result back into the models: one loader for ``diff`` and ``firewall``.

Tolerant of the envelope: a JSON document (``{"epmscan": header, "hosts": [...]}``, a
list of host objects, an object with ``hosts``/``results``, or one host object) or a
JSONL stream (one host object per line; the summary line is skipped). Each host object
has the :func:`~epmscan.report.serialize.host_to_dict` shape, with an ``exchange``
member for a ``check``. Every problem is one :class:`~epmscan.errors.UsageError` line
naming the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from epmscan.errors import UsageError
from epmscan.models import ExchangeHostReport, SavedRun
from epmscan.report.serialize import exchange_from_dict


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


def host_objects(text: str, source: str = "<saved>") -> list[dict[str, Any]]:
    """The host objects of a saved JSON document or a JSONL stream (summary lines skipped)."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        objects: list[object] = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                objects.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise UsageError(f"{source}:{number}: not JSON or JSONL ({exc.msg})") from None
        raw = [h for obj in objects for h in _hosts_in(obj)]
    else:
        raw = _hosts_in(document)
    if not raw:
        raise UsageError(f"{source}: no host results found")
    return raw


def _report(data: dict[str, Any]) -> ExchangeHostReport:
    data = dict(data)
    data.setdefault("target", data.get("address", ""))
    return exchange_from_dict(data)


def parse_saved_run(text: str, source: str = "<saved>") -> SavedRun:
    """A saved result's text as models."""
    raw = host_objects(text, source)
    hosts = []
    for number, data in enumerate(raw, 1):
        try:
            hosts.append(_report(data))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UsageError(f"{source}: host {number} is malformed ({exc})") from None
    checked = any("exchange" in data for data in raw)
    return SavedRun(info=None, hosts=tuple(hosts), exchange_checked=checked, source=source)


def load_saved_run(path: str | Path) -> SavedRun:
    """Read a saved result file (``--save``/``--json`` document or ``--jsonl``)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{file}: cannot read: {exc.strerror or exc}") from None
    return parse_saved_run(text, str(file))
