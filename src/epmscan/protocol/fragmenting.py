"""Building and reassembling PDU fragments: shared by the client and server connections.

A call's stub travels in request or response PDUs of at most the negotiated fragment
size: :func:`fragment_stub` cuts it (``PFC_FIRST_FRAG`` on the first, ``PFC_LAST_FRAG``
on the last, ``alloc_hint`` the bytes still to come), :func:`append_fragment` puts the
pieces of one ``call_id`` back together and refuses a broken sequence or a call larger
than its cap. :func:`simple_pdu` builds the one-fragment PDUs (bind_ack, bind_nak).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from epmscan.errors import ProtocolError
from epmscan.protocol.constants import (
    DREP_LITTLE_ENDIAN_ASCII_IEEE,
    HEADER_SIZE,
    PFC_FIRST_FRAG,
    PFC_LAST_FRAG,
    PFC_OBJECT_UUID,
    PTYPE_NAMES,
    REQUEST_HEADER_SIZE,
    SEC_TRAILER_SIZE,
)
from epmscan.protocol.pdu_stream import PduHeader

COMMON_HEAD = struct.Struct("<BBBB4sHHI")
REQUEST_HEAD = struct.Struct("<BBBB4sHHIIHH")
RESPONSE_HEAD = struct.Struct("<BBBB4sHHIIHBB")
FAULT_PDU = struct.Struct("<BBBB4sHHIIHBBII")
BIND_ACK_HEAD = struct.Struct("<HHIH")
CONTEXT_RESULT = struct.Struct("<HH")
U8 = struct.Struct("<B")
U16 = struct.Struct("<H")
U32 = struct.Struct("<I")
MIN_USEFUL_FRAG = REQUEST_HEADER_SIZE + 8


def checked_max_frag(max_frag: int) -> int:
    """``max_frag`` when a connection can use it (a fragment with room for stub data)."""
    if max_frag < MIN_USEFUL_FRAG or max_frag > 65535:
        raise ValueError(f"max_frag must be between {MIN_USEFUL_FRAG} and 65535")
    return max_frag


def pdu_name(ptype: int) -> str:
    """The name of a PDU type for messages (``bind_ack``, ``type 42``)."""
    return PTYPE_NAMES.get(ptype, f"type {ptype}")


def stub_of(header: PduHeader, fragment: bytes, body_offset: int) -> bytes:
    """The stub bytes of one fragment: after the body header, before any auth trailer."""
    end = header.frag_length
    if header.auth_length:
        end -= header.auth_length + SEC_TRAILER_SIZE
    if end < body_offset:
        raise ProtocolError(f"{pdu_name(header.ptype)} PDU too short ({header.frag_length})")
    return fragment[body_offset:end]


def fragment_stub(
    head: struct.Struct,
    ptype: int,
    call_id: int,
    stub: bytes,
    max_frag: int,
    tail: Callable[[int], tuple[int, ...]],
    extra: bytes = b"",
) -> bytes:
    """Cut ``stub`` into request/response fragments of at most ``max_frag`` bytes."""
    header_size = head.size + len(extra)
    chunk = (max_frag - header_size) & ~7
    if chunk <= 0:
        raise ProtocolError(f"fragment size {max_frag} leaves no room for stub data")
    out = bytearray()
    total = len(stub)
    offset = 0
    while True:
        piece = stub[offset : offset + chunk]
        flags = (PFC_FIRST_FRAG if offset == 0 else 0) | (
            PFC_LAST_FRAG if offset + chunk >= total else 0
        )
        if extra:
            flags |= PFC_OBJECT_UUID
        out += head.pack(
            5,
            0,
            ptype,
            flags,
            DREP_LITTLE_ENDIAN_ASCII_IEEE,
            header_size + len(piece),
            0,
            call_id,
            total - offset,
            *tail(offset),
        )
        out += extra
        out += piece
        offset += chunk
        if offset >= total:
            return bytes(out)


@dataclass(slots=True)
class Reassembly:
    call_id: int
    context_id: int
    parts: list[bytes]
    size: int
    opnum: int = 0
    object_uuid: str | None = None
    signed: bool | None = None
    """None: no fragment carried a verifier; True: all carried one that verified."""


def append_fragment(
    calls: dict[int, Reassembly],
    header: PduHeader,
    piece: bytes,
    context_id: int,
    max_total: int,
    opnum: int = 0,
    object_uuid: str | None = None,
    signed: bool | None = None,
) -> Reassembly | None:
    """Add one fragment; return the finished call on its last fragment.

    ``signed`` is how the fragment's signature verified (None: it carried none); the
    call is ``signed`` only when every fragment's was.
    """
    call = calls.get(header.call_id)
    if header.flags & PFC_FIRST_FRAG:
        if call is not None:
            raise ProtocolError(f"call {header.call_id}: new first fragment before the last")
        call = Reassembly(header.call_id, context_id, [], 0, opnum, object_uuid, signed)
        calls[header.call_id] = call
    elif call is None:
        raise ProtocolError(f"call {header.call_id}: fragment without a first fragment")
    elif signed is not call.signed:
        call.signed = False
    call.size += len(piece)
    if call.size > max_total:
        del calls[header.call_id]
        raise ProtocolError(
            f"call {header.call_id}: reassembled PDU exceeds the limit of {max_total} bytes"
        )
    call.parts.append(piece)
    if header.flags & PFC_LAST_FRAG:
        del calls[header.call_id]
        return call
    return None


def simple_pdu(ptype: int, call_id: int, body: bytes) -> bytes:
    return (
        COMMON_HEAD.pack(
            5,
            0,
            ptype,
            PFC_FIRST_FRAG | PFC_LAST_FRAG,
            DREP_LITTLE_ENDIAN_ASCII_IEEE,
            HEADER_SIZE + len(body),
            0,
            call_id,
        )
        + body
    )
