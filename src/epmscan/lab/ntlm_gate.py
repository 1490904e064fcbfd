"""NTLM on a lab host's endpoint mapper: authenticated binds, and RestrictRemoteClients.

Every emulated endpoint mapper takes an authenticated bind the way Windows does: an NTLM
NEGOTIATE in the bind gets a CHALLENGE in the bind_ack, the AUTH3's AUTHENTICATE is
checked against the host's accounts (:class:`~epmscan.protocol.ntlm_security.NtlmServer`,
the same protocol module the client uses, server side), and nothing answers the AUTH3.
After a good one every request must carry a signature that verifies and every response
is signed; after a bad one (unknown user, wrong password) the next request gets the fault
``rpc_s_access_denied`` (0x5) and the connection is closed, as Windows answers impacket.

A host with ``auth = "ntlm"`` also refuses anonymous calls, as a server with
RestrictRemoteClients does: the anonymous bind is accepted and every call gets the fault
``rpc_s_access_denied`` ([MS-RPCE] 3.1.1.1.3), the connection staying open.

A bind for another security provider than NTLM (SPNEGO, Kerberos) gets a bind_nak with
reason ``authentication_type_not_recognized``; NTLM at a level other than packet
integrity (the only one the lab speaks) ``reason_not_specified``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from epmscan.lab.config import HostConfig
from epmscan.protocol.constants import (
    BIND_NAK_AUTHENTICATION_TYPE_NOT_RECOGNIZED,
    BIND_NAK_REASON_NOT_SPECIFIED,
    RPC_C_AUTHN_LEVEL_PKT_INTEGRITY,
    RPC_C_AUTHN_WINNT,
    RPC_S_ACCESS_DENIED,
)
from epmscan.protocol.events import Auth3, AuthVerifier, BindRequest, Request
from epmscan.protocol.ntlm_security import SERVER_CHALLENGE_SIZE, NtlmServer
from epmscan.protocol.server_connection import ServerConnection

LAB_DNS_DOMAIN = "lab.test"
"""The DNS domain lab hosts name in their NTLM challenges (a reserved name, never looked up)."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """How the gate answers a request it does not let through."""

    status: int
    close: bool
    """Close the connection after the fault."""


class NtlmGate:
    """The NTLM state of one endpoint mapper connection."""

    __slots__ = ("_host", "_server", "authenticated", "failed", "user")

    def __init__(self, host: HostConfig) -> None:
        self._host = host
        self._server: NtlmServer | None = None
        self.authenticated = False
        self.failed = False
        self.user: str | None = None
        """The account that authenticated on this connection."""

    @property
    def required(self) -> bool:
        """Anonymous calls are refused (``auth = "ntlm"``)."""
        return self._host.auth == "ntlm"

    def bind(self, bind: BindRequest, connection: ServerConnection) -> AuthVerifier | int | None:
        """The bind_ack's verifier for ``bind`` (None: an anonymous bind), or the reason
        of the bind_nak that refuses it. ``connection`` checks the AUTH3 that follows."""
        self.authenticated = self.failed = False
        self._server = connection.ntlm = None
        connection.signing = None
        verifier = bind.auth
        if verifier is None:
            return None
        if verifier.auth_type != RPC_C_AUTHN_WINNT:
            return BIND_NAK_AUTHENTICATION_TYPE_NOT_RECOGNIZED
        if verifier.auth_level != RPC_C_AUTHN_LEVEL_PKT_INTEGRITY:
            return BIND_NAK_REASON_NOT_SPECIFIED
        server = NtlmServer(
            self._host.accounts,
            name=self._host.name,
            netbios_domain=self._host.auth_domain,
            dns_domain=LAB_DNS_DOMAIN,
        )
        challenge = server.challenge(
            verifier, server_challenge=os.urandom(SERVER_CHALLENGE_SIZE), now=time.time()
        )
        self._server = connection.ntlm = server
        return challenge

    def auth3(self, auth3: Auth3) -> None:
        """Take note of the AUTH3 the connection checked (:attr:`Auth3.account`)."""
        if self._server is None or self.authenticated or self.failed or auth3.account is None:
            self.failed, self.authenticated = True, False
            return
        self.user = auth3.account
        self.authenticated = True

    def refusal(self, request: Request) -> Refusal | None:
        """The fault for a request that may not run, or None."""
        if self.authenticated:
            return None if request.signed else Refusal(RPC_S_ACCESS_DENIED, close=True)
        if self._server is not None or self.failed or request.signed is not None:
            return Refusal(RPC_S_ACCESS_DENIED, close=True)
        if self.required:
            return Refusal(RPC_S_ACCESS_DENIED, close=False)
        return None
