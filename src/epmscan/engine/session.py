"""One DCE/RPC association over one TCP connection: bind, then calls.

Drives the sans-I/O :class:`~epmscan.protocol.client_connection.ClientConnection` with the bytes of
a :class:`~epmscan.engine.transport.Connection`. Every wait has its own deadline.

With :class:`~epmscan.settings.Credentials` the bind takes three legs: the bind with an
NTLM NEGOTIATE, the bind_ack's CHALLENGE, then an AUTH3 with the AUTHENTICATE (built
from ``os.urandom`` and the wall clock, which the protocol layer has not), and every call
is signed. The server's refusals become errors the session's status is read from: a
bind_nak for the security provider (reasons 8 and 9), an ``rpc_s_access_denied`` fault
once authenticated (what Windows answers), or ``nca_s_proto_error`` to the first call after
the AUTH3 (what Samba answers when the AUTH3 did not authenticate) is
:class:`~epmscan.errors.AuthenticationFailedError`; a response whose signature does not
verify is a :class:`~epmscan.errors.SignatureError`.
"""

from __future__ import annotations

import os
import time

from epmscan.engine.transport import Connection
from epmscan.errors import (
    AuthenticationFailedError,
    BindRejectedError,
    ProtocolError,
    RpcFaultError,
)
from epmscan.models import InterfaceId
from epmscan.protocol.client_connection import ClientConnection
from epmscan.protocol.constants import (
    BIND_NAK_AUTHENTICATION_TYPE_NOT_RECOGNIZED,
    BIND_NAK_INVALID_CHECKSUM,
    NCA_S_PROTO_ERROR,
    RPC_S_ACCESS_DENIED,
)
from epmscan.protocol.events import BindAck, BindNak, Fault, Response
from epmscan.protocol.ntlm_security import CLIENT_ENTROPY_SIZE, NtlmClient
from epmscan.settings import Credentials

PduEvent = BindAck | BindNak | Fault | Response
AUTH_BIND_NAK_REASONS = frozenset(
    {BIND_NAK_AUTHENTICATION_TYPE_NOT_RECOGNIZED, BIND_NAK_INVALID_CHECKSUM}
)
"""bind_nak reasons that refuse the authentication rather than the bind."""


def ntlm_client(credentials: Credentials) -> NtlmClient:
    """The protocol layer's NTLM client for ``credentials``."""
    return NtlmClient(
        credentials.user,
        credentials.domain,
        password=credentials.password,
        nt_hash=credentials.nt_hash,
    )


class RpcSession:
    """Bind and call over an open connection; raises our errors, never OSError."""

    __slots__ = ("_calls_authenticated", "_events", "connection", "read_timeout", "rpc")

    def __init__(
        self,
        connection: Connection,
        *,
        read_timeout: float,
        credentials: Credentials | None = None,
    ) -> None:
        self.connection = connection
        self.read_timeout = read_timeout
        security = None if credentials is None else ntlm_client(credentials)
        self.rpc = ClientConnection(security=security)
        self._events: list[PduEvent] = []
        self._calls_authenticated = 0

    @property
    def authenticated(self) -> bool:
        """True once the AUTH3 went out: calls are signed from then on."""
        return self.rpc.signing is not None

    async def next_event(self) -> PduEvent:
        while not self._events:
            data = await self.connection.read(self.read_timeout)
            self._events.extend(self.rpc.feed(data))
        return self._events.pop(0)

    async def bind(self, interface: InterfaceId) -> BindAck:
        """Bind ``interface``; raise :class:`BindRejectedError` unless it is accepted.

        With credentials, authenticate too (:class:`AuthenticationFailedError` when the
        server refuses the authentication at the bind).
        """
        authenticating = self.rpc.security is not None
        self.connection.write(self.rpc.bind(interface))
        event = await self.next_event()
        if isinstance(event, BindNak):
            if authenticating and event.reason in AUTH_BIND_NAK_REASONS:
                raise AuthenticationFailedError(f"bind_nak: {event.reason_text}")
            raise BindRejectedError(f"bind_nak: {event.reason_text}", event.reason)
        if isinstance(event, Fault):
            if authenticating and event.status == RPC_S_ACCESS_DENIED:
                raise AuthenticationFailedError(
                    f"fault on the authenticated bind: {event.status_name}", event.status
                )
            raise RpcFaultError(event.status, f"fault on bind: {event.status_name}")
        if not isinstance(event, BindAck):
            raise ProtocolError(f"expected bind_ack, got {type(event).__name__}")
        if not event.accepted:
            result = event.results[0] if event.results else None
            text = (
                f"{result.outcome.value}: {result.reason_text}" if result else "no context result"
            )
            raise BindRejectedError(f"bind rejected ({text})", result.reason if result else None)
        if authenticating:
            if event.auth is None:
                raise AuthenticationFailedError(
                    "the bind_ack carries no NTLM challenge: the server did not take part in"
                    " the authentication"
                )
            entropy = os.urandom(CLIENT_ENTROPY_SIZE)
            self.connection.write(self.rpc.auth3(event.auth, entropy=entropy, now=time.time()))
        return event

    async def call(self, opnum: int, stub: bytes) -> bytes:
        """Send one request and return the reassembled response stub."""
        self.connection.write(self.rpc.request(opnum, stub))
        event = await self.next_event()
        if isinstance(event, Fault):
            if self.authenticated and (
                event.status == RPC_S_ACCESS_DENIED
                or (event.status == NCA_S_PROTO_ERROR and self._calls_authenticated == 0)
            ):
                raise AuthenticationFailedError(
                    f"rpc fault {event.status_name} after the authentication: the server"
                    " refused the credentials",
                    event.status,
                )
            raise RpcFaultError(event.status, f"rpc fault {event.status_name}")
        if self.authenticated:
            self._calls_authenticated += 1
        if not isinstance(event, Response):
            raise ProtocolError(f"expected response, got {type(event).__name__}")
        return event.stub
