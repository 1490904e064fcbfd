"""Diff of two saved results built by hand with known changes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from epmscan.checks.diff import (
    ResultDiff,
    diff_exit_code,
    diff_results,
)
from epmscan.checks.policy_file import parse_policy
from epmscan.errors import UsageError
from epmscan.models import ExchangeInterface, HttpChange, HttpProbeStatus, Policy
from epmscan.report.saved_results import load_saved_run, parse_saved_run

MAPI_UUID = "a4f1db00-ca47-1067-b31f-00dd010662da"
NSPI_UUID = "f5cc5a18-4264-101a-8c59-08002b2f8426"
LSA_UUID = "12345778-1234-abcd-ef00-0123456789ab"
SVC_UUID = "367abb81-9844-35f1-ad32-98f038001003"


def hosts_of(text: str):
    return parse_saved_run(text).hosts


def load_saved(path: Path):
    return load_saved_run(path).hosts


def endpoint(
    uuid: str,
    version: str,
    port: int | None,
    transport: str = "ncacn_ip_tcp",
    name: str | None = None,
    pipe: str | None = None,
) -> dict[str, Any]:
    where = f"[{port}]" if port is not None else f"[{pipe}]"
    return {
        "uuid": uuid,
        "version": version,
        "name": name,
        "annotation": "",
        "transport": transport,
        "address": "192.0.2.10",
        "port": port,
        "endpoint": pipe,
        "binding": f"{transport}:192.0.2.10{where}",
    }


def host_obj(
    target: str,
    status: str = "ok",
    endpoints: list[dict[str, Any]] | None = None,
    http: list[dict[str, Any]] | None = None,
    address: str | None = None,
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "target": target,
        "address": address or target,
        "port": 135,
        "status": status,
        "error": None if status == "ok" else "timed out",
        "endpoints": endpoints or [],
    }
    if http is not None:
        obj["exchange"] = {"role": None, "group": None, "ports": [], "http": http, "findings": []}
    return obj


OLD = [
    host_obj(
        "192.0.2.10",
        endpoints=[
            endpoint(MAPI_UUID, "0.81", 60001, name="EMSMDB"),
            endpoint(NSPI_UUID, "56.0", 60002, name="NSPI"),
            endpoint(LSA_UUID, "1.0", 49667, name="lsarpc"),
            endpoint(SVC_UUID, "2.0", None, "ncacn_np", pipe=r"\pipe\svcctl"),
        ],
        http=[{"port": 6001, "interface": "mapi", "status": "ncacn_http"}],
    ),
    host_obj("192.0.2.11"),
    host_obj("192.0.2.12", endpoints=[endpoint(LSA_UUID, "1.0", 49667)]),
    host_obj("192.0.2.13", endpoints=[endpoint(LSA_UUID, "1.0", 49668)]),
]
NEW = [
    host_obj(
        "192.0.2.10",
        endpoints=[
            endpoint(MAPI_UUID, "0.81", 52311, name="EMSMDB"),  # moved to a dynamic port
            endpoint(NSPI_UUID, "56.0", 60002, name="NSPI"),
            endpoint(LSA_UUID, "1.0", 49667, name="lsarpc"),
            endpoint(SVC_UUID, "2.0", None, "ncacn_np", pipe=r"\pipe\svcctl"),
            endpoint(SVC_UUID, "2.0", 49700),  # added
        ],
        http=[{"port": 6001, "interface": "mapi", "status": "closed"}],
    ),
    host_obj("192.0.2.12", status="filtered"),
    host_obj("192.0.2.13", endpoints=[endpoint(LSA_UUID, "1.0", 49668)]),
    host_obj("192.0.2.14"),
]


def test_diff_finds_every_known_change() -> None:
    diff = diff_results(hosts_of(json.dumps(OLD)), hosts_of(json.dumps(NEW)))
    assert [h.host.target for h in diff.appeared] == ["192.0.2.14"]
    assert [h.host.target for h in diff.disappeared] == ["192.0.2.11"]
    assert diff.unchanged == 1
    by_target = {h.target: h for h in diff.changed}
    assert set(by_target) == {"192.0.2.10", "192.0.2.12"}

    cas = by_target["192.0.2.10"]
    assert not cas.status_changed
    (move,) = cas.moved
    assert (move.uuid, move.old_port, move.new_port) == (MAPI_UUID, 60001, 52311)
    assert move.exchange_interface is ExchangeInterface.MAPI
    assert [m for m in cas.moved if m.exchange_interface] == [move]
    assert [(e.uuid, e.port) for e in cas.added] == [(SVC_UUID, 49700)]
    assert cas.removed == ()
    assert cas.http_changes == (
        HttpChange(6001, HttpProbeStatus.NCACN_HTTP, HttpProbeStatus.CLOSED),
    )

    gone = by_target["192.0.2.12"]
    assert (gone.old_status, gone.new_status) == ("ok", "filtered")
    assert [e.port for e in gone.removed] == [49667]


def test_removed_exchange_endpoint_without_replacement_is_not_a_move() -> None:
    old = [host_obj("h", endpoints=[endpoint(NSPI_UUID, "56.0", 60002)])]
    new = [host_obj("h", endpoints=[endpoint(NSPI_UUID, "56.0", 60002, "ncacn_http")])]
    (host,) = diff_results(hosts_of(json.dumps(old)), hosts_of(json.dumps(new))).changed
    assert host.moved == ()
    assert [e.transport for e in host.removed] == ["ncacn_ip_tcp"]
    assert [e.transport for e in host.added] == ["ncacn_http"]
    assert len(host.added + host.removed) == 2


def test_identical_results_have_an_empty_diff() -> None:
    diff = diff_results(hosts_of(json.dumps(OLD)), hosts_of(json.dumps(OLD)))
    assert diff.empty and diff.unchanged == len(OLD)
    assert diff_exit_code(diff) == 0


def _diff(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> ResultDiff:
    return diff_results(hosts_of(json.dumps(old)), hosts_of(json.dumps(new)))


def test_exit_code_ignores_ordinary_windows_endpoints() -> None:
    old = [host_obj("h", endpoints=[endpoint(LSA_UUID, "1.0", 49667)])]
    new = [
        host_obj(
            "h", endpoints=[endpoint(LSA_UUID, "1.0", 49999), endpoint(SVC_UUID, "2.0", 50000)]
        )
    ]
    diff = _diff(old, new)
    assert diff.changed and diff.changed[0].moved
    assert diff_exit_code(diff) == 0


def test_exit_code_on_exchange_move_status_and_hosts() -> None:
    assert diff_exit_code(_diff(OLD[:1], NEW[:1])) == 1
    assert diff_exit_code(_diff([host_obj("h")], [host_obj("h", status="closed")])) == 1
    assert diff_exit_code(_diff([host_obj("h")], [host_obj("h"), host_obj("i")])) == 1
    assert diff_exit_code(_diff([host_obj("h"), host_obj("i")], [host_obj("h")])) == 1


def test_exit_code_for_http_depends_on_required_ports() -> None:
    old = [
        host_obj("192.0.2.10", http=[{"port": 6002, "interface": "rfr", "status": "ncacn_http"}])
    ]
    new = [host_obj("192.0.2.10", http=[{"port": 6002, "interface": "rfr", "status": "closed"}])]
    diff = _diff(old, new)
    assert diff_exit_code(diff) == 1  # no policy: any HTTP change counts
    not_required = Policy.from_expectations(require_http=[6001])
    assert diff_exit_code(diff, not_required) == 0
    required = parse_policy('[[group]]\nservers = ["192.0.2.0/24"]\nrequire_http = [6002]\n')
    assert diff_exit_code(diff, required) == 1


def test_load_saved_accepts_document_envelope_and_jsonl(tmp_path: Path) -> None:
    document = tmp_path / "scan.json"
    document.write_text(json.dumps({"schema": 1, "hosts": OLD, "summary": {"hosts": 4}}))
    stream = tmp_path / "scan.jsonl"
    lines = [json.dumps(h) for h in OLD] + [json.dumps({"type": "summary", "hosts": 4}), ""]
    stream.write_text("\n".join(lines))
    from_document = load_saved(document)
    assert load_saved(stream) == from_document
    assert [h.host.target for h in from_document] == [h["target"] for h in OLD]
    single = tmp_path / "one.json"
    single.write_text(json.dumps(OLD[0]))
    assert load_saved(single) == from_document[:1]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"target": "a", "status": "ok"}\n{oops\n', "x.json:2: not JSON or JSONL"),
        ('{"summary": 1}', "x.json: no host results found"),
        ('[{"target": "a", "status": "ok", "endpoints": [{"port": "x"}]}]', "malformed"),
    ],
)
def test_parse_saved_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_saved_run(text, "x.json")


def test_load_saved_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read"):
        load_saved(tmp_path / "absent.json")
