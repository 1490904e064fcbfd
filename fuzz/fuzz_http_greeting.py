"""Fuzz :func:`epmscan.protocol.ncacn_http.classify_greeting`: the first bytes a port sends.

Input: whatever an RPC-over-HTTP port (or anything else listening there) sends first.
Invariants: it never raises at all; it says ncacn_http exactly when the bytes start with
``ncacn_http/1.0``; the banner is the bytes as Latin-1 text, at most ``BANNER_LIMIT``
characters, with single spaces and none at either end; escaped for display it is
printable (control characters stay in the banner; the report layer escapes them).
"""

from __future__ import annotations

from harness import check, fuzz_main, instrumented

with instrumented(__name__ == "__main__"):
    from epmscan.protocol.ncacn_http import BANNER_LIMIT, NCACN_HTTP_GREETING, classify_greeting
    from epmscan.report.text import printable


def test_one_input(data: bytes) -> None:
    """Classify the bytes; check the verdict and the banner."""
    is_ncacn_http, banner = classify_greeting(data)
    check(is_ncacn_http == data.startswith(NCACN_HTTP_GREETING), "wrong verdict")
    check(len(banner) <= BANNER_LIMIT, f"banner of {len(banner)} characters")
    check(all(ord(ch) < 0x100 for ch in banner), f"not Latin-1: {banner!r}")
    check(printable(banner).isprintable(), f"escaped banner not printable: {banner!r}")
    check(banner == banner.strip() and "  " not in banner, f"spacing in {banner!r}")
    if is_ncacn_http:
        check(banner.startswith(NCACN_HTTP_GREETING.decode()), f"banner {banner!r}")


if __name__ == "__main__":
    fuzz_main(test_one_input)
