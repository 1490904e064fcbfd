"""rpc_mgmt_inq_if_ids stubs: our encoder read by impacket, impacket's encoding read by us,
and hostile answers ending in ProtocolError only."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from epmscan.errors import ProtocolError
from epmscan.models import InterfaceId
from epmscan.protocol.constants import MAX_MGMT_INTERFACES, MGMT_INTERFACE, RPC_S_ACCESS_DENIED
from epmscan.protocol.mgmt import (
    WINDOWS_FIRST_REFERENT,
    InterfaceIdVector,
    build_inq_if_ids_request,
    decode_inq_if_ids_request,
    decode_inq_if_ids_response,
    encode_inq_if_ids_response,
)
from epmscan.protocol.syntax_ids import uuid_bytes

interface_ids = st.builds(
    InterfaceId,
    uuid=st.uuids().map(str),
    major=st.integers(0, 0xFFFF),
    minor=st.integers(0, 0xFFFF),
)
LSARPC = InterfaceId("12345778-1234-abcd-ef00-0123456789ab", 0, 0)
TSCH = InterfaceId("86d35949-83c9-4044-b424-db363231fd0c", 1, 0)


def impacket_reads(stub: bytes) -> tuple[list[InterfaceId], int]:
    """impacket's ``inq_if_idsResponse`` decoding of a stub, as interface ids."""
    from impacket.dcerpc.v5 import mgmt
    from impacket.uuid import bin_to_uuidtup

    response = mgmt.inq_if_idsResponse(stub)
    vector = response["if_id_vector"]
    found: list[InterfaceId] = []
    if isinstance(vector, bytes):  # how impacket gives a NULL vector
        return found, int(response["status"])
    for index in range(vector["count"]):
        uuid_text, version = bin_to_uuidtup(vector["if_id"][index]["Data"].getData())
        major, minor = (int(part) for part in version.split("."))
        found.append(InterfaceId(uuid_text.lower(), major, minor))
    return found, int(response["status"])


def impacket_encodes(interfaces: list[InterfaceId], status: int) -> bytes:
    """A response stub built with impacket's structures."""
    from impacket.dcerpc.v5 import epm, mgmt

    response = mgmt.inq_if_idsResponse()
    response["if_id_vector"]["count"] = len(interfaces)
    for interface in interfaces:
        item = epm.PRPC_IF_ID()
        item["Uuid"] = uuid_bytes(interface.uuid)
        item["VersMajor"] = interface.major
        item["VersMinor"] = interface.minor
        response["if_id_vector"]["if_id"].append(item)
    response["status"] = status
    data: bytes = response.getData()
    return data


def test_the_request_is_empty_as_impacket_builds_it() -> None:
    from impacket.dcerpc.v5 import mgmt

    assert build_inq_if_ids_request() == mgmt.inq_if_ids().getData() == b""
    decode_inq_if_ids_request(b"")
    with pytest.raises(ProtocolError, match="takes no input, but its stub holds 4 bytes"):
        decode_inq_if_ids_request(b"\0\0\0\0")


@given(interfaces=st.lists(interface_ids, max_size=10), status=st.integers(0, 2**32 - 1))
def test_impacket_reads_our_answer(interfaces: list[InterfaceId], status: int) -> None:
    stub = encode_inq_if_ids_response(interfaces, status)
    assert impacket_reads(stub) == (interfaces, status)
    assert decode_inq_if_ids_response(stub) == InterfaceIdVector(tuple(interfaces), status)


@given(interfaces=st.lists(interface_ids, max_size=10), status=st.integers(0, 2**32 - 1))
def test_we_read_impackets_answer(interfaces: list[InterfaceId], status: int) -> None:
    stub = impacket_encodes(interfaces, status)
    assert decode_inq_if_ids_response(stub) == InterfaceIdVector(tuple(interfaces), status)


