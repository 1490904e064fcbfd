"""Protocol towers (C706 appendix L, [MS-RPCE] 2.2.1.1.x): decode, encode, present.

A tower is a little-endian floor count followed by floors; each floor is a
length-prefixed left-hand side (protocol identifier byte and data) and a
length-prefixed right-hand side (address data). Floor 1 names the interface
(``0x0d``, UUID + major version; minor version on the RHS), floor 2 the transfer
syntax, then a protocol floor (``0x0b`` ncacn, ``0x0a`` ncadg, ``0x0c`` ncalrpc) and
the address floors: TCP/UDP/HTTP port (big-endian), IPv4 address, named pipe, LRPC
name, NetBIOS/host name (NUL-terminated strings).

:func:`decode_tower` walks any number of floors with ``struct.unpack_from`` and keeps
every floor raw in :class:`~epmscan.models.Tower.floors`, unknown ones included.
A tower that cannot be parsed (no floors, lengths that run past its end or leave bytes
over, a floor too short for its kind) is not an exception: it comes back with
``Tower.error`` and its raw bytes, so the lookup entry carrying it is kept and shown
with a ``tower_error`` instead of a made-up binding.
Decoded towers are immutable and memoised by their bytes: hosts repeat the same towers.
"""

from __future__ import annotations

import struct
from functools import lru_cache

from epmscan.models import EndpointRecord, Floor, InterfaceId, LookupEntry, Tower
from epmscan.protocol.constants import (
    FLOOR_HTTP_PORT,
    FLOOR_IPV4,
    FLOOR_LRPC_NAME,
    FLOOR_NAMED_PIPE,
    FLOOR_NCACN,
    FLOOR_NCADG,
    FLOOR_NCALRPC,
    FLOOR_NETBIOS_NAME,
    FLOOR_TCP_PORT,
    FLOOR_UDP_PORT,
    FLOOR_UUID,
    NDR_SYNTAX,
)
from epmscan.protocol.interface_names import interface_name
from epmscan.protocol.syntax_ids import uuid_bytes, uuid_text

_U16 = struct.Struct("<H")
_U16_BE = struct.Struct(">H")
_UUID_FLOOR_LHS = struct.Struct("<B16sH")

UNSPECIFIED_ADDRESS = "0.0.0.0"
TRANSPORTS = ("ncacn_ip_tcp", "ncacn_http", "ncacn_np", "ncalrpc", "ncadg_ip_udp")

_PROTOCOL_TRANSPORTS: dict[tuple[int, int], str] = {
    (FLOOR_NCACN, FLOOR_TCP_PORT): "ncacn_ip_tcp",
    (FLOOR_NCACN, FLOOR_HTTP_PORT): "ncacn_http",
    (FLOOR_NCACN, FLOOR_NAMED_PIPE): "ncacn_np",
    (FLOOR_NCADG, FLOOR_UDP_PORT): "ncadg_ip_udp",
    (FLOOR_NCALRPC, FLOOR_LRPC_NAME): "ncalrpc",
}
_PORT_FLOORS = (FLOOR_TCP_PORT, FLOOR_UDP_PORT, FLOOR_HTTP_PORT)
_NAME_FLOORS = (FLOOR_NAMED_PIPE, FLOOR_LRPC_NAME)
_PROTOCOL_FLOORS = (FLOOR_NCACN, FLOOR_NCADG, FLOOR_NCALRPC)


def _text(rhs: bytes) -> str:
    """A NUL-terminated string floor: everything before the first NUL."""
    return rhs.split(b"\0", 1)[0].decode("utf-8", "replace")


def decode_tower(data: bytes) -> Tower:
    """Decode a tower octet string.

    Never raises for what a peer sent: a tower that cannot be parsed comes back with
    :attr:`~epmscan.models.Tower.error` set (see :func:`tower_problem` for the faults)
    and its bytes in ``raw``, so the entry that carried it is kept.
    """
    return _decode_tower(bytes(data))


_FloorInfo = tuple[Floor, int, InterfaceId | int | str | None]
_FLOOR_CACHE: dict[bytes, _FloorInfo] = {}
_FLOOR_CACHE_LIMIT = 16384


