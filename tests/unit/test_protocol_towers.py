"""Towers: every floor kind, long and unknown towers, string bindings, fast == reference."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from epmscan.facts.exchange import EXCHANGE_INTERFACES
from epmscan.models import ExchangeInterface, Floor, InterfaceId, LookupEntry, Tower
from epmscan.protocol.constants import NDR_SYNTAX
from epmscan.protocol.impacket_reference import reference_decode_tower
from epmscan.protocol.towers import decode_tower, encode_tower, endpoint_record, string_binding

MAPI = EXCHANGE_INTERFACES[ExchangeInterface.MAPI]
LSARPC = InterfaceId("12345778-1234-abcd-ef00-0123456789ab", 0, 0)


def floor(lhs: bytes, rhs: bytes) -> bytes:
    return struct.pack("<H", len(lhs)) + lhs + struct.pack("<H", len(rhs)) + rhs


def uuid_floor(uuid_le: bytes, major: int, minor: int) -> bytes:
    return floor(b"\x0d" + uuid_le + struct.pack("<H", major), struct.pack("<H", minor))


MAPI_FLOOR = uuid_floor(
    bytes.fromhex("00dbf1a447ca6710b31f00dd010662da"), 0, 81
)  # a4f1db00-ca47-1067-b31f-00dd010662da in its little-endian wire form
NDR_FLOOR = uuid_floor(bytes.fromhex("045d888aeb1cc9119fe808002b104860"), 2, 0)


def tower(*floors: bytes) -> bytes:
    return struct.pack("<H", len(floors)) + b"".join(floors)


def both(data: bytes) -> Tower:
    fast = decode_tower(data)
    assert fast == reference_decode_tower(data)
    return fast


@pytest.mark.parametrize(
    ("floors", "transport", "address", "port", "endpoint"),
    [
        (
            [floor(b"\x0b", b"\0\0"), floor(b"\x07", b"\xea\x61"), floor(b"\x09", b"\xc0\0\2\5")],
            "ncacn_ip_tcp",
            "192.0.2.5",
            60001,
            None,
        ),
        (
            [floor(b"\x0b", b"\0\0"), floor(b"\x1f", b"\x17\x71"), floor(b"\x09", bytes(4))],
            "ncacn_http",
            "0.0.0.0",
            6001,
            None,
        ),
        (
            [floor(b"\x0a", b"\0\0"), floor(b"\x08", b"\x04\x01"), floor(b"\x09", b"\x7f\0\0\1")],
            "ncadg_ip_udp",
            "127.0.0.1",
            1025,
            None,
        ),
        (
            [
                floor(b"\x0b", b"\0\0"),
                floor(b"\x0f", b"\\PIPE\\lsass\0"),
                floor(b"\x11", b"\\\\DC01\0"),
            ],
            "ncacn_np",
            "\\\\DC01",
            None,
            "\\PIPE\\lsass",
        ),
        (
            [floor(b"\x0c", b"\0\0"), floor(b"\x10", b"LRPC-0a1b2c\0")],
            "ncalrpc",
            None,
            None,
            "LRPC-0a1b2c",
        ),
    ],
)
def test_every_transport_decodes(
    floors: list[bytes], transport: str, address: str | None, port: int | None, endpoint: str | None
) -> None:
    decoded = both(tower(MAPI_FLOOR, NDR_FLOOR, *floors))
    assert decoded.interface == MAPI
    assert decoded.transfer_syntax == NDR_SYNTAX
    assert (decoded.transport, decoded.address, decoded.port, decoded.endpoint) == (
        transport,
        address,
        port,
        endpoint,
    )
    assert len(decoded.floors) == 2 + len(floors)


def test_unknown_floors_are_kept_raw_and_long_towers_decode() -> None:
    extra = [floor(bytes([0x40 + i]), bytes([i]) * i) for i in range(6)]
    data = tower(
        MAPI_FLOOR,
        NDR_FLOOR,
        floor(b"\x0b", b"\0\0"),
        floor(b"\x07", b"\x00\x87"),
        floor(b"\x09", b"\xc0\0\2\7"),
        *extra,
    )
    decoded = both(data)
    assert len(decoded.floors) == 11
    assert decoded.floors[5:] == tuple(Floor(bytes([0x40 + i]), bytes([i]) * i) for i in range(6))
    assert (decoded.transport, decoded.port, decoded.address) == ("ncacn_ip_tcp", 135, "192.0.2.7")


def test_impackets_own_tower_class_fails_past_six_floors() -> None:
    from impacket.dcerpc.v5.epm import EPMTower

    data = tower(MAPI_FLOOR, NDR_FLOOR, *[floor(b"\x42", b"x")] * 5)
    with pytest.raises(IndexError):
        EPMTower(data)
    assert len(reference_decode_tower(data).floors) == 7


def test_a_tower_of_unknown_floors_only_is_unknown() -> None:
    decoded = both(tower(MAPI_FLOOR, NDR_FLOOR, floor(b"\x0b", b"\0\0"), floor(b"\x77", b"?")))
    assert decoded.transport == "unknown"
    assert string_binding(decoded, "192.0.2.1") == "unknown(0x0b-0x77):192.0.2.1[]"


@pytest.mark.parametrize("cut", range(1, 40))
def test_truncated_towers_come_back_with_an_error_and_their_bytes(cut: int) -> None:
    data = tower(MAPI_FLOOR, NDR_FLOOR)[:-cut]
    decoded = both(data)
    assert decoded.error is not None and decoded.raw == data
    assert (decoded.transport, decoded.address, decoded.port, decoded.endpoint) == (
        "unknown",
        None,
        None,
        None,
    )


TCP_FLOORS = (
    floor(b"\x0b", b"\0\0"),
    floor(b"\x07", b"\xea\x61"),
    floor(b"\x09", b"\xc0\0\2\5"),
)
TCP_TOWER = tower(MAPI_FLOOR, NDR_FLOOR, *TCP_FLOORS)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", "tower of 0 byte(s) has no floor count"),
        (b"\x05", "tower of 1 byte(s) has no floor count"),
        (b"\0\0", "tower has no floors"),
        (b"\0\0" + TCP_TOWER[2:], "tower has no floors (73 bytes follow its floor count of 0)"),
        (b"\x07\0" + TCP_TOWER[2:], "tower floor 6 of 7 is missing"),
        (b"\x03\0" + TCP_TOWER[2:], "tower claims 3 floor(s) but 16 byte(s) follow them"),
        (
            TCP_TOWER[:-6] + b"\x0c\0" + TCP_TOWER[-4:],
            "tower floor 5 is truncated: its right-hand side claims 12 bytes, 4 are left",
        ),
        (
            tower(MAPI_FLOOR, NDR_FLOOR)[:-8],
            "tower floor 2 is truncated: its left-hand side claims 19 bytes, 15 are left",
        ),
        (
            tower(MAPI_FLOOR, NDR_FLOOR)[:-3],
            "tower floor 2 is truncated: its right-hand side length is missing",
        ),
        (
            tower(
                MAPI_FLOOR,
                NDR_FLOOR,
                floor(b"\x0b", b"\0\0"),
                floor(b"\x07", b"\xea"),
                TCP_FLOORS[2],
            ),
            "tower floor 4 (port 0x07) holds 1 byte(s); a port needs 2",
        ),
        (
            tower(
                MAPI_FLOOR, NDR_FLOOR, floor(b"\x0b", b"\0\0"), floor(b"\x1f", b""), TCP_FLOORS[2]
            ),
            "tower floor 4 (port 0x1f) holds 0 byte(s); a port needs 2",
        ),
        (
            tower(MAPI_FLOOR, NDR_FLOOR, *TCP_FLOORS[:2], floor(b"\x09", b"\xc0\0\2")),
            "tower floor 5 (IPv4 address 0x09) holds 3 byte(s), not 4",
        ),
        (
            tower(MAPI_FLOOR, NDR_FLOOR, floor(b"", b"\0\0"), *TCP_FLOORS[1:]),
            "tower floor 3 has no protocol identifier (empty left-hand side)",
        ),
        (
            tower(MAPI_FLOOR[:-4] + b"\x01\0\0", NDR_FLOOR, *TCP_FLOORS),
            "tower floor 1 (interface identifier 0x0d) has 19+1 bytes, not 19+2",
        ),
    ],
)
def test_each_tower_fault_is_named(data: bytes, error: str) -> None:
    decoded = both(data)
    assert decoded.error == error
    assert decoded.raw == data
    assert (decoded.transport, decoded.address, decoded.port, decoded.endpoint) == (
        "unknown",
        None,
        None,
        None,
    )


def test_a_broken_tower_keeps_the_interface_it_could_read() -> None:
    decoded = both(b"\x07\0" + TCP_TOWER[2:])
    assert decoded.interface == MAPI and decoded.transfer_syntax == NDR_SYNTAX
    assert len(decoded.floors) == 5
    assert both(b"\0\0").interface is None


def test_a_broken_tower_becomes_an_entry_with_its_error_and_hex_never_a_binding() -> None:
    nil = "00000000-0000-0000-0000-000000000000"
    for data in (b"\0\0", b"\x07\0" + TCP_TOWER[2:], b"\x03\0" + TCP_TOWER[2:]):
        record = endpoint_record(LookupEntry(nil, decode_tower(data), "x"), "192.0.2.20")
        assert record.tower_error == decode_tower(data).error
        assert record.tower_hex == data.hex()
        assert (record.transport, record.binding, record.address, record.port) == (
            "unknown",
            "",
            None,
            None,
        )
        assert record.annotation == "x"
    record = endpoint_record(
        LookupEntry(nil, decode_tower(b"\x07\0" + TCP_TOWER[2:]), ""), "192.0.2.20"
    )
    assert (record.uuid, record.version) == (MAPI.uuid, "0.81")


def test_unknown_transport_keeps_its_binding_and_gives_its_hex() -> None:
    data = tower(MAPI_FLOOR, NDR_FLOOR, floor(b"\x0b", b"\0\0"), floor(b"\x77", b"?"))
    record = endpoint_record(
        LookupEntry("00000000-0000-0000-0000-000000000000", decode_tower(data), ""), "192.0.2.1"
    )
    assert record.transport == "unknown" and record.tower_error is None
    assert record.binding == "unknown(0x0b-0x77):192.0.2.1[]"
    assert record.tower_hex == data.hex()


def test_a_good_tower_has_no_error_and_no_hex() -> None:
    decoded = both(TCP_TOWER)
    assert decoded.error is None and decoded.raw is None
    record = endpoint_record(
        LookupEntry("00000000-0000-0000-0000-000000000000", decoded, ""), "192.0.2.1"
    )
    assert record.tower_error is None and record.tower_hex is None


@pytest.mark.parametrize(
    ("transport", "kwargs", "binding"),
    [
        ("ncacn_ip_tcp", {"port": 49152, "address": "192.0.2.5"}, "ncacn_ip_tcp:192.0.2.5[49152]"),
        ("ncacn_ip_tcp", {"port": 49152}, "ncacn_ip_tcp:192.0.2.9[49152]"),
        ("ncacn_http", {"port": 6001, "address": "192.0.2.5"}, "ncacn_http:192.0.2.5[6001]"),
        ("ncadg_ip_udp", {"port": 1025}, "ncadg_ip_udp:192.0.2.9[1025]"),
        (
            "ncacn_np",
            {"endpoint": "\\pipe\\lsass", "address": "\\\\HOST"},
            "ncacn_np:\\\\HOST[\\pipe\\lsass]",
        ),
        (
            "ncacn_np",
            {"endpoint": "\\pipe\\lsass", "address": "HOST"},
            "ncacn_np:\\\\HOST[\\pipe\\lsass]",
        ),
        ("ncacn_np", {"endpoint": "\\pipe\\lsass"}, "ncacn_np:\\\\192.0.2.9[\\pipe\\lsass]"),
        ("ncalrpc", {"endpoint": "NAME"}, "ncalrpc:[NAME]"),
    ],
)
def test_string_bindings_like_rpcdump(
    transport: str, kwargs: dict[str, object], binding: str
) -> None:
    decoded = both(encode_tower(LSARPC, transport, **kwargs))  # type: ignore[arg-type]
    assert decoded.transport == transport
    assert string_binding(decoded, "192.0.2.9") == binding


def test_endpoint_record_replaces_the_unspecified_address_with_the_asked_one() -> None:
    data = encode_tower(MAPI, "ncacn_ip_tcp", port=60001, address="0.0.0.0")
    record = endpoint_record(
        LookupEntry("00000000-0000-0000-0000-000000000000", decode_tower(data), "MS Exchange"),
        "192.0.2.20",
    )
    assert record.address == "192.0.2.20"
    assert record.binding == "ncacn_ip_tcp:192.0.2.20[60001]"
    assert (record.uuid, record.version, record.port) == (MAPI.uuid, "0.81", 60001)
    assert record.name is not None and "EMSMDB" in record.name
    assert record.provider == "[MS-OXCRPC]"
    assert record.annotation == "MS Exchange"


def test_endpoint_record_keeps_a_real_address_and_handles_a_null_tower() -> None:
    data = encode_tower(LSARPC, "ncacn_ip_tcp", port=49152, address="192.0.2.5")
    record = endpoint_record(
        LookupEntry("00000000-0000-0000-0000-000000000000", decode_tower(data), ""), "192.0.2.20"
    )
    assert record.address == "192.0.2.5"
    empty = endpoint_record(
        LookupEntry("00000000-0000-0000-0000-000000000000", None, "x"), "192.0.2.20"
    )
    assert (empty.transport, empty.binding, empty.annotation) == ("unknown", "", "x")


def test_encode_tower_refuses_unknown_transports_and_bad_addresses() -> None:
    with pytest.raises(ValueError, match="transport"):
        encode_tower(LSARPC, "ncacn_spx")
    with pytest.raises(ValueError, match="IPv4"):
        encode_tower(LSARPC, "ncacn_ip_tcp", address="192.0.2")


# --- hypothesis ----------------------------------------------------------------------------

interfaces = st.builds(
    InterfaceId,
    st.uuids().map(str),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFF),
)
names = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=0, max_size=40
)
ipv4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))


@given(
    interface=interfaces,
    syntax=interfaces,
    transport=st.sampled_from(["ncacn_ip_tcp", "ncacn_http", "ncadg_ip_udp"]),
    port=st.integers(0, 65535),
    address=ipv4,
)
def test_ip_towers_round_trip(
    interface: InterfaceId, syntax: InterfaceId, transport: str, port: int, address: str
) -> None:
    decoded = both(
        encode_tower(interface, transport, port=port, address=address, transfer_syntax=syntax)
    )
    assert (decoded.interface, decoded.transfer_syntax) == (interface, syntax)
    assert (decoded.transport, decoded.port, decoded.address) == (transport, port, address)


@given(interface=interfaces, endpoint=names, host=names)
def test_pipe_and_lrpc_towers_round_trip(interface: InterfaceId, endpoint: str, host: str) -> None:
    pipe = both(encode_tower(interface, "ncacn_np", endpoint=endpoint, address=host))
    assert (pipe.transport, pipe.endpoint, pipe.address) == ("ncacn_np", endpoint, host)
    lrpc = both(encode_tower(interface, "ncalrpc", endpoint=endpoint))
    assert (lrpc.transport, lrpc.endpoint, lrpc.address) == ("ncalrpc", endpoint, None)


raw_floors = st.lists(
    st.tuples(
        st.one_of(
            st.sampled_from(
                [
                    b"\x0b",
                    b"\x0a",
                    b"\x0c",
                    b"\x07",
                    b"\x08",
                    b"\x09",
                    b"\x0f",
                    b"\x10",
                    b"\x11",
                    b"\x1f",
                ]
            ),
            st.binary(min_size=0, max_size=20),
        ),
        st.binary(min_size=0, max_size=24),
    ),
    max_size=12,
)


@given(interface=interfaces, floors=raw_floors)
def test_arbitrary_floors_decode_like_the_reference(
    interface: InterfaceId, floors: list[tuple[bytes, bytes]]
) -> None:
    head = encode_tower(interface, "ncalrpc", endpoint="x")[2:][:50]
    data = tower(head[:25], head[25:50], *(floor(lhs, rhs) for lhs, rhs in floors))
    decoded = both(data)
    assert decoded.interface == interface
    assert decoded.floors[2:] == tuple(Floor(lhs, rhs) for lhs, rhs in floors)
