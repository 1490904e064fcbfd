"""The endpoint mapper's calls, server half (the lab's): decode requests, encode answers.

:class:`EncodedEntry` keeps the inline and deferred parts of an ``ept_entry_t`` apart so
that a server can encode a host's entries once and build any page by concatenation.

Full-pointer referent ids name a referent for the whole call, request and response:
an ``ept_map`` request's object (1) and map tower (2) already hold ids 1 and 2, so a
response tower numbered 1 or 2 would alias them. Servers number the response's towers
on from the request's ids (Samba carries its pointer count over from the request and
sends 3, 4, ...; ``fixtures/captures/samba-4.17-ept-map.md``), and Wireshark follows the
alias rule: it does not dissect a response tower numbered 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from epmscan.errors import ProtocolError
from epmscan.models import InterfaceId, Tower
from epmscan.protocol.epm_client import MAP_RESPONSE_FIRST_REFERENT
from epmscan.protocol.epm_ndr import (
    HANDLE_SIZE,
    IF_ID,
    U32,
    U32X2,
    U32X4,
    deferred_towers,
    need,
    twr_t,
)
from epmscan.protocol.syntax_ids import pad4, uuid_bytes, uuid_text


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
    need(stub, 8, "the lookup request")
    inquiry_type, object_ref = U32X2.unpack_from(stub, 0)
    offset = 8
    object_uuid = None
    if object_ref:
        need(stub, offset + 16, "the object UUID")
        object_uuid = uuid_text(stub[offset : offset + 16])
        offset += 16
    need(stub, offset + 4, "the interface pointer")
    (interface_ref,) = U32.unpack_from(stub, offset)
    offset += 4
    interface = None
    if interface_ref:
        need(stub, offset + 20, "the interface id")
        raw, major, minor = IF_ID.unpack_from(stub, offset)
        interface = InterfaceId(uuid_text(raw), major, minor)
        offset += 20
    need(stub, offset + 28, "the lookup request")
    (vers_option,) = U32.unpack_from(stub, offset)
    handle = stub[offset + 4 : offset + 24]
    (max_ents,) = U32.unpack_from(stub, offset + 24)
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
    need(stub, 4, "the map request")
    (object_ref,) = U32.unpack_from(stub, 0)
    offset = 4
    object_uuid = None
    if object_ref:
        need(stub, offset + 16, "the object UUID")
        object_uuid = uuid_text(stub[offset : offset + 16])
        offset += 16
    need(stub, offset + 4, "the tower pointer")
    (tower_ref,) = U32.unpack_from(stub, offset)
    if not tower_ref:
        raise ProtocolError("ept_map without a map tower")
    towers, offset = deferred_towers(stub, offset + 4, [tower_ref], "the map tower")
    tower = towers[0]
    assert tower is not None
    need(stub, offset + 24, "the map request")
    handle = stub[offset : offset + 20]
    (max_towers,) = U32.unpack_from(stub, offset + 20)
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


def encode_lookup_entry(object_uuid: str, tower: bytes | None, annotation: str) -> EncodedEntry:
    """Pre-encode one entry (``tower`` is the tower octet string, None for a NULL tower)."""
    text = annotation.encode("utf-8") + b"\0"
    inline = U32X2.pack(0, len(text)) + text
    inline += bytes(pad4(len(inline)))
    return EncodedEntry(uuid_bytes(object_uuid), inline, twr_t(tower) if tower is not None else b"")


@lru_cache(maxsize=1)
def _referent_words(count: int) -> tuple[bytes, ...]:
    return tuple(U32.pack(i) for i in range(count + 1))


def _referents(count: int) -> tuple[bytes, ...]:
    size = 512
    while size < count:
        size *= 2
    return _referent_words(size)


NULL_REFERENT = bytes(4)
LAST_REFERENT = 0xFFFFFFFF
REFERENT_TABLE_LIMIT = 1 << 16
"""Referent ids up to this come from one shared table of packed words; others (a client
picks the first one: they follow the request's own) are packed one by one."""


def _referent_id(number: int) -> int:
    """Referent id ``number``, wrapped round from 0xFFFFFFFF to 1 (0 is NULL)."""
    return (number - 1) % LAST_REFERENT + 1


def _referent_ids(first: int, count: int) -> tuple[Sequence[bytes], int]:
    """The packed ids ``first``, +1, ... of ``count`` towers, and where in the returned
    sequence the first is: small ids come from a shared table, others are packed here."""
    end = first + count
    if end <= REFERENT_TABLE_LIMIT:
        return _referents(end), first
    return [U32.pack(_referent_id(first + index)) for index in range(count)], 0


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
    if len(handle) != HANDLE_SIZE:
        raise ValueError("an ept_lookup handle is 20 bytes")
    if first_referent < 1:
        raise ValueError("a non-NULL referent id is at least 1")
    count = len(entries)
    words, start = _referent_ids(first_referent, count)
    null = NULL_REFERENT
    parts = [handle, U32X4.pack(count, count if max_count is None else max_count, 0, count)]
    for index, entry in enumerate(entries, start):
        parts.append(entry.inline_object)
        parts.append(words[index] if entry.deferred_tower else null)
        parts.append(entry.inline_annotation)
    parts.extend(entry.deferred_tower for entry in entries)
    parts.append(U32.pack(status))
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
    if len(handle) != HANDLE_SIZE:
        raise ValueError("an ept_lookup handle is 20 bytes")
    if first_referent < 1:
        raise ValueError("a non-NULL referent id is at least 1")
    count = len(towers)
    parts = [handle, U32X4.pack(count, count if max_count is None else max_count, 0, count)]
    words, start = _referent_ids(first_referent, count)
    parts.extend(words[start : start + count])
    parts.extend(twr_t(tower) for tower in towers)
    parts.append(U32.pack(status))
    return b"".join(parts)
