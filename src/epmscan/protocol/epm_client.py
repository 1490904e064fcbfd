"""The endpoint mapper's calls, client half: build ept_lookup/ept_map requests, decode answers.

Requests are NDR stubs built once per shape with impacket's ``ept_lookup``/``ept_map``
structures and then patched in place (handle, max_ents, interface), so building one
costs a few ``struct.pack_into`` calls. Responses are decoded here with
``struct.unpack_from`` straight off the stub; :mod:`.impacket_reference` keeps
impacket's decoding as the yardstick.

NDR layout of an ``ept_lookup`` response: ``entry_handle`` (20 bytes), ``num_ents``,
then the conformant varying array of ``ept_entry_t`` (max_count, offset, actual_count,
then each entry *inline*: object UUID, tower pointer referent id, annotation as a
varying string), then the *deferred* ``twr_t`` referents in entry order (conformance,
``tower_length``, octets, padding to 4), then ``status``.

An ``ept_map`` response has the same shape with the array holding only tower pointers:
``entry_handle``, ``num_towers``, max_count (the request's ``max_towers``), offset,
actual_count, one referent id per tower, the deferred ``twr_t`` referents, ``status``.
The paging of ``ept_lookup`` is :mod:`.lookup_walk`; the server half is :mod:`.epm_server`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache
from typing import NoReturn

from epmscan.errors import ProtocolError
from epmscan.models import InterfaceId, LookupEntry, Tower
from epmscan.protocol.constants import (
    DEFAULT_MAX_ENTS,
    NULL_HANDLE,
    RPC_C_EP_ALL_ELTS,
    RPC_C_VERS_ALL,
)
from epmscan.protocol.epm_ndr import (
    ANNOTATION_LIMIT,
    ENTRY_HEAD,
    HANDLE_SIZE,
    IF_ID,
    U32,
    array_header,
    deferred_towers,
    need,
)
from epmscan.protocol.syntax_ids import pad4, uuid_bytes, uuid_text
from epmscan.protocol.towers import encode_tower

MAP_RESPONSE_FIRST_REFERENT = 3
"""First tower referent id of an ``ept_map`` response: after the request's object (1) and
map tower (2), as Samba numbers it for every client seen (ours, impacket, rpcclient)."""

# --- requests ------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _lookup_template(inquiry_type: int, with_interface: bool) -> bytes:
    """An ``ept_lookup`` stub of one shape, built by impacket's NDR structures."""
    from impacket.dcerpc.v5 import epm
    from impacket.dcerpc.v5.dtypes import NULL

    request = epm.ept_lookup()
    request["inquiry_type"] = inquiry_type
    request["object"] = NULL
    if with_interface:
        request["Ifid"]["Uuid"] = bytes(16)
        request["Ifid"]["VersMajor"] = 0
        request["Ifid"]["VersMinor"] = 0
    else:
        request["Ifid"] = NULL
    request["vers_option"] = RPC_C_VERS_ALL
    request["entry_handle"] = epm.ept_lookup_handle_t()
    request["max_ents"] = DEFAULT_MAX_ENTS
    stub = bytearray(request.getData())
    expected = 60 if with_interface else 40
    if len(stub) != expected:  # pragma: no cover - guards against an impacket change
        raise RuntimeError(f"unexpected ept_lookup layout from impacket ({len(stub)} bytes)")
    if with_interface:
        U32.pack_into(stub, 8, 1)
    return bytes(stub)


def build_lookup_request(
    *,
    handle: bytes = NULL_HANDLE,
    max_ents: int = DEFAULT_MAX_ENTS,
    inquiry_type: int = RPC_C_EP_ALL_ELTS,
    interface: InterfaceId | None = None,
    vers_option: int = RPC_C_VERS_ALL,
) -> bytes:
    """The ``ept_lookup`` (opnum 2) request stub.

    ``interface`` is sent (as ``Ifid``) for ``RPC_C_EP_MATCH_BY_IF``; ``object`` is
    always NULL (we never match by object).
    """
    if len(handle) != HANDLE_SIZE:
        raise ValueError("an ept_lookup handle is 20 bytes")
    stub = bytearray(_lookup_template(inquiry_type, interface is not None))
    U32.pack_into(stub, 0, inquiry_type)
    offset = 12
    if interface is not None:
        IF_ID.pack_into(stub, 12, uuid_bytes(interface.uuid), interface.major, interface.minor)
        offset = 32
    U32.pack_into(stub, offset, vers_option)
    stub[offset + 4 : offset + 24] = handle
    U32.pack_into(stub, offset + 24, max_ents)
    return bytes(stub)


