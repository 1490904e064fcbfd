"""One DCE/RPC association over one TCP connection: bind, then calls.

Drives the sans-I/O :class:`~epmscan.protocol.client_connection.ClientConnection` with the bytes of
a :class:`~epmscan.engine.transport.Connection`. Every wait has its own deadline.
"""

from __future__ import annotations

from epmscan.engine.transport import Connection
from epmscan.errors import BindRejectedError, ProtocolError, RpcFaultError
from epmscan.models import InterfaceId
from epmscan.protocol.client_connection import ClientConnection
from epmscan.protocol.events import BindAck, BindNak, Fault, Response

PduEvent = BindAck | BindNak | Fault | Response


class RpcSession:
    """Bind and call over an open connection; raises our errors, never OSError."""

    __slots__ = ("_events", "connection", "read_timeout", "rpc")

    def __init__(self, connection: Connection, *, read_timeout: float) -> None:
        self.connection = connection
        self.read_timeout = read_timeout
        self.rpc = ClientConnection()
        self._events: list[PduEvent] = []

    async def next_event(self) -> PduEvent:
        while not self._events:
            data = await self.connection.read(self.read_timeout)
            self._events.extend(self.rpc.feed(data))
        return self._events.pop(0)

    async def bind(self, interface: InterfaceId) -> BindAck:
        """Bind ``interface``; raise :class:`BindRejectedError` unless it is accepted."""
        self.connection.write(self.rpc.bind(interface))
        event = await self.next_event()
        if isinstance(event, BindNak):
            raise BindRejectedError(f"bind_nak: {event.reason_text}", event.reason)
        if isinstance(event, Fault):
            raise RpcFaultError(event.status, f"fault on bind: {event.status_name}")
        if not isinstance(event, BindAck):
            raise ProtocolError(f"expected bind_ack, got {type(event).__name__}")
        if not event.accepted:
            result = event.results[0] if event.results else None
            text = (
                f"{result.outcome.value}: {result.reason_text}" if result else "no context result"
            )
            raise BindRejectedError(f"bind rejected ({text})", result.reason if result else None)
        return event

    async def call(self, opnum: int, stub: bytes) -> bytes:
        """Send one request and return the reassembled response stub."""
        self.connection.write(self.rpc.request(opnum, stub))
        event = await self.next_event()
        if isinstance(event, Fault):
            raise RpcFaultError(event.status, f"rpc fault {event.status_name}")
        if not isinstance(event, Response):
            raise ProtocolError(f"expected response, got {type(event).__name__}")
        return event.stub
