"""The endpoint mapper calls: ept_lookup (paged), ept_map, ept_lookup_handle_free.

Requests are NDR stubs built once per shape with impacket's ``ept_lookup``/``ept_map``
structures and then patched in place (handle, max_ents, interface), so building one
costs a few ``struct.pack_into`` calls. Responses are decoded here with
``struct.unpack_from`` straight off the stub; :mod:`epmscan.protocol.reference` keeps
impacket's decoding as the yardstick.

NDR layout of an ``ept_lookup`` response: ``entry_handle`` (20 bytes), ``num_ents``,
then the conformant varying array of ``ept_entry_t`` (max_count, offset, actual_count,
then each entry *inline*: object UUID, tower pointer referent id, annotation as a
varying string), then the *deferred* ``twr_t`` referents in entry order (conformance,
``tower_length``, octets, padding to 4), then ``status``. :class:`EncodedEntry` keeps
the inline and deferred parts apart so that a server can cache entries and build any
page by concatenation.

An ``ept_map`` response has the same shape with the array holding only tower pointers:
``entry_handle``, ``num_towers``, max_count (the request's ``max_towers``), offset,
actual_count, one referent id per tower, the deferred ``twr_t`` referents, ``status``.
Those are NDR *full* pointers, whose referent ids name a referent for the whole call,
request and response: the request's object (1) and map tower (2) already hold ids 1
and 2, so a response tower numbered 1 or 2 would alias them. Servers number the
response's towers on from the request's ids (Samba carries its pointer count over from
the request and sends 3, 4, ...; ``fixtures/captures/samba-4.17-ept-map.md``), and
Wireshark follows the alias rule: it does not dissect a response tower numbered 1.

:class:`LookupWalk` is the paging state machine: ask with a NULL handle, follow the
returned handle, stop at a NULL handle **or** ``ept_s_not_registered`` (Samba sends its
last batch with that status, and those entries count), and refuse a handle that does
not move or a walk that exceeds its caps.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from epmscan.errors import ProtocolError
from epmscan.models import InterfaceId, LookupEntry, Tower
from epmscan.protocol.constants import (
    DEFAULT_MAX_ENTS,
    EPT_S_NOT_REGISTERED,
    NULL_HANDLE,
    RPC_C_EP_ALL_ELTS,
    RPC_C_VERS_ALL,
)
from epmscan.protocol.towers import decode_tower, encode_tower
from epmscan.protocol.wire import pad4, uuid_bytes, uuid_text

_U32 = struct.Struct("<I")
_U32X2 = struct.Struct("<II")
_U32X3 = struct.Struct("<III")
_U32X4 = struct.Struct("<IIII")
_IF_ID = struct.Struct("<16sHH")
_ENTRY_HEAD = struct.Struct("<16sIII")
_HANDLE_SIZE = 20
_ANNOTATION_LIMIT = 64 * 1024
_MAX_ENTRY_ALIGNED = 4
_NULL_REFERENT = bytes(4)
_LAST_REFERENT = 0xFFFFFFFF
_REFERENT_TABLE_LIMIT = 1 << 16
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
        _U32.pack_into(stub, 8, 1)
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
    if len(handle) != _HANDLE_SIZE:
        raise ValueError("an ept_lookup handle is 20 bytes")
    stub = bytearray(_lookup_template(inquiry_type, interface is not None))
    _U32.pack_into(stub, 0, inquiry_type)
    offset = 12
    if interface is not None:
        _IF_ID.pack_into(stub, 12, uuid_bytes(interface.uuid), interface.major, interface.minor)
        offset = 32
    _U32.pack_into(stub, offset, vers_option)
    stub[offset + 4 : offset + 24] = handle
    _U32.pack_into(stub, offset + 24, max_ents)
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
    expected = tower_end + pad4(tower_end) + _HANDLE_SIZE + 4
    if len(stub) != expected:  # pragma: no cover - guards against an impacket change
        raise RuntimeError(f"unexpected ept_map layout from impacket ({len(stub)} bytes)")
    stub[tower_end : tower_end + pad4(tower_end)] = bytes(pad4(tower_end))
    return bytes(stub)


def build_lookup_handle_free(handle: bytes) -> bytes:
    """The ``ept_lookup_handle_free`` (opnum 4) request stub: just the handle."""
    if len(handle) != _HANDLE_SIZE:
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


def _need(stub: bytes, end: int, what: str) -> None:
    if end > len(stub):
        raise ProtocolError(f"stub ends inside {what} ({len(stub)} bytes)")


def _annotation(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def _array_header(stub: bytes, offset: int, count: int, what: str) -> int:
    """Check a conformant varying array header; return the offset after it."""
    _need(stub, offset + 12, what)
    max_count, first, actual = _U32X3.unpack_from(stub, offset)
    if first != 0:
        raise ProtocolError(f"{what}: varying array offset {first} is not 0")
    if actual != count:
        raise ProtocolError(f"{what}: {count} announced but the array holds {actual}")
    if actual > max_count:
        raise ProtocolError(f"{what}: actual count {actual} exceeds max count {max_count}")
    return offset + 12


def _deferred_towers(
    stub: bytes, offset: int, referents: Sequence[int], what: str
) -> tuple[list[Tower | None], int]:
    """Decode the ``twr_t`` referents that follow an array; full pointers may alias."""
    towers: list[Tower | None] = []
    seen: dict[int, Tower] = {}
    size = len(stub)
    unpack = _U32X2.unpack_from
    for referent in referents:
        if referent == 0:
            towers.append(None)
            continue
        known = seen.get(referent)
        if known is not None:
            towers.append(known)
            continue
        if offset + 8 > size:
            _need(stub, offset + 8, what)
        conformance, length = unpack(stub, offset)
        if conformance != length:
            raise ProtocolError(f"{what}: tower length {length} != conformance {conformance}")
        offset += 8
        end = offset + length
        if end > size:
            _need(stub, end, what)
        tower = decode_tower(stub[offset:end])
        seen[referent] = tower
        towers.append(tower)
        offset = end + (-end & 3)
    return towers, offset


def decode_lookup_response(stub: bytes) -> LookupResponse:
    """Decode an ``ept_lookup`` response stub (fast path)."""
    stub = bytes(stub)
    _need(stub, 24, "the lookup response header")
    handle = stub[:_HANDLE_SIZE]
    (count,) = _U32.unpack_from(stub, 20)
    offset = _array_header(stub, 24, count, "ept_lookup entries")
    if count * 28 > len(stub):
        raise ProtocolError(f"ept_lookup announces {count} entries in {len(stub)} bytes")
    heads: list[tuple[bytes, int, str]] = []
    unpack_head = _ENTRY_HEAD.unpack_from
    size = len(stub)
    for _ in range(count):
        if offset + 28 > size:
            _need(stub, offset + 28, "an ept_entry_t")
        raw_object, referent, first, length = unpack_head(stub, offset)
        if first != 0:
            raise ProtocolError(f"annotation offset {first} is not 0")
        if length > _ANNOTATION_LIMIT:
            raise ProtocolError(f"annotation of {length} bytes")
        offset += 28
        end = offset + length
        if end > size:
            _need(stub, end, "an annotation")
        heads.append((raw_object, referent, _annotation(stub[offset:end])))
        offset = end + (-end & 3)
    towers, offset = _deferred_towers(
        stub, offset, [referent for _, referent, _ in heads], "ept_lookup towers"
    )
    _need(stub, offset + 4, "the status")
    (status,) = _U32.unpack_from(stub, offset)
    entries = tuple(
        LookupEntry(uuid_text(raw_object), tower, annotation)
        for (raw_object, _, annotation), tower in zip(heads, towers, strict=True)
    )
    return LookupResponse(handle, entries, status)


def decode_map_response(stub: bytes) -> MapResponse:
    """Decode an ``ept_map`` response stub (fast path); NULL tower pointers are skipped."""
    stub = bytes(stub)
    _need(stub, 24, "the map response header")
    handle = stub[:_HANDLE_SIZE]
    (count,) = _U32.unpack_from(stub, 20)
    offset = _array_header(stub, 24, count, "ept_map towers")
    _need(stub, offset + 4 * count, "the tower pointers")
    referents = struct.unpack_from(f"<{count}I", stub, offset)
    offset += 4 * count
    towers, offset = _deferred_towers(stub, offset, referents, "ept_map towers")
    _need(stub, offset + 4, "the status")
    (status,) = _U32.unpack_from(stub, offset)
    return MapResponse(handle, tuple(t for t in towers if t is not None), status)


# --- server side -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LookupRequest:
    """An ``ept_lookup`` request as a server sees it."""

    inquiry_type: int
    object_uuid: str | None
    interface: InterfaceId | None
    vers_option: int
    handle: bytes
    max_ents: int
    last_referent: int = 0
    """The highest full-pointer referent id of the request (object, interface id); the
    response numbers its towers after it (``first_referent=last_referent + 1``)."""


@dataclass(frozen=True, slots=True)
class MapRequest:
    """An ``ept_map`` request as a server sees it."""

    object_uuid: str | None
    tower: Tower
    handle: bytes
    max_towers: int
    last_referent: int = MAP_RESPONSE_FIRST_REFERENT - 1
    """The highest full-pointer referent id of the request; the response numbers its towers
    after it (``encode_map_response(..., first_referent=last_referent + 1)``)."""


def decode_lookup_request(stub: bytes) -> LookupRequest:
    """Decode an ``ept_lookup`` request stub."""
    stub = bytes(stub)
    _need(stub, 8, "the lookup request")
    inquiry_type, object_ref = _U32X2.unpack_from(stub, 0)
    offset = 8
    object_uuid = None
    if object_ref:
        _need(stub, offset + 16, "the object UUID")
        object_uuid = uuid_text(stub[offset : offset + 16])
        offset += 16
    _need(stub, offset + 4, "the interface pointer")
    (interface_ref,) = _U32.unpack_from(stub, offset)
    offset += 4
    interface = None
    if interface_ref:
        _need(stub, offset + 20, "the interface id")
        raw, major, minor = _IF_ID.unpack_from(stub, offset)
        interface = InterfaceId(uuid_text(raw), major, minor)
        offset += 20
    _need(stub, offset + 28, "the lookup request")
    (vers_option,) = _U32.unpack_from(stub, offset)
    handle = stub[offset + 4 : offset + 24]
    (max_ents,) = _U32.unpack_from(stub, offset + 24)
    return LookupRequest(
        inquiry_type,
        object_uuid,
        interface,
        vers_option,
        handle,
        max_ents,
        max(object_ref, interface_ref),
    )


def decode_map_request(stub: bytes) -> MapRequest:
    """Decode an ``ept_map`` request stub; a NULL map tower is a :class:`ProtocolError`."""
    stub = bytes(stub)
    _need(stub, 4, "the map request")
    (object_ref,) = _U32.unpack_from(stub, 0)
    offset = 4
    object_uuid = None
    if object_ref:
        _need(stub, offset + 16, "the object UUID")
        object_uuid = uuid_text(stub[offset : offset + 16])
        offset += 16
    _need(stub, offset + 4, "the tower pointer")
    (tower_ref,) = _U32.unpack_from(stub, offset)
    if not tower_ref:
        raise ProtocolError("ept_map without a map tower")
    towers, offset = _deferred_towers(stub, offset + 4, [tower_ref], "the map tower")
    tower = towers[0]
    assert tower is not None
    _need(stub, offset + 24, "the map request")
    handle = stub[offset : offset + 20]
    (max_towers,) = _U32.unpack_from(stub, offset + 20)
    return MapRequest(object_uuid, tower, handle, max_towers, max(object_ref, tower_ref))


@dataclass(frozen=True, slots=True)
class EncodedEntry:
    """One ``ept_entry_t`` pre-encoded for a lookup response.

    ``inline_object`` (16-byte object UUID) and ``inline_annotation`` (the varying
    string, padded to 4) go into the array with a referent id between them that only the
    page knows; ``deferred_tower`` (the ``twr_t``, padded to 4; empty for a NULL tower)
    goes after the array.
    """

    inline_object: bytes
    inline_annotation: bytes
    deferred_tower: bytes


def _twr_t(tower: bytes) -> bytes:
    end = 8 + len(tower)
    return _U32X2.pack(len(tower), len(tower)) + tower + bytes(pad4(end))


def encode_lookup_entry(object_uuid: str, tower: bytes | None, annotation: str) -> EncodedEntry:
    """Pre-encode one entry (``tower`` is the tower octet string, None for a NULL tower)."""
    text = annotation.encode("utf-8") + b"\0"
    inline = _U32X2.pack(0, len(text)) + text
    inline += bytes(pad4(len(inline)))
    return EncodedEntry(
        uuid_bytes(object_uuid), inline, _twr_t(tower) if tower is not None else b""
    )


@lru_cache(maxsize=1)
def _referent_words(count: int) -> tuple[bytes, ...]:
    return tuple(_U32.pack(i) for i in range(count + 1))


def _referents(count: int) -> tuple[bytes, ...]:
    size = 512
    while size < count:
        size *= 2
    return _referent_words(size)


def _referent_id(number: int) -> int:
    """Referent id ``number``, wrapped round from 0xFFFFFFFF to 1 (0 is NULL)."""
    return (number - 1) % _LAST_REFERENT + 1


def _referent_ids(first: int, count: int) -> tuple[Sequence[bytes], int]:
    """The packed ids ``first``, +1, ... of ``count`` towers, and where in the returned
    sequence the first is: small ids come from a shared table, others are packed here."""
    end = first + count
    if end <= _REFERENT_TABLE_LIMIT:
        return _referents(end), first
    return [_U32.pack(_referent_id(first + index)) for index in range(count)], 0


def encode_lookup_response(
    handle: bytes,
    entries: Sequence[EncodedEntry],
    status: int,
    *,
    max_count: int | None = None,
    first_referent: int = 1,
) -> bytes:
    """The ``ept_lookup`` response stub for one page.

    Tower referent ids are ``first_referent``, +1, +2... in the page: 1, 2, 3 as Samba
    sends them to a request without pointers; after the request's own ids otherwise
    (``LookupRequest.last_referent + 1``: full-pointer ids are scoped to the whole
    call). Ids past 0xFFFFFFFF wrap round to 1. ``max_count`` is the array's
    conformance (the request's ``max_ents``, as Windows and Samba send it); it defaults
    to the number of entries.
    """
    if len(handle) != _HANDLE_SIZE:
        raise ValueError("an ept_lookup handle is 20 bytes")
    if first_referent < 1:
        raise ValueError("a non-NULL referent id is at least 1")
    count = len(entries)
    words, start = _referent_ids(first_referent, count)
    null = _NULL_REFERENT
    parts = [handle, _U32X4.pack(count, count if max_count is None else max_count, 0, count)]
    for index, entry in enumerate(entries, start):
        parts.append(entry.inline_object)
        parts.append(words[index] if entry.deferred_tower else null)
        parts.append(entry.inline_annotation)
    parts.extend(entry.deferred_tower for entry in entries)
    parts.append(_U32.pack(status))
    return b"".join(parts)


def encode_map_response(
    handle: bytes,
    towers: Sequence[bytes],
    status: int,
    *,
    max_count: int | None = None,
    first_referent: int = MAP_RESPONSE_FIRST_REFERENT,
) -> bytes:
    """The ``ept_map`` response stub (``towers`` are tower octet strings).

    ``max_count`` is the array's conformance (the request's ``max_towers``). Tower
    referent ids run from ``first_referent``, which must lie above every referent id of
    the request (``MapRequest.last_referent + 1``): ids are scoped to the whole call.
    Ids past 0xFFFFFFFF wrap round to 1.
    """
    if len(handle) != _HANDLE_SIZE:
        raise ValueError("an ept_lookup handle is 20 bytes")
    if first_referent < 1:
        raise ValueError("a non-NULL referent id is at least 1")
    count = len(towers)
    parts = [handle, _U32X4.pack(count, count if max_count is None else max_count, 0, count)]
    words, start = _referent_ids(first_referent, count)
    parts.extend(words[start : start + count])
    parts.extend(_twr_t(tower) for tower in towers)
    parts.append(_U32.pack(status))
    return b"".join(parts)


# --- the paging walk -------------------------------------------------------------------------


@dataclass(slots=True)
class LookupWalk:
    """State of one paged ``ept_lookup`` enumeration.

    Loop: ``stub = walk.next_request()`` (None when done), send it as opnum 2, feed
    the response stub to ``handle_response``. ``final_status`` is the last status (0,
    ``EPT_S_NOT_REGISTERED``, or another status that ended the walk). When abandoning a
    walk early, send ``free_request()`` (opnum 4) if it is not None. ``decode`` picks
    the response decoder (ours, or impacket's from :mod:`.reference`).
    """

    max_ents: int = DEFAULT_MAX_ENTS
    max_pages: int = 4096
    max_entries: int = 65536
    inquiry_type: int = RPC_C_EP_ALL_ELTS
    interface: InterfaceId | None = None
    vers_option: int = RPC_C_VERS_ALL
    decode: Callable[[bytes], LookupResponse] = field(
        default=decode_lookup_response, repr=False, compare=False
    )
    """The response decoder: ours, or ``reference_decode_lookup_response``."""
    done: bool = False
    pages: int = 0
    final_status: int | None = None
    entries: list[LookupEntry] = field(default_factory=list)
    handle: bytes = NULL_HANDLE
    _awaiting: bool = False

    def next_request(self) -> bytes | None:
        """The next request stub, or None when the walk is over."""
        if self.done:
            return None
        if self._awaiting:
            raise RuntimeError("the previous lookup request has not been answered")
        self._awaiting = True
        return build_lookup_request(
            handle=self.handle,
            max_ents=self.max_ents,
            inquiry_type=self.inquiry_type,
            interface=self.interface,
            vers_option=self.vers_option,
        )

    def handle_response(self, stub: bytes) -> None:
        """Take one response stub; raises :class:`ProtocolError` on a stuck walk or caps."""
        if not self._awaiting:
            raise RuntimeError("no lookup request is outstanding")
        self._awaiting = False
        response = self.decode(stub)
        self.pages += 1
        self.entries.extend(response.entries)
        sent_handle = self.handle
        if response.handle != NULL_HANDLE:
            self.handle = response.handle
        else:
            self.handle = NULL_HANDLE
        status = response.status
        if len(self.entries) > self.max_entries:
            self.done = True
            raise ProtocolError(f"lookup returned more than {self.max_entries} entries")
        if status != 0 or response.handle == NULL_HANDLE:
            self.done = True
            self.final_status = status
            if status == EPT_S_NOT_REGISTERED:
                self.handle = NULL_HANDLE
            return
        if response.handle == sent_handle and not response.entries:
            self.done = True
            raise ProtocolError("lookup handle does not advance: same handle, no entries")
        if self.pages >= self.max_pages:
            self.done = True
            raise ProtocolError(f"lookup did not end within {self.max_pages} pages")

    def free_request(self) -> bytes | None:
        """The ``ept_lookup_handle_free`` stub for a handle still open, else None."""
        if self.handle == NULL_HANDLE:
            return None
        return build_lookup_handle_free(self.handle)
