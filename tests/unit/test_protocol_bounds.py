"""Hostile peers the codec must name at once: bad first bytes, a bind_ack for another call,
a lookup that repeats itself, a count that claims more entries than were sent."""

from __future__ import annotations

import struct

import pytest

from epmscan.errors import ProtocolError
from epmscan.models import LookupEntry
from epmscan.protocol.client_connection import ClientConnection
from epmscan.protocol.constants import EPM_INTERFACE, NULL_HANDLE
from epmscan.protocol.epm_client import decode_lookup_response
from epmscan.protocol.epm_ndr import ANNOTATION_LIMIT
from epmscan.protocol.epm_server import encode_lookup_entry, encode_lookup_response
from epmscan.protocol.events import BindAck, BindNak, BindRequest
from epmscan.protocol.lookup_walk import REPEATS_OF_ONE_ENTRY, LookupWalk
from epmscan.protocol.pdu_stream import PduBuffer
from epmscan.protocol.server_connection import ServerConnection
from epmscan.protocol.towers import encode_tower

TLS_ALERT = bytes.fromhex("15030300020246")
HANDLE = bytes(4) + b"H" * 16


def _bound_pair() -> tuple[ClientConnection, ServerConnection, BindRequest, bytes]:
    client, server = ClientConnection(), ServerConnection()
    bind = client.bind(EPM_INTERFACE)
    (request,) = server.feed(bind)
    assert isinstance(request, BindRequest)
    return client, server, request, bind


# --- the first bytes ---------------------------------------------------------------------


def test_a_tls_alert_is_refused_before_a_whole_header_came() -> None:
    client, *_ = _bound_pair()
    with pytest.raises(ProtocolError, match=r"not DCE/RPC 5\.0/5\.1: version 21\.3 \(the first 7"):
        client.feed(TLS_ALERT)


@pytest.mark.parametrize(
    ("first", "message"),
    [
        (b"\x16", "version 22"),
        (b"H", "version 72"),
        (b"\x05\x02", r"version 5\.2"),
        (b"\x05\x00\x0c\x03\x00", "big-endian"),
        (b"\x05\x00\x0c\x03\x10\x01", "character/float"),
    ],
)
def test_each_prefix_that_cannot_start_a_pdu_is_refused(first: bytes, message: str) -> None:
    buffer = PduBuffer()
    buffer.feed(first)
    with pytest.raises(ProtocolError, match=message):
        buffer.next_pdu()


def test_every_prefix_of_a_real_pdu_waits_for_more() -> None:
    client, server, request, _ = _bound_pair()
    ack = server.bind_ack(request, lambda _ctx: True)
    for cut in range(1, 16):
        buffer = PduBuffer()
        buffer.feed(ack[:cut])
        assert buffer.next_pdu() is None
    events = []
    for byte in ack:
        events += client.feed(bytes([byte]))
    assert [type(event) for event in events] == [BindAck]


# --- the bind's answer -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["bind_ack", "bind_nak"])
def test_an_answer_to_another_bind_is_refused(kind: str) -> None:
    client, server, request, _ = _bound_pair()
    answer = bytearray(
        server.bind_ack(request, lambda _ctx: True)
        if kind == "bind_ack"
        else server.bind_nak(request.call_id, 4)
    )
    struct.pack_into("<I", answer, 12, request.call_id + 5)
    with pytest.raises(ProtocolError, match=rf"{kind} for call {request.call_id + 5}, but"):
        client.feed(bytes(answer))


def test_the_answer_to_the_bind_is_taken() -> None:
    client, server, request, _ = _bound_pair()
    (nak,) = client.feed(server.bind_nak(request.call_id, 4))
    assert isinstance(nak, BindNak)


# --- a lookup that repeats itself ----------------------------------------------------------


def _page(count: int, first_port: int, handle: bytes = HANDLE) -> bytes:
    entries = [
        encode_lookup_entry(
            "00000000-0000-0000-0000-000000000000",
            encode_tower(EPM_INTERFACE, "ncacn_ip_tcp", port=first_port + i),
            f"entry {first_port + i}",
        )
        for i in range(count)
    ]
    return encode_lookup_response(handle, entries, 0)


def _step(walk: LookupWalk, stub: bytes) -> None:
    assert walk.next_request() is not None
    walk.handle_response(stub)


def _ports(entries: list[LookupEntry]) -> list[int | None]:
    return [entry.tower.port if entry.tower else None for entry in entries]


def test_a_page_repeating_the_previous_handle_and_entries_is_stuck_at_once() -> None:
    walk = LookupWalk(max_ents=3)
    _step(walk, _page(3, 100))
    with pytest.raises(ProtocolError, match="same handle, the same 3 entries again"):
        _step(walk, _page(3, 100))
    assert walk.done and walk.pages == 2
    assert _ports(walk.entries) == [100, 101, 102]  # the repeat is not added
    assert walk.free_request() == HANDLE


def test_the_same_handle_with_new_entries_is_windows_paging() -> None:
    walk = LookupWalk(max_ents=3)
    _step(walk, _page(3, 100))
    _step(walk, _page(3, 103))
    _step(walk, _page(1, 106, NULL_HANDLE))
    assert walk.done and _ports(walk.entries) == list(range(100, 107))


def test_one_entry_pages_may_repeat_a_few_times() -> None:
    walk = LookupWalk(max_ents=1)
    _step(walk, _page(1, 100))
    for _ in range(REPEATS_OF_ONE_ENTRY - 1):
        _step(walk, _page(1, 100))
    with pytest.raises(ProtocolError, match="same handle, the same 1 entries again"):
        _step(walk, _page(1, 100))
    assert len(walk.entries) == REPEATS_OF_ONE_ENTRY


# --- counts that lie ---------------------------------------------------------------------


def _lying_count(claimed: int, page: bytes) -> bytes:
    lied = bytearray(page)
    struct.pack_into("<I", lied, 20, claimed)
    struct.pack_into("<I", lied, 24, claimed)
    struct.pack_into("<I", lied, 32, claimed)
    return bytes(lied)


@pytest.mark.parametrize("extra", [1, 2, 5])
def test_a_count_claiming_more_entries_is_named_as_such(extra: int) -> None:
    page = _page(20, 100)
    with pytest.raises(
        ProtocolError,
        match=rf"^ept_lookup entries: {20 + extra} announced, but entry 21 cannot be read \(",
    ):
        decode_lookup_response(_lying_count(20 + extra, page))
    assert len(decode_lookup_response(page).entries) == 20


def test_an_annotation_over_the_cap_is_refused() -> None:
    page = bytearray(_page(1, 100))
    # the first entry's annotation length (after the handle, num_ents, the array header,
    # the object UUID, the tower referent and the annotation offset)
    struct.pack_into("<I", page, 24 + 12 + 16 + 4 + 4, ANNOTATION_LIMIT + 1)
    with pytest.raises(ProtocolError, match=rf"annotation of {ANNOTATION_LIMIT + 1} bytes"):
        decode_lookup_response(bytes(page))
