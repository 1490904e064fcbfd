"""Fuzz :class:`epmscan.protocol.client_connection.ClientConnection` fed a server's bytes.

Input (``harness.client_input``): a mode byte, the bind's call id, the call ids of the
requests made, then the server's byte stream. The client sends the bind (unless mode
bit 5 says it did not) and the requests, then takes the stream in the pieces the mode
picks: bind_ack, bind_nak, fault, responses in one or many fragments, or anything else.
Every response stub that comes out also goes through the ``ept_lookup`` and ``ept_map``
decoders, as the engine would.

Invariants: at most one answer to the bind; a response only for a call that was made,
once, within ``max_total``; after a bind_ack the client's fragment size is within its
own and the server's, ``bound`` says whether the context was accepted, and a request can
still be built; an error is a ProtocolError.
"""

from __future__ import annotations

from harness import (
    CLIENT_MAX_FRAGS,
    CLIENT_MAX_TOTALS,
    CLIENT_NO_BIND,
    check,
    cut,
    fuzz_main,
    instrumented,
    read_client_input,
)

with instrumented(__name__ == "__main__"):
    from epmscan.errors import ProtocolError
    from epmscan.protocol.client_connection import ClientConnection
    from epmscan.protocol.constants import EPM_INTERFACE
    from epmscan.protocol.epm_client import decode_lookup_response, decode_map_response
    from epmscan.protocol.events import BindAck, BindNak, Fault, Response

LOOKUP_STUB = bytes(40)


def _decode_stub(stub: bytes) -> None:
    for decode in (decode_lookup_response, decode_map_response):
        try:
            decode(stub)
        except ProtocolError:
            pass


def test_one_input(data: bytes) -> None:
    """Bind, make the calls, feed the stream; check every event against what was asked."""
    parsed = read_client_input(data)
    if parsed is None:
        return
    mode = parsed.mode
    max_frag = CLIENT_MAX_FRAGS[(mode >> 3) & 3]
    max_total = CLIENT_MAX_TOTALS[(mode >> 6) & 3]
    client = ClientConnection(max_frag, max_total)
    bind_sent = not mode & CLIENT_NO_BIND
    if bind_sent:
        client.bind(EPM_INTERFACE, call_id=parsed.bind_call_id)
    pending = set()
    for call_id in parsed.request_call_ids:
        client.request(2, LOOKUP_STUB, call_id=call_id)
        pending.add(call_id)
    bind_answers = 0
    try:
        for piece in cut(parsed.stream, mode):
            for event in client.feed(piece):
                if isinstance(event, BindAck | BindNak):
                    bind_answers += 1
                    check(bind_sent and bind_answers == 1, "an answer to no bind")
                if isinstance(event, BindAck):
                    check(32 <= client.max_xmit_frag <= max_frag, "max_xmit_frag out of range")
                    check(client.max_xmit_frag <= event.max_recv_frag, "above the server's")
                    check(client.bound == event.accepted, "bound differs from the results")
                    client.request(2, LOOKUP_STUB)
                    pending.add(client.last_call_id)
                elif isinstance(event, Response):
                    check(event.call_id in pending, "a response for a call not made")
                    pending.discard(event.call_id)
                    check(len(event.stub) <= max_total, "stub above max_total")
                    _decode_stub(event.stub)
                elif isinstance(event, Fault):
                    if event.call_id == parsed.bind_call_id and bind_sent:
                        bind_answers += 1
                    pending.discard(event.call_id)
                else:
                    check(isinstance(event, BindNak), f"unknown event {event!r}")
    except ProtocolError:
        pass


if __name__ == "__main__":
    fuzz_main(test_one_input)
