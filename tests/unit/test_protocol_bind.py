"""Bind, bind_ack and bind_nak: our bytes against the capture, and both decoders' tables."""

from __future__ import annotations

from typing import Any

import pytest

from epmscan.models import BindOutcome, InterfaceId
from epmscan.protocol.client_connection import ClientConnection
from epmscan.protocol.constants import EPM_INTERFACE, NDR64_SYNTAX, NDR_SYNTAX
from epmscan.protocol.events import (
    BindAck,
    BindNak,
    BindRequest,
    ContextResult,
    PresentationContext,
)
from epmscan.protocol.server_connection import ServerConnection
from epmscan.protocol.status_codes import bind_nak_reason_text, provider_reason_text
from tests.support.samba_capture import CapturedConnection, replay, split_pdus

LSARPC = InterfaceId("12345778-1234-abcd-ef00-0123456789ab", 0, 0)


def _bind(client: ClientConnection, server: ServerConnection, **kwargs: Any) -> BindRequest:
    events = server.feed(client.bind(EPM_INTERFACE, **kwargs))
    assert len(events) == 1 and isinstance(events[0], BindRequest)
    return events[0]


def test_our_bind_is_byte_identical_to_impackets_in_the_capture(
    samba_full_lookup: CapturedConnection,
) -> None:
    (header, bind), *_ = split_pdus(samba_full_lookup.to_server)
    assert ClientConnection().bind(EPM_INTERFACE, call_id=header.call_id) == bind


def test_samba_bind_ack_decodes(samba_full_lookup: CapturedConnection) -> None:
    _, events = replay(samba_full_lookup)
    ack = events[0]
    assert isinstance(ack, BindAck)
    assert (ack.max_xmit_frag, ack.max_recv_frag, ack.secondary_address) == (4280, 4280, "135")
    assert ack.accepted
    assert ack.results == (ContextResult(BindOutcome.ACCEPTED, 0, "acceptance", NDR_SYNTAX),)


def test_samba_provider_rejection_in_the_capture_decodes(
    samba_connections: list[CapturedConnection],
) -> None:
    acks = []
    for connection in samba_connections:
        if connection.server_port != 135:
            acks += [e for e in replay(connection)[1] if isinstance(e, BindAck)]
    rejected = [a for a in acks if not a.accepted]
    assert len(rejected) == 1
    assert len(acks) > len(rejected)
    assert rejected[0].results[0] == ContextResult(
        BindOutcome.PROVIDER_REJECTION, 1, "abstract_syntax_not_supported", None
    )


def test_server_bind_ack_round_trip_accepts_and_rejects_per_context() -> None:
    server = ServerConnection()
    client = ClientConnection()
    request = _bind(client, server)
    assert request.contexts == (PresentationContext(0, EPM_INTERFACE, (NDR_SYNTAX,)),)
    events = client.feed(server.bind_ack(request, lambda ctx: ctx.abstract_syntax == LSARPC))
    assert len(events) == 1 and isinstance(events[0], BindAck)
    assert not events[0].accepted
    assert events[0].results[0].reason_text == "abstract_syntax_not_supported"
    assert not client.bound


def test_server_rejects_a_context_without_ndr_as_transfer_syntaxes_not_supported() -> None:
    server = ServerConnection()
    client = ClientConnection()
    request = server.feed(client.bind(EPM_INTERFACE, NDR64_SYNTAX))[0]
    assert isinstance(request, BindRequest)
    (ack,) = client.feed(server.bind_ack(request, lambda _ctx: True))
    assert isinstance(ack, BindAck)
    assert ack.results[0].outcome is BindOutcome.PROVIDER_REJECTION
    assert ack.results[0].reason == 2
    assert ack.results[0].reason_text == "proposed_transfer_syntaxes_not_supported"


@pytest.mark.parametrize(
    ("result", "text"),
    [
        (ContextResult.accepted(), "acceptance"),
        (ContextResult.rejected(1), "abstract_syntax_not_supported"),
        (ContextResult.rejected(2), "proposed_transfer_syntaxes_not_supported"),
        (ContextResult.rejected(3), "local_limit_exceeded"),
        (ContextResult.rejected(0, BindOutcome.USER_REJECTION), "reason_not_specified"),
    ],
)
def test_explicit_results_round_trip(result: ContextResult, text: str) -> None:
    server = ServerConnection()
    client = ClientConnection()
    request = _bind(client, server)
    (ack,) = client.feed(server.bind_ack(request, [result], secondary_address="49152"))
    assert isinstance(ack, BindAck)
    assert ack.results == (result,)
    assert ack.results[0].reason_text == text
    assert ack.secondary_address == "49152"
    assert ack.accepted is (result.outcome is BindOutcome.ACCEPTED)


