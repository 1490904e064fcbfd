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

A host with a lookup fault (:mod:`epmscan.lab.faults`) lies here: its encoded entries
carry lying towers, unterminated annotations or thousands of filler entries, and its
sessions page wrongly (a handle that never advances, pages without end) or claim more
entries than a page holds.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from epmscan.errors import ProtocolError
from epmscan.lab.faults import (
    LOOKUP_KINDS,
    FaultKind,
    HostFault,
    faulty_towers,
    filler_entries,
    lie_num_ents,
    unterminated_annotation,
)
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
        fault = plan.config.fault
        self.fault: HostFault | None = (
            fault if fault is not None and fault.kind in LOOKUP_KINDS else None
        )
        """The host's lookup fault, if it has one."""
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
    def lookup_towers(self) -> tuple[bytes, ...]:
        """The towers as ``ept_lookup`` sends them (a tower fault's lies included)."""
        if self.fault is None:
            return self.towers
        return faulty_towers(self.fault, self.plan.entries, self.towers)

    @property
    def encoded(self) -> tuple[EncodedEntry, ...]:
        """Every entry, encoded once (filler entries of ``many_entries`` not included)."""
        if self._encoded is None:
            encoded = tuple(
                encode_lookup_entry(entry.object_uuid, tower, entry.annotation)
                for entry, tower in zip(self.plan.entries, self.lookup_towers, strict=True)
            )
            if self.fault is not None and self.fault.kind is FaultKind.ANNOTATION_UNTERMINATED:
                encoded = tuple(unterminated_annotation(entry) for entry in encoded)
            self._encoded = encoded
        return self._encoded

    def select(self, request: LookupRequest) -> tuple[EncodedEntry, ...]:
        """The entries a lookup asks for (cached per inquiry)."""
        if request.inquiry_type == RPC_C_EP_ALL_ELTS:
            fault = self.fault
            if fault is not None and fault.kind is FaultKind.MANY_ENTRIES:
                key: tuple[int, str | None, InterfaceId | None, int] = (
                    RPC_C_EP_ALL_ELTS,
                    None,
                    None,
                    -1,
                )
                if key not in self._selections:
                    fillers = filler_entries(max(0, fault.count - len(self.encoded)), 1)
                    self._selections[key] = self.encoded + fillers
                return self._selections[key]
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
        self.fault = endpoint_map.fault
        self.pages = 0
        """``ept_lookup`` calls answered on this connection."""
        self._walks: dict[bytes, _Walk] = {}

    def lookup(self, stub: bytes) -> bytes:
        """Answer an ``ept_lookup`` (opnum 2) request stub."""
        try:
            request = decode_lookup_request(stub)
        except ProtocolError:
            raise CallFault(0x000006F7) from None
        self.pages += 1
        fault = self.fault
        if fault is None:
            return self._lookup(request)
        if fault.kind in (FaultKind.STUCK_HANDLE, FaultKind.ENDLESS_PAGES):
            return self._faulty_paging(request, fault)
        answer = self._lookup(request)
        if fault.kind is FaultKind.NUM_ENTS_LIE and self.pages == fault.page:
            return lie_num_ents(answer, fault.extra, fault.array)
        return answer

    def _faulty_paging(self, request: LookupRequest, fault: HostFault) -> bytes:
        """``stuck_handle``: the same handle and the first batch (or, ``empty``, nothing
        after it) for ever; ``endless_pages``: a new handle and ``per_page`` entries (at
        most the client's ``max_ents``) on every page, round and round the map, no end."""
        selected = self.endpoint_map.select(request)
        if fault.kind is FaultKind.STUCK_HANDLE:
            handle = bytes(4) + b"\x5a" * 16
            first_page = request.handle == NULL_HANDLE
            batch = selected[: request.max_ents] if first_page or not fault.empty else ()
        else:
            handle = bytes(4) + os.urandom(16)
            per_page = min(fault.per_page, request.max_ents)
            start = (self.pages - 1) * per_page
            batch = (
                tuple(selected[(start + i) % len(selected)] for i in range(per_page))
                if selected
                else ()
            )
        return encode_lookup_response(
            handle,
            batch,
            0,
            max_count=request.max_ents,
            first_referent=request.last_referent + 1,
        )

    def _lookup(self, request: LookupRequest) -> bytes:
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
