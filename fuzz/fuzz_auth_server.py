"""Fuzz the lab's side of an authenticated association, :class:`ServerConnection` with NTLM.

Input (``harness.auth_input``): a mode byte (bits 0-2: how the stream is cut, bits 3-4:
the server's ``max_frag``), then what a client sends. It is answered as the lab's
endpoint mapper with ``auth = "ntlm"`` answers, with the protocol layer's pieces: a bind
carrying an NTLM NEGOTIATE gets a bind_ack with the CHALLENGE of an
:class:`~epmscan.protocol.ntlm_security.NtlmServer` (the harness's fixed server challenge
and clock, so a recorded client stream still authenticates) that checks the AUTH3;
a request whose every fragment's signature verified gets a signed response, any other
a fault. Seeds: epmscan's client and impacket's (``DCERPC_v5`` over a socket) sending
binds, AUTH3s and signed ``ept_lookup`` requests, with the right password and a wrong
one, on several fragment sizes.

Invariants: an AUTH3 proves the harness's account or nothing; a request is ``signed``
only once an AUTH3 proved it, and then signing is on; answering never raises (the
answers are ours); only ProtocolError leaves ``feed``.
"""

from __future__ import annotations

from harness import (
    AUTH_DOMAIN,
    AUTH_MAX_FRAGS,
    AUTH_NOW,
    AUTH_PASSWORD,
    AUTH_SERVER_CHALLENGE,
    AUTH_USER,
    auth_pieces,
    check,
    fuzz_main,
    instrumented,
)

with instrumented(__name__ == "__main__"):
    from impacket.ntlm import compute_nthash

    from epmscan.errors import ProtocolError
    from epmscan.protocol.constants import (
        EPM_INTERFACE,
        RPC_C_AUTHN_LEVEL_PKT_INTEGRITY,
        RPC_C_AUTHN_WINNT,
        RPC_S_ACCESS_DENIED,
    )
    from epmscan.protocol.events import Auth3, BindRequest, Request
    from epmscan.protocol.ntlm_security import NtlmServer, account_key
    from epmscan.protocol.server_connection import ServerConnection

ACCOUNTS = {account_key(AUTH_USER, AUTH_DOMAIN): compute_nthash(AUTH_PASSWORD)}
RESPONSE_STUB = bytes(range(256)) * 3


def _bind(server: ServerConnection, bind: BindRequest) -> None:
    verifier = bind.auth
    accept = lambda context: context.abstract_syntax == EPM_INTERFACE  # noqa: E731
    if verifier is None or (verifier.auth_type, verifier.auth_level) != (
        RPC_C_AUTHN_WINNT,
        RPC_C_AUTHN_LEVEL_PKT_INTEGRITY,
    ):
        server.ntlm = None
        server.bind_ack(bind, accept, "135")
        return
    ntlm = NtlmServer(ACCOUNTS, name="FUZZ", netbios_domain="LAB", dns_domain="lab.test")
    try:
        challenge = ntlm.challenge(verifier, server_challenge=AUTH_SERVER_CHALLENGE, now=AUTH_NOW)
    except ProtocolError:
        server.bind_nak(bind.call_id, 9)
        return
    server.bind_ack(bind, accept, "135", auth=challenge)
    server.ntlm = ntlm


def test_one_input(data: bytes) -> None:
    """Feed the client's bytes; answer binds, AUTH3s and requests as the lab does."""
    if not data:
        return
    mode, stream = data[0], data[1:]
    server = ServerConnection(AUTH_MAX_FRAGS[(mode >> 3) & 3])
    proved: str | None = None
    for piece in auth_pieces(stream, mode):
        try:
            events = server.feed(piece)
        except ProtocolError:
            return
        for event in events:
            if isinstance(event, BindRequest):
                proved = None
                _bind(server, event)
            elif isinstance(event, Auth3):
                check(
                    event.account is None
                    or event.account.upper() == f"{AUTH_DOMAIN}\\{AUTH_USER}".upper(),
                    f"an AUTH3 proved {event.account!r}",
                )
                check((event.account is None) or server.signing is not None, "no signing")
                proved = proved or event.account
            elif isinstance(event, Request):
                if event.signed:
                    check(proved is not None and server.signing is not None, "signed unproved")
                    server.response(event.call_id, RESPONSE_STUB, event.context_id)
                else:
                    server.fault(event.call_id, RPC_S_ACCESS_DENIED, event.context_id)


if __name__ == "__main__":
    fuzz_main(test_one_input)
