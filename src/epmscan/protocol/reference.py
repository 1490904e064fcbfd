"""impacket's decoding of endpoint mapper responses: the yardstick for our decoder.

Slow (impacket's ``Structure``/NDR classes do per-field Python work) but independent
of :mod:`epmscan.protocol.epm`, so differential tests can hold the fast decoder to it,
and ``--decoder impacket`` can use it. Tower floors are read with impacket's floor
classes one after the other, for any number of floors: ``EPMTower`` itself only knows
six floor slots and fails on longer towers, so it is not used. The interpretation of
the floors (which transport, which address) is written here again on purpose, from
impacket's floor fields rather than from our offsets.
"""

from __future__ import annotations

import socket
from typing import Any

from epmscan.errors import ProtocolError
from epmscan.models import Floor, InterfaceId, LookupEntry, Tower
from epmscan.protocol.epm import LookupResponse, MapResponse

_TRANSPORTS = {
    (b"\x0b", b"\x07"): "ncacn_ip_tcp",
    (b"\x0b", b"\x1f"): "ncacn_http",
    (b"\x0b", b"\x0f"): "ncacn_np",
    (b"\x0a", b"\x08"): "ncadg_ip_udp",
    (b"\x0c", b"\x10"): "ncalrpc",
}


def _string(related: bytes) -> str:
    return related.split(b"\0", 1)[0].decode("utf-8", "replace")


def reference_decode_tower(data: bytes) -> Tower:
    """Decode a tower octet string with impacket's floor structures."""
    from impacket.dcerpc.v5 import epm
    from impacket.uuid import bin_to_string

    data = bytes(data)
    if len(data) < 2:
        raise ProtocolError("tower shorter than its floor count")
    count = int.from_bytes(data[:2], "little")
    rest = data[2:]
    floors: list[Floor] = []
    syntaxes: list[InterfaceId] = []
    protocol: bytes | None = None
    address_kind: bytes | None = None
    address = endpoint = None
    port = None
    for _ in range(count):
        try:
            floor = epm.EPMFloor(rest)
        except Exception as exc:
            raise ProtocolError(f"impacket cannot read a tower floor: {exc}") from exc
        lhs: bytes = floor["ProtocolData"]
        rhs: bytes = floor["RelatedData"]
        if len(lhs) != floor["LHSByteCount"] or len(rhs) != floor["RHSByteCount"]:
            raise ProtocolError("tower floor is truncated")
        rest = rest[4 + len(lhs) + len(rhs) :]
        floors.append(Floor(lhs, rhs))
        if not lhs:
            continue
        ident = lhs[:1]
        if ident == b"\x0d" and len(lhs) == 19 and len(rhs) >= 2:
            parsed = epm.EPMRPCInterface(floor.getData())
            syntaxes.append(
                InterfaceId(
                    bin_to_string(parsed["InterfaceUUID"]).lower(),
                    parsed["MajorVersion"],
                    parsed["MinorVersion"],
                )
            )
        elif ident in (b"\x0b", b"\x0a", b"\x0c"):
            protocol = protocol or ident
        elif ident in (b"\x07", b"\x08", b"\x1f"):
            if len(rhs) >= 2:
                port = epm.EPMPortAddr(b"\x01\x00\x07\x02\x00" + rhs[:2])["IpPort"]
            address_kind = address_kind or ident
        elif ident in (b"\x0f", b"\x10"):
            endpoint = _string(rhs)
            address_kind = address_kind or ident
        elif ident == b"\x09":
            if len(rhs) == 4:
                address = socket.inet_ntoa(rhs)
        elif ident == b"\x11":
            address = _string(rhs)
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
