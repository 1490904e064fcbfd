"""``scan``'s closing table on terminals of every width: nothing cut, nothing hidden."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from epmscan.models import EndpointRecord, HostResult, HostStatus, RunSummary
from epmscan.report.console import print_scan_summary, scan_row
from epmscan.report.output import Output

MAPI_UUID = "a4f1db00-ca47-1067-b31f-00dd010662da"


def hosts() -> list[HostResult]:
    mapi = EndpointRecord(
        uuid=MAPI_UUID,
        version="0.81",
        name="",
        annotation="",
        transport="ncacn_ip_tcp",
        address="198.51.100.11",
        port=60001,
        endpoint=None,
        binding="ncacn_ip_tcp:198.51.100.11[60001]",
    )
    return [
        HostResult("198.51.100.11", "198.51.100.11", 135, HostStatus.OK, endpoints=(mapi,)),
        HostResult(
            "198.51.100.15",
            "198.51.100.15",
            135,
            HostStatus.ACCESS_DENIED,
            error="rpc fault rpc_s_access_denied",
        ),
        HostResult(
            "198.51.100.18",
            "198.51.100.18",
            135,
            HostStatus.PROTOCOL_ERROR,
            error="not DCE/RPC 5.0/5.1: version 158.90",
        ),
    ]


def rendered(width: int) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, markup=False, highlight=False, color_system=None)
    summary = RunSummary(
        targets=3,
        done=3,
        interrupted=False,
        signal=None,
        elapsed=1.0,
        statuses=((HostStatus.OK, 1),),
        port=135,
        mode="dump",
        local_errors=0,
    )
    print_scan_summary([scan_row(h) for h in hosts()], summary, Output(console, plain=False))
    return buffer.getvalue()


@pytest.mark.parametrize("width", [40, 60, 80, 100, 120, 200])
def test_every_value_is_whole_at_any_width(width: int) -> None:
    text = rendered(width)
    assert "…" not in text, text
    squashed = re.sub(r"[\s│]", "", text)  # a folded note continues on the next line
    for value in (
        "198.51.100.11",
        "60001",
        "access_denied",
        "protocol_error",
        "rpc fault rpc_s_access_denied",
        "not DCE/RPC 5.0/5.1: version 158.90",
    ):
        assert re.sub(r"\s", "", value) in squashed, (width, text)
    for line in text.splitlines():
        assert len(line) <= width, (width, line)


def test_a_wide_terminal_gets_the_table_and_a_narrow_one_lines() -> None:
    assert "┃ Host" in rendered(160)
    narrow = rendered(80)
    assert "┃" not in narrow
    assert "198.51.100.15 access_denied" in " ".join(narrow.split())