def _floor_info(raw: bytes, lhs_length: int) -> _FloorInfo:
    """One floor (raw: both length prefixes included) → Floor, kind, decoded value.

    The value is None where the floor is too short for its kind (a one-byte port, an
    interface floor of the wrong size, an IPv4 address that is not 4 bytes).
    """
    info = _FLOOR_CACHE.get(raw)
    if info is not None:
        return info
    lhs = raw[2 : 2 + lhs_length]
    rhs = raw[4 + lhs_length :]
    kind = lhs[0] if lhs else -1
    value: InterfaceId | int | str | None = None
    if kind == FLOOR_UUID:
        if lhs_length == 19 and len(rhs) >= 2:
            _, raw_uuid, major = _UUID_FLOOR_LHS.unpack_from(lhs, 0)
            (minor,) = _U16.unpack_from(rhs, 0)
            value = InterfaceId(uuid_text(raw_uuid), major, minor)
    elif kind in _PORT_FLOORS:
        if len(rhs) >= 2:
            (value,) = _U16_BE.unpack_from(rhs, 0)
    elif kind in _NAME_FLOORS or kind == FLOOR_NETBIOS_NAME:
        value = _text(rhs)
    elif kind == FLOOR_IPV4 and len(rhs) == 4:
        value = "%d.%d.%d.%d" % tuple(rhs)  # noqa: UP031 - fastest here
    info = (Floor(lhs, rhs), kind, value)
    if len(_FLOOR_CACHE) >= _FLOOR_CACHE_LIMIT:
        _FLOOR_CACHE.clear()
    _FLOOR_CACHE[raw] = info
    return info


def floor_problem(number: int, floor: Floor) -> str | None:
    """What makes floor ``number`` (1-based) unusable for its kind, or None.

    An empty left-hand side (no protocol identifier), an interface floor that is not
    19 + 2 bytes, a port floor whose right-hand side holds fewer than 2 bytes, an IPv4
    floor that does not hold exactly 4. Unknown protocol identifiers are not a problem.
    """
    lhs, rhs = floor.lhs, floor.rhs
    if not lhs:
        return f"tower floor {number} has no protocol identifier (empty left-hand side)"
    kind = lhs[0]
    if kind == FLOOR_UUID and (len(lhs) != 19 or len(rhs) < 2):
        return (
            f"tower floor {number} (interface identifier 0x0d) has {len(lhs)}+{len(rhs)}"
            " bytes, not 19+2"
        )
    if kind in _PORT_FLOORS and len(rhs) < 2:
        return f"tower floor {number} (port 0x{kind:02x}) holds {len(rhs)} byte(s); a port needs 2"
    if kind == FLOOR_IPV4 and len(rhs) != 4:
        return f"tower floor {number} (IPv4 address 0x09) holds {len(rhs)} byte(s), not 4"
    return None


def _broken(
    data: bytes,
    error: str,
    interface: InterfaceId | None,
    transfer_syntax: InterfaceId | None,
    floors: list[Floor],
) -> Tower:
    return Tower(
        interface, transfer_syntax, "unknown", None, None, None, tuple(floors), error, data
    )


@lru_cache(maxsize=8192)
def _decode_tower(data: bytes) -> Tower:
    size = len(data)
    if size < 2:
        return _broken(data, f"tower of {size} byte(s) has no floor count", None, None, [])
    (count,) = _U16.unpack_from(data, 0)
    if count == 0:
        after = f" ({size - 2} bytes follow its floor count of 0)" if size > 2 else ""
        return _broken(data, f"tower has no floors{after}", None, None, [])
    offset = 2
    floors: list[Floor] = []
    interface = transfer_syntax = None
    protocol = address_kind = None
    address = endpoint = None
    port = None
    problem: str | None = None
    unpack = _U16.unpack_from
    for index in range(count):
        start = offset
        if offset + 2 > size:
            return _broken(
                data,
                f"tower floor {index + 1} of {count} is missing",
                interface,
                transfer_syntax,
                floors,
            )
        (lhs_length,) = unpack(data, offset)
        offset += 2 + lhs_length
        if offset + 2 > size:
            if offset > size:
                error = (
                    f"tower floor {index + 1} is truncated: its left-hand side claims"
                    f" {lhs_length} bytes, {size - start - 2} are left"
                )
            else:
                error = (
                    f"tower floor {index + 1} is truncated: its right-hand side length is missing"
                )
            return _broken(data, error, interface, transfer_syntax, floors)
        (rhs_length,) = unpack(data, offset)
        offset += 2 + rhs_length
        if offset > size:
            return _broken(
                data,
                f"tower floor {index + 1} is truncated: its right-hand side claims"
                f" {rhs_length} bytes, {size - (offset - rhs_length)} are left",
                interface,
                transfer_syntax,
                floors,
            )
        floor, kind, value = _floor_info(data[start:offset], lhs_length)
        floors.append(floor)
        if kind == FLOOR_UUID:
            if isinstance(value, InterfaceId):
                if interface is None:
                    interface = value
                elif transfer_syntax is None:
                    transfer_syntax = value
            elif problem is None:
                problem = floor_problem(index + 1, floor)
        elif kind in _PROTOCOL_FLOORS:
            protocol = protocol if protocol is not None else kind
        elif kind in _PORT_FLOORS:
            if isinstance(value, int):
                port = value
            elif problem is None:
                problem = floor_problem(index + 1, floor)
            address_kind = address_kind if address_kind is not None else kind
        elif kind in _NAME_FLOORS:
            endpoint = value if isinstance(value, str) else None
            address_kind = address_kind if address_kind is not None else kind
        elif kind == FLOOR_IPV4:
            if isinstance(value, str):
                address = value
            elif problem is None:
                problem = floor_problem(index + 1, floor)
        elif kind == FLOOR_NETBIOS_NAME:
            address = value if isinstance(value, str) else None
        elif kind == -1 and problem is None:
            problem = floor_problem(index + 1, floor)
    if offset != size:
        return _broken(
            data,
            f"tower claims {count} floor(s) but {size - offset} byte(s) follow them",
            interface,
            transfer_syntax,
            floors,
        )
    if problem is not None:
        return _broken(data, problem, interface, transfer_syntax, floors)
    transport = "unknown"
    if protocol is not None:
        if protocol == FLOOR_NCALRPC:
            transport = "ncalrpc"
        elif address_kind is not None:
            transport = _PROTOCOL_TRANSPORTS.get((protocol, address_kind), "unknown")
    if transport == "unknown":
        return Tower(
            interface,
            transfer_syntax,
            transport,
            address,
            port,
            endpoint,
            tuple(floors),
            None,
            data,
        )
    return Tower(interface, transfer_syntax, transport, address, port, endpoint, tuple(floors))


