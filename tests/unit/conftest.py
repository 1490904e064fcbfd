"""Fixtures for the protocol tests: the real Samba 4.17 capture, split per connection."""

from __future__ import annotations

import pytest

from epmscan.protocol.events import Response
from tests.support.samba_capture import (
    CapturedConnection,
    full_lookups,
    load_capture,
    replay,
    split_pdus,
)


@pytest.fixture(scope="session")
def samba_connections() -> list[CapturedConnection]:
    return load_capture()


@pytest.fixture(scope="session")
def samba_epm_connections(samba_connections: list[CapturedConnection]) -> list[CapturedConnection]:
    return [c for c in samba_connections if c.server_port == 135]


@pytest.fixture(scope="session")
def samba_full_lookup(samba_epm_connections: list[CapturedConnection]) -> CapturedConnection:
    """The first connection that did bind + one ept_lookup with max_ents=500."""
    return full_lookups(samba_epm_connections)[0]


@pytest.fixture(scope="session")
def samba_paging(samba_epm_connections: list[CapturedConnection]) -> CapturedConnection:
    """The connection that paged with max_ents=1."""
    return max(samba_epm_connections, key=lambda c: len(split_pdus(c.to_server)))


@pytest.fixture(scope="session")
def samba_lookup_stub(samba_full_lookup: CapturedConnection) -> bytes:
    """The reassembled 4,828-byte stub of Samba's 38-entry answer."""
    _, events = replay(samba_full_lookup)
    responses = [e for e in events if isinstance(e, Response)]
    assert len(responses) == 1
    return responses[0].stub


@pytest.fixture(scope="session")
def samba_lookup_stubs(samba_epm_connections: list[CapturedConnection]) -> list[bytes]:
    """Every ept_lookup response stub in the capture."""
    stubs = []
    for connection in samba_epm_connections:
        _, events = replay(connection)
        stubs.extend(e.stub for e in events if isinstance(e, Response))
    return stubs
