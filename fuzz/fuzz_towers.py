"""Fuzz :func:`epmscan.protocol.towers.decode_tower` and what is built on a decoded tower.

Input: a tower octet string (floor count, then floors), as it sits inside a ``twr_t``.
Invariants on whatever decodes: the floors re-serialise to the bytes they came from;
the interface, port, endpoint, address and transport each come from a floor that says
so; :func:`string_binding` and :func:`endpoint_record` work and agree with the tower;
re-encoding the decoded fields with :func:`encode_tower` decodes to the same fields. A
tower that cannot be parsed comes back with a one-line ``error`` and its bytes in
``raw`` (never a made-up binding), and bytes after the last floor make it one.
"""

from __future__ import annotations

import re
import struct

from harness import check, fuzz_main, instrumented, tower_octets

with instrumented(__name__ == "__main__"):
    from epmscan.models import LookupEntry, Tower
    from epmscan.protocol.constants import NDR_SYNTAX, NIL_UUID
    from epmscan.protocol.syntax_ids import uuid_text
    from epmscan.protocol.towers import (
        TRANSPORTS,
        decode_tower,
        encode_tower,
        endpoint_record,
        string_binding,
    )

_U16 = struct.Struct("<H")
_PORT_FLOORS = (0x07, 0x08, 0x1F)
_NAME_FLOORS = (0x0F, 0x10)
_TRANSPORT_FLOORS = {
    "ncacn_ip_tcp": (0x0B, 0x07),
    "ncacn_http": (0x0B, 0x1F),
    "ncacn_np": (0x0B, 0x0F),
    "ncadg_ip_udp": (0x0A, 0x08),
    "ncalrpc": (0x0C,),
}
_DOTTED_QUAD = re.compile(r"(0|[1-9][0-9]{0,2})(\.(0|[1-9][0-9]{0,2})){3}")
ASKED = "192.0.2.7"


def _text(rhs: bytes) -> str:
    return rhs.split(b"\0", 1)[0].decode("utf-8", "replace")


def check_tower(tower: Tower, data: bytes) -> None:
    """The decoded fields agree with the raw floors they came from."""
    raw = tower_octets(tower)
    check(data.startswith(raw), "floors do not re-serialise to the input")
    ids = [floor.lhs[0] for floor in tower.floors if floor.lhs]
    check(tower.transport in (*TRANSPORTS, "unknown"), f"transport {tower.transport!r}")
    for protocol_id in _TRANSPORT_FLOORS.get(tower.transport, ()):
        check(protocol_id in ids, f"{tower.transport} without a 0x{protocol_id:02x} floor")
    syntaxes = [
        (uuid_text(f.lhs[1:17]), _U16.unpack_from(f.lhs, 17)[0], _U16.unpack_from(f.rhs)[0])
        for f in tower.floors
        if len(f.lhs) == 19 and f.lhs[0] == 0x0D and len(f.rhs) >= 2
    ]
    if tower.interface is None:
        check(not syntaxes, "a UUID floor was not taken as the interface")
        check(tower.transfer_syntax is None, "transfer syntax without an interface")
    else:
        interface = tower.interface
        check(
            syntaxes[0] == (interface.uuid, interface.major, interface.minor),
            "interface is not the first UUID floor",
        )
    if tower.transfer_syntax is not None:
        syntax = tower.transfer_syntax
        check(
            len(syntaxes) > 1 and syntaxes[1] == (syntax.uuid, syntax.major, syntax.minor),
            "transfer syntax is not the second UUID floor",
        )
    if tower.port is not None:
        ports = [
            int.from_bytes(f.rhs[:2], "big")
            for f in tower.floors
            if f.lhs and f.lhs[0] in _PORT_FLOORS and len(f.rhs) >= 2
        ]
        check(tower.port in ports, "port comes from no port floor")
    if tower.endpoint is not None:
        names = [_text(f.rhs) for f in tower.floors if f.lhs and f.lhs[0] in _NAME_FLOORS]
        check(tower.endpoint in names, "endpoint comes from no name floor")
    if tower.address is not None:
        addresses = [
            "%d.%d.%d.%d" % tuple(f.rhs)  # noqa: UP031
            for f in tower.floors
            if f.lhs and f.lhs[0] == 0x09 and len(f.rhs) == 4
        ] + [_text(f.rhs) for f in tower.floors if f.lhs and f.lhs[0] == 0x11]
        check(tower.address in addresses, "address comes from no address floor")


def check_presentation(tower: Tower) -> None:
    """``string_binding`` and ``endpoint_record`` work and agree with the tower."""
    binding = string_binding(tower, ASKED)
    prefix = "unknown(" if tower.transport == "unknown" else f"{tower.transport}:"
    check(binding.startswith(prefix), f"binding {binding!r} for {tower.transport}")
    record = endpoint_record(LookupEntry(NIL_UUID, tower, "annotation"), ASKED)
    check(record.binding == binding, "endpoint_record and string_binding disagree")
    check(record.port == tower.port and record.transport == tower.transport, "record fields")
    check(record.endpoint == tower.endpoint, "record endpoint")
    if tower.interface is not None:
        check(record.uuid == tower.interface.uuid, "record uuid")


def check_reencoding(tower: Tower) -> None:
    """Encoding the decoded fields again gives a tower with the same fields."""
    interface, transport = tower.interface, tower.transport
    if interface is None or transport not in TRANSPORTS:
        return
    syntax = tower.transfer_syntax or NDR_SYNTAX
    if transport in ("ncacn_ip_tcp", "ncacn_http", "ncadg_ip_udp"):
        if tower.address is not None and not _DOTTED_QUAD.fullmatch(tower.address):
            return
        if tower.address is not None and max(map(int, tower.address.split("."))) > 255:
            return
        again = decode_tower(
            encode_tower(
                interface,
                transport,
                port=tower.port,
                address=tower.address,
                transfer_syntax=syntax,
            )
        )
        check(again.port == (tower.port or 0), "port changed on re-encoding")
        check(again.address == (tower.address or "0.0.0.0"), "address changed on re-encoding")
    else:
        again = decode_tower(
            encode_tower(
                interface,
                transport,
                endpoint=tower.endpoint,
                address=tower.address,
                transfer_syntax=syntax,
            )
        )
        check((again.endpoint or "") == (tower.endpoint or ""), "endpoint changed")
        if transport == "ncacn_np":
            check((again.address or "") == (tower.address or ""), "pipe host changed")
    check(again.interface == interface, "interface changed on re-encoding")
    check(again.transfer_syntax == syntax, "transfer syntax changed on re-encoding")
    check(again.transport == transport, "transport changed on re-encoding")


def test_one_input(data: bytes) -> None:
    """Decode one tower; check it against its floors, its presentation, re-encoding.

    Only decoding the input may raise :class:`ProtocolError`; the checks decode bytes
    that are known good, so a ``ProtocolError`` there is a crash too.
    """
    tower = decode_tower(data)
    if tower.error is not None:
        check("\n" not in tower.error and bool(tower.error), "a tower error is one line")
        check(tower.raw == data, "a broken tower keeps its bytes")
        record = endpoint_record(LookupEntry(NIL_UUID, tower, ""), "192.0.2.1")
        check(record.tower_error == tower.error and record.binding == "", "no made-up binding")
        return
    check_tower(tower, data)
    check_presentation(tower)
    check_reencoding(tower)
    check(decode_tower(data + b"\xff\x00\x07").error is not None, "trailing bytes are an error")


if __name__ == "__main__":
    fuzz_main(test_one_input)
