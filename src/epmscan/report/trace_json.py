"""The trace report as one JSON-able document (fields: docs/json.md, "trace").

Every time is UTC ISO 8601 with milliseconds (``2024-11-29T08:00:00.123Z``); elapsed
times are milliseconds on a monotonic clock.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from epmscan.models.trace import Evidence, PathTrace, TraceReport, TraceStep

SCHEMA_VERSION = 1


def utc_iso(when: float) -> str:
    """``2024-11-29T08:00:00.123Z`` for seconds since the epoch."""
    moment = datetime.fromtimestamp(when, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def evidence_to_dict(fact: Evidence) -> dict[str, Any]:
    return {
        "source": fact.source,
        "time": utc_iso(fact.time) if fact.time is not None else None,
        "summary": fact.summary,
        "src": fact.src,
        "dst": fact.dst,
        "sport": fact.sport,
        "dport": fact.dport,
        "flags": fact.flags,
        "ttl": fact.ttl,
        "icmp_type": fact.icmp_type,
        "icmp_code": fact.icmp_code,
    }


def step_to_dict(step: TraceStep) -> dict[str, Any]:
    icmp = step.icmp
    return {
        "step": step.step.value,
        "interface": step.interface,
        "transport": step.transport,
        "target": step.target,
        "port": step.port,
        "started": utc_iso(step.started),
        "elapsed_ms": step.elapsed_ms,
        "outcome": step.outcome,
        "detail": step.detail,
        "local_address": step.local_address,
        "local_port": step.local_port,
        "resolved_port": step.resolved_port,
        "icmp": None
        if icmp is None
        else {
            "type": icmp.type,
            "code": icmp.code,
            "sender": icmp.sender,
            "protocol": icmp.protocol,
            "description": icmp.description,
        },
        "explanation": step.explanation,
        "evidence": [evidence_to_dict(fact) for fact in step.evidence],
    }


def path_to_dict(path: PathTrace) -> dict[str, Any]:
    return {
        "target": path.target,
        "ports": list(path.ports),
        "max_hops": path.max_hops,
        "verdict": path.verdict,
        "probes": [
            {
                "ttl": p.ttl,
                "port": p.port,
                "reply": p.reply,
                "address": p.address,
                "reply_ttl": p.reply_ttl,
                "icmp_type": p.icmp_type,
                "icmp_code": p.icmp_code,
                "rtt_ms": p.rtt_ms,
            }
            for p in path.probes
        ],
    }


def trace_to_dict(report: TraceReport) -> dict[str, Any]:
    """``{"epmscan": {...}, "server", "address", "steps": [...], "capture", "path", ...}``."""
    capture = report.capture
    return {
        "epmscan": {"schema": SCHEMA_VERSION, "command": "trace", "server": report.server},
        "server": report.server,
        "address": report.address,
        "epm_port": report.epm_port,
        "interfaces": list(report.interfaces),
        "started": utc_iso(report.started),
        "ok": report.ok,
        "interrupted": report.interrupted,
        "capture": {
            "active": capture.active,
            "net_iface": capture.net_iface,
            "filter": capture.filter,
            "reason": capture.reason,
            "packets": capture.packets,
        },
        "steps": [step_to_dict(step) for step in report.steps],
        "path": path_to_dict(report.path) if report.path is not None else None,
        "notes": list(report.notes),
    }
