"""Cutting a byte stream into DCE/RPC PDUs.

Every connection-oriented PDU starts with the same 16-byte header; ``frag_length`` at
offset 8 says how long the whole fragment is. :class:`PduBuffer` collects bytes as they
arrive and hands out complete fragments; it never waits for more than one fragment's
worth and refuses a header that cannot be right (wrong version, a data representation
we do not speak, ``frag_length`` below 16 or above its cap), so a hostile peer can make
it raise :class:`ProtocolError` but never hang or grow without bound. The first bytes
are checked as soon as they arrive, before the whole header is there: a peer that
sends a few bytes that can never start a PDU (a TLS alert, a banner) and closes is a
protocol error, not a closed port. Reassembling
fragments into one call is the job of :mod:`epmscan.protocol.fragmenting`.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from epmscan.errors import ProtocolError
from epmscan.protocol.constants import HEADER_SIZE, RPC_VERSION, RPC_VERSION_MINORS

_HEADER = struct.Struct("<BBBB4sHHI")


class PduHeader(NamedTuple):
    """The 16-byte common header of a connection-oriented PDU."""

    rpc_vers: int
    rpc_vers_minor: int
    ptype: int
    flags: int
    drep: bytes
    frag_length: int
    auth_length: int
    call_id: int


def parse_header(buf: bytes | bytearray | memoryview) -> PduHeader:
    """Decode and check the common header at the start of ``buf``.

    Raises :class:`ProtocolError` for fewer than 16 bytes, a version other than 5.0/5.1,
    a data representation other than little-endian/ASCII/IEEE, or ``frag_length`` < 16.
    """
    if len(buf) < HEADER_SIZE:
        raise ProtocolError(f"PDU header needs {HEADER_SIZE} bytes, got {len(buf)}")
    header = PduHeader._make(_HEADER.unpack_from(buf, 0))
    if header.rpc_vers != RPC_VERSION or header.rpc_vers_minor not in RPC_VERSION_MINORS:
        check_header_start(buf)
    drep = header.drep
    if drep[0] != 0x10 or drep[1] != 0:
        check_header_start(buf)
    if header.frag_length < HEADER_SIZE:
        raise ProtocolError(f"frag_length {header.frag_length} is shorter than the header")
    if header.auth_length > header.frag_length - HEADER_SIZE:
        raise ProtocolError(
            f"auth_length {header.auth_length} exceeds frag_length {header.frag_length}"
        )
    return header


def check_header_start(buf: bytes | bytearray | memoryview) -> None:
    """Raise :class:`ProtocolError` unless the first bytes of ``buf`` (any number, even
    fewer than a header) can start a PDU: version 5.0/5.1, a little-endian/ASCII/IEEE
    data representation."""
    size = len(buf)
    if size == 0:
        return
    version = buf[0]
    minor = buf[1] if size > 1 else None
    if version != RPC_VERSION or (minor is not None and minor not in RPC_VERSION_MINORS):
        shown = f"{version}.{minor}" if minor is not None else f"{version}"
        kind = "" if size >= HEADER_SIZE else f" (the first {size} byte(s) of a header)"
        raise ProtocolError(f"not DCE/RPC 5.0/5.1: version {shown}{kind}")
    if size > 4:
        if buf[4] & 0xF0 != 0x10:
            raise ProtocolError("big-endian data representation is not supported")
        if buf[4] & 0x0F != 0 or (size > 5 and buf[5] != 0):
            drep = bytes(buf[4:8])
            raise ProtocolError(f"unsupported character/float representation {drep.hex()}")


class PduBuffer:
    """Accumulates stream bytes and yields whole PDU fragments.

    ``next_pdu()`` returns ``(header, fragment)`` where ``fragment`` is the whole PDU,
    header included, or ``None`` while the next fragment is incomplete.
    """

    __slots__ = ("_buf", "_max_frag")

    def __init__(self, max_frag: int = 65535) -> None:
        if max_frag < HEADER_SIZE:
            raise ValueError("max_frag must be at least the header size")
        self._buf = bytearray()
        self._max_frag = max_frag

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Append bytes received from the peer."""
        self._buf += data

    @property
    def pending(self) -> int:
        """Bytes held that are not yet part of a returned fragment."""
        return len(self._buf)

    def next_pdu(self) -> tuple[PduHeader, bytes] | None:
        """The next complete fragment, or ``None`` if more bytes are needed."""
        buf = self._buf
        if len(buf) < HEADER_SIZE:
            check_header_start(buf)
            return None
        header = parse_header(buf)
        if header.frag_length > self._max_frag:
            raise ProtocolError(
                f"frag_length {header.frag_length} exceeds the limit of {self._max_frag}"
            )
        if len(buf) < header.frag_length:
            return None
        fragment = bytes(buf[: header.frag_length])
        del buf[: header.frag_length]
        return header, fragment
