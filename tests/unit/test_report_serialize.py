"""One JSON shape for every output, whichever encoder writes it; saved results load back."""

from __future__ import annotations

import csv
import json
from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from epmscan.errors import UsageError
from epmscan.models import (
    Confidence,
    EndpointRecord,
    ExchangeHostReport,
    ExchangeInterface,
    ExposureFinding,
    Finding,
    HostResult,
    HostRole,
    HostStatus,
    HttpPortProbe,
    HttpProbeStatus,
    IcmpError,
    InferredRole,
    InventoryMethod,
    PortClass,
    PortInventory,
    PortProbeStatus,
    Reachability,
    ResolvedPort,
    Role,
    SecurityHostReport,
    ServedInterface,
    Severity,
)
from epmscan.report import serialize
from epmscan.report.order import address_key
from epmscan.report.saved_results import parse_saved_run
from epmscan.report.writers import SecurityCsvWriter

text = st.text(max_size=12)
maybe_port = st.one_of(st.none(), st.integers(1, 65535))
endpoints = st.builds(
    EndpointRecord,
    uuid=text,
    version=text,
    name=st.one_of(st.none(), text),
    annotation=text,
    transport=st.sampled_from(["ncacn_ip_tcp", "ncacn_np", "ncalrpc", "ncacn_http"]),
    address=st.one_of(st.none(), text),
    port=maybe_port,
    endpoint=st.one_of(st.none(), text),
    binding=text,
    object_uuid=text,
    provider=st.one_of(st.none(), text),
    tower_error=st.one_of(st.none(), text),
    tower_hex=st.one_of(st.none(), st.binary(max_size=40).map(bytes.hex)),
    registered=st.booleans(),
)
port_inventories = st.builds(
    PortInventory,
    port=st.integers(1, 65535),
    status=st.sampled_from(HostStatus),
    method=st.one_of(st.none(), st.sampled_from(InventoryMethod)),
    interfaces=st.lists(
        st.builds(ServedInterface, uuid=text, version=text, registered=st.booleans()), max_size=3
    ).map(tuple),
    error=st.one_of(st.none(), text),
    mgmt_error=st.one_of(st.none(), text),
    candidates=st.integers(0, 100),
)
hosts = st.builds(
    HostResult,
    target=text,
    address=text,
    port=st.integers(1, 65535),
    status=st.sampled_from(HostStatus),
    error=st.one_of(st.none(), text),
    endpoints=st.lists(endpoints, max_size=5).map(tuple),
    elapsed=st.floats(0, 1000, allow_nan=False).map(lambda x: round(x, 6)),
    lookup_pages=st.integers(0, 100),
    lookup_status=st.one_of(st.none(), st.integers(0, 2**32 - 1)),
    fault_status=st.one_of(st.none(), st.integers(0, 2**32 - 1)),
    icmp=st.one_of(
        st.none(),
        st.builds(
            IcmpError,
            type=st.integers(0, 255),
            code=st.integers(0, 255),
            sender=text,
            protocol=st.sampled_from(["icmp", "icmpv6"]),
        ),
    ),
    inventory=st.one_of(st.none(), st.lists(port_inventories, max_size=3).map(tuple)),
)
REPORT_PARTS = dict(
    role=Role.CLIENT_ACCESS,
    group="cas",
    ports=(
        ResolvedPort(
            ExchangeInterface.MAPI,
            "ncacn_ip_tcp",
            60001,
            "both",
            PortProbeStatus.BOUND,
            None,
            PortClass.STATIC_EXPECTED,
            60001,
        ),
    ),
    http=(
        HttpPortProbe(
            6004,
            ExchangeInterface.NSPI,
            HttpProbeStatus.OTHER_SERVICE,
            "HTTP/1.1 400",
            PortProbeStatus.NOT_PROBED,
            None,
        ),
    ),
    findings=(
        Finding(
            Severity.ERROR,
            "h",
            "http6004.other_service",
            "m",
            ExchangeInterface.NSPI,
            "greeting",
            "other",
            "fix it",
        ),
    ),
)


@pytest.fixture(params=["orjson", "stdlib"])
def encoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "stdlib":
        monkeypatch.setattr(serialize, "orjson", None)
    elif serialize.orjson is None:
        pytest.skip("orjson is not installed here")
    return str(request.param)


def test_endpoint_dict_has_every_field() -> None:
    record = EndpointRecord("u", "0.81", None, "", "ncalrpc", None, None, "lsass", "x")
    assert list(serialize.endpoint_to_dict(record)) == [f.name for f in fields(EndpointRecord)]


BROKEN = EndpointRecord(
    uuid="00000000-0000-0000-0000-000000000000",
    version="0.0",
    name=None,
    annotation="x",
    transport="unknown",
    address=None,
    port=None,
    endpoint=None,
    binding="",
    tower_error="tower has no floors",
    tower_hex="0000",
)


