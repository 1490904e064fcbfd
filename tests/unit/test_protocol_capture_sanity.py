"""The capture fixture holds what its README says (guards the other tests' premises)."""

from __future__ import annotations

from tests.support.samba_capture import CapturedConnection, full_lookups, split_pdus


def test_capture_has_three_full_lookups_and_one_paging(
    samba_epm_connections: list[CapturedConnection],
    samba_paging: CapturedConnection,
    samba_lookup_stub: bytes,
) -> None:
    assert len(full_lookups(samba_epm_connections)) == 3
    assert len(samba_lookup_stub) == 4828
    requests = [h for h, _ in split_pdus(samba_paging.to_server) if h.ptype == 0]
    assert len(requests) == 38
