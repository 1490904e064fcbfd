"""The diff of two results: every kind of change found, and which ones fail the diff."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from epmscan.checks.diff import diff_results
from epmscan.checks.findings import build_report, rejudged
from epmscan.errors import UsageError
from epmscan.models import (
    EndpointRecord,
    ExchangeHostReport,
    ExchangeInterface,
    Expectation,
    Finding,
    HostResult,
    HostStatus,
    HttpPortProbe,
    HttpProbeStatus,
    PortProbeStatus,
    ResolvedPort,
    Role,
    Severity,
)
from epmscan.report.saved_results import load_saved_run, parse_saved_run
from epmscan.report.serialize import exchange_to_dict

MAPI = ExchangeInterface.MAPI
NSPI = ExchangeInterface.NSPI
MAPI_UUID = "a4f1db00-ca47-1067-b31f-00dd010662da"
LSA_UUID = "12345778-1234-abcd-ef00-0123456789ab"
PINNED = Expectation(
    role=Role.CLIENT_ACCESS,
    static_ports=((MAPI, 60001), (NSPI, 60002)),
    require_http=(6001,),
)


def endpoint(uuid: str, port: int | None, transport: str = "ncacn_ip_tcp") -> EndpointRecord:
    where = f"[{port}]"
    return EndpointRecord(
        uuid, "1.0", None, "", transport, "192.0.2.10", port, None, f"{transport}:192.0.2.10{where}"
    )


def report(
    address: str = "192.0.2.10",
    *,
    status: HostStatus = HostStatus.OK,
    endpoints: tuple[EndpointRecord, ...] = (),
    mapi: int | None = 60001,
    probe: PortProbeStatus = PortProbeStatus.BOUND,
    http: HttpProbeStatus | None = HttpProbeStatus.NCACN_HTTP,
    banner: str | None = None,
    expectation: Expectation | None = PINNED,
    findings: tuple[Finding, ...] = (),
) -> ExchangeHostReport:
    host = HostResult(address, address, 135, status, endpoints=endpoints)
    ports = (ResolvedPort(MAPI, "ncacn_ip_tcp", mapi, "lookup", probe),) if mapi is not None else ()
    probes = (HttpPortProbe(6001, MAPI, http, banner=banner),) if http is not None else ()
    built = build_report(host, ports, probes, expectation)
    return replace(built, findings=built.findings + findings)


def one(before: ExchangeHostReport, after: ExchangeHostReport):  # type: ignore[no-untyped-def]
    diff = diff_results([before], [after])
    return diff, diff.changed[0] if diff.changed else None


def test_identical_results_have_no_change() -> None:
    diff = diff_results([report()], [report()])
    assert diff.empty and diff.unchanged == 1 and not diff.significant


def test_a_bound_port_that_times_out_is_a_counted_change() -> None:
    # The regression a diff once missed: MAPI went from bound to timeout.
    diff, host = one(report(), report(probe=PortProbeStatus.TIMEOUT))
    assert host is not None and diff.significant
    (change,) = host.port_changes
    assert (change.old_probe, change.new_probe) == (PortProbeStatus.BOUND, PortProbeStatus.TIMEOUT)
    assert "exchange ports" in host.significant
    assert "new findings" in host.significant  # mapi.timeout is an error


@pytest.mark.parametrize(
    ("after", "reason"),
    [
        ({"status": HostStatus.FILTERED, "mapi": None, "http": None}, "status"),
        ({"mapi": 52311}, "exchange ports"),
        ({"probe": PortProbeStatus.FILTERED}, "exchange ports"),
        ({"probe": PortProbeStatus.WRONG_SERVICE}, "exchange ports"),
        ({"http": HttpProbeStatus.CLOSED}, "rpc over http"),
        ({"http": HttpProbeStatus.OTHER_SERVICE, "banner": "HTTP/1.1 400"}, "rpc over http"),
        ({"http": None}, "rpc over http"),
    ],
)
def test_every_verdict_kind_is_a_change_that_counts(after: dict, reason: str) -> None:  # type: ignore[type-arg]
    diff, host = one(report(), report(**after))
    assert host is not None, after
    assert reason in host.significant and diff.significant


def test_a_changed_banner_alone_is_a_change() -> None:
    before = report(http=HttpProbeStatus.OTHER_SERVICE, banner="IIS")
    _diff, host = one(before, report(http=HttpProbeStatus.OTHER_SERVICE, banner="nginx"))
    assert host is not None and host.http_changes[0].new.banner == "nginx"  # type: ignore[union-attr]


def test_findings_added_and_resolved_are_listed() -> None:
    noted = Finding(Severity.WARNING, "192.0.2.10", "custom.thing", "something")
    diff, host = one(report(), report(findings=(noted,)))
    assert host is not None and host.findings_added == (noted,)
    assert not diff.significant  # a warning does not fail the diff
    diff, host = one(report(findings=(noted,)), report())
    assert host is not None and host.findings_resolved == (noted,)


def test_ordinary_windows_endpoints_are_reported_and_do_not_count() -> None:
    before = report(endpoints=(endpoint(LSA_UUID, 49667),))
    after = report(endpoints=(endpoint(LSA_UUID, 49999), endpoint(LSA_UUID, None, "ncacn_np")))
    diff, host = one(before, after)
    assert host is not None and host.moved and host.added
    assert not diff.significant


def with_inventory(built: ExchangeHostReport, *unregistered: EndpointRecord) -> ExchangeHostReport:
    """``built`` as if taken with --inventory, which found ``unregistered`` besides."""
    hidden = tuple(replace(e, registered=False) for e in unregistered)
    host = replace(built.host, endpoints=built.host.endpoints + hidden, inventory=())
    return replace(built, host=host)


def test_endpoints_only_an_inventory_found_are_compared_only_where_both_took_one() -> None:
    registered = (endpoint(LSA_UUID, 49667),)
    before = report(endpoints=registered)
    after = with_inventory(report(endpoints=registered), endpoint(MAPI_UUID, 49700))
    diff, host = one(before, after)
    assert host is None and diff.unchanged == 1
    assert any("--inventory" in warning for warning in diff.warnings)
    diff, host = one(after, before)  # the other way round: nothing "removed" either
    assert host is None and diff.unchanged == 1
    later = with_inventory(report(endpoints=registered))
    _diff, host = one(after, later)  # both took one: the hidden endpoint is gone
    assert host is not None and [e.port for e in host.removed] == [49700]
    assert not host.removed[0].registered


def test_registered_endpoints_are_compared_whatever_the_inventory() -> None:
    before = report(endpoints=(endpoint(LSA_UUID, 49667),))
    after = with_inventory(report(endpoints=(endpoint(LSA_UUID, 49999),)))
    _diff, host = one(before, after)
    assert host is not None and [(m.old_port, m.new_port) for m in host.moved] == [(49667, 49999)]


def test_exchange_endpoint_move_counts() -> None:
    before = report(endpoints=(endpoint(MAPI_UUID, 60001),))
    after = report(endpoints=(endpoint(MAPI_UUID, 52311),))
    _diff, host = one(before, after)
    assert host is not None and host.moved[0].exchange_interface is MAPI
    assert "exchange endpoints" in host.significant


def test_changes_the_expectation_ignores_print_but_exit_zero() -> None:
    windows = Expectation(role=Role.WINDOWS)
    before = report(expectation=windows, http=HttpProbeStatus.NCACN_HTTP)
    after = report(expectation=windows, mapi=52311, http=HttpProbeStatus.CLOSED)
    diff, host = one(before, after)
    assert host is not None and host.port_changes and host.http_changes
    assert not host.significant and not diff.significant


def test_with_no_expectation_every_exchange_change_counts() -> None:
    before = report(expectation=None)
    _diff, host = one(before, report(expectation=None, mapi=52311))
    assert host is not None and "exchange ports" in host.significant


def test_http_counts_only_on_required_ports() -> None:
    not_required = replace(PINNED, require_http=(6002,))
    before = report(expectation=not_required)
    _diff, host = one(before, report(expectation=not_required, http=HttpProbeStatus.CLOSED))
    assert host is not None and host.http_changes and "rpc over http" not in host.significant


def test_after_s_expectation_judges_and_a_different_before_is_warned() -> None:
    loose = Expectation(role=Role.WINDOWS)
    diff, host = one(report(expectation=loose), report(expectation=PINNED, mapi=52311))
    assert host is not None and host.expectation_changed
    assert "exchange ports" in host.significant
    assert diff.warnings and "judged with AFTER's" in diff.warnings[0]


def test_a_policy_overrides_both_recorded_expectations() -> None:
    loose = Expectation(role=Role.WINDOWS)
    before, after = rejudged(report(), loose), rejudged(report(mapi=52311), loose)
    diff = diff_results([before], [after])
    assert diff.changed and not diff.significant


def test_missing_hosts_tell_scope_from_silence() -> None:
    a, b = report("192.0.2.10"), report("192.0.2.11")
    gone = diff_results([a, b], [a])
    assert gone.disappeared[0].reason == "gone" and gone.significant
    silent = diff_results([a, b], [a], after_only_answered=True)
    assert silent.disappeared[0].reason == "stopped_answering" and silent.significant
    out = diff_results([a, b], [a], in_after=lambda r: r.host.address != "192.0.2.11")
    assert out.disappeared[0].reason == "out_of_scope" and not out.significant
    new = diff_results([a], [a, b], in_before=lambda r: False)
    assert new.appeared[0].reason == "out_of_scope" and not new.significant


def test_a_saved_check_round_trips_with_its_expectation(tmp_path: Path) -> None:
    host = report()
    document = {"epmscan": {"schema": 2, "command": "check"}, "hosts": [exchange_to_dict(host)]}
    path = tmp_path / "saved.json"
    path.write_text(json.dumps(document))
    saved = load_saved_run(path)
    assert saved.hosts == (host,)
    assert saved.hosts[0].expectation == PINNED
    assert saved.info is not None and saved.info.command == "check"


def test_schema_one_results_still_load() -> None:
    old = exchange_to_dict(report(expectation=None))
    del old["exchange"]["expectation"], old["icmp"]
    for e in old["endpoints"]:
        del e["tower_error"], e["tower_hex"]
    text = json.dumps({"epmscan": {"schema": 1, "command": "check"}, "hosts": [old]})
    saved = parse_saved_run(text, "old.json")
    assert saved.info is not None and saved.info.schema == 1
    assert saved.hosts[0].expectation is None


def test_a_newer_schema_is_refused_in_one_line() -> None:
    text = json.dumps({"epmscan": {"schema": 99}, "hosts": [exchange_to_dict(report())]})
    with pytest.raises(UsageError, match="schema 99, newer"):
        parse_saved_run(text, "new.json")


def test_a_cut_file_is_read_with_a_note() -> None:
    lines = [json.dumps({"epmscan": {"schema": 2, "command": "scan"}})]
    lines += [json.dumps(exchange_to_dict(report(f"192.0.2.{i}"))) for i in range(10, 14)]
    text = "\n".join(lines)
    saved = parse_saved_run(text[: len(text) - 40], "cut.jsonl")
    assert len(saved.hosts) == 3
    assert saved.notes and "ends inside line 5" in saved.notes[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"target": "a", "status": "ok"}\n{oops\n{"x": 1}\n', "x.json:2: not a saved"),
        ('{"summary": 1}', "no host results found"),
        ('[{"target": "a", "status": "ok", "endpoints": [{"port": "x"}]}]', "malformed"),
        ("\x00\x01binary", "binary"),
    ],
)
def test_bad_saved_results_are_one_line(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        parse_saved_run(text, "x.json")
    assert "\n" not in str(info.value)


def test_unreadable_files_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read"):
        load_saved_run(tmp_path / "absent.json")
    (tmp_path / "latin1.json").write_bytes(b'{"target": "caf\xe9"}')
    with pytest.raises(UsageError, match="not UTF-8"):
        load_saved_run(tmp_path / "latin1.json")
    with pytest.raises(UsageError, match="is a directory"):
        load_saved_run(tmp_path)


def test_a_result_cut_short_by_a_signal_is_said_to_be(tmp_path: Path) -> None:
    from epmscan.app.diff import compare
    from epmscan.settings import DiffSettings
    from tests.support.report_data import (
        scan_document,
        synthetic_hosts,
        write_document_as_epmscan,
    )

    hosts = synthetic_hosts(4, 4, network="127.114.9.0/30")
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    write_document_as_epmscan(before, scan_document(hosts))
    cut = scan_document(hosts[:3])
    cut["summary"] |= {"targets": 4, "done": 3, "interrupted": True, "signal": "SIGINT"}
    write_document_as_epmscan(after, cut)
    outcome = compare(DiffSettings(before=str(before), after=str(after)))
    assert len(outcome.diff.disappeared) == 1
    (note,) = [n for n in outcome.notes if "interrupted" in n]
    assert note == (
        f"{after}: that run was interrupted (SIGINT) after 3 of 4 hosts: the hosts it did "
        "not reach show as disappeared or appeared"
    )
    plain = compare(DiffSettings(before=str(before), after=str(before)))
    assert not any("interrupted" in n for n in plain.notes)
