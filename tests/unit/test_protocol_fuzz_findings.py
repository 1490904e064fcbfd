"""Crashes the fuzz harnesses (fuzz/) found in the protocol layer, each kept fixed here.

Every test starts from the input the fuzzer saved (docs/reliability.md lists them) and
asserts the behaviour that replaced the crash.
"""

from __future__ import annotations

import struct
import tracemalloc
from collections.abc import Callable

import pytest

from epmscan.errors import ProtocolError
from epmscan.protocol.constants import EPM_INTERFACE, NIL_UUID, NULL_HANDLE
from epmscan.protocol.epm_client import (
    build_lookup_request,
    decode_lookup_response,
    decode_map_response,
)
from epmscan.protocol.epm_server import (
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

TOWER = encode_tower(EPM_INTERFACE, "ncacn_ip_tcp", port=135, address="192.0.2.7")
ENTRY = encode_lookup_entry(NIL_UUID, TOWER, "Endpoint Mapper")

# fuzz_lookup_request, oom-4206cf8c929befa7f3a965f986a14e6d8f3330b5: an ept_lookup whose
# object pointer has referent id 0x01000000 (and max_ents 0).
LOOKUP_HIGH_OBJECT_REFERENT = bytes.fromhex(
    "010100000000000100000000000000000000000000000001000000000000000000002a000000"
    "260029270000000001000000000000000000002a"
)
# fuzz_map_request, crash-623e2199f1dbb636883f29b853691f42ee71ae7a: an ept_map whose map
# tower pointer has referent id 0xffffffff.
MAP_LAST_REFERENT_ID = bytes.fromhex(
    "01000000000000000000000000000000feffffffffffffff4b0000004b000000050013000d7857"
    "34123412cdabef000123456789ab000002000000130008002b10486002000200000001000b020b"
    "020000000100070200000001000000000100070200000001000904007f00000100000000000000"
    "0000000000000000000000000000f4010000"
)


def _map_referent_ids(stub: bytes, count: int) -> list[int]:
    """The tower pointer ids of an ept_map response (after handle, count, array header)."""
    return list(struct.unpack_from(f"<{count}I", stub, 36))


def _lookup_referent_ids(stub: bytes) -> list[int]:
    """The tower pointer id of each ept_entry_t of an ept_lookup response."""
    (count,) = struct.unpack_from("<I", stub, 20)
    offset = 36
    ids = []
    for _ in range(count):
        referent, _, length = struct.unpack_from("<III", stub, offset + 16)
        ids.append(referent)
        offset += 28 + length + (-(28 + length) & 3)
    return ids


def test_a_high_referent_id_in_a_lookup_request_costs_no_table_of_that_size() -> None:
    request = decode_lookup_request(LOOKUP_HIGH_OBJECT_REFERENT)
    assert request.last_referent == 0x01000000
    tracemalloc.start()
    try:
        stub = encode_lookup_response(
            NULL_HANDLE,
            (ENTRY,)[: request.max_ents],
            0,
            max_count=request.max_ents,
            first_referent=request.last_referent + 1,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024
    assert decode_lookup_response(stub).entries == ()


def test_lookup_towers_are_numbered_after_a_windows_style_referent_id() -> None:
    stub = encode_lookup_response(NULL_HANDLE, [ENTRY, ENTRY, ENTRY], 0, first_referent=0x20001)
    assert _lookup_referent_ids(stub) == [0x20001, 0x20002, 0x20003]
    assert len(decode_lookup_response(stub).entries) == 3


def test_lookup_towers_of_an_ordinary_request_keep_their_numbers() -> None:
    request = decode_lookup_request(build_lookup_request(interface=EPM_INTERFACE, inquiry_type=1))
    stub = encode_lookup_response(
        NULL_HANDLE, [ENTRY, ENTRY], 0, first_referent=request.last_referent + 1
    )
    assert _lookup_referent_ids(stub) == [2, 3]


@pytest.mark.parametrize("entries", [1, 3])
def test_lookup_referent_ids_past_the_last_wrap_round_to_one(entries: int) -> None:
    stub = encode_lookup_response(NULL_HANDLE, [ENTRY] * entries, 0, first_referent=0xFFFFFFFF)
    assert _lookup_referent_ids(stub) == [0xFFFFFFFF, 1, 2][:entries]
    response = decode_lookup_response(stub)
    assert [entry.tower is not None for entry in response.entries] == [True] * entries


def test_a_map_request_with_the_last_referent_id_gets_an_answer() -> None:
    request = decode_map_request(MAP_LAST_REFERENT_ID)
    assert request.last_referent == 0xFFFFFFFF
    stub = encode_map_response(
        NULL_HANDLE,
        [TOWER, TOWER],
        0,
        max_count=request.max_towers,
        first_referent=request.last_referent + 1,
    )
    assert _map_referent_ids(stub, 2) == [1, 2]
    assert len(decode_map_response(stub).towers) == 2


def test_map_referent_ids_below_the_last_are_unchanged() -> None:
    stub = encode_map_response(NULL_HANDLE, [TOWER, TOWER], 0, first_referent=0xFFFFFFFE)
    assert _map_referent_ids(stub, 2) == [0xFFFFFFFE, 0xFFFFFFFF]


# fuzz_reference, crash-2368f50d060aac3bbe402f176d60049e14aab0fa (selector byte dropped):
# an ept_map response announcing 61 towers over an array of none.
MAP_MORE_TOWERS_THAN_HELD = bytes.fromhex(
    "00000000123ae67479000000000000001c9e245d3d00000000040000000000000000000000d6a0c916"
)
# fuzz_reference, crash-7ecfea05b5d5a3de98e16ed4c4c820d16f9a3602 (selector byte dropped):
# an ept_lookup response announcing 0x60606060 entries over an array of none.
LOOKUP_MORE_ENTRIES_THAN_HELD = bytes.fromhex(
    "000000000000000000000e0000606060606060606060606060606060606060010000000000000a60606060"
    "0000000000000000000000f40100000000000000000000d6a0c916"
)


@pytest.mark.parametrize(
    ("decode", "stub"),
    [
        (reference_decode_map_response, MAP_MORE_TOWERS_THAN_HELD),
        (reference_decode_lookup_response, LOOKUP_MORE_ENTRIES_THAN_HELD),
    ],
    ids=["ept_map", "ept_lookup"],
)
def test_impacket_decoding_refuses_a_count_the_array_does_not_hold(
    decode: Callable[[bytes], object], stub: bytes
) -> None:
    with pytest.raises(ProtocolError, match="announced but the array holds"):
        decode(stub)


def test_impacket_decoding_of_a_count_the_array_holds_is_unchanged() -> None:
    stub = encode_map_response(NULL_HANDLE, [TOWER, TOWER], 0)
    assert reference_decode_map_response(stub) == decode_map_response(stub)
    lookup = encode_lookup_response(NULL_HANDLE, [ENTRY, ENTRY], 0)
    assert reference_decode_lookup_response(lookup) == decode_lookup_response(lookup)
