"""One DCE/RPC bind over a plain blocking socket, using epmscan's own client codec."""

from __future__ import annotations

import socket

from epmscan.models import InterfaceId
from tests.support.loopback import require_loopback


def bind_once(address: str, port: int, interface: InterfaceId, *, timeout: float = 5.0) -> object:
    """Connect, send ``ClientConnection.bind(interface)``, return the BindAck or BindNak event."""
    from epmscan.protocol.client_connection import ClientConnection
    from epmscan.protocol.events import BindAck, BindNak

    conn = ClientConnection()
    with socket.create_connection((require_loopback(address), port), timeout=timeout) as sock:
        sock.sendall(conn.bind(interface))
        while True:
            data = sock.recv(65536)
            if not data:
                raise ConnectionError(f"{address}:{port} closed the connection before answering")
            for event in conn.feed(data):
                if isinstance(event, BindAck | BindNak):
                    return event
