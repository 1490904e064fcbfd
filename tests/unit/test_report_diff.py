"""The diff's console lines and its JSON document, from diffs built in memory."""

from __future__ import annotations

import io
import json
from dataclasses import replace

from rich.console import Console

from epmscan.checks.diff import diff_results
from epmscan.checks.findings import build_report
from epmscan.models import (
    EndpointRecord,
    ExchangeHostReport,
    ExchangeInterface,
    Expectation,
    HostResult,
    HostStatus,
    PortProbeStatus,
    ResolvedPort,
    Role,
)
from epmscan.report.diff_console import print_diff
from epmscan.report.diff_json import diff_to_dict
from epmscan.report.output import Output

MAPI = ExchangeInterface.MAPI
PINNED = Expectation(role=Role.CLIENT_ACCESS, static_ports=((MAPI, 60001),))


def endpoints(count: int, address: str) -> tuple[EndpointRecord, ...]:
    return tuple(
        EndpointRecord(
            f"{n:08x}-0000-0000-0000-000000000000",
            "1.0",
            None,
            "",
            "ncacn_ip_tcp",
            address,
            50000 + n,
            None,
            f"ncacn_ip_tcp:{address}[{50000 + n}]",
        )
        for n in range(count)
    )


def report(
    address: str,
    *,
    status: HostStatus = HostStatus.OK,
    count: int = 3,
    probe: PortProbeStatus = PortProbeStatus.BOUND,
    annotation: str = "",
) -> ExchangeHostReport:
    found = endpoints(count, address) if status is HostStatus.OK else ()
    if annotation:
        found = tuple(replace(e, annotation=annotation, name=annotation) for e in found)
    host = HostResult(address, address, 135, status, endpoints=found)
    ports = (ResolvedPort(MAPI, "ncacn_ip_tcp", 60001, "lookup", probe),)
    return build_report(host, ports if status is HostStatus.OK else (), (), PINNED)


def plain_lines(before: list[ExchangeHostReport], after: list[ExchangeHostReport]) -> list[str]:
    buffer = io.StringIO()
    console = Console(file=buffer, width=80, markup=False, highlight=False, soft_wrap=True)
    print_diff(diff_results(before, after), Output(console, plain=True))
    return buffer.getvalue().splitlines()


def test_every_line_names_its_host_and_keeps_its_sign() -> None:
    lines = plain_lines(
        [report("192.0.2.10"), report("192.0.2.11")],
        [report("192.0.2.10", probe=PortProbeStatus.TIMEOUT), report("192.0.2.11", count=4)],
    )
    changes = lines[:-1]
    assert changes and all(line[:2] in {"+ ", "- ", "~ ", "! "} for line in changes)
    assert all(" 192.0.2.1" in line for line in changes)
    assert "~ 192.0.2.10: MAPI ncacn_ip_tcp: 60001 bound -> 60001 timeout" in lines
    assert any(line.startswith("+ 192.0.2.11: 00000003-") for line in lines)
    assert lines[-1] == "2 changed (1 failing the diff), 0 appeared, 0 disappeared, 0 unchanged"


def test_a_host_that_stopped_answering_is_one_line_not_every_endpoint() -> None:
    lines = plain_lines(
        [report("192.0.2.10", count=140)], [report("192.0.2.10", status=HostStatus.CLOSED)]
    )
    assert "~ 192.0.2.10: status: ok -> closed" in lines
    assert (
        "- 192.0.2.10: 140 endpoints no longer listed (the endpoint mapper did not answer)" in lines
    )
    assert len(lines) < 10


def test_a_host_answering_again_is_one_line() -> None:
    lines = plain_lines(
        [report("192.0.2.10", status=HostStatus.FILTERED)], [report("192.0.2.10", count=50)]
    )
    assert "+ 192.0.2.10: 50 endpoints listed again (the endpoint mapper answers now)" in lines


def test_server_text_is_escaped_on_the_console_and_kept_in_json() -> None:
    hostile = "evil\x1b]0;owned\x07\x1b[2J"
    before = [report("192.0.2.10", count=1)]
    after = [report("192.0.2.10", count=2, annotation=hostile)]
    text = "\n".join(plain_lines(before, after))
    assert "\x1b" not in text and "\x07" not in text
    document = diff_to_dict(diff_results(before, after), before="a", after="b")
    (host,) = document["changed"]
    assert {e["annotation"] for e in host["added"]} == {hostile}


def test_no_change_is_one_line() -> None:
    assert plain_lines([report("192.0.2.10")], [report("192.0.2.10")]) == [
        "no changes (1 host compared)"
    ]


def test_the_json_document_holds_every_change_and_why_it_counts() -> None:
    before = [report("192.0.2.10"), report("192.0.2.12")]
    after = [report("192.0.2.10", probe=PortProbeStatus.CLOSED), report("192.0.2.13")]
    document = diff_to_dict(diff_results(before, after), before="before.json", after="after.json")
    assert json.loads(json.dumps(document)) == document
    assert document["epmscan"]["kind"] == "diff" and document["significant"] is True
    (changed,) = document["changed"]
    assert changed["significant"] == ["exchange ports", "new findings"]
    assert [f["code"] for f in changed["findings_added"]] == ["mapi.closed"]
    (port,) = changed["exchange_ports"]
    assert (port["interface"], port["old_probe"], port["new_probe"]) == ("mapi", "bound", "closed")
    assert [(h["address"], h["reason"]) for h in document["appeared"]] == [("192.0.2.13", "new")]
    assert [(h["address"], h["reason"]) for h in document["disappeared"]] == [
        ("192.0.2.12", "gone")
    ]
    assert list(document) == [
        "epmscan",
        "significant",
        "notes",
        "warnings",
        "unchanged",
        "appeared",
        "disappeared",
        "changed",
    ]