def _floor(lhs: bytes, rhs: bytes) -> bytes:
    return _U16.pack(len(lhs)) + lhs + _U16.pack(len(rhs)) + rhs


def _uuid_floor(syntax: InterfaceId) -> bytes:
    lhs = _UUID_FLOOR_LHS.pack(FLOOR_UUID, uuid_bytes(syntax.uuid), syntax.major)
    return _floor(lhs, _U16.pack(syntax.minor))


def _ipv4(address: str | None) -> bytes:
    parts = (address or UNSPECIFIED_ADDRESS).split(".")
    try:
        raw = bytes(int(part) for part in parts)
    except ValueError as exc:
        raise ValueError(f"not an IPv4 address: {address!r}") from exc
    if len(raw) != 4:
        raise ValueError(f"not an IPv4 address: {address!r}")
    return raw


def encode_tower(
    interface: InterfaceId,
    transport: str,
    *,
    port: int | None = None,
    address: str | None = None,
    endpoint: str | None = None,
    transfer_syntax: InterfaceId = NDR_SYNTAX,
) -> bytes:
    """Build the tower octet string for one interface on one transport.

    ``ncacn_ip_tcp``/``ncacn_http``/``ncadg_ip_udp``: ``port`` (0 when None) and IPv4
    ``address`` (0.0.0.0 when None); ``ncacn_np``: pipe ``endpoint`` and NetBIOS name
    ``address`` (empty when None); ``ncalrpc``: LRPC ``endpoint`` name.
    """
    floors = [_uuid_floor(interface), _uuid_floor(transfer_syntax)]
    minor0 = _U16.pack(0)
    if transport in ("ncacn_ip_tcp", "ncacn_http", "ncadg_ip_udp"):
        protocol, port_floor = {
            "ncacn_ip_tcp": (FLOOR_NCACN, FLOOR_TCP_PORT),
            "ncacn_http": (FLOOR_NCACN, FLOOR_HTTP_PORT),
            "ncadg_ip_udp": (FLOOR_NCADG, FLOOR_UDP_PORT),
        }[transport]
        floors.append(_floor(bytes((protocol,)), minor0))
        floors.append(_floor(bytes((port_floor,)), _U16_BE.pack(port or 0)))
        floors.append(_floor(bytes((FLOOR_IPV4,)), _ipv4(address)))
    elif transport == "ncacn_np":
        floors.append(_floor(bytes((FLOOR_NCACN,)), minor0))
        floors.append(_floor(bytes((FLOOR_NAMED_PIPE,)), (endpoint or "").encode() + b"\0"))
        floors.append(_floor(bytes((FLOOR_NETBIOS_NAME,)), (address or "").encode() + b"\0"))
    elif transport == "ncalrpc":
        floors.append(_floor(bytes((FLOOR_NCALRPC,)), minor0))
        floors.append(_floor(bytes((FLOOR_LRPC_NAME,)), (endpoint or "").encode() + b"\0"))
    else:
        raise ValueError(f"cannot encode a tower for transport {transport!r}")
    return _U16.pack(len(floors)) + b"".join(floors)


def _host_part(tower: Tower, host: str) -> str:
    address = tower.address
    if not address or address == UNSPECIFIED_ADDRESS:
        return host
    return address


