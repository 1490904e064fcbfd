"""NDR pieces the endpoint mapper's messages share (both directions).

The endpoint mapper's calls ([MS-RPCE] 2.2.1.2, C706 appendix N) carry a 20-byte context
handle, conformant varying arrays (max_count, offset, actual_count) and ``twr_t``
towers behind NDR full pointers: the array holds referent ids, the towers follow it in
order (conformance, ``tower_length``, octets, padding to 4), and a referent id seen
before points back to the tower already sent. The readers here check every length
against the stub they read from and raise :class:`ProtocolError`, never IndexError.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from epmscan.errors import ProtocolError
from epmscan.models import Tower
from epmscan.protocol.syntax_ids import pad4
from epmscan.protocol.towers import decode_tower

U32 = struct.Struct("<I")
U32X2 = struct.Struct("<II")
U32X3 = struct.Struct("<III")
U32X4 = struct.Struct("<IIII")
IF_ID = struct.Struct("<16sHH")
ENTRY_HEAD = struct.Struct("<16sIII")
HANDLE_SIZE = 20
ANNOTATION_LIMIT = 64 * 1024
_MAX_ENTRY_ALIGNED = 4


def need(stub: bytes, end: int, what: str) -> None:
    if end > len(stub):
        raise ProtocolError(f"stub ends inside {what} ({len(stub)} bytes)")


def _annotation(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def array_header(stub: bytes, offset: int, count: int, what: str) -> int:
    """Check a conformant varying array header; return the offset after it."""
    need(stub, offset + 12, what)
    max_count, first, actual = U32X3.unpack_from(stub, offset)
    if first != 0:
        raise ProtocolError(f"{what}: varying array offset {first} is not 0")
    if actual != count:
        raise ProtocolError(f"{what}: {count} announced but the array holds {actual}")
    if actual > max_count:
        raise ProtocolError(f"{what}: actual count {actual} exceeds max count {max_count}")
    return offset + 12


def deferred_towers(
    stub: bytes, offset: int, referents: Sequence[int], what: str
) -> tuple[list[Tower | None], int]:
    """Decode the ``twr_t`` referents that follow an array; full pointers may alias."""
    towers: list[Tower | None] = []
    seen: dict[int, Tower] = {}
    size = len(stub)
    unpack = U32X2.unpack_from
    for referent in referents:
        if referent == 0:
            towers.append(None)
            continue
        known = seen.get(referent)
        if known is not None:
            towers.append(known)
            continue
        if offset + 8 > size:
            need(stub, offset + 8, what)
        conformance, length = unpack(stub, offset)
        if conformance != length:
            raise ProtocolError(f"{what}: tower length {length} != conformance {conformance}")
        offset += 8
        end = offset + length
        if end > size:
            need(stub, end, what)
        tower = decode_tower(stub[offset:end])
        seen[referent] = tower
        towers.append(tower)
        offset = end + (-end & 3)
    return towers, offset


def twr_t(tower: bytes) -> bytes:
    end = 8 + len(tower)
    return U32X2.pack(len(tower), len(tower)) + tower + bytes(pad4(end))
