"""``epmscan diff --json``: the whole difference as one JSON document.

The document holds every change the console prints and more (each endpoint the console
counts instead of listing): ``appeared``/``disappeared`` hosts with why, and per changed
host every kind of change and ``significant``, the reasons it fails the diff.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from enum import Enum
from typing import Any

from epmscan.models import (
    ExchangePortChange,
    HostDiff,
    HttpChange,
    HttpPortProbe,
    MissingHost,
    PortMove,
    ResultDiff,
)
from epmscan.report.serialize import SCHEMA_VERSION, endpoint_to_dict


def _value(obj: Any) -> Any:
    return obj.value if isinstance(obj, Enum) else obj


def _probe(probe: HttpPortProbe | None) -> dict[str, Any] | None:
    if probe is None:
        return None
    return {k: _value(v) for k, v in asdict(probe).items()}


def _port_change(change: ExchangePortChange) -> dict[str, Any]:
    return {
        "interface": change.interface.value,
        "transport": change.transport,
        "old_port": change.old_port,
        "new_port": change.new_port,
        "old_probe": _value(change.old_probe),
        "new_probe": _value(change.new_probe),
    }


def _http_change(change: HttpChange) -> dict[str, Any]:
    return {"port": change.port, "old": _probe(change.old), "new": _probe(change.new)}


def _move(move: PortMove) -> dict[str, Any]:
    return {
        "uuid": move.uuid,
        "version": move.version,
        "name": move.name,
        "transport": move.transport,
        "old_port": move.old_port,
        "new_port": move.new_port,
        "exchange_interface": _value(move.exchange_interface),
    }


def _finding(finding: Any) -> dict[str, Any]:
    return {k: _value(v) for k, v in asdict(finding).items()}


def host_diff_to_dict(diff: HostDiff) -> dict[str, Any]:
    """One changed host: every change, and the reasons it fails the diff."""
    return {
        "target": diff.target,
        "address": diff.address,
        "old_status": diff.old_status.value,
        "new_status": diff.new_status.value,
        "significant": list(diff.significant),
        "expectation_changed": diff.expectation_changed,
        "exchange_ports": [_port_change(c) for c in diff.port_changes],
        "http": [_http_change(c) for c in diff.http_changes],
        "moved": [_move(m) for m in diff.moved],
        "added": [endpoint_to_dict(e) for e in diff.added],
        "removed": [endpoint_to_dict(e) for e in diff.removed],
        "findings_added": [_finding(f) for f in diff.findings_added],
        "findings_resolved": [_finding(f) for f in diff.findings_resolved],
    }


def _missing(missing: MissingHost) -> dict[str, Any]:
    host = missing.report.host
    return {
        "target": host.target,
        "address": host.address,
        "status": host.status.value,
        "reason": missing.reason,
        "significant": missing.significant,
    }


def diff_to_dict(
    diff: ResultDiff, *, before: str, after: str, notes: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The document ``diff --json`` writes (keys in a fixed order)."""
    return {
        "epmscan": {"kind": "diff", "schema": SCHEMA_VERSION, "before": before, "after": after},
        "significant": diff.significant,
        "notes": list(notes),
        "warnings": list(diff.warnings),
        "unchanged": diff.unchanged,
        "appeared": [_missing(m) for m in diff.appeared],
        "disappeared": [_missing(m) for m in diff.disappeared],
        "changed": [host_diff_to_dict(h) for h in diff.changed],
    }


def diff_to_json(diff: ResultDiff, *, before: str, after: str, notes: tuple[str, ...] = ()) -> str:
    """:func:`diff_to_dict` as indented JSON text, ending in a newline."""
    document = diff_to_dict(diff, before=before, after=after, notes=notes)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
