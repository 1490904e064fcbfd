"""Fuzz an authenticating :class:`~epmscan.protocol.client_connection.ClientConnection`.

Input (``harness.auth_input``): a mode byte (bits 0-2: how the stream is cut, bits 3-4:
the client's ``max_frag``), then a server's byte stream. The client binds the endpoint
mapper with an NTLM NEGOTIATE (call 1); a bind_ack carrying a CHALLENGE is answered with
the AUTH3 (the harness's fixed random bytes and clock, so a recorded stream still
verifies), then ``ept_lookup`` pages are walked, one request per response, with the
lookup walk reading each verified stub. Seeds: the lab and Samba (``peer-samba-*``)
answering that client, signed, on several fragment sizes.

Invariants: at most one answer to the bind; no response before the AUTH3 went out, and
every response is to a call made, within ``max_total``; the AUTH3 is read back by a
``ServerConnection`` as one AUTH3 with the association's sec_trailer and an NTLM
AUTHENTICATE; an error is a ProtocolError (a missing or wrong signature a
SignatureError).
"""

from __future__ import annotations

from harness import (
    AUTH_DOMAIN,
    AUTH_ENTROPY,
    AUTH_MAX_CALLS,
    AUTH_MAX_FRAGS,
    AUTH_NOW,
    AUTH_PASSWORD,
    AUTH_USER,
    auth_pieces,
    check,
    fuzz_main,
    instrumented,
)

with instrumented(__name__ == "__main__"):
    from epmscan.errors import ProtocolError
    from epmscan.protocol.client_connection import ClientConnection
    from epmscan.protocol.constants import EPM_INTERFACE, OP_EPT_LOOKUP
    from epmscan.protocol.events import Auth3, BindAck, BindNak, Fault, Response
    from epmscan.protocol.lookup_walk import LookupWalk
    from epmscan.protocol.ntlm_security import NtlmClient
    from epmscan.protocol.server_connection import ServerConnection

MAX_TOTAL = 1 << 20


def _check_auth3(pdu: bytes, context_id: int) -> None:
    events = ServerConnection().feed(pdu)
    check(len(events) == 1 and isinstance(events[0], Auth3), "our AUTH3 does not read back")
    event = events[0]
    assert isinstance(event, Auth3)
    verifier = event.auth
    check(
        (verifier.auth_type, verifier.auth_level, verifier.context_id) == (10, 5, context_id),
        "the AUTH3's sec_trailer",
    )
    check(verifier.value.startswith(b"NTLMSSP\0\x03\0\0\0"), "the AUTH3 carries no AUTHENTICATE")


def test_one_input(data: bytes) -> None:
    """Bind with NTLM, answer the challenge, walk; check every event against what was asked."""
    if not data:
        return
    mode, stream = data[0], data[1:]
    security = NtlmClient(AUTH_USER, AUTH_DOMAIN, password=AUTH_PASSWORD)
    client = ClientConnection(AUTH_MAX_FRAGS[(mode >> 3) & 3], MAX_TOTAL, security=security)
    client.bind(EPM_INTERFACE)
    walk = LookupWalk()
    pending: set[int] = set()
    bind_answers = 0
    calls = 0

    def next_call() -> None:
        nonlocal calls
        stub = walk.next_request()
        if stub is None or calls >= AUTH_MAX_CALLS:
            return
        client.request(OP_EPT_LOOKUP, stub)
        pending.add(client.last_call_id)
        calls += 1

    try:
        for piece in auth_pieces(stream, mode):
            for event in client.feed(piece):
                if isinstance(event, BindAck | BindNak):
                    bind_answers += 1
                    check(bind_answers == 1, "a second answer to the bind")
                if isinstance(event, BindAck):
                    if event.auth is None:
                        return
                    pdu = client.auth3(event.auth, entropy=AUTH_ENTROPY, now=AUTH_NOW)
                    check(client.signing is not None, "no signing after the AUTH3")
                    _check_auth3(pdu, security.context_id)
                    next_call()
                elif isinstance(event, Response):
                    check(client.signing is not None, "a response before the AUTH3")
                    check(event.call_id in pending, "a response for a call not made")
                    check(len(event.stub) <= MAX_TOTAL, "stub above max_total")
                    pending.discard(event.call_id)
                    walk.handle_response(event.stub)
                    next_call()
                elif isinstance(event, Fault):
                    pending.discard(event.call_id)
    except ProtocolError:
        pass


if __name__ == "__main__":
    fuzz_main(test_one_input)
