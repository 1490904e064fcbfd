"""Framing and reassembly: split points of Samba's two-fragment answer, caps, garbage."""

from __future__ import annotations

import struct

import pytest

from epmscan.errors import ProtocolError
from epmscan.protocol.client_connection import ClientConnection
from epmscan.protocol.constants import EPM_INTERFACE, PFC_FIRST_FRAG, PFC_LAST_FRAG
from epmscan.protocol.epm_client import build_lookup_request
from epmscan.protocol.events import BindAck, BindRequest, Request, Response
from epmscan.protocol.pdu_stream import PduBuffer, parse_header
from epmscan.protocol.server_connection import ServerConnection
from tests.support.samba_capture import CapturedConnection, split_pdus


def _client_for(connection: CapturedConnection, **kwargs: int) -> ClientConnection:
    client = ClientConnection(**kwargs)
    client.bind(EPM_INTERFACE, call_id=1)
    client.request(2, build_lookup_request(), call_id=1)
    return client


def _header(**fields: int) -> bytes:
    values = {"vers": 5, "minor": 0, "ptype": 2, "flags": 3, "drep0": 0x10, "frag": 16}
    values.update(fields)
    return struct.pack(
        "<BBBBBxxxHHI",
        values["vers"],
        values["minor"],
        values["ptype"],
        values["flags"],
        values["drep0"],
        values["frag"],
        0,
        7,
    )


def test_the_real_answer_is_two_fragments_first_then_last(
    samba_full_lookup: CapturedConnection,
) -> None:
    pdus = split_pdus(samba_full_lookup.to_client)
    assert [(h.ptype, h.flags & 3, h.frag_length) for h, _ in pdus] == [
        (12, 3, 60),
        (2, PFC_FIRST_FRAG, 4280),
        (2, PFC_LAST_FRAG, 596),
    ]


def test_every_two_chunk_split_gives_the_same_events(
    samba_full_lookup: CapturedConnection, samba_lookup_stub: bytes
) -> None:
    data = samba_full_lookup.to_client
    for cut in range(len(data) + 1):
        client = _client_for(samba_full_lookup)
        events = client.feed(data[:cut]) + client.feed(data[cut:])
        assert isinstance(events[0], BindAck)
        assert events[1:] == [Response(1, 0, samba_lookup_stub)], cut


def test_byte_by_byte_gives_the_same_events(
    samba_full_lookup: CapturedConnection, samba_lookup_stub: bytes
) -> None:
    client = _client_for(samba_full_lookup)
    events = []
    for index in range(len(samba_full_lookup.to_client)):
        events += client.feed(samba_full_lookup.to_client[index : index + 1])
    assert [type(e) for e in events] == [BindAck, Response]
    assert isinstance(events[1], Response)
    assert events[1].stub == samba_lookup_stub


def test_pdu_buffer_holds_an_incomplete_fragment() -> None:
    buffer = PduBuffer()
    frame = _header(frag=24) + bytes(8)
    buffer.feed(frame[:23])
    assert buffer.next_pdu() is None
    buffer.feed(frame[23:] + frame[:5])
    item = buffer.next_pdu()
    assert item is not None and item[1] == frame
    assert buffer.next_pdu() is None
    assert buffer.pending == 5


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"frag": 15}, "shorter than the header"),
        ({"frag": 0}, "shorter than the header"),
        ({"vers": 4}, "version"),
        ({"minor": 2}, "version"),
        ({"drep0": 0x00}, "big-endian"),
        ({"drep0": 0x11}, "character"),
    ],
)
def test_bad_headers_are_refused(fields: dict[str, int], message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        parse_header(_header(**fields))
    buffer = PduBuffer()
    buffer.feed(_header(**fields))
    with pytest.raises(ProtocolError):
        buffer.next_pdu()


def test_short_header_is_refused_by_parse_header() -> None:
    with pytest.raises(ProtocolError):
        parse_header(bytes(15))


def test_frag_length_over_the_buffer_cap_is_refused_before_the_body_arrives() -> None:
    buffer = PduBuffer(max_frag=1000)
    buffer.feed(_header(frag=1001))
    with pytest.raises(ProtocolError, match="exceeds"):
        buffer.next_pdu()


def test_reassembly_over_max_total_is_refused(samba_full_lookup: CapturedConnection) -> None:
    client = _client_for(samba_full_lookup, max_total=4000)
    with pytest.raises(ProtocolError, match="exceeds the limit"):
        client.feed(samba_full_lookup.to_client)


def test_endless_fragments_hit_the_cap_instead_of_growing() -> None:
    server = ServerConnection()
    client = ClientConnection(max_total=100_000)
    server.feed(client.bind(EPM_INTERFACE))
    client.request(2, build_lookup_request())
    first = bytearray(server.response(client.last_call_id, bytes(4000)))
    first[3] = PFC_FIRST_FRAG
    middle = bytearray(first)
    middle[3] = 0
    client.feed(bytes(first))
    with pytest.raises(ProtocolError, match="exceeds the limit"):
        for _ in range(100):
            client.feed(bytes(middle))


def test_fragment_without_first_is_refused() -> None:
    server = ServerConnection()
    client = ClientConnection()
    server.feed(client.bind(EPM_INTERFACE))
    client.request(2, b"")
    pdu = bytearray(server.response(client.last_call_id, bytes(8)))
    pdu[3] = PFC_LAST_FRAG
    with pytest.raises(ProtocolError, match="without a first"):
        client.feed(bytes(pdu))


def test_second_first_fragment_is_refused() -> None:
    server = ServerConnection()
    client = ClientConnection()
    server.feed(client.bind(EPM_INTERFACE))
    client.request(2, b"")
    pdu = bytearray(server.response(client.last_call_id, bytes(8)))
    pdu[3] = PFC_FIRST_FRAG
    client.feed(bytes(pdu))
    with pytest.raises(ProtocolError, match="before the last"):
        client.feed(bytes(pdu))


def test_response_to_a_call_never_made_is_refused() -> None:
    server = ServerConnection()
    client = ClientConnection()
    server.feed(client.bind(EPM_INTERFACE))
    with pytest.raises(ProtocolError, match="not made"):
        client.feed(server.response(99, b""))


@pytest.mark.parametrize("ptype", [0, 11, 14, 17, 19, 42])
def test_unexpected_pdu_types_from_the_server_are_refused(ptype: int) -> None:
    client = ClientConnection()
    client.bind(EPM_INTERFACE)
    with pytest.raises(ProtocolError, match="unexpected"):
        client.feed(_header(ptype=ptype, frag=16))


def test_bind_ack_without_a_bind_is_refused() -> None:
    server = ServerConnection()
    request = server.feed(ClientConnection().bind(EPM_INTERFACE))[0]
    assert isinstance(request, BindRequest)
    ack = server.bind_ack(request, lambda _ctx: True)
    with pytest.raises(ProtocolError, match="no bind outstanding"):
        ClientConnection().feed(ack)


def test_server_reassembles_a_fragmented_request() -> None:
    client = ClientConnection()
    server = ServerConnection()
    server.feed(client.bind(EPM_INTERFACE))
    stub = bytes(range(256)) * 40
    wire = client.request(3, stub)
    assert len(split_pdus(wire)) > 1
    assert all(h.frag_length <= client.max_xmit_frag for h, _ in split_pdus(wire))
    events = []
    for index in range(0, len(wire), 333):
        events += server.feed(wire[index : index + 333])
    assert len(events) == 1
    request = events[0]
    assert isinstance(request, Request)
    assert (request.opnum, request.stub, request.call_id) == (3, stub, client.last_call_id)
