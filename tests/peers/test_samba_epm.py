"""epmscan against Samba's real endpoint mapper (Debian's samba-dcerpcd, standalone).

The expectation never comes from epmscan: it comes from impacket's NDR decoding of the same
server's answers (walked so that the final batch is kept), from Samba's own ``rpcclient``, from
the sockets samba-dcerpcd holds (``/proc``), and from the facts recorded for Samba 4.17 in
``fixtures/captures/samba-4.17-standalone-epm.md``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from epmscan.models import BindOutcome, InterfaceId
from tests.peers.endpoint_keys import epmscan_keys, impacket_keys, interfaces, rpcclient_keys
from tests.support.bind import bind_once
from tests.support.cli import CliRun, dump_json
from tests.support.impacket_peer import (
    RawLookup,
    find_rpcdump,
    hept_lookup,
    raw_lookup,
    run_rpcdump,
)
from tests.support.loopback import can_bind
from tests.support.samba import EPM_PORT, SambaEpm, find_rpcclient, rpcclient_epmlookup

pytestmark = pytest.mark.peer

EPT_S_NOT_REGISTERED = 0x16C9A0D6
SAMBA_417_INTERFACES = 15
SAMBA_417_TOWERS = 38


def test_samba_listens_only_on_its_own_loopback_address(samba_epm: SambaEpm) -> None:
    listening = samba_epm.listening()
    assert (samba_epm.address, EPM_PORT) in listening
    assert {address for address, _ in listening} == {samba_epm.address}


def test_dump_lists_every_tower_samba_sends(
    samba_epm: SambaEpm, samba_dump: dict[str, Any], samba_reference: RawLookup
) -> None:
    ours = epmscan_keys(samba_dump)
    reference = impacket_keys(samba_reference.towers, samba_epm.address)
    assert len(reference) > 0
    assert ours == reference
    assert interfaces(ours) == interfaces(reference)
    # Samba ends the walk with ept_s_not_registered on the batch that carries entries.
    assert samba_reference.pages[-1][1] == EPT_S_NOT_REGISTERED
    assert samba_dump["lookup_status"] == f"0x{EPT_S_NOT_REGISTERED:08x}"


def test_dump_matches_recorded_samba_417_facts(
    samba_epm: SambaEpm, samba_dump: dict[str, Any]
) -> None:
    if samba_epm.version is None or samba_epm.version[:2] != (4, 17):
        pytest.skip(f"facts recorded for Samba 4.17; this is {samba_epm.version}")
    endpoints = samba_dump["endpoints"]
    assert len(endpoints) == SAMBA_417_TOWERS
    assert len({(e["uuid"], e["version"]) for e in endpoints}) == SAMBA_417_INTERFACES
    assert {e["transport"] for e in endpoints} == {
        "ncacn_np",
        "ncacn_ip_tcp",
        "ncacn_http",
        "ncalrpc",
    }


def test_dump_holds_everything_samba_rpcclient_prints(
    samba_epm: SambaEpm, samba_dump: dict[str, Any]
) -> None:
    rpcclient = find_rpcclient()
    if rpcclient is None:
        pytest.skip("rpcclient not installed (Debian package: smbclient)")
    printed = rpcclient_keys(rpcclient_epmlookup(rpcclient, samba_epm.address), samba_epm.address)
    ours = epmscan_keys(samba_dump)
    assert printed - ours == {}, "towers rpcclient prints that epmscan lacks"
    assert interfaces(printed) == interfaces(ours)
    # rpcclient drops the entry that comes with the final status: at most one fewer.
    assert 0 <= sum(ours.values()) - sum(printed.values()) <= 1


@pytest.mark.parametrize("max_ents", [1, 10])
def test_paged_dump_gets_the_same_list_in_the_same_pages(
    samba_epm: SambaEpm, samba_dump: dict[str, Any], max_ents: int
) -> None:
    paged = dump_json(samba_epm.address, max_ents=max_ents)
    reference = raw_lookup(samba_epm.address, max_ents=max_ents)
    assert epmscan_keys(paged) == epmscan_keys(samba_dump)
    assert paged["lookup_pages"] == len(reference.pages)
    assert paged["lookup_pages"] > 1
    assert paged["lookup_status"] == f"0x{EPT_S_NOT_REGISTERED:08x}"


def test_every_advertised_tcp_port_is_one_samba_listens_on(
    samba_epm: SambaEpm, samba_dump: dict[str, Any]
) -> None:
    advertised = {
        (e["address"], e["port"])
        for e in samba_dump["endpoints"]
        if e["transport"] == "ncacn_ip_tcp"
    }
    assert advertised == samba_epm.listening()
    for e in samba_dump["endpoints"]:
        if e["transport"] == "ncacn_ip_tcp":
            assert e["binding"] == f"ncacn_ip_tcp:{samba_epm.address}[{e['port']}]"


def _interface(endpoint: dict[str, Any]) -> InterfaceId:
    major, minor = (int(part) for part in endpoint["version"].split("."))
    return InterfaceId(endpoint["uuid"], major, minor)


def test_samba_accepts_a_bind_for_each_interface_on_its_advertised_port(
    samba_dump: dict[str, Any],
) -> None:
    tcp = [e for e in samba_dump["endpoints"] if e["transport"] == "ncacn_ip_tcp"]
    assert tcp
    for endpoint in tcp:
        ack = bind_once(endpoint["address"], endpoint["port"], _interface(endpoint))
        assert getattr(ack, "accepted", False), f"{endpoint['binding']} {endpoint['uuid']}: {ack}"


def test_samba_rejects_a_bind_for_an_interface_on_a_port_that_does_not_serve_it(
    samba_dump: dict[str, Any],
) -> None:
    tcp = [e for e in samba_dump["endpoints"] if e["transport"] == "ncacn_ip_tcp"]
    ports_of: dict[tuple[str, str], set[int]] = {}
    for e in tcp:
        ports_of.setdefault((e["uuid"], e["version"]), set()).add(e["port"])
    mismatch = next(
        (
            (e, other)
            for e in tcp
            for other in tcp
            if other["port"] not in ports_of[(e["uuid"], e["version"])]
        ),
        None,
    )
    if mismatch is None:
        pytest.skip("every interface is served on every advertised port")
    endpoint, elsewhere = mismatch
    ack = bind_once(elsewhere["address"], elsewhere["port"], _interface(endpoint))
    assert not getattr(ack, "accepted", True)
    results = getattr(ack, "results", ())
    assert results and results[0].outcome is BindOutcome.PROVIDER_REJECTION


def test_impacket_hept_lookup_loses_the_list_that_epmscan_gets(
    samba_epm: SambaEpm, samba_dump: dict[str, Any], samba_reference: RawLookup
) -> None:
    from impacket.dcerpc.v5.rpcrt import DCERPCException

    try:
        seen_by_impacket = len(hept_lookup(samba_epm.address))
    except DCERPCException as exc:
        assert exc.get_error_code() == EPT_S_NOT_REGISTERED
        seen_by_impacket = 0
    assert seen_by_impacket < len(samba_reference.towers)
    assert len(samba_dump["endpoints"]) == len(samba_reference.towers)


def test_impacket_rpcdump_reports_no_endpoints_where_epmscan_lists_them(
    samba_epm: SambaEpm, samba_dump: dict[str, Any]
) -> None:
    rpcdump = find_rpcdump()
    if rpcdump is None:
        pytest.skip("impacket's rpcdump.py script not found")
    run = run_rpcdump(rpcdump, samba_epm.address)
    assert "No endpoints found" in run.output, run.output
    assert run.blocks == ()
    assert len(samba_dump["endpoints"]) > 0


def test_dump_of_a_port_where_samba_does_not_listen_says_closed(
    samba_epm: SambaEpm, epmscan: Callable[..., CliRun]
) -> None:
    port = next(p for p in range(136, 200) if can_bind(samba_epm.address, p))
    run = epmscan("dump", samba_epm.address, "--port", str(port), "--timeout", "5", "--json")
    assert run.returncode == 1, run.describe()
    result = run.json()
    assert (result["status"], result["port"], result["endpoints"]) == ("closed", port, [])
    assert result["error"]


def test_scan_findings_call_samba_standalone_a_file_server_with_a_spooler(
    samba_epm: SambaEpm, epmscan: Callable[..., CliRun]
) -> None:
    run = epmscan(
        "scan", samba_epm.address, "--verify", "--jsonl", "-", "--no-progress", "--fail-on", "none"
    )
    assert run.returncode == 0, run.describe()
    host = json.loads(run.stdout.splitlines()[1])
    roles = {r["role"]: r for r in host["security"]["roles"]}
    assert roles["file_server"]["confidence"] == "high"
    assert "ms-fsrvp" in roles["file_server"]["evidence"]
    assert "domain_controller" not in roles
    findings = {f["code"]: f for f in host["security"]["findings"]}
    assert findings["epm.anonymous"]["severity"] == "info"
    spooler = findings["coercion.ms-rprn"]
    assert [r["endpoint"] for r in spooler["reachable"]] == ["\\pipe\\spoolss"]
    # Every advertised TCP port of a catalogued interface accepts its bind on Samba.
    tcp = [r for f in findings.values() for r in f["reachable"] if r["transport"] == "ncacn_ip_tcp"]
    assert tcp and all(r["verify"] == "bound" for r in tcp), tcp
