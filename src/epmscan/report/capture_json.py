"""The capture report as one JSON-able document (fields: docs/json.md, "pcap")."""

from __future__ import annotations

from dataclasses import fields
from enum import Enum
from typing import Any

from epmscan.models.capture import CaptureReport

SCHEMA_VERSION = 1


def _plain(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, Enum):
            value = value.value
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def _status_hex(call: dict[str, Any]) -> dict[str, Any]:
    status = call.get("status")
    if isinstance(status, int):
        call["status"] = f"0x{status:08x}"
    return call


def report_to_dict(report: CaptureReport) -> dict[str, Any]:
    """``{"epmscan": {...}, "capture": ..., "epm_calls": [...], "mappings": [...],
    "connections": [...], "verdicts": [...], "notes": [...]}``."""
    return {
        "epmscan": {"schema": SCHEMA_VERSION, "command": "pcap", "file": report.capture.file},
        "capture": _plain(report.capture),
        "epm_calls": [_status_hex(_plain(c)) for c in report.epm_calls],
        "mappings": [_plain(m) for m in report.mappings],
        "connections": [_plain(c) for c in report.connections],
        "verdicts": [_plain(v) for v in report.verdicts],
        "notes": list(report.notes),
    }
