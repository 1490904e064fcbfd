"""The paging state machine of ``ept_lookup``: ask, follow the handle, know when it ends.

Ask with a NULL handle, follow the returned handle, stop at a NULL handle **or**
``ept_s_not_registered`` (Samba sends its last batch with that status, and those
entries count), and refuse a handle that does not move (the same handle with no
entries, or with the same entries as the page before), or a walk that exceeds its caps
(``max_pages`` pages, ``max_entries`` entries).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from epmscan.errors import ProtocolError
from epmscan.models import InterfaceId, LookupEntry
from epmscan.protocol.constants import (
    DEFAULT_MAX_ENTS,
    EPT_S_NOT_REGISTERED,
    NULL_HANDLE,
    RPC_C_EP_ALL_ELTS,
    RPC_C_VERS_ALL,
)
from epmscan.protocol.epm_client import (
    LookupResponse,
    build_lookup_handle_free,
    build_lookup_request,
    decode_lookup_response,
)

REPEATS_OF_ONE_ENTRY = 8
"""A one-entry page may repeat the previous one this many times before the walk is
called stuck (a server may register the same endpoint twice in a row); a longer page
repeated once with the same handle is stuck."""


def _same_batch(batch: tuple[LookupEntry, ...], previous: tuple[LookupEntry, ...]) -> bool:
    if not batch or len(batch) != len(previous):
        return False
    return batch[0] == previous[0] and batch[-1] == previous[-1] and batch == previous


@dataclass(slots=True)
class LookupWalk:
    """State of one paged ``ept_lookup`` enumeration.

    Loop: ``stub = walk.next_request()`` (None when done), send it as opnum 2, feed
    the response stub to ``handle_response``. ``final_status`` is the last status (0,
    ``EPT_S_NOT_REGISTERED``, or another status that ended the walk). When abandoning a
    walk early, send ``free_request()`` (opnum 4) if it is not None. ``decode`` picks
    the response decoder (ours, or impacket's from :mod:`.reference`).
    """

    max_ents: int = DEFAULT_MAX_ENTS
    max_pages: int = 4096
    max_entries: int = 65536
    inquiry_type: int = RPC_C_EP_ALL_ELTS
    interface: InterfaceId | None = None
    vers_option: int = RPC_C_VERS_ALL
    decode: Callable[[bytes], LookupResponse] = field(
        default=decode_lookup_response, repr=False, compare=False
    )
    """The response decoder: ours, or ``reference_decode_lookup_response``."""
    done: bool = False
    pages: int = 0
    final_status: int | None = None
    entries: list[LookupEntry] = field(default_factory=list)
    handle: bytes = NULL_HANDLE
    _awaiting: bool = False
    _previous_batch: tuple[LookupEntry, ...] = ()
    _repeats: int = 0

    def next_request(self) -> bytes | None:
        """The next request stub, or None when the walk is over."""
        if self.done:
            return None
        if self._awaiting:
            raise RuntimeError("the previous lookup request has not been answered")
        self._awaiting = True
        return build_lookup_request(
            handle=self.handle,
            max_ents=self.max_ents,
            inquiry_type=self.inquiry_type,
            interface=self.interface,
            vers_option=self.vers_option,
        )

    def handle_response(self, stub: bytes) -> None:
        """Take one response stub; raises :class:`ProtocolError` on a stuck walk or caps."""
        if not self._awaiting:
            raise RuntimeError("no lookup request is outstanding")
        self._awaiting = False
        response = self.decode(stub)
        self.pages += 1
        sent_handle = self.handle
        if (
            response.status == 0
            and response.handle == sent_handle
            and response.handle != NULL_HANDLE
            and _same_batch(response.entries, self._previous_batch)
        ):
            self._repeats += 1
            if self._repeats >= (REPEATS_OF_ONE_ENTRY if len(response.entries) == 1 else 1):
                self.done = True
                raise ProtocolError(
                    "lookup handle does not advance: same handle, the same"
                    f" {len(response.entries)} entries again"
                )
        else:
            self._repeats = 0
        self._previous_batch = response.entries
        self.entries.extend(response.entries)
        if response.handle != NULL_HANDLE:
            self.handle = response.handle
        else:
            self.handle = NULL_HANDLE
        status = response.status
        if len(self.entries) > self.max_entries:
            self.done = True
            raise ProtocolError(f"lookup returned more than {self.max_entries} entries")
        if status != 0 or response.handle == NULL_HANDLE:
            self.done = True
            self.final_status = status
            if status == EPT_S_NOT_REGISTERED:
                self.handle = NULL_HANDLE
            return
        if response.handle == sent_handle and not response.entries:
            self.done = True
            raise ProtocolError("lookup handle does not advance: same handle, no entries")
        if self.pages >= self.max_pages:
            self.done = True
            raise ProtocolError(f"lookup did not end within {self.max_pages} pages")

    def free_request(self) -> bytes | None:
        """The ``ept_lookup_handle_free`` stub for a handle still open, else None."""
        if self.handle == NULL_HANDLE:
            return None
        return build_lookup_handle_free(self.handle)
