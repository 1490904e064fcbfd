"""The endpoint mapper of one emulated host: encoded once, paged per connection.

:class:`HostEndpointMap` encodes the host's entries (towers and ``ept_entry_t``) the
first time a client asks and keeps them; a page of ``ept_lookup`` only concatenates
pre-encoded entries. :class:`EndpointMapSession` is one connection's state: the open
lookup context handles and how far each has got. Paging follows the host's style:

- ``windows``: status 0 with every batch, a NULL handle with the last one;
- ``samba``: the last batch (holding the last entries) comes with 0x16c9a0d6 and a NULL
  handle;
- ``samba-dc``: batches come with status 0 and the handle until the entries are used up,
  then one batch of 0 entries with 0x16c9a0d6 and a NULL handle.

No match at all is 0 entries, 0x16c9a0d6 and a NULL handle in every style.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from epmscan.errors import ProtocolError
from epmscan.lab.plan import HostPlan, RegisteredEndpoint
from epmscan.models import InterfaceId
from epmscan.protocol.constants import (
    EPT_S_NOT_REGISTERED,
    NULL_HANDLE,
    RPC_C_EP_ALL_ELTS,
    RPC_C_EP_MATCH_BY_BOTH,
    RPC_C_EP_MATCH_BY_IF,
    RPC_C_EP_MATCH_BY_OBJ,
    RPC_C_VERS_ALL,
    RPC_C_VERS_COMPATIBLE,
    RPC_C_VERS_EXACT,
    RPC_C_VERS_MAJOR_ONLY,
    RPC_C_VERS_UPTO,
)
from epmscan.protocol.epm_server import (
    EncodedEntry,
    LookupRequest,
    MapRequest,
    decode_lookup_request,
    decode_map_request,
    encode_lookup_entry,
    encode_lookup_response,
    encode_map_response,
)
from epmscan.protocol.towers import encode_tower

NCA_S_FAULT_CONTEXT_MISMATCH = 0x1C00001A
"""Fault for a context handle the server does not know."""


class CallFault(Exception):
    """A call to answer with a fault PDU carrying ``status``."""

    def __init__(self, status: int) -> None:
        super().__init__(f"fault 0x{status:08x}")
        self.status = status


def _version_matches(have: InterfaceId, want: InterfaceId, option: int) -> bool:
    if option == RPC_C_VERS_ALL:
        return True
    if option == RPC_C_VERS_COMPATIBLE:
        return have.major == want.major and have.minor >= want.minor
    if option == RPC_C_VERS_EXACT:
        return (have.major, have.minor) == (want.major, want.minor)
    if option == RPC_C_VERS_MAJOR_ONLY:
        return have.major == want.major
    if option == RPC_C_VERS_UPTO:
        return (have.major, have.minor) <= (want.major, want.minor)
    return False


def entry_tower(entry: RegisteredEndpoint) -> bytes:
    """The tower octet string of one registered endpoint."""
    return encode_tower(
        entry.interface,
        entry.transport,
        port=entry.port,
        address=entry.address,
        endpoint=entry.endpoint,
    )


@dataclass(slots=True)
class _Walk:
    entries: tuple[EncodedEntry, ...]
    position: int = 0


class HostEndpointMap:
    """One host's endpoint map, encoded on first use and cached."""

    def __init__(self, plan: HostPlan) -> None:
        self.plan = plan
        self._towers: tuple[bytes, ...] | None = None
        self._encoded: tuple[EncodedEntry, ...] | None = None
        self._selections: dict[
            tuple[int, str | None, InterfaceId | None, int], tuple[EncodedEntry, ...]
        ] = {}

    @property
    def towers(self) -> tuple[bytes, ...]:
        if self._towers is None:
            self._towers = tuple(entry_tower(entry) for entry in self.plan.entries)
        return self._towers

    @property
    def encoded(self) -> tuple[EncodedEntry, ...]:
        """Every entry, encoded once."""
        if self._encoded is None:
            self._encoded = tuple(
                encode_lookup_entry(entry.object_uuid, tower, entry.annotation)
                for entry, tower in zip(self.plan.entries, self.towers, strict=True)
            )
        return self._encoded

    def select(self, request: LookupRequest) -> tuple[EncodedEntry, ...]:
        """The entries a lookup asks for (cached per inquiry)."""
        if request.inquiry_type == RPC_C_EP_ALL_ELTS:
            return self.encoded
        key = (request.inquiry_type, request.object_uuid, request.interface, request.vers_option)
        cached = self._selections.get(key)
        if cached is None:
            cached = tuple(
                encoded
                for entry, encoded in zip(self.plan.entries, self.encoded, strict=True)
                if self._matches(entry, request)
            )
            if len(self._selections) < 256:
                self._selections[key] = cached
        return cached

    @staticmethod
    def _matches(entry: RegisteredEndpoint, request: LookupRequest) -> bool:
        by_if = request.inquiry_type in (RPC_C_EP_MATCH_BY_IF, RPC_C_EP_MATCH_BY_BOTH)
        by_obj = request.inquiry_type in (RPC_C_EP_MATCH_BY_OBJ, RPC_C_EP_MATCH_BY_BOTH)
        if by_if:
            want = request.interface
            if want is None or entry.interface.uuid != want.uuid:
                return False
            if not _version_matches(entry.interface, want, request.vers_option):
                return False
        return not (by_obj and entry.object_uuid != (request.object_uuid or ""))

    def map_towers(self, request: MapRequest) -> list[bytes]:
        """Towers answering an ``ept_map``: same interface (compatible version), same transport."""
        want = request.tower.interface
        if want is None:
            return []
        towers = []
        for entry, tower in zip(self.plan.entries, self.towers, strict=True):
            if (
                entry.transport == request.tower.transport
                and entry.interface.uuid == want.uuid
                and entry.interface.major == want.major
                and entry.interface.minor >= want.minor
            ):
                towers.append(tower)
        return towers


