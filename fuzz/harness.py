"""What every fuzz harness shares: starting atheris, the input formats, the one rule.

Each ``fuzz_<name>.py`` beside this file defines ``test_one_input(data)`` for one decoder
surface of :mod:`epmscan.protocol` and ends with ``fuzz_main(test_one_input)``. Run as a
script it is an atheris (libFuzzer) fuzzer: ``python fuzz/fuzz_towers.py CORPUS_DIR
-max_total_time=60``; imported, its ``test_one_input`` is a plain function, which is how
``tests/unit/test_fuzz_corpus.py`` replays the committed corpus without atheris.

The rule every harness enforces: the only exception that may leave the protocol layer
is :class:`~epmscan.errors.ProtocolError`. Anything else (``IndexError``,
``struct.error``, ``UnicodeError``, an ``AssertionError`` from a harness's invariant)
escapes ``test_one_input``, which atheris reports as a crash and saves the input.

Structured inputs start with a small header the fuzzer mutates like everything else; the
encoders here (``client_input``, ``walk_input``, ...) are what ``make_corpus.py`` uses to
write seeds, the decoders what the harnesses use to read them.
"""

from __future__ import annotations

import contextlib
import struct
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from epmscan.models import Tower

CHUNK_SIZES: tuple[int | None, ...] = (None, 1, 2, 7, 16, 24, 100, 1460)
"""How a stream is cut before it is fed (``None``: all at once); chosen by 3 bits."""

_U16 = struct.Struct("<H")
_CLIENT_HEAD = struct.Struct("<BIB")
_CALL_ID = struct.Struct("<I")
_PAGE_LENGTH = struct.Struct("<H")


def instrumented(active: bool, *also: str) -> AbstractContextManager[object]:
    """Instrument the epmscan modules (and the modules ``also`` names) imported inside
    the block, when ``active``.

    A harness passes ``__name__ == "__main__"``: instrumented when it runs as a fuzzer,
    plain when imported (corpus replay under pytest, where atheris may be missing).
    """
    if not active:
        return contextlib.nullcontext()
    import atheris

    hook: AbstractContextManager[object] = atheris.instrument_imports(include=["epmscan", *also])
    return hook


def fuzz_main(test_one_input: Callable[[bytes], None]) -> None:
    """Run ``test_one_input`` under atheris with libFuzzer's command line (``sys.argv``)."""
    import atheris

    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


@contextlib.contextmanager
def protocol_errors_allowed() -> Iterator[None]:
    """Swallow :class:`ProtocolError`; every other exception goes on (a crash)."""
    from epmscan.errors import ProtocolError

    try:
        yield
    except ProtocolError:
        pass


def check(condition: bool, message: str) -> None:
    """An invariant of a harness (an ``AssertionError`` that ``python -O`` keeps)."""
    if not condition:
        raise AssertionError(message)


def cut(data: bytes, selector: int) -> list[bytes]:
    """``data`` in the pieces a TCP peer might deliver it in (``selector & 7`` picks)."""
    size = CHUNK_SIZES[selector & 7]
    if size is None or not data:
        return [data]
    return [data[i : i + size] for i in range(0, len(data), size)]


def tower_octets(tower: Tower) -> bytes:
    """The tower octet string of a decoded tower: floor count and its floors, as received
    (a tower that could not be parsed keeps its bytes whole)."""
    if tower.raw is not None and tower.error is not None:
        return tower.raw
    parts = [_U16.pack(len(tower.floors))]
    for floor in tower.floors:
        parts += [_U16.pack(len(floor.lhs)), floor.lhs, _U16.pack(len(floor.rhs)), floor.rhs]
    return b"".join(parts)


# --- fuzz_client_connection ---------------------------------------------------------------


class ClientInput(NamedTuple):
    """A server's byte stream, and the client state it meets.

    ``mode``: bits 0-2 how the stream is cut (:data:`CHUNK_SIZES`), bits 3-4 the client's
    ``max_frag``, bit 5 set = no bind was sent, bits 6-7 the client's ``max_total``.
    ``bind_call_id`` is the call id of the bind; ``request_call_ids`` the calls made.
    """

    mode: int
    bind_call_id: int
    request_call_ids: tuple[int, ...]
    stream: bytes


CLIENT_MAX_FRAGS = (4280, 5840, 65535, 32)
CLIENT_MAX_TOTALS = (8 * 1024 * 1024, 64 * 1024, 4096, 16)
CLIENT_NO_BIND = 0x20


def client_input(
    stream: bytes, bind_call_id: int, request_call_ids: Sequence[int], mode: int = 0
) -> bytes:
    """Encode a :class:`ClientInput` (at most 255 request call ids)."""
    head = _CLIENT_HEAD.pack(mode, bind_call_id, len(request_call_ids))
    return head + b"".join(_CALL_ID.pack(c) for c in request_call_ids) + stream


def read_client_input(data: bytes) -> ClientInput | None:
    """Decode a :class:`ClientInput`; None when the header is incomplete."""
    if len(data) < _CLIENT_HEAD.size:
        return None
    mode, bind_call_id, count = _CLIENT_HEAD.unpack_from(data, 0)
    offset = _CLIENT_HEAD.size
    if len(data) < offset + 4 * count:
        return None
    call_ids = struct.unpack_from(f"<{count}I", data, offset)
    return ClientInput(mode, bind_call_id, call_ids, data[offset + 4 * count :])


