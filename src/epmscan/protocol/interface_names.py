"""Human names for RPC interface UUIDs.

Two sources: impacket's tables (``KNOWN_PROTOCOLS``: upper-case UUID text → protocol
document and title, the "Protocol:" line of rpcdump; ``KNOWN_UUIDS``: 16-byte
little-endian UUID + 2-byte major version → the DLL/EXE that serves it, rpcdump's
"Provider:"), read on the first lookup (importing impacket costs a third of a
second that a usage error or ``--help`` should not pay), and the Exchange interfaces Outlook uses
(:mod:`epmscan.facts.exchange`), which take precedence.
"""

from __future__ import annotations

import re
import struct
import uuid
from functools import lru_cache

from epmscan.facts.exchange import EXCHANGE_BY_UUID, INTERFACE_TITLES

_DOCUMENT = re.compile(r"^\s*(\[[^\]]+\])")


@lru_cache(maxsize=1)
def _load_impacket() -> tuple[dict[str, str], dict[tuple[str, int], str]]:
    try:
        from impacket.dcerpc.v5.epm import KNOWN_PROTOCOLS, KNOWN_UUIDS
    except ImportError:  # pragma: no cover - impacket is a dependency
        return {}, {}
    protocols = {str(key).lower(): str(value) for key, value in KNOWN_PROTOCOLS.items()}
    providers: dict[tuple[str, int], str] = {}
    for key, value in KNOWN_UUIDS.items():
        if isinstance(key, bytes) and len(key) >= 18:
            (major,) = struct.unpack_from("<H", key, 16)
            providers[(str(uuid.UUID(bytes_le=key[:16])), major)] = str(value)
    return protocols, providers


@lru_cache(maxsize=4096)
def interface_name(uuid: str, major: int, minor: int) -> tuple[str, str | None] | None:
    """``(name, provider)`` of an interface, or None when no table knows it.

    ``name`` is the protocol title (``[MS-RPRN]: Print System Remote Protocol``);
    ``provider`` the binary that serves it when known (``spoolsv.exe``), else the
    document that specifies it. ``minor`` is accepted for symmetry: no table keys on it.
    """
    key = uuid.lower()
    exchange = EXCHANGE_BY_UUID.get(key)
    if exchange is not None:
        return INTERFACE_TITLES[exchange]
    protocols, providers = _load_impacket()
    title = protocols.get(key)
    binary = providers.get((key, major))
    if title is None:
        return (binary, binary) if binary is not None else None
    if binary is not None:
        return title, binary
    document = _DOCUMENT.match(title)
    return title, document.group(1) if document else None