def test_a_tower_error_is_the_same_json_from_both_encoders(encoder: str) -> None:
    host = HostResult("192.0.2.7", "192.0.2.7", 135, HostStatus.OK, endpoints=(BROKEN,))
    line = serialize.host_to_json(host)
    assert line == json.dumps(serialize.host_to_dict(host), separators=(",", ":"))
    endpoint = json.loads(line)["endpoints"][0]
    assert (endpoint["tower_error"], endpoint["tower_hex"]) == ("tower has no floors", "0000")


def test_saved_results_read_the_tower_fields_back() -> None:
    host = HostResult("192.0.2.7", "192.0.2.7", 135, HostStatus.OK, endpoints=(BROKEN,))
    saved = parse_saved_run(serialize.host_to_json(host) + "\n", "saved.jsonl")
    assert saved.hosts[0].host.endpoints == (BROKEN,)


@given(host=hosts)
def test_json_line_equals_the_dict_and_loads_back(host: HostResult) -> None:
    for backend in (serialize.orjson, None):
        original, serialize.orjson = serialize.orjson, backend  # type: ignore[assignment]
        try:
            data = json.loads(serialize.host_to_json(host))
        finally:
            serialize.orjson = original  # type: ignore[assignment]
        assert data == serialize.host_to_dict(host)
        assert serialize.host_from_dict(data) == host


def test_exchange_report_round_trip(encoder: str) -> None:
    host = HostResult("cas01", "192.0.2.10", 135, HostStatus.OK)
    report = ExchangeHostReport(host, **REPORT_PARTS)  # type: ignore[arg-type]
    data = json.loads(serialize.exchange_to_json(report))
    assert data == serialize.exchange_to_dict(report)
    assert data["exchange"]["http"][0]["status"] == "other_service"
    assert serialize.exchange_from_dict(data) == report


def test_icmp_detail_is_in_the_host_object(encoder: str) -> None:
    icmp = IcmpError(3, 13, "192.0.2.1")
    host = HostResult(
        "192.0.2.9", "192.0.2.9", 135, HostStatus.UNREACHABLE, "no route to host", icmp=icmp
    )
    data = json.loads(serialize.host_to_json(host))
    assert data["icmp"] == {
        "type": 3,
        "code": 13,
        "sender": "192.0.2.1",
        "protocol": "icmp",
        "description": "ICMP type 3 code 13 (communication administratively prohibited)"
        " from 192.0.2.1",
    }
    assert serialize.host_from_dict(data) == host
    assert (
        json.loads(serialize.host_to_json(HostResult("h", "h", 135, HostStatus.OK)))["icmp"] is None
    )


SECURITY = SecurityHostReport(
    host=HostResult("dc01", "192.0.2.20", 135, HostStatus.OK),
    roles=(
        InferredRole(HostRole.DOMAIN_CONTROLLER, Confidence.HIGH, ("ms-drsr",)),
        InferredRole(HostRole.PRINT_SERVER, Confidence.LOW, ("ms-rprn", "ms-par")),
    ),
    findings=(
        ExposureFinding(Severity.INFO, "192.0.2.20", "epm.anonymous", "listed", why="map"),
        ExposureFinding(
            Severity.CRITICAL,
            "192.0.2.20",
            "coercion.ms-rprn",
            "spooler",
            why="printer bug",
            interface="ms-rprn",
            document="MS-RPRN",
            uuid="12345678-1234-abcd-ef00-0123456789ab",
            version="1.0",
            reachable=(
                Reachability(
                    "ncacn_ip_tcp",
                    "ncacn_ip_tcp:192.0.2.20[49667]",
                    49667,
                    None,
                    True,
                    PortProbeStatus.BOUND,
                    "bind accepted",
                ),
                Reachability(
                    "ncacn_np",
                    "ncacn_np:\\\\DC01[\\PIPE\\spoolss]",
                    None,
                    "\\PIPE\\spoolss",
                    registered=False,
                ),
            ),
            source="https://learn.microsoft.com/",
        ),
    ),
    verified=True,
)


def test_security_report_is_the_same_json_from_both_encoders_and_loads_back(
    encoder: str,
) -> None:
    line = serialize.security_to_json(SECURITY, 3)
    data = json.loads(line)
    assert data == serialize.security_to_dict(SECURITY, 3)
    sec = data["security"]
    assert (sec["catalogue"], sec["verified"], sec["worst"]) == (3, True, "critical")
    assert sec["roles"][1] == {
        "role": "print_server",
        "confidence": "low",
        "evidence": ["ms-rprn", "ms-par"],
    }
    reach = sec["findings"][1]["reachable"]
    assert [(r["verify"], r["registered"]) for r in reach] == [("bound", True), (None, False)]
    assert list(sec["findings"][1]) == [f.name for f in fields(ExposureFinding)]
    assert list(reach[0]) == [f.name for f in fields(Reachability)]
    assert serialize.security_from_dict(data) == SECURITY
    # A host object without the member (a plain scan) loads as a report without findings.
    plain = serialize.security_from_dict(serialize.host_to_dict(SECURITY.host))
    assert (plain.roles, plain.findings, plain.verified) == ((), (), False)


