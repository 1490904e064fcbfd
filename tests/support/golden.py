"""Golden files: what a CLI run printed and wrote, normalised, compared with a file on disk.

A golden records one command as a user saw it: the arguments, the exit code, stdout and
stderr, and the files it wrote. What changes from run to run (timings, dates, the port
the test's lab happened to get) is replaced by a placeholder first, so a golden changes
only when the command's behaviour does. ``EPMSCAN_UPDATE_GOLDENS=1 pytest tests/golden``
rewrites them; the diff of that rewrite is the behaviour change to review.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "golden" / "data"
UPDATE = os.environ.get("EPMSCAN_UPDATE_GOLDENS") == "1"

VOLATILE_KEYS = frozenset(
    {"elapsed", "started", "hosts_per_second", "finished", "elapsed_ms", "local_port"}
)
"""JSON keys whose values are timings, wall-clock dates or ports the kernel picked."""

_SUMMARY_TIMING = re.compile(r"in [0-9.]+ s \([0-9,]+/s\)")
_ISO_DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:?\d\d|Z)?")


KEPT_ENDPOINTS = 3
"""Endpoints written out in full per host; the rest are counted and hashed."""


def scrub_json(value: Any) -> Any:
    """``value`` with every volatile key's value replaced by ``"*"``, order kept.

    A host's ``endpoints`` list becomes its first few entries, its length and a hash of
    all of it, so a golden stays readable and still changes when any endpoint does.
    """
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in VOLATILE_KEYS:
                out[key] = "*"
            elif key == "endpoints" and isinstance(item, list):
                out[key] = _digest(scrub_json(item))
            else:
                out[key] = scrub_json(item)
        return out
    if isinstance(value, list):
        return [scrub_json(v) for v in value]
    return value


def _digest(items: list[Any]) -> dict[str, Any]:
    canonical = json.dumps(items, sort_keys=False, separators=(",", ":")).encode()
    return {
        "count": len(items),
        "sha256": hashlib.sha256(canonical).hexdigest()[:16],
        "first": items[:KEPT_ENDPOINTS],
    }


def json_text(text: str, *, sort_hosts: bool = True) -> str:
    """A JSON document, scrubbed, hosts in address order, pretty-printed."""
    document = scrub_json(json.loads(text))
    if sort_hosts and isinstance(document, dict) and isinstance(document.get("hosts"), list):
        document["hosts"].sort(key=_host_key)
    return json.dumps(document, indent=1)


def jsonl_text(text: str) -> str:
    """JSON lines, scrubbed; host lines in address order, summary lines last."""
    hosts, others = [], []
    for line in text.splitlines():
        if not line.strip():
            continue
        item = scrub_json(json.loads(line))
        (others if "summary" in item else hosts).append(item)
    hosts.sort(key=_host_key)
    return "\n".join(json.dumps(item) for item in [*hosts, *others])


KEPT_CSV_ROWS = 12


def csv_text(text: str) -> str:
    """CSV: the header, the first data rows in a stable order, the count and a hash of all."""
    lines = text.splitlines()
    rows = sorted(lines[1:])
    digest = hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16]
    kept = rows[:KEPT_CSV_ROWS]
    tail = [f"... {len(rows)} rows, sha256 {digest}"] if len(rows) > len(kept) else []
    return "\n".join(lines[:1] + kept + tail)


def _host_key(host: Any) -> tuple[str, str]:
    if not isinstance(host, dict):
        return ("", "")
    return (str(host.get("address", "")), str(host.get("target", "")))


def console_text(text: str) -> str:
    """Console output with timings and dates replaced."""
    text = _SUMMARY_TIMING.sub("in T s (R/s)", text)
    return _ISO_DATE.sub("DATE", text)


def render(
    args: Iterable[str],
    returncode: int,
    stdout: str,
    stderr: str,
    files: dict[str, str] | None = None,
    *,
    stdout_as: Callable[[str], str] = console_text,
) -> str:
    """One golden text: the command, its exit code, its output and the files it wrote."""
    parts = [
        "$ epmscan " + " ".join(args),
        f"--- exit {returncode}",
        "--- stdout",
        stdout_as(stdout).rstrip("\n"),
        "--- stderr",
        console_text(stderr).rstrip("\n"),
    ]
    for name, content in (files or {}).items():
        parts += [f"--- file {name}", content.rstrip("\n")]
    return "\n".join(parts) + "\n"


def check_golden(name: str, actual: str) -> None:
    """Compare ``actual`` with ``data/NAME.txt`` (or write it when updating)."""
    path = GOLDEN_DIR / f"{name}.txt"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"no golden {path.name}: run with EPMSCAN_UPDATE_GOLDENS=1"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, _diff(expected, actual, path.name)


def _diff(expected: str, actual: str, name: str) -> str:
    import difflib

    lines = difflib.unified_diff(
        expected.splitlines(), actual.splitlines(), f"golden/{name}", "this run", lineterm=""
    )
    return "output differs from the golden file:\n" + "\n".join(list(lines)[:200])
