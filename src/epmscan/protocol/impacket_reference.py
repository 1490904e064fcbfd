"""impacket's decoding of endpoint mapper responses: the yardstick for our decoder.

Slow (impacket's ``Structure``/NDR classes do per-field Python work) but independent
of :mod:`epmscan.protocol.epm_client`, so differential tests can hold the fast decoder to it,
and ``--decoder impacket`` can use it. Tower floors are read with impacket's floor
classes one after the other, for any number of floors: ``EPMTower`` itself only knows
six floor slots and fails on longer towers, so it is not used. The interpretation of
the floors (which transport, which address) is written here again on purpose, from
impacket's floor fields rather than from our offsets.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from epmscan.errors import ProtocolError
from epmscan.models import Floor, InterfaceId, LookupEntry, Tower
from epmscan.protocol.epm_client import LookupResponse, MapResponse

_TRANSPORTS = {
    (b"\x0b", b"\x07"): "ncacn_ip_tcp",
    (b"\x0b", b"\x1f"): "ncacn_http",
    (b"\x0b", b"\x0f"): "ncacn_np",
    (b"\x0a", b"\x08"): "ncadg_ip_udp",
    (b"\x0c", b"\x10"): "ncalrpc",
}


def _string(related: bytes) -> str:
    return related.split(b"\0", 1)[0].decode("utf-8", "replace")


def _broken(data: bytes, error: str, syntaxes: list[InterfaceId], floors: list[Floor]) -> Tower:
    return Tower(
        syntaxes[0] if syntaxes else None,
        syntaxes[1] if len(syntaxes) > 1 else None,
        "unknown",
        None,
        None,
        None,
        tuple(floors),
        error,
        data,
    )


def reference_decode_tower(data: bytes) -> Tower:
    """Decode a tower octet string with impacket's floor structures.

    A tower that cannot be parsed comes back with ``error`` and ``raw`` set, like
    :func:`epmscan.protocol.towers.decode_tower` does (same faults, found here from
    impacket's floor fields: the floor count, each floor's byte counts, what is left).
    """
    from impacket.dcerpc.v5 import epm
    from impacket.uuid import bin_to_string

    data = bytes(data)
    if len(data) < 2:
        return _broken(data, f"tower of {len(data)} byte(s) has no floor count", [], [])
    count = int.from_bytes(data[:2], "little")
    if count == 0:
        after = f" ({len(data) - 2} bytes follow its floor count of 0)" if len(data) > 2 else ""
        return _broken(data, f"tower has no floors{after}", [], [])
    rest = data[2:]
    floors: list[Floor] = []
    syntaxes: list[InterfaceId] = []
    protocol: bytes | None = None
    address_kind: bytes | None = None
    address = endpoint = None
    port = None
    problem: str | None = None
    for number in range(1, count + 1):
        if len(rest) < 2:
            return _broken(data, f"tower floor {number} of {count} is missing", syntaxes, floors)
        lhs_count = int.from_bytes(rest[:2], "little")
        if len(rest) < 2 + lhs_count:
            return _broken(
                data,
                f"tower floor {number} is truncated: its left-hand side claims"
                f" {lhs_count} bytes, {len(rest) - 2} are left",
                syntaxes,
                floors,
            )
        if len(rest) < 4 + lhs_count:
            return _broken(
                data,
                f"tower floor {number} is truncated: its right-hand side length is missing",
                syntaxes,
                floors,
            )
        rhs_count = int.from_bytes(rest[2 + lhs_count : 4 + lhs_count], "little")
        if len(rest) < 4 + lhs_count + rhs_count:
            return _broken(
                data,
                f"tower floor {number} is truncated: its right-hand side claims"
                f" {rhs_count} bytes, {len(rest) - 4 - lhs_count} are left",
                syntaxes,
                floors,
            )
        floor = epm.EPMFloor(rest)
        lhs: bytes = floor["ProtocolData"]
        rhs: bytes = floor["RelatedData"]
        rest = rest[4 + len(lhs) + len(rhs) :]
        floors.append(Floor(lhs, rhs))
        ident = lhs[:1]
        if not lhs:
            problem = problem or (
                f"tower floor {number} has no protocol identifier (empty left-hand side)"
            )
        elif ident == b"\x0d":
            if len(lhs) == 19 and len(rhs) >= 2:
                parsed = epm.EPMRPCInterface(floor.getData())
                syntaxes.append(
                    InterfaceId(
                        bin_to_string(parsed["InterfaceUUID"]).lower(),
                        parsed["MajorVersion"],
                        parsed["MinorVersion"],
                    )
                )
            else:
                problem = problem or (
                    f"tower floor {number} (interface identifier 0x0d) has"
                    f" {len(lhs)}+{len(rhs)} bytes, not 19+2"
                )
        elif ident in (b"\x0b", b"\x0a", b"\x0c"):
            protocol = protocol or ident
        elif ident in (b"\x07", b"\x08", b"\x1f"):
            if len(rhs) >= 2:
                port = epm.EPMPortAddr(b"\x01\x00\x07\x02\x00" + rhs[:2])["IpPort"]
            else:
                problem = problem or (
                    f"tower floor {number} (port 0x{lhs[0]:02x}) holds {len(rhs)} byte(s);"
                    " a port needs 2"
                )
            address_kind = address_kind or ident
        elif ident in (b"\x0f", b"\x10"):
            endpoint = _string(rhs)
            address_kind = address_kind or ident
        elif ident == b"\x09":
            if len(rhs) == 4:
                address = str(ipaddress.IPv4Address(rhs))
            else:
                problem = problem or (
                    f"tower floor {number} (IPv4 address 0x09) holds {len(rhs)} byte(s), not 4"
                )
        elif ident == b"\x11":
            address = _string(rhs)
    if rest:
        return _broken(
            data,
            f"tower claims {count} floor(s) but {len(rest)} byte(s) follow them",
            syntaxes,
            floors,
        )
    if problem is not None:
        return _broken(data, problem, syntaxes, floors)
    transport = "unknown"
    if protocol == b"\x0c":
        transport = "ncalrpc"
    elif protocol is not None and address_kind is not None:
        transport = _TRANSPORTS.get((protocol, address_kind), "unknown")
    return Tower(
        syntaxes[0] if syntaxes else None,
        syntaxes[1] if len(syntaxes) > 1 else None,
        transport,
        address,
        port,
        endpoint,
        tuple(floors),
        None,
        data if transport == "unknown" else None,
    )


def _octets(tower: Any) -> bytes:
    return b"".join(tower["tower_octet_string"])


def _check_count(announced: int, held: int, what: str) -> None:
    """impacket reads the array it finds; the count before it must name as many."""
    if announced != held:
        raise ProtocolError(f"{what}: {announced} announced but the array holds {held}")


def _pointer_is_null(pointer: Any) -> bool:
    return bool(pointer.fields.get("ReferentID", 1) == 0)


def reference_decode_lookup_response(stub: bytes) -> LookupResponse:
    """Decode an ``ept_lookup`` response stub with impacket's ``ept_lookupResponse``."""
    from impacket.dcerpc.v5 import epm
    from impacket.uuid import bin_to_string

    try:
        response = epm.ept_lookupResponse(bytes(stub))
    except Exception as exc:
        raise ProtocolError(f"impacket cannot decode the lookup response: {exc}") from exc
    handle = response["entry_handle"].getData()
    _check_count(response["num_ents"], len(response["entries"]), "ept_lookup entries")
    entries = []
    for index in range(response["num_ents"]):
        entry = response["entries"][index]
        pointer = entry.fields["tower"]
        tower = None if _pointer_is_null(pointer) else reference_decode_tower(_octets(pointer))
        annotation = _string(b"".join(entry["annotation"]))
        entries.append(LookupEntry(bin_to_string(entry["object"]).lower(), tower, annotation))
    return LookupResponse(handle, tuple(entries), response["status"])


def reference_decode_map_response(stub: bytes) -> MapResponse:
    """Decode an ``ept_map`` response stub with impacket's ``ept_mapResponse``."""
    from impacket.dcerpc.v5 import epm

    try:
        response = epm.ept_mapResponse(bytes(stub))
    except Exception as exc:
        raise ProtocolError(f"impacket cannot decode the map response: {exc}") from exc
    _check_count(response["num_towers"], len(response["ITowers"]), "ept_map towers")
    towers = []
    for index in range(response["num_towers"]):
        pointer = response["ITowers"][index]
        if _pointer_is_null(pointer):
            continue
        towers.append(reference_decode_tower(_octets(pointer.fields["Data"])))
    return MapResponse(response["entry_handle"].getData(), tuple(towers), response["status"])