@pytest.mark.parametrize("address", ["", "1", "13", "135", "49152", "\\PIPE\\epmapper"])
def test_secondary_address_padding_keeps_the_results_aligned(address: str) -> None:
    server = ServerConnection()
    client = ClientConnection()
    request = _bind(client, server)
    pdu = server.bind_ack(request, [ContextResult.accepted()], secondary_address=address)
    assert len(pdu) % 4 == 0
    (ack,) = client.feed(pdu)
    assert isinstance(ack, BindAck)
    assert ack.secondary_address == address
    assert ack.results == (ContextResult.accepted(),)


def test_negotiated_fragment_size_limits_requests() -> None:
    server = ServerConnection(max_frag=2048)
    client = ClientConnection(max_frag=5840)
    request = _bind(client, server)
    ack_pdu = server.bind_ack(request, lambda _ctx: True)
    (ack,) = client.feed(ack_pdu)
    assert isinstance(ack, BindAck)
    assert (ack.max_xmit_frag, ack.max_recv_frag) == (2048, 2048)
    assert client.max_xmit_frag == 2048
    wire = client.request(2, bytes(10_000))
    sizes = [h.frag_length for h, _ in split_pdus(wire)]
    assert max(sizes) <= 2048 and len(sizes) == 5


def test_server_cuts_responses_to_the_clients_max_recv_frag() -> None:
    server = ServerConnection(max_frag=65535)
    client = ClientConnection(max_frag=1432)
    request = _bind(client, server)
    client.feed(server.bind_ack(request, lambda _ctx: True))
    client.request(2, b"")
    stub = bytes(range(256)) * 30
    wire = server.response(client.last_call_id, stub)
    headers = [h for h, _ in split_pdus(wire)]
    assert all(h.frag_length <= 1432 for h in headers)
    assert headers[0].flags & 3 == 1 and headers[-1].flags & 3 == 2
    events = client.feed(wire)
    assert len(events) == 1 and getattr(events[0], "stub", None) == stub


def test_server_response_matches_sambas_fragmentation_exactly(
    samba_full_lookup: CapturedConnection, samba_lookup_stub: bytes
) -> None:
    server = ServerConnection()
    pdus = split_pdus(samba_full_lookup.to_client)
    request = server.feed(samba_full_lookup.to_server)[0]
    assert isinstance(request, BindRequest)
    assert server.response(pdus[1][0].call_id, samba_lookup_stub) == pdus[1][1] + pdus[2][1]


C706_AND_MS_RPCE = {
    0: "reason_not_specified",
    1: "temporary_congestion",
    2: "local_limit_exceeded",
    3: "called_paddr_unknown",
    4: "protocol_version_not_supported",
    5: "default_context_not_supported",
    6: "user_data_not_readable",
    7: "no_psap_available",
    8: "authentication_type_not_recognized",
    9: "invalid_checksum",
}


@pytest.mark.parametrize(("reason", "text"), sorted(C706_AND_MS_RPCE.items()))
def test_bind_nak_reasons_use_the_c706_table(reason: int, text: str) -> None:
    server = ServerConnection()
    client = ClientConnection()
    request = _bind(client, server)
    (nak,) = client.feed(server.bind_nak(request.call_id, reason))
    assert nak == BindNak(request.call_id, reason, text)
    assert bind_nak_reason_text(reason) == text
    assert not client.bound


def test_unknown_reasons_are_named_by_number() -> None:
    assert bind_nak_reason_text(77) == "unknown_reason_77"
    assert provider_reason_text(77) == "unknown_reason_77"


class _ReplyingTransport:
    """Just enough of an impacket transport to hand it one reply."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply

    def send(self, data: bytes, forceWriteAndx: int = 0, forceRecv: int = 0) -> None:
        pass

    def recv(self, forceRecv: int = 0, count: int = 0) -> bytes:
        return self.reply


@pytest.mark.parametrize(
    ("reason", "impacket_says"),
    [(1, "abstract_syntax_not_supported"), (4, "protocol_version_not_specified")],
)
def test_impacket_reads_bind_nak_reasons_from_the_wrong_table(
    reason: int, impacket_says: str
) -> None:
    from impacket.dcerpc.v5 import epm, rpcrt

    nak = ServerConnection().bind_nak(1, reason)
    with pytest.raises(rpcrt.DCERPCException) as caught:
        rpcrt.DCERPC_v5(_ReplyingTransport(nak)).bind(epm.MSRPC_UUID_PORTMAP)
    assert impacket_says in str(caught.value)
    client = ClientConnection()
    client.bind(EPM_INTERFACE, call_id=1)
    (ours,) = client.feed(nak)
    assert isinstance(ours, BindNak)
    assert ours.reason_text == C706_AND_MS_RPCE[reason] != impacket_says