def test_security_csv_has_a_row_per_role_and_per_finding_transport(tmp_path: Path) -> None:
    path = tmp_path / "security.csv"
    writer = SecurityCsvWriter(str(path))
    writer.start({})
    writer.write_host(serialize.security_to_dict(SECURITY), address_key("192.0.2.20", "dc01"))
    failed = HostResult("10.9.9.9", "10.9.9.9", 135, HostStatus.CLOSED, "refused")
    writer.write_host(
        serialize.security_to_dict(SecurityHostReport(failed)), address_key("10.9.9.9", "")
    )
    writer.finish({})
    rows = list(csv.DictReader(path.open()))
    assert [r["kind"] for r in rows] == ["host", "role", "role", "finding", "finding", "finding"]
    assert rows[0]["message"] == "refused"
    assert (rows[1]["code"], rows[1]["interface"], rows[1]["message"]) == (
        "role.domain_controller",
        "ms-drsr",
        "high confidence",
    )
    assert rows[3]["code"] == "epm.anonymous" and rows[3]["transport"] == ""
    tcp, pipe = rows[4], rows[5]
    assert (tcp["severity"], tcp["port"], tcp["registered"], tcp["verify"]) == (
        "critical",
        "49667",
        "true",
        "bound",
    )
    assert (pipe["endpoint"], pipe["registered"], pipe["verify"]) == (
        "\\PIPE\\spoolss",
        "false",
        "",
    )


UNREGISTERED = EndpointRecord(
    uuid="86d35949-83c9-4044-b424-db363231fd0c",
    version="1.0",
    name="[MS-TSCH]: Task Scheduler Service Remoting Protocol",
    annotation="",
    transport="ncacn_ip_tcp",
    address="192.0.2.7",
    port=49670,
    endpoint=None,
    binding="ncacn_ip_tcp:192.0.2.7[49670]",
    registered=False,
)
INVENTORY = (
    PortInventory(
        49670,
        HostStatus.OK,
        InventoryMethod.MGMT,
        (
            ServedInterface("86d35949-83c9-4044-b424-db363231fd0c", "1.0", False),
            ServedInterface("1ff70682-0a51-30e8-076d-740be8cee98b", "1.0", True),
        ),
    ),
    PortInventory(
        49671,
        HostStatus.TIMEOUT,
        InventoryMethod.BIND,
        (),
        "binding x: host deadline of 30 s exceeded",
        "rpc fault rpc_s_access_denied",
        30,
    ),
)


def test_the_inventory_is_the_same_json_from_both_encoders(encoder: str) -> None:
    host = HostResult(
        "192.0.2.7",
        "192.0.2.7",
        135,
        HostStatus.OK,
        endpoints=(BROKEN, UNREGISTERED),
        inventory=INVENTORY,
    )
    line = serialize.host_to_json(host)
    assert line == json.dumps(serialize.host_to_dict(host), separators=(",", ":"))
    data = json.loads(line)
    assert [e["registered"] for e in data["endpoints"]] == [True, False]
    assert data["inventory"][0] == {
        "port": 49670,
        "status": "ok",
        "method": "mgmt",
        "interfaces": [
            {"uuid": "86d35949-83c9-4044-b424-db363231fd0c", "version": "1.0", "registered": False},
            {"uuid": "1ff70682-0a51-30e8-076d-740be8cee98b", "version": "1.0", "registered": True},
        ],
        "error": None,
        "mgmt_error": None,
        "candidates": 0,
    }
    assert data["inventory"][1]["method"] == "bind"
    no_inventory = json.loads(serialize.host_to_json(HostResult("h", "h", 135, HostStatus.OK)))
    assert no_inventory["inventory"] is None


def test_saved_results_read_the_inventory_back() -> None:
    host = HostResult(
        "192.0.2.7", "192.0.2.7", 135, HostStatus.OK, endpoints=(UNREGISTERED,), inventory=INVENTORY
    )
    saved = parse_saved_run(serialize.host_to_json(host) + "\n", "saved.jsonl")
    assert saved.hosts[0].host == host


def test_a_result_saved_before_the_inventory_loads_as_registered() -> None:
    data = serialize.host_to_dict(HostResult("h", "h", 135, HostStatus.OK, endpoints=(BROKEN,)))
    del data["inventory"]
    for endpoint in data["endpoints"]:
        del endpoint["registered"]
    saved = parse_saved_run(json.dumps(data), "old.json")
    assert saved.hosts[0].host.inventory is None
    assert saved.hosts[0].host.endpoints[0].registered is True


def test_a_malformed_inventory_is_one_usage_error_line() -> None:
    data = serialize.host_to_dict(HostResult("h", "h", 135, HostStatus.OK, inventory=INVENTORY))
    data["inventory"][0]["method"] = "guess"
    with pytest.raises(UsageError, match=r"^bad.json: host 1 is malformed \("):
        parse_saved_run(json.dumps(data), "bad.json")
