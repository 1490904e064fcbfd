"""Text from servers, made safe to show: control characters escaped, formulas defused.

Everything an endpoint mapper or a port sends (annotations, names, pipe and NetBIOS
names, banners) is untrusted. On a console it could move the cursor, clear the screen
or retitle the terminal (``ESC ] 0 ;``); in a spreadsheet a cell starting with ``=``
runs a formula. JSON keeps the decoded value unchanged (JSON's own escaping is enough).
"""

from __future__ import annotations

import time
import unicodedata
from datetime import UTC, datetime

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet may read as the start of a formula (OWASP's CSV injection list)."""


def printable(text: str) -> str:
    """``text`` with control and format characters written as escapes (``\\x1b``).

    Spaces of any kind become a plain space; everything else that is not printable
    (C0/C1 controls, bidi overrides, zero-width characters) becomes ``\\xNN`` or
    ``\\uNNNN``, so what a server sent stays visible without acting on the terminal.
    """
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable():
            out.append(ch)
        elif unicodedata.category(ch) == "Zs":
            out.append(" ")
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    return "".join(out)


def csv_cell(value: object) -> object:
    """A CSV cell a spreadsheet will not run: text starting like a formula gets a ``'``.

    Numbers and None pass unchanged; text is also made printable (one line per row).
    """
    if not isinstance(value, str):
        return value
    if value.startswith(FORMULA_STARTS):
        value = "'" + value
    return printable(value)


def utc_timestamp(when: float | None = None) -> str:
    """``2026-11-29T08:30:00.123Z``: UTC, ISO 8601, milliseconds (every file's clock)."""
    moment = datetime.fromtimestamp(time.time() if when is None else when, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def counted(number: int, noun: str) -> str:
    """``1 server``, ``2 servers``: a count with its noun in the right number."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
