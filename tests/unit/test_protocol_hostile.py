"""Hostile or broken servers: whatever bytes come, the codec raises ProtocolError or nothing.

Random bytes, and the real Samba answer with bytes flipped, cut or stretched, go into
every decoder a client runs on a server's bytes. Any other exception (IndexError,
struct.error, UnicodeError, ValueError, ...) would escape a scan as a crash instead of
becoming a host's ``protocol_error``.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from epmscan.errors import ProtocolError
from epmscan.protocol.client_connection import ClientConnection
from epmscan.protocol.constants import EPM_INTERFACE, PTYPE_RESPONSE
from epmscan.protocol.epm_client import decode_lookup_response, decode_map_response
from epmscan.protocol.towers import decode_tower

DECODERS = (decode_lookup_response, decode_map_response, decode_tower)
HOSTILE = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def survives(decoder, data: bytes) -> None:  # type: ignore[no-untyped-def]
    try:
        decoder(data)
    except ProtocolError:
        pass


@HOSTILE
@given(data=st.binary(max_size=2048))
def test_random_stubs_never_crash_a_decoder(data: bytes) -> None:
    for decoder in DECODERS:
        survives(decoder, data)


@HOSTILE
@given(
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), max_size=8),
    cut=st.integers(0, 10**6),
)
def test_damaged_real_answers_never_crash_the_decoder(
    samba_lookup_stub: bytes, flips: list[tuple[int, int]], cut: int
) -> None:
    damaged = bytearray(samba_lookup_stub)
    for position, mask in flips:
        damaged[position % len(damaged)] ^= mask
    survives(decode_lookup_response, bytes(damaged[: cut % (len(damaged) + 1)]))
    survives(decode_lookup_response, bytes(damaged) + bytes(cut % 64))


def pdu(ptype: int, flags: int, call_id: int, body: bytes, frag_length: int | None = None) -> bytes:
    length = 16 + len(body) if frag_length is None else frag_length
    return struct.pack("<BBBB4sHHI", 5, 0, ptype, flags, b"\x10\0\0\0", length, 0, call_id) + body


@HOSTILE
@given(chunks=st.lists(st.binary(max_size=300), max_size=6))
def test_random_bytes_after_a_bind_only_raise_protocol_error(chunks: list[bytes]) -> None:
    client = ClientConnection()
    client.bind(EPM_INTERFACE)
    try:
        for chunk in chunks:
            client.feed(chunk)
    except ProtocolError:
        pass


@HOSTILE
@given(
    flags=st.integers(0, 255),
    call_id=st.integers(0, 2**32 - 1),
    body=st.binary(max_size=200),
    frag_length=st.one_of(st.none(), st.integers(0, 65535)),
)
def test_well_framed_nonsense_responses_only_raise_protocol_error(
    flags: int, call_id: int, body: bytes, frag_length: int | None
) -> None:
    client = ClientConnection()
    client.bind(EPM_INTERFACE)
    for ptype in (PTYPE_RESPONSE, 3, 12, 13, 0, 20):
        try:
            client.feed(pdu(ptype, flags, call_id, body, frag_length))
        except ProtocolError:
            pass


def test_an_endless_stream_of_middle_fragments_is_refused() -> None:
    client = ClientConnection(max_total=64 * 1024)
    client.bind(EPM_INTERFACE)
    call = client.request(2, b"\0" * 8)
    assert call
    call_id = client.last_call_id
    client.feed(pdu(PTYPE_RESPONSE, 0x01, call_id, b"\0" * 8 + b"x" * 4000))
    with pytest.raises(ProtocolError):
        for _ in range(100):
            client.feed(pdu(PTYPE_RESPONSE, 0x00, call_id, b"\0" * 8 + b"x" * 4000))