# --- fuzz_server_connection ----------------------------------------------------------------

SERVER_MAX_FRAGS = (4280, 65535, 32, 1432)
SERVER_MAX_TOTALS = (8 * 1024 * 1024, 64 * 1024, 4096, 16)


def server_input(stream: bytes, mode: int = 0) -> bytes:
    """A client's byte stream for the server harness.

    ``mode``: bits 0-2 how it is cut, bits 3-4 the server's ``max_frag``, bits 5-6 its
    ``max_total``.
    """
    return bytes((mode,)) + stream


# --- fuzz_framing ---------------------------------------------------------------------------

FRAMING_MAX_FRAGS = (65535, 4280, 16, 1432)


def framing_input(stream: bytes, mode: int = 0) -> bytes:
    """A byte stream for the framing harness (``mode``: bits 0-2 cut, bits 3-4 ``max_frag``)."""
    return bytes((mode,)) + stream


# --- fuzz_lookup_walk -----------------------------------------------------------------------


class WalkInput(NamedTuple):
    """Response stubs for one ``LookupWalk``, and its caps.

    ``mode``: bits 0-3 ``max_pages`` (:data:`WALK_MAX_PAGES`), bits 4-5 ``max_entries``
    (:data:`WALK_MAX_ENTRIES`), bits 6-7 ``max_ents`` (:data:`WALK_MAX_ENTS`).
    """

    mode: int
    pages: tuple[bytes, ...]


WALK_MAX_PAGES = (4096, 1, 2, 3, 4, 5, 8, 16, 32, 38, 64, 100, 1000, 2, 3, 4)
WALK_MAX_ENTRIES = (65536, 1, 10, 38)
WALK_MAX_ENTS = (500, 1, 10, 3)


def walk_input(pages: Sequence[bytes], mode: int = 0) -> bytes:
    """Encode a :class:`WalkInput`: the mode byte, then each stub behind a 16-bit length."""
    return bytes((mode,)) + b"".join(_PAGE_LENGTH.pack(len(p)) + p for p in pages)


def read_walk_input(data: bytes) -> WalkInput | None:
    """Decode a :class:`WalkInput`; a last page cut short is taken as it is."""
    if not data:
        return None
    pages = []
    offset = 1
    while offset + 2 <= len(data):
        (length,) = _PAGE_LENGTH.unpack_from(data, offset)
        offset += 2
        pages.append(data[offset : offset + length])
        offset += length
    return WalkInput(data[0], tuple(pages))


# --- fuzz_auth_client, fuzz_auth_server, fuzz_ntlm_tokens ---------------------------------------

AUTH_USER, AUTH_DOMAIN, AUTH_PASSWORD = "root", "LAB", "Fuzz-Passw0rd-1"
"""The account of the authenticated harnesses (their client, and their server's only one):
``root`` because Samba, whose answers are seeds too, wants an account of its machine."""
AUTH_ENTROPY = bytes(range(24))
"""The client's random bytes: fixed, so a recorded server stream still verifies."""
AUTH_NOW = 1_700_000_000.0
AUTH_SERVER_CHALLENGE = bytes.fromhex("0123456789abcdef")
"""The server's challenge: fixed, so a recorded client stream still authenticates."""
AUTH_MAX_CALLS = 64
"""Requests the client harness makes at most (one per response, after the AUTH3)."""
AUTH_MAX_FRAGS = (4280, 1432, 256, 64)
TOKEN_SELECTORS = ("challenge", "negotiate", "authenticate")
"""What ``fuzz_ntlm_tokens`` feeds its token to, by the input's first byte (mod 3)."""


AUTH_PDU_BY_PDU = 0x20
"""Mode bit of ``auth_input``: feed one whole PDU at a time, as a peer that waits for each
answer sends them (a client sends its AUTH3 only once it has read the bind_ack)."""


def auth_input(stream: bytes, mode: int = 0) -> bytes:
    """A stream for the authenticated harnesses: ``mode`` (bits 0-2 how it is cut, bits 3-4
    ``max_frag``, bit 5 :data:`AUTH_PDU_BY_PDU`), then the bytes."""
    return bytes((mode,)) + stream


def auth_pieces(stream: bytes, mode: int) -> list[bytes]:
    """``stream`` cut as ``mode`` says: one whole PDU per piece (what is left after the
    last whole one as a piece of its own), or as :func:`cut` does."""
    if not mode & AUTH_PDU_BY_PDU:
        return cut(stream, mode)
    pieces = []
    offset = 0
    while offset + 10 <= len(stream):
        (length,) = _U16.unpack_from(stream, offset + 8)
        if length < 16 or offset + length > len(stream):
            break
        pieces.append(stream[offset : offset + length])
        offset += length
    if offset < len(stream):
        pieces.append(stream[offset:])
    return pieces


def token_input(token: bytes, selector: str) -> bytes:
    """An NTLM message for ``fuzz_ntlm_tokens``, behind the byte choosing its reader."""
    return bytes((TOKEN_SELECTORS.index(selector),)) + token