_HANDLE_FREE_RESPONSE = NULL_HANDLE + struct.pack("<I", 0)


class EndpointMapSession:
    """One connection's endpoint mapper calls: lookup paging state per context handle."""

    def __init__(self, endpoint_map: HostEndpointMap) -> None:
        self.endpoint_map = endpoint_map
        self.paging = endpoint_map.plan.config.paging
        self._walks: dict[bytes, _Walk] = {}

    def lookup(self, stub: bytes) -> bytes:
        """Answer an ``ept_lookup`` (opnum 2) request stub."""
        try:
            request = decode_lookup_request(stub)
        except ProtocolError:
            raise CallFault(0x000006F7) from None
        if request.handle == NULL_HANDLE:
            selected = self.endpoint_map.select(request)
            if not selected:
                return encode_lookup_response(
                    NULL_HANDLE,
                    (),
                    EPT_S_NOT_REGISTERED,
                    max_count=request.max_ents,
                    first_referent=request.last_referent + 1,
                )
            handle = bytes(4) + os.urandom(16)
            walk = _Walk(selected)
        else:
            handle = request.handle
            found = self._walks.get(handle)
            if found is None:
                raise CallFault(NCA_S_FAULT_CONTEXT_MISMATCH)
            walk = found
        start = walk.position
        batch = walk.entries[start : start + request.max_ents]
        walk.position = start + len(batch)
        used_up = walk.position >= len(walk.entries)
        status = 0
        if self.paging == "windows":
            ends = used_up
        elif self.paging == "samba":
            ends = used_up
            status = EPT_S_NOT_REGISTERED if used_up else 0
        else:
            ends = not batch
            status = EPT_S_NOT_REGISTERED if ends else 0
        if ends:
            self._walks.pop(handle, None)
            handle = NULL_HANDLE
        else:
            self._walks[handle] = walk
        return encode_lookup_response(
            handle,
            batch,
            status,
            max_count=request.max_ents,
            first_referent=request.last_referent + 1,
        )

    def map(self, stub: bytes) -> bytes:
        """Answer an ``ept_map`` (opnum 3) request stub."""
        try:
            request = decode_map_request(stub)
        except ProtocolError:
            raise CallFault(0x000006F7) from None
        towers = self.endpoint_map.map_towers(request)[: request.max_towers]
        status = 0 if towers else EPT_S_NOT_REGISTERED
        return encode_map_response(
            NULL_HANDLE,
            towers,
            status,
            max_count=request.max_towers,
            first_referent=request.last_referent + 1,
        )

    def lookup_handle_free(self, stub: bytes) -> bytes:
        """Answer an ``ept_lookup_handle_free`` (opnum 4): forget the handle."""
        self._walks.pop(bytes(stub[:20]), None)
        return _HANDLE_FREE_RESPONSE

    @property
    def open_handles(self) -> int:
        return len(self._walks)
