"""Small wire helpers shared by the codec: UUIDs and syntax identifiers.

A DCE UUID travels in its little-endian form (``uuid.UUID.bytes_le``); a presentation
syntax identifier (``p_syntax_id_t``) is that UUID followed by the version as a 32-bit
word: major in the low 16 bits, minor in the high 16 bits. Decoding UUIDs is memoised
because the same few dozen come back in every response.
"""

from __future__ import annotations

import struct
import uuid
from functools import lru_cache

from epmscan.errors import ProtocolError
from epmscan.models import InterfaceId

_VERSION = struct.Struct("<HH")


@lru_cache(maxsize=4096)
def uuid_text(raw: bytes) -> str:
    """Canonical lowercase text of a 16-byte little-endian UUID."""
    return str(uuid.UUID(bytes_le=raw))


@lru_cache(maxsize=1024)
def uuid_bytes(text: str) -> bytes:
    """The 16-byte little-endian wire form of a UUID written as text."""
    try:
        return uuid.UUID(text).bytes_le
    except ValueError as exc:
        raise ValueError(f"not a UUID: {text!r}") from exc


def syntax_bytes(syntax: InterfaceId) -> bytes:
    """Encode a ``p_syntax_id_t`` (20 bytes)."""
    return uuid_bytes(syntax.uuid) + _VERSION.pack(syntax.major, syntax.minor)


def syntax_from(buf: bytes | memoryview, offset: int) -> InterfaceId:
    """Decode the ``p_syntax_id_t`` at ``offset``."""
    if len(buf) < offset + 20:
        raise ProtocolError("truncated syntax identifier")
    major, minor = _VERSION.unpack_from(buf, offset + 16)
    return InterfaceId(uuid_text(bytes(buf[offset : offset + 16])), major, minor)


def pad4(length: int) -> int:
    """Bytes of padding that bring ``length`` to a multiple of four."""
    return -length & 3
