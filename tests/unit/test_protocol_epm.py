"""ept_lookup / ept_map stubs: our requests against the capture, our decoder against
impacket's, our encoder against Samba's bytes."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from epmscan.errors import ProtocolError
from epmscan.models import InterfaceId
from epmscan.protocol.constants import (
    EPM_INTERFACE,
    EPT_S_NOT_REGISTERED,
    NULL_HANDLE,
    RPC_C_EP_MATCH_BY_IF,
    RPC_C_VERS_EXACT,
)
from epmscan.protocol.epm_client import (
    build_lookup_handle_free,
    build_lookup_request,
    build_map_request,
    decode_lookup_response,
    decode_map_response,
)
from epmscan.protocol.epm_server import (
    LookupRequest,
    decode_lookup_request,
    decode_map_request,
    encode_lookup_entry,
    encode_lookup_response,
    encode_map_response,
)
from epmscan.protocol.impacket_reference import (
    reference_decode_lookup_response,
    reference_decode_map_response,
)
from epmscan.protocol.towers import encode_tower
from tests.support.samba_capture import CapturedConnection, split_pdus

HANDLE = struct.pack("<I", 0) + bytes(range(1, 17))


def _request_stubs(connection: CapturedConnection) -> list[bytes]:
    return [pdu[24:] for header, pdu in split_pdus(connection.to_server) if header.ptype == 0]


def test_our_lookup_requests_equal_impackets_in_the_capture(
    samba_full_lookup: CapturedConnection, samba_paging: CapturedConnection
) -> None:
    (first,) = _request_stubs(samba_full_lookup)
    assert build_lookup_request() == first
    for stub in _request_stubs(samba_paging):
        request = decode_lookup_request(stub)
        assert request.max_ents == 1
        rebuilt = build_lookup_request(
            handle=request.handle, max_ents=1, vers_option=request.vers_option
        )
        assert rebuilt == stub


def test_lookup_request_round_trips_with_an_interface() -> None:
    stub = build_lookup_request(
        handle=HANDLE,
        max_ents=7,
        inquiry_type=RPC_C_EP_MATCH_BY_IF,
        interface=EPM_INTERFACE,
        vers_option=RPC_C_VERS_EXACT,
    )
    decoded = decode_lookup_request(stub)
    assert decoded == LookupRequest(
        RPC_C_EP_MATCH_BY_IF,
        None,
        EPM_INTERFACE,
        RPC_C_VERS_EXACT,
        HANDLE,
        7,
        decoded.last_referent,
    )
    assert decoded.last_referent >= 1  # the interface id pointer
    assert decode_lookup_request(build_lookup_request()).interface is None


def test_lookup_request_as_impacket_reads_it() -> None:
    from impacket.dcerpc.v5 import epm
    from impacket.uuid import bin_to_string

    stub = build_lookup_request(
        handle=HANDLE, max_ents=9, inquiry_type=RPC_C_EP_MATCH_BY_IF, interface=EPM_INTERFACE
    )
    parsed = epm.ept_lookup(stub)
    assert parsed["inquiry_type"] == RPC_C_EP_MATCH_BY_IF
    assert bin_to_string(parsed["Ifid"]["Uuid"]).lower() == EPM_INTERFACE.uuid
    assert parsed["Ifid"]["VersMajor"] == 3
    assert parsed["entry_handle"].getData() == HANDLE
    assert parsed["max_ents"] == 9


def test_every_lookup_response_in_the_capture_decodes_like_impacket(
    samba_lookup_stubs: list[bytes],
) -> None:
    assert len(samba_lookup_stubs) == 3 + 38
    for stub in samba_lookup_stubs:
        assert decode_lookup_response(stub) == reference_decode_lookup_response(stub)


def test_sambas_answer_has_38_entries_and_the_last_batch_status(samba_lookup_stub: bytes) -> None:
    response = decode_lookup_response(samba_lookup_stub)
    assert len(response.entries) == 38
    assert response.status == EPT_S_NOT_REGISTERED
    assert response.handle == NULL_HANDLE
    transports = {e.tower.transport for e in response.entries if e.tower}
    assert transports == {"ncacn_np", "ncacn_ip_tcp", "ncacn_http", "ncalrpc"}
    assert len({(e.tower.interface) for e in response.entries if e.tower}) == 15


def test_reencoding_sambas_entries_gives_sambas_bytes(samba_lookup_stub: bytes) -> None:
    response = decode_lookup_response(samba_lookup_stub)
    encoded = [
        encode_lookup_entry(e.object_uuid, _tower_bytes(samba_lookup_stub, e), e.annotation)
        for e in response.entries
    ]
    stub = encode_lookup_response(response.handle, encoded, response.status, max_count=500)
    assert stub == samba_lookup_stub


def test_paged_answers_reencode_to_sambas_bytes(samba_paging: CapturedConnection) -> None:
    pdus = [pdu for header, pdu in split_pdus(samba_paging.to_client) if header.ptype == 2]
    for pdu in pdus:
        stub = pdu[24:]
        response = decode_lookup_response(stub)
        entries = [
            encode_lookup_entry(e.object_uuid, _tower_bytes(stub, e), e.annotation)
            for e in response.entries
        ]
        assert (
            encode_lookup_response(response.handle, entries, response.status, max_count=1) == stub
        )


def _tower_bytes(stub: bytes, entry: object) -> bytes:
    from epmscan.models import LookupEntry

    assert isinstance(entry, LookupEntry) and entry.tower is not None
    return struct.pack("<H", len(entry.tower.floors)) + b"".join(
        struct.pack("<H", len(f.lhs)) + f.lhs + struct.pack("<H", len(f.rhs)) + f.rhs
        for f in entry.tower.floors
    )


def test_every_truncation_of_the_real_answer_is_a_protocol_error(samba_lookup_stub: bytes) -> None:
    for end in range(len(samba_lookup_stub)):
        with pytest.raises(ProtocolError):
            decode_lookup_response(samba_lookup_stub[:end])


@pytest.mark.parametrize(
    ("offset", "value", "message"),
    [
        (20, 39, "announced"),  # num_ents != actual_count
        (28, 1, "offset"),  # varying array offset
        (24, 2, "exceeds max count"),  # max_count < actual_count
    ],
)
def test_inconsistent_array_headers_are_refused(
    samba_lookup_stub: bytes, offset: int, value: int, message: str
) -> None:
    stub = bytearray(samba_lookup_stub)
    struct.pack_into("<I", stub, offset, value)
    with pytest.raises(ProtocolError, match=message):
        decode_lookup_response(bytes(stub))


def test_a_huge_entry_count_is_refused_without_allocating() -> None:
    stub = NULL_HANDLE + struct.pack("<IIII", 0x7FFFFFFF, 0x7FFFFFFF, 0, 0x7FFFFFFF)
    with pytest.raises(ProtocolError):
        decode_lookup_response(stub)


def test_empty_registry_answer() -> None:
    stub = encode_lookup_response(NULL_HANDLE, [], EPT_S_NOT_REGISTERED, max_count=500)
    response = decode_lookup_response(stub)
    assert (response.entries, response.status) == ((), EPT_S_NOT_REGISTERED)
    assert reference_decode_lookup_response(stub) == response


def test_null_tower_pointer_entries() -> None:
    entries = [
        encode_lookup_entry("00000000-0000-0000-0000-000000000000", None, "no tower"),
        encode_lookup_entry(
            "11111111-2222-3333-4444-555555555555",
            encode_tower(EPM_INTERFACE, "ncacn_ip_tcp", port=135),
            "epm",
        ),
    ]
    stub = encode_lookup_response(HANDLE, entries, 0)
    response = decode_lookup_response(stub)
    assert response.entries[0].tower is None
    assert response.entries[1].tower is not None and response.entries[1].tower.port == 135
    assert response.entries[1].object_uuid == "11111111-2222-3333-4444-555555555555"
    assert reference_decode_lookup_response(stub) == response


def test_map_request_layout_and_round_trip() -> None:
    stub = build_map_request(EPM_INTERFACE, "ncacn_http", max_towers=4)
    assert struct.unpack_from("<I", stub, 0)[0] == 1
    assert struct.unpack_from("<I", stub, 20)[0] == 2
    request = decode_map_request(stub)
    assert request.object_uuid == "00000000-0000-0000-0000-000000000000"
    assert (request.tower.interface, request.tower.transport) == (EPM_INTERFACE, "ncacn_http")
    assert (request.tower.port, request.tower.address) == (0, "0.0.0.0")
    assert (request.handle, request.max_towers) == (NULL_HANDLE, 4)


def test_map_request_as_impacket_reads_it() -> None:
    from impacket.dcerpc.v5 import epm

    stub = build_map_request(EPM_INTERFACE)
    parsed = epm.ept_map(stub)
    octets = b"".join(parsed["map_tower"]["tower_octet_string"])
    assert octets == encode_tower(EPM_INTERFACE, "ncacn_ip_tcp", port=0, address="0.0.0.0")
    assert parsed["max_towers"] == 4


def test_map_request_refuses_other_transports() -> None:
    with pytest.raises(ValueError, match="ncacn_np"):
        build_map_request(EPM_INTERFACE, "ncacn_np")


def test_map_response_round_trip_and_reference() -> None:
    towers = [
        encode_tower(EPM_INTERFACE, "ncacn_ip_tcp", port=60001 + i, address="192.0.2.5")
        for i in range(3)
    ]
    stub = encode_map_response(NULL_HANDLE, towers, 0, max_count=4)
    response = decode_map_response(stub)
    assert [t.port for t in response.towers] == [60001, 60002, 60003]
    assert response == reference_decode_map_response(stub)
    empty = encode_map_response(NULL_HANDLE, [], EPT_S_NOT_REGISTERED, max_count=4)
    assert decode_map_response(empty).status == EPT_S_NOT_REGISTERED
    assert decode_map_response(empty) == reference_decode_map_response(empty)


def test_lookup_handle_free_is_the_handle() -> None:
    assert build_lookup_handle_free(HANDLE) == HANDLE
    with pytest.raises(ValueError):
        build_lookup_handle_free(b"short")


# --- hypothesis ----------------------------------------------------------------------------

interfaces = st.builds(
    InterfaceId, st.uuids().map(str), st.integers(0, 65535), st.integers(0, 65535)
)
annotations = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=64)
towers = st.one_of(
    st.builds(
        lambda i, t, p, a: encode_tower(i, t, port=p, address=a),
        interfaces,
        st.sampled_from(["ncacn_ip_tcp", "ncacn_http", "ncadg_ip_udp"]),
        st.integers(0, 65535),
        st.sampled_from(["0.0.0.0", "192.0.2.5", "127.0.0.1"]),
    ),
    st.builds(lambda i, e: encode_tower(i, "ncalrpc", endpoint=e), interfaces, annotations),
    st.builds(
        lambda i, e: encode_tower(i, "ncacn_np", endpoint=e, address="HOST"),
        interfaces,
        annotations,
    ),
)
entries = st.lists(
    st.tuples(st.uuids().map(str), st.one_of(st.none(), towers), annotations), max_size=30
)


@given(
    entries=entries,
    status=st.sampled_from([0, EPT_S_NOT_REGISTERED]),
    handle=st.binary(min_size=20, max_size=20),
)
def test_lookup_responses_round_trip_and_match_the_reference(
    entries: list[tuple[str, bytes | None, str]], status: int, handle: bytes
) -> None:
    stub = encode_lookup_response(
        handle, [encode_lookup_entry(*entry) for entry in entries], status, max_count=500
    )
    response = decode_lookup_response(stub)
    assert response == reference_decode_lookup_response(stub)
    assert (response.handle, response.status) == (handle, status)
    assert [(e.object_uuid, e.annotation) for e in response.entries] == [
        (uuid, annotation) for uuid, _, annotation in entries
    ]
    assert [e.tower is None for e in response.entries] == [t is None for _, t, _ in entries]


@given(towers=st.lists(towers, max_size=8))
def test_map_responses_round_trip_and_match_the_reference(towers: list[bytes]) -> None:
    stub = encode_map_response(HANDLE, towers, 0, max_count=max(4, len(towers)))
    response = decode_map_response(stub)
    assert response == reference_decode_map_response(stub)
    assert len(response.towers) == len(towers)


def test_lookup_response_towers_are_numbered_after_the_requests_pointers() -> None:
    from epmscan.protocol.epm_client import build_lookup_request, decode_lookup_response
    from epmscan.protocol.epm_server import (
        decode_lookup_request,
        encode_lookup_entry,
        encode_lookup_response,
    )
    from epmscan.protocol.towers import encode_tower

    emsmdb = InterfaceId("a4f1db00-ca47-1067-b31f-00dd010662da", 0, 81)
    by_interface = decode_lookup_request(
        build_lookup_request(inquiry_type=1, interface=emsmdb, max_ents=10)
    )
    everything = decode_lookup_request(build_lookup_request(max_ents=10))
    assert everything.last_referent == 0
    assert by_interface.last_referent >= 1
    entry = encode_lookup_entry(
        "00000000-0000-0000-0000-000000000000",
        encode_tower(emsmdb, "ncacn_ip_tcp", port=60001, address="0.0.0.0"),
        "MAPI",
    )
    stub = encode_lookup_response(
        bytes(20), [entry, entry], 0, first_referent=by_interface.last_referent + 1
    )
    # inline: handle(20) + counts(16) + object(16), then the first tower's referent id
    (first,) = struct.unpack_from("<I", stub, 52)
    assert first == by_interface.last_referent + 1
    assert [e.tower.port for e in decode_lookup_response(stub).entries] == [60001, 60001]
