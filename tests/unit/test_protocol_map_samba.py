"""ept_map against Samba 4.17's real answers (fixtures/captures/samba-4.17-ept-map.pcapng).

The capture holds the requests of three clients (epmscan, impacket's ``hept_map``, Samba's
``rpcclient -c epmmap``) and Samba's answers. The expectations come from impacket's decoding
of the same bytes, from the bind the capture shows accepted on the mapped port, and from the
facts recorded in the .md beside the capture.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from epmscan.models import InterfaceId
from epmscan.protocol.constants import EPT_S_NOT_REGISTERED, NULL_HANDLE, PTYPE_REQUEST
from epmscan.protocol.epm_client import (
    MAP_RESPONSE_FIRST_REFERENT,
    build_map_request,
    decode_map_response,
)
from epmscan.protocol.epm_server import MapRequest, decode_map_request, encode_map_response
from epmscan.protocol.events import BindAck, Response
from epmscan.protocol.impacket_reference import reference_decode_map_response
from epmscan.protocol.towers import encode_tower
from tests.support.samba_capture import CapturedConnection, load_capture, replay, split_pdus

CAPTURE = (
    Path(__file__).resolve().parents[2] / "fixtures" / "captures" / "samba-4.17-ept-map.pcapng"
)
SAMBA_ADDRESS = "127.0.0.138"
LSARPC = InterfaceId("12345778-1234-abcd-ef00-0123456789ab", 0, 0)
EMSMDB = InterfaceId("a4f1db00-ca47-1067-b31f-00dd010662da", 0, 81)


@dataclass(frozen=True)
class MapCall:
    """One captured ept_map call: the request stub, its decoding, Samba's response stub."""

    request_stub: bytes
    request: MapRequest
    response_stub: bytes


def _map_call(connection: CapturedConnection) -> MapCall:
    requests = [
        pdu for header, pdu in split_pdus(connection.to_server) if header.ptype == PTYPE_REQUEST
    ]
    assert len(requests) == 1
    assert int.from_bytes(requests[0][22:24], "little") == 3
    _, events = replay(connection)
    (response,) = [e for e in events if isinstance(e, Response)]
    stub = requests[0][24:]
    return MapCall(stub, decode_map_request(stub), response.stub)


@pytest.fixture(scope="module")
def connections() -> list[CapturedConnection]:
    return load_capture(CAPTURE)


@pytest.fixture(scope="module")
def calls(connections: list[CapturedConnection]) -> list[MapCall]:
    return [_map_call(c) for c in connections if c.server_port == 135]


@pytest.fixture(scope="module")
def bound_port(connections: list[CapturedConnection]) -> int:
    """The dynamic port on which the capture shows an lsarpc bind accepted."""
    (connection,) = [c for c in connections if c.server_port != 135]
    _, events = replay(connection)
    (ack,) = events
    assert isinstance(ack, BindAck) and ack.accepted
    return connection.server_port


def _impacket_tower_octets(stub: bytes) -> list[bytes]:
    from impacket.dcerpc.v5 import epm

    response = epm.ept_mapResponse(stub)
    return [
        b"".join(response["ITowers"][i].fields["Data"]["tower_octet_string"])
        for i in range(response["num_towers"])
    ]


def test_the_capture_holds_eight_map_calls_from_three_clients(calls: list[MapCall]) -> None:
    asked = [(c.request.tower.interface, c.request.tower.transport) for c in calls]
    assert asked == [
        (LSARPC, "ncacn_ip_tcp"),
        (EMSMDB, "ncacn_ip_tcp"),
        (LSARPC, "ncacn_http"),
        (LSARPC, "ncacn_ip_tcp"),
        (EMSMDB, "ncacn_ip_tcp"),
        (LSARPC, "ncacn_np"),
        (LSARPC, "ncacn_ip_tcp"),
        (InterfaceId("82273fdc-e32a-18c3-3f78-827929dc23ea", 0, 0), "ncacn_ip_tcp"),
    ]


def test_samba_accepted_our_request_as_we_build_it_now(calls: list[MapCall]) -> None:
    assert build_map_request(LSARPC, "ncacn_ip_tcp") == calls[0].request_stub
    assert build_map_request(EMSMDB, "ncacn_ip_tcp") == calls[1].request_stub
    assert build_map_request(LSARPC, "ncacn_http") == calls[2].request_stub


