"""Recognising an RPC-over-HTTP (ncacn_http) port by its greeting.

A Windows RPC proxy endpoint (``rpcproxy``/``RpcHttp``, ports 593 and Exchange's
6001/6002/6004) sends ``ncacn_http/1.0`` as soon as the TCP connection is up, before
the client says anything. Anything else that answers is another service; we keep a
short printable banner of it for the report.
"""

from __future__ import annotations

from typing import Final

NCACN_HTTP_GREETING: Final = b"ncacn_http/1.0"
BANNER_LIMIT: Final = 80


def classify_greeting(data: bytes) -> tuple[bool, str]:
    """``(is_ncacn_http, printable_banner)`` for the first bytes a port sent."""
    is_ncacn_http = data.startswith(NCACN_HTTP_GREETING)
    head = data[:BANNER_LIMIT].decode("latin-1")
    printable = "".join(
        " " if ch in "\r\n\t" else ch if 0x20 <= ord(ch) < 0x7F else "." for ch in head
    )
    return is_ncacn_http, " ".join(printable.split())
