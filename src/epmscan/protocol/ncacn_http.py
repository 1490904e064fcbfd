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
    """``(is_ncacn_http, banner)`` for the first bytes a port sent.

    The banner is those bytes as Latin-1 text with runs of white space (line breaks too)
    made one space; other control characters stay as the server sent them, for the
    report layer to escape where it shows them (JSON keeps them as they are).
    """
    is_ncacn_http = data.startswith(NCACN_HTTP_GREETING)
    head = data[:BANNER_LIMIT].decode("latin-1")
    return is_ncacn_http, " ".join(head.split())