def test_every_client_numbers_object_1_and_map_tower_2(calls: list[MapCall]) -> None:
    for call in calls:
        object_ref, tower_ref = struct.unpack_from("<I16xI", call.request_stub)
        assert (object_ref, tower_ref) == (1, 2)
        assert call.request.last_referent == 2
    assert {c.request.max_towers for c in calls} == {4, 500}


def test_our_decoder_reads_samba_answers_as_impacket_does(
    calls: list[MapCall], bound_port: int
) -> None:
    for call in calls:
        assert decode_map_response(call.response_stub) == reference_decode_map_response(
            call.response_stub
        )
    tcp = decode_map_response(calls[0].response_stub)
    assert tcp.status == 0
    (tower,) = tcp.towers
    assert (tower.interface, tower.transport) == (LSARPC, "ncacn_ip_tcp")
    assert (tower.address, tower.port) == (SAMBA_ADDRESS, bound_port)
    pipes = decode_map_response(calls[5].response_stub)
    assert [(t.transport, t.endpoint) for t in pipes.towers] == [
        ("ncacn_np", "\\pipe\\lsarpc"),
        ("ncacn_np", "\\pipe\\lsass"),
    ]
    for index in (1, 2, 4, 7):
        absent = decode_map_response(calls[index].response_stub)
        assert (absent.towers, absent.status) == ((), EPT_S_NOT_REGISTERED)
    assert decode_map_response(calls[1].response_stub).handle == NULL_HANDLE
    assert decode_map_response(calls[2].response_stub).handle != NULL_HANDLE


def test_our_encoder_gives_samba_answers_byte_for_byte(calls: list[MapCall]) -> None:
    for call in calls:
        stub = call.response_stub
        handle = stub[:20]
        (status,) = struct.unpack_from("<I", stub, len(stub) - 4)
        octets = _impacket_tower_octets(stub)
        kwargs = {"max_count": call.request.max_towers}
        assert encode_map_response(handle, octets, status, **kwargs) == stub
        assert (
            encode_map_response(
                handle, octets, status, first_referent=call.request.last_referent + 1, **kwargs
            )
            == stub
        )


def test_samba_numbers_response_towers_after_the_request_pointers(calls: list[MapCall]) -> None:
    two = calls[5].response_stub
    assert struct.unpack_from("<4xII", two, 32) == (3, 4)
    assert MAP_RESPONSE_FIRST_REFERENT == 3


def test_a_request_without_object_moves_the_first_referent() -> None:
    full = build_map_request(LSARPC)
    without_object = struct.pack("<II", 0, 1) + full[24:]
    request = decode_map_request(without_object)
    assert request.object_uuid is None and request.last_referent == 1
    tower = encode_tower(LSARPC, "ncacn_ip_tcp", port=49152, address="192.0.2.5")
    stub = encode_map_response(
        NULL_HANDLE, [tower, tower], 0, max_count=4, first_referent=request.last_referent + 1
    )
    assert struct.unpack_from("<II", stub, 36) == (2, 3)
    assert decode_map_response(stub) == reference_decode_map_response(stub)
    with pytest.raises(ValueError):
        encode_map_response(NULL_HANDLE, [tower], 0, first_referent=0)


@given(
    first=st.integers(1, 2**31),
    ports=st.lists(st.integers(0, 65535), max_size=6),
    status=st.sampled_from([0, EPT_S_NOT_REGISTERED]),
)
def test_any_first_referent_decodes_as_impacket_does(
    first: int, ports: list[int], status: int
) -> None:
    towers = [encode_tower(LSARPC, "ncacn_ip_tcp", port=p, address="192.0.2.5") for p in ports]
    stub = encode_map_response(
        NULL_HANDLE, towers, status, max_count=max(4, len(ports)), first_referent=first
    )
    response = decode_map_response(stub)
    assert response == reference_decode_map_response(stub)
    assert [t.port for t in response.towers] == ports
    assert list(struct.unpack_from(f"<{len(ports)}I", stub, 36)) == list(
        range(first, first + len(ports))
    )