def test_referents_are_numbered_as_windows_numbers_them() -> None:
    stub = encode_inq_if_ids_response([LSARPC, TSCH])
    vector, max_count, count, first, second = struct.unpack_from("<5I", stub)
    assert (max_count, count) == (2, 2)
    assert [vector, first, second] == [
        WINDOWS_FIRST_REFERENT,
        WINDOWS_FIRST_REFERENT + 4,
        WINDOWS_FIRST_REFERENT + 8,
    ]
    assert len(stub) == 4 + 8 + 2 * 4 + 2 * 20 + 4


def test_a_null_vector_carries_the_status() -> None:
    stub = encode_inq_if_ids_response(None, RPC_S_ACCESS_DENIED)
    assert stub == struct.pack("<II", 0, RPC_S_ACCESS_DENIED)
    assert decode_inq_if_ids_response(stub) == InterfaceIdVector((), RPC_S_ACCESS_DENIED, False)
    assert impacket_reads(stub) == ([], RPC_S_ACCESS_DENIED)


def _vector(referents: list[int], bodies: list[InterfaceId], status: int = 0) -> bytes:
    """A hand-made answer: the given element referents, then the given bodies."""
    count = len(referents)
    stub = struct.pack("<3I", 0x20000, count, count) + struct.pack(f"<{count}I", *referents)
    for body in bodies:
        stub += uuid_bytes(body.uuid) + struct.pack("<HH", body.major, body.minor)
    return stub + struct.pack("<I", status)


def test_null_elements_are_skipped_and_aliases_point_back() -> None:
    stub = _vector([0x20004, 0, 0x20008, 0x20004], [LSARPC, TSCH])
    assert decode_inq_if_ids_response(stub).interfaces == (LSARPC, TSCH, LSARPC)


@pytest.mark.parametrize(
    ("stub", "message"),
    [
        (b"", "stub ends inside the interface vector pointer"),
        (struct.pack("<I", 0), "stub ends inside the status"),
        (struct.pack("<3I", 1, 3, 2), "the vector says 2 interfaces but its array holds 3"),
        (
            struct.pack("<3I", 1, MAX_MGMT_INTERFACES + 1, MAX_MGMT_INTERFACES + 1),
            f"{MAX_MGMT_INTERFACES + 1} interfaces announced",
        ),
        (struct.pack("<3I", 1, 1000, 1000), "stub ends inside the 1000 interface pointers"),
        (struct.pack("<4I", 1, 1, 1, 1), "interface 1 points at the vector"),
        (struct.pack("<4I", 1, 1, 1, 2) + bytes(19), "stub ends inside interface 1 of 1"),
        (struct.pack("<4I", 1, 1, 1, 2) + bytes(20), "stub ends inside the status"),
    ],
)
def test_lying_answers_are_protocol_errors(stub: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        decode_inq_if_ids_response(stub)


@given(st.binary(max_size=200))
def test_any_bytes_decode_or_raise_protocol_error(data: bytes) -> None:
    try:
        answer = decode_inq_if_ids_response(data)
    except ProtocolError:
        return
    assert len(answer.interfaces) <= MAX_MGMT_INTERFACES


@given(interfaces=st.lists(interface_ids, min_size=1, max_size=8), cut=st.integers(0, 400))
def test_every_truncation_of_an_answer_is_a_protocol_error(
    interfaces: list[InterfaceId], cut: int
) -> None:
    stub = encode_inq_if_ids_response(interfaces)
    cut %= len(stub)
    with pytest.raises(ProtocolError):
        decode_inq_if_ids_response(stub[:cut])


def test_the_encoder_refuses_referents_past_32_bits() -> None:
    with pytest.raises(ValueError, match="pass 0xffffffff"):
        encode_inq_if_ids_response([MGMT_INTERFACE], first_referent=0xFFFFFFFC)
    with pytest.raises(ValueError, match="at least 1"):
        encode_inq_if_ids_response([MGMT_INTERFACE], first_referent=0)
