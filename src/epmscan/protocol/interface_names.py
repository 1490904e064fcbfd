"""Human names for RPC interface UUIDs.

Two sources: impacket's tables (``KNOWN_PROTOCOLS``: upper-case UUID text → protocol
document and title, the "Protocol:" line of rpcdump; ``KNOWN_UUIDS``: 16-byte
little-endian UUID + 2-byte major version → the DLL/EXE that serves it, rpcdump's
"Provider:"), read once at import, and our own catalogue of the Exchange interfaces
Outlook uses, which takes precedence.
"""

from __future__ import annotations

import re
import struct
import uuid
from functools import lru_cache
from typing import Final

from epmscan.models import ExchangeInterface, InterfaceId

EXCHANGE_INTERFACES: Final[dict[ExchangeInterface, InterfaceId]] = {
    ExchangeInterface.MAPI: InterfaceId("a4f1db00-ca47-1067-b31f-00dd010662da", 0, 81),
    ExchangeInterface.ASYNC_MAPI: InterfaceId("5261574a-4572-206e-b268-6b199213b4e4", 0, 1),
    ExchangeInterface.NSPI: InterfaceId("f5cc5a18-4264-101a-8c59-08002b2f8426", 56, 0),
    ExchangeInterface.RFR: InterfaceId("1544f5e0-613c-11d1-93df-00c04fd7bd09", 1, 0),
}
"""The Exchange RPC interfaces by role, with the versions Outlook binds."""

EXCHANGE_BY_UUID: Final[dict[str, ExchangeInterface]] = {
    interface.uuid: key for key, interface in EXCHANGE_INTERFACES.items()
}
"""Which Exchange interface a (lowercase) interface UUID is."""

RPC_HTTP_PORTS: Final[dict[int, ExchangeInterface]] = {
    6001: ExchangeInterface.MAPI,
    6002: ExchangeInterface.RFR,
    6004: ExchangeInterface.NSPI,
}
"""Exchange's fixed RPC-over-HTTP ports and the interface the RPC proxy reaches on each."""

_EXCHANGE_NAMES: Final[dict[str, tuple[str, str]]] = {
    EXCHANGE_INTERFACES[ExchangeInterface.MAPI].uuid: (
        "[MS-OXCRPC]: Exchange EMSMDB (MAPI)",
        "[MS-OXCRPC]",
    ),
    EXCHANGE_INTERFACES[ExchangeInterface.ASYNC_MAPI].uuid: (
        "[MS-OXCRPC]: Exchange AsyncEMSMDB (asynchronous MAPI notifications)",
        "[MS-OXCRPC]",
    ),
    EXCHANGE_INTERFACES[ExchangeInterface.NSPI].uuid: (
        "[MS-OXNSPI]: Exchange NSPI (address book)",
        "[MS-OXNSPI]",
    ),
    EXCHANGE_INTERFACES[ExchangeInterface.RFR].uuid: (
        "[MS-OXABREF]: Exchange RFR (address book referral)",
        "[MS-OXABREF]",
    ),
}

_DOCUMENT = re.compile(r"^\s*(\[[^\]]+\])")


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


_PROTOCOLS, _PROVIDERS = _load_impacket()


@lru_cache(maxsize=4096)
def interface_name(uuid: str, major: int, minor: int) -> tuple[str, str | None] | None:
    """``(name, provider)`` of an interface, or None when no table knows it.

    ``name`` is the protocol title (``[MS-RPRN]: Print System Remote Protocol``);
    ``provider`` the binary that serves it when known (``spoolsv.exe``), else the
    document that specifies it. ``minor`` is accepted for symmetry: no table keys on it.
    """
    key = uuid.lower()
    exchange = _EXCHANGE_NAMES.get(key)
    if exchange is not None:
        return exchange
    title = _PROTOCOLS.get(key)
    binary = _PROVIDERS.get((key, major))
    if title is None:
        return (binary, binary) if binary is not None else None
    if binary is not None:
        return title, binary
    document = _DOCUMENT.match(title)
    return title, document.group(1) if document else None
