"""Fuzz the paging state machine :class:`epmscan.protocol.lookup_walk.LookupWalk`.

Input (``harness.walk_input``): a mode byte choosing the walk's caps (``max_pages``,
``max_entries``, ``max_ents``), then response stubs, each behind a 16-bit length, fed
to ``handle_response`` one per request for as long as the walk asks.

Invariants: every request the walk builds decodes (``decode_lookup_request``) to the
walk's handle and ``max_ents``; a page accepted keeps ``pages`` and the entries within
the caps; a finished walk asks for nothing more and has a final status; an
``ept_s_not_registered`` status or a NULL handle ends it; ``free_request`` exists
exactly while a handle is open; only ProtocolError comes out of ``handle_response``.
"""

from __future__ import annotations

from harness import (
    WALK_MAX_ENTRIES,
    WALK_MAX_ENTS,
    WALK_MAX_PAGES,
    check,
    fuzz_main,
    instrumented,
    read_walk_input,
)

with instrumented(__name__ == "__main__"):
    from epmscan.errors import ProtocolError
    from epmscan.protocol.constants import EPT_S_NOT_REGISTERED, NULL_HANDLE
    from epmscan.protocol.epm_server import decode_lookup_request
    from epmscan.protocol.lookup_walk import LookupWalk


def test_one_input(data: bytes) -> None:
    """Walk over the given pages; check the walk's state after each."""
    parsed = read_walk_input(data)
    if parsed is None:
        return
    mode = parsed.mode
    walk = LookupWalk(
        max_ents=WALK_MAX_ENTS[(mode >> 6) & 3],
        max_pages=WALK_MAX_PAGES[mode & 15],
        max_entries=WALK_MAX_ENTRIES[(mode >> 4) & 3],
    )
    for page in parsed.pages:
        stub = walk.next_request()
        if stub is None:
            check(walk.done, "no request from a walk that is not done")
            return
        request = decode_lookup_request(stub)
        check(request.handle == walk.handle, "request carries another handle")
        check(request.max_ents == walk.max_ents, "request carries another max_ents")
        try:
            walk.handle_response(page)
        except ProtocolError:
            return
        check(walk.pages <= walk.max_pages, "more pages than max_pages")
        check(len(walk.entries) <= walk.max_entries, "more entries than max_entries")
        check(walk.done == (walk.final_status is not None), "done without a final status")
        if walk.final_status == EPT_S_NOT_REGISTERED:
            check(walk.handle == NULL_HANDLE, "handle kept after ept_s_not_registered")
        if walk.handle == NULL_HANDLE:
            check(walk.done, "a NULL handle did not end the walk")
        check((walk.free_request() is None) == (walk.handle == NULL_HANDLE), "free_request")
        if walk.done:
            check(walk.next_request() is None, "a finished walk asks again")
            return


if __name__ == "__main__":
    fuzz_main(test_one_input)
