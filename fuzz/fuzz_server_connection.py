"""Fuzz the lab's side, :class:`~epmscan.protocol.server_connection.ServerConnection`.

Input (``harness.server_input``): a mode byte (bits 0-2: how the stream is cut, bits
3-4: the server's ``max_frag``, bits 5-6: its ``max_total``), then what a client sends:
binds and requests, well formed or not. Each event is answered the way the lab answers
it, with the protocol layer's own pieces: a bind with ``bind_ack`` (EPM accepted,
anything else provider-rejected); an ``ept_lookup`` or ``ept_map`` request decoded with
``decode_lookup_request``/``decode_map_request`` and answered with
``encode_lookup_response``/``encode_map_response`` numbering the towers after the
request's referent ids, as their docstrings prescribe; any other opnum, or a request
stub that does not decode, with a fault.

Invariants: every answer is read back by a :class:`ClientConnection` that made that
call: the bind_ack carries one result per context offered and the negotiated fragment
sizes, the response stub arrives unchanged whatever fragment size was negotiated, the
fault carries its status; only ProtocolError leaves ``feed``, and none leaves the
answering (the answers are ours, so they must decode).
"""

from __future__ import annotations

from harness import (
    SERVER_MAX_FRAGS,
    SERVER_MAX_TOTALS,
    check,
    cut,
    fuzz_main,
    instrumented,
)

with instrumented(__name__ == "__main__"):
    from epmscan.errors import ProtocolError
    from epmscan.models import BindOutcome
    from epmscan.protocol.client_connection import ClientConnection
    from epmscan.protocol.constants import (
        EPM_INTERFACE,
        NCA_S_OP_RNG_ERROR,
        NDR_SYNTAX,
        NIL_UUID,
        NULL_HANDLE,
        OP_EPT_LOOKUP,
        OP_EPT_MAP,
        RPC_X_BAD_STUB_DATA,
    )
    from epmscan.protocol.epm_server import (
        decode_lookup_request,
        decode_map_request,
        encode_lookup_entry,
        encode_lookup_response,
        encode_map_response,
    )
    from epmscan.protocol.events import (
        BindAck,
        BindRequest,
        Fault,
        PresentationContext,
        Request,
        Response,
    )
    from epmscan.protocol.server_connection import ServerConnection
    from epmscan.protocol.towers import encode_tower

TOWER = encode_tower(EPM_INTERFACE, "ncacn_ip_tcp", port=135, address="192.0.2.7")
ENTRY = encode_lookup_entry(NIL_UUID, TOWER, "Endpoint Mapper")


def _accept(context: PresentationContext) -> bool:
    return context.abstract_syntax == EPM_INTERFACE


def _answer_stub(request: Request) -> tuple[bytes | None, int]:
    """The lab's answer to an endpoint mapper call: (response stub, 0) or (None, fault)."""
    try:
        if request.opnum == OP_EPT_LOOKUP:
            lookup = decode_lookup_request(request.stub)
            stub = encode_lookup_response(
                NULL_HANDLE,
                (ENTRY,)[: lookup.max_ents],
                0,
                max_count=lookup.max_ents,
                first_referent=lookup.last_referent + 1,
            )
            return stub, 0
        if request.opnum == OP_EPT_MAP:
            mapping = decode_map_request(request.stub)
            stub = encode_map_response(
                NULL_HANDLE,
                (TOWER,)[: mapping.max_towers],
                0,
                max_count=mapping.max_towers,
                first_referent=mapping.last_referent + 1,
            )
            return stub, 0
    except ProtocolError:
        return None, RPC_X_BAD_STUB_DATA
    return None, NCA_S_OP_RNG_ERROR


def _check_bind_ack(server: ServerConnection, bind: BindRequest) -> None:
    answer = server.bind_ack(bind, _accept, "135")
    client = ClientConnection()
    client.bind(EPM_INTERFACE, call_id=bind.call_id)
    try:
        events = client.feed(answer)
    except ProtocolError as exc:
        if bind.max_xmit_frag < 32:
            return  # a fragment size too small to use: the client refuses the ack
        raise AssertionError(f"our bind_ack does not decode: {exc}") from exc
    check(len(events) == 1 and isinstance(events[0], BindAck), "bind_ack not read back")
    ack = events[0]
    assert isinstance(ack, BindAck)
    check(len(ack.results) == len(bind.contexts), "one result per context")
    for context, result in zip(bind.contexts, ack.results, strict=True):
        accepted = result.outcome is BindOutcome.ACCEPTED
        expected = _accept(context) and NDR_SYNTAX in context.transfer_syntaxes
        check(accepted == expected, "context result")
    check(ack.max_recv_frag == min(server.max_frag, bind.max_xmit_frag), "max_recv_frag")


def _check_answer(server: ServerConnection, request: Request) -> None:
    stub, status = _answer_stub(request)
    client = ClientConnection()
    client.request(request.opnum, b"", call_id=request.call_id)
    if stub is None:
        events = client.feed(server.fault(request.call_id, status, request.context_id))
        check(
            len(events) == 1 and isinstance(events[0], Fault) and events[0].status == status,
            "fault not read back",
        )
        return
    events = client.feed(server.response(request.call_id, stub, request.context_id))
    check(len(events) == 1 and isinstance(events[0], Response), "response not read back")
    response = events[0]
    assert isinstance(response, Response)
    check(response.stub == stub, "response stub changed on the way")
    check(response.context_id == request.context_id, "context id changed")


def test_one_input(data: bytes) -> None:
    """Feed the client's bytes; answer and read back every bind and request."""
    if not data:
        return
    mode, stream = data[0], data[1:]
    server = ServerConnection(SERVER_MAX_FRAGS[(mode >> 3) & 3], SERVER_MAX_TOTALS[(mode >> 5) & 3])
    for piece in cut(stream, mode):
        try:
            events = server.feed(piece)
        except ProtocolError:
            return
        for event in events:
            if isinstance(event, BindRequest):
                _check_bind_ack(server, event)
            else:
                check(len(event.stub) <= server.max_total, "request above max_total")
                _check_answer(server, event)


if __name__ == "__main__":
    fuzz_main(test_one_input)