def string_binding(tower: Tower, host: str) -> str:
    """The string binding as impacket's rpcdump prints it.

    ``host`` stands in for a missing or 0.0.0.0 address (the host that was asked):
    ``ncacn_ip_tcp:192.0.2.5[49152]``, ``ncacn_np:\\\\HOST[\\pipe\\lsass]``,
    ``ncacn_http:192.0.2.5[6001]``, ``ncalrpc:[NAME]``, ``ncadg_ip_udp:192.0.2.5[1025]``.
    A tower that could not be parsed has no binding (``""``).
    """
    if tower.error is not None:
        return ""
    transport = tower.transport
    if transport in ("ncacn_ip_tcp", "ncacn_http", "ncadg_ip_udp"):
        return f"{transport}:{_host_part(tower, host)}[{tower.port}]"
    if transport == "ncacn_np":
        name = _host_part(tower, host)
        prefix = "" if name.startswith("\\\\") else "\\\\"
        return f"{transport}:{prefix}{name}[{tower.endpoint or ''}]"
    if transport == "ncalrpc":
        return f"ncalrpc:[{tower.endpoint or ''}]"
    where = tower.port if tower.port is not None else (tower.endpoint or "")
    kinds = "-".join(f"0x{floor.protocol_id:02x}" for floor in tower.floors[2:] if floor.lhs)
    return f"unknown({kinds}):{_host_part(tower, host)}[{where}]"


_NO_INTERFACE = InterfaceId("00000000-0000-0000-0000-000000000000", 0, 0)


_LOCAL_RECORDS: dict[tuple[int, str, str], tuple[Tower, EndpointRecord]] = {}
_LOCAL_RECORDS_LIMIT = 8192


def endpoint_record(entry: LookupEntry, asked_address: str) -> EndpointRecord:
    """What the user sees for one lookup entry; 0.0.0.0 becomes ``asked_address``.

    An ``ncalrpc`` entry names no host, and hosts of one Windows build register the
    same ones: its record is built once (keyed by the decoded tower, which the tower
    cache shares between hosts, and kept alive beside the record so the key stays true).
    """
    tower = entry.tower
    if tower is not None and tower.transport == "ncalrpc":
        key = (id(tower), entry.annotation, entry.object_uuid)
        hit = _LOCAL_RECORDS.get(key)
        if hit is not None and hit[0] is tower:
            return hit[1]
        record = _endpoint_record(entry, asked_address)
        if len(_LOCAL_RECORDS) >= _LOCAL_RECORDS_LIMIT:
            _LOCAL_RECORDS.clear()
        _LOCAL_RECORDS[key] = (tower, record)
        return record
    return _endpoint_record(entry, asked_address)


def _endpoint_record(entry: LookupEntry, asked_address: str) -> EndpointRecord:
    tower = entry.tower
    if tower is None:
        return EndpointRecord(
            uuid=_NO_INTERFACE.uuid,
            version=_NO_INTERFACE.version,
            name=None,
            annotation=entry.annotation,
            transport="unknown",
            address=None,
            port=None,
            endpoint=None,
            binding="",
            object_uuid=entry.object_uuid,
        )
    interface = tower.interface or _NO_INTERFACE
    known = interface_name(interface.uuid, interface.major, interface.minor)
    if tower.raw is not None:
        return _unusual_record(entry, tower, interface, known, asked_address)
    address: str | None = None
    if tower.transport != "ncalrpc":
        address = _host_part(tower, asked_address)
    return EndpointRecord(
        uuid=interface.uuid,
        version=interface.version,
        name=known[0] if known else None,
        annotation=entry.annotation,
        transport=tower.transport,
        address=address,
        port=tower.port,
        endpoint=tower.endpoint,
        binding=string_binding(tower, asked_address),
        object_uuid=entry.object_uuid,
        provider=known[1] if known else None,
    )


def _unusual_record(
    entry: LookupEntry,
    tower: Tower,
    interface: InterfaceId,
    known: tuple[str, str | None] | None,
    asked_address: str,
) -> EndpointRecord:
    """A tower that could not be parsed (``tower_error``), or one of unknown transport."""
    raw = (tower.raw or b"").hex()
    if tower.error is not None:
        return EndpointRecord(
            uuid=interface.uuid,
            version=interface.version,
            name=known[0] if known else None,
            annotation=entry.annotation,
            transport="unknown",
            address=None,
            port=None,
            endpoint=None,
            binding="",
            object_uuid=entry.object_uuid,
            provider=known[1] if known else None,
            tower_error=tower.error,
            tower_hex=raw,
        )
    return EndpointRecord(
        uuid=interface.uuid,
        version=interface.version,
        name=known[0] if known else None,
        annotation=entry.annotation,
        transport=tower.transport,
        address=_host_part(tower, asked_address),
        port=tower.port,
        endpoint=tower.endpoint,
        binding=string_binding(tower, asked_address),
        object_uuid=entry.object_uuid,
        provider=known[1] if known else None,
        tower_hex=raw,
    )
