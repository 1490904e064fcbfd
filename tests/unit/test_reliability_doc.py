"""docs/reliability.md names every cap and deadline with the value the code uses."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from epmscan.engine import probes
from epmscan.protocol import epm_ndr, ncacn_http, pdu_stream
from epmscan.protocol.client_connection import ClientConnection
from epmscan.protocol.constants import (
    DEFAULT_MAX_ENTS,
    DEFAULT_MAX_FRAG,
    DEFAULT_MAX_PDU_TOTAL,
    MAX_MGMT_INTERFACES,
)
from epmscan.protocol.lookup_walk import REPEATS_OF_ONE_ENTRY, LookupWalk
from epmscan.settings import (
    CHECK_HOST_TIMEOUT,
    DEFAULT_GRACE,
    DEFAULT_MAX_HOSTS,
    DEFAULT_PER_HOST,
    DUMP_TIMEOUTS,
    Timeouts,
)
from epmscan.targets import listfile
from epmscan.targets.parse import MAX_OCTET_PIECES

DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"


def _count(value: int) -> str:
    return f"{value:,}"


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _buffer_cap() -> int:
    default = inspect.signature(pdu_stream.PduBuffer.__init__).parameters["max_frag"].default
    return int(default)


# (the code name as the table writes it, the value as the table must write it)
DOCUMENTED: list[tuple[str, str]] = [
    ("`Timeouts.connect`", _seconds(Timeouts().connect)),
    ("`Timeouts.read`", _seconds(Timeouts().read)),
    ("`Timeouts.host`", _seconds(Timeouts().host)),
    ("`CHECK_HOST_TIMEOUT`", _seconds(CHECK_HOST_TIMEOUT)),
    ("`DUMP_TIMEOUTS`", _seconds(DUMP_TIMEOUTS.host)),
    ("`Timeouts.resolve`", _seconds(Timeouts().resolve)),
    ("`DEFAULT_GRACE`", _seconds(DEFAULT_GRACE)),
    ("`PduBuffer(max_frag=65535)`", _count(_buffer_cap())),
    ("`DEFAULT_MAX_FRAG`", _count(DEFAULT_MAX_FRAG)),
    ("`DEFAULT_MAX_PDU_TOTAL`", _count(DEFAULT_MAX_PDU_TOTAL)),
    ("`ANNOTATION_LIMIT`", _count(epm_ndr.ANNOTATION_LIMIT)),
    ("`LookupWalk.max_entries`", _count(LookupWalk().max_entries)),
    ("`LookupWalk.max_pages`", _count(LookupWalk().max_pages)),
    ("`DEFAULT_MAX_ENTS`", _count(DEFAULT_MAX_ENTS)),
    ("`REPEATS_OF_ONE_ENTRY`", f"{REPEATS_OF_ONE_ENTRY} repeats"),
    ("`GREETING_LIMIT`", f"{probes.GREETING_LIMIT} bytes"),
    ("`BANNER_LIMIT`", f"{ncacn_http.BANNER_LIMIT} shown"),
    ("`DEFAULT_PER_HOST`", f"| {DEFAULT_PER_HOST} |"),
    ("`MAX_MGMT_INTERFACES`", _count(MAX_MGMT_INTERFACES)),
    ("`DEFAULT_MAX_HOSTS`", _count(DEFAULT_MAX_HOSTS)),
    ("`MAX_OCTET_PIECES`", _count(MAX_OCTET_PIECES)),
    ("`MAX_LINE_BYTES`", _count(listfile.MAX_LINE_BYTES)),
    ("`BLOCK_BYTES`", _count(listfile.BLOCK_BYTES)),
    ("`BLOCK_PIECES`", _count(listfile.BLOCK_PIECES)),
    ("`WINDOW_BLOCKS`", f"{listfile.WINDOW_BLOCKS} blocks"),
    ("`WINDOW_PIECES`", _count(listfile.WINDOW_PIECES)),
]


def _section(title: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


@pytest.mark.parametrize(("name", "value"), DOCUMENTED, ids=[n for n, _ in DOCUMENTED])
def test_each_cap_is_in_the_table_with_its_value(name: str, value: str) -> None:
    rows = [line for line in _section("Caps and deadlines").splitlines() if name in line]
    assert rows, f"{name} is not in docs/reliability.md"
    assert any(value in row for row in rows), f"{name}: {value!r} not in {rows}"


def test_the_client_uses_the_documented_defaults() -> None:
    client = ClientConnection()
    assert client.max_total == DEFAULT_MAX_PDU_TOTAL
    assert client.max_recv_frag == DEFAULT_MAX_FRAG


def test_the_page_for_hostile_peers_is_there() -> None:
    assert "| the peer | the result | where it is caught |" in _section("Hostile peers")