@lru_cache(maxsize=64)
def build_map_request(
    interface: InterfaceId, transport: str = "ncacn_ip_tcp", max_towers: int = 4
) -> bytes:
    """The ``ept_map`` (opnum 3) request stub for one interface.

    The map tower names ``transport`` (``ncacn_ip_tcp`` or ``ncacn_http``) with port 0
    and address 0.0.0.0; the object is the nil UUID. Referent ids are 1 and 2, which
    Windows Server 2003 insists on.
    """
    if transport not in ("ncacn_ip_tcp", "ncacn_http"):
        raise ValueError(f"ept_map is asked for ncacn_ip_tcp or ncacn_http, not {transport!r}")
    from impacket.dcerpc.v5 import epm

    tower = encode_tower(interface, transport, port=0, address="0.0.0.0")
    request = epm.ept_map()
    request["obj"] = bytes(16)
    request["map_tower"]["tower_length"] = len(tower)
    request["map_tower"]["tower_octet_string"] = tower
    request["entry_handle"] = epm.ept_lookup_handle_t()
    request["max_towers"] = max_towers
    request.fields["obj"].fields["ReferentID"] = 1
    request.fields["map_tower"].fields["ReferentID"] = 2
    stub = bytearray(request.getData())
    tower_end = 32 + len(tower)
    expected = tower_end + pad4(tower_end) + HANDLE_SIZE + 4
    if len(stub) != expected:  # pragma: no cover - guards against an impacket change
        raise RuntimeError(f"unexpected ept_map layout from impacket ({len(stub)} bytes)")
    stub[tower_end : tower_end + pad4(tower_end)] = bytes(pad4(tower_end))
    return bytes(stub)


def build_lookup_handle_free(handle: bytes) -> bytes:
    """The ``ept_lookup_handle_free`` (opnum 4) request stub: just the handle."""
    if len(handle) != HANDLE_SIZE:
        raise ValueError("an ept_lookup handle is 20 bytes")
    return bytes(handle)


# --- responses -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LookupResponse:
    """One ``ept_lookup`` answer: the handle to continue with, a batch, a status."""

    handle: bytes
    entries: tuple[LookupEntry, ...]
    status: int


@dataclass(frozen=True, slots=True)
class MapResponse:
    """One ``ept_map`` answer."""

    handle: bytes
    towers: tuple[Tower, ...]
    status: int


def _annotation(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def _unreadable_entry(count: int, index: int, reason: str) -> NoReturn:
    """An entry that cannot be read: most often a count that claims more entries than
    were sent, so the error names the count first."""
    raise ProtocolError(
        f"ept_lookup entries: {count} announced, but entry {index + 1} cannot be read ({reason})"
    )


def decode_lookup_response(stub: bytes) -> LookupResponse:
    """Decode an ``ept_lookup`` response stub (fast path)."""
    stub = bytes(stub)
    need(stub, 24, "the lookup response header")
    handle = stub[:HANDLE_SIZE]
    (count,) = U32.unpack_from(stub, 20)
    offset = array_header(stub, 24, count, "ept_lookup entries")
    if count * 28 > len(stub):
        raise ProtocolError(f"ept_lookup announces {count} entries in {len(stub)} bytes")
    heads: list[tuple[bytes, int, str]] = []
    unpack_head = ENTRY_HEAD.unpack_from
    size = len(stub)
    for index in range(count):
        if offset + 28 > size:
            _unreadable_entry(count, index, f"the stub ends after {size} bytes")
        raw_object, referent, first, length = unpack_head(stub, offset)
        if first != 0:
            _unreadable_entry(count, index, f"annotation offset {first} is not 0")
        if length > ANNOTATION_LIMIT:
            _unreadable_entry(count, index, f"annotation of {length} bytes")
        offset += 28
        end = offset + length
        if end > size:
            _unreadable_entry(count, index, f"its annotation of {length} bytes runs past the stub")
        heads.append((raw_object, referent, _annotation(stub[offset:end])))
        offset = end + (-end & 3)
    towers, offset = deferred_towers(
        stub, offset, [referent for _, referent, _ in heads], "ept_lookup towers"
    )
    need(stub, offset + 4, "the status")
    (status,) = U32.unpack_from(stub, offset)
    entries = tuple(
        LookupEntry(uuid_text(raw_object), tower, annotation)
        for (raw_object, _, annotation), tower in zip(heads, towers, strict=True)
    )
    return LookupResponse(handle, entries, status)


def decode_map_response(stub: bytes) -> MapResponse:
    """Decode an ``ept_map`` response stub (fast path); NULL tower pointers are skipped."""
    stub = bytes(stub)
    need(stub, 24, "the map response header")
    handle = stub[:HANDLE_SIZE]
    (count,) = U32.unpack_from(stub, 20)
    offset = array_header(stub, 24, count, "ept_map towers")
    need(stub, offset + 4 * count, "the tower pointers")
    referents = struct.unpack_from(f"<{count}I", stub, offset)
    offset += 4 * count
    towers, offset = deferred_towers(stub, offset, referents, "ept_map towers")
    need(stub, offset + 4, "the status")
    (status,) = U32.unpack_from(stub, offset)
    return MapResponse(handle, tuple(t for t in towers if t is not None), status)
