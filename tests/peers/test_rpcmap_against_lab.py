"""impacket's own ``rpcmap.py`` against the lab: the same interfaces per port as ``--inventory``.

rpcmap.py is an independent client (impacket's transport, bind and NDR decoding of
``rpc_mgmt_inq_if_ids``). On a lab host that answers the management interface and serves
interfaces it never registered, rpcmap's list for each port (less the management
interface, which it adds itself) is exactly what ``epmscan scan --inventory`` reports for
that port. On a host that refuses the management interface's bind, rpcmap brute-forces
its own list of UUIDs; what epmscan's fallback finds is what rpcmap finds among epmscan's
candidates. Where the call is denied (``rpc_s_access_denied``, as ``RestrictRemoteClients``
does), rpcmap 0.13.1 stops with that error (its "no credentials given" test compares the
hashes, None when not given, with '' and so never holds) while epmscan binds its candidates.
rpcmap speaks to any port, so the lab listens on a port of its own: no root needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from epmscan.facts.inventory_candidates import INVENTORY_CANDIDATES
from epmscan.lab import LabThread
from epmscan.lab.config import parse_lab
from epmscan.protocol.constants import MGMT_INTERFACE
from tests.support.cli import jsonl_hosts, run_cli
from tests.support.impacket_peer import find_rpcmap, run_rpcmap
from tests.support.loopback import free_port

pytestmark = pytest.mark.peer

ANSWERS = "127.111.2.1"
REJECTS = "127.111.2.2"
DENIES = "127.111.2.3"
EPM_PORT = free_port([ANSWERS, REJECTS, DENIES])
MGMT = (MGMT_INTERFACE.uuid, MGMT_INTERFACE.version)


@pytest.fixture(scope="module")
def rpcmap() -> str:
    path = find_rpcmap()
    if path is None:
        pytest.skip("impacket's rpcmap.py script not found")
    return path


@pytest.fixture(scope="module")
def inventories() -> Iterator[dict[str, dict[str, Any]]]:
    """``epmscan scan --inventory`` of both lab hosts, by address (their JSON objects)."""
    hosts = [
        {
            "address": ANSWERS,
            "profile": "exchange2010-cas-static",
            "unregistered": ["tsch", "drsuapi@lsarpc", "dnsserver@nspi"],
        },
        {
            "address": REJECTS,
            "profile": "windows-member",
            "unregistered": ["tsch", "drsuapi@lsarpc"],
            "mgmt": "reject",
        },
        {"address": DENIES, "profile": "windows-member", "mgmt": "access_denied"},
    ]
    config = parse_lab({"lab": {"epm_port": EPM_PORT, "seed": 5}, "hosts": hosts}, "rpcmap")
    with LabThread(config):
        run = run_cli(
            "scan", ANSWERS, REJECTS, DENIES, "-p", str(EPM_PORT), "--inventory", "--jsonl", "-",
            "--no-progress",
        )  # fmt: skip
        assert run.returncode == 0, run.describe()
        yield {host["address"]: host for host in jsonl_hosts(run.stdout)}


def per_port(host: dict[str, Any]) -> dict[int, set[tuple[str, str]]]:
    return {
        port["port"]: {(i["uuid"], i["version"]) for i in port["interfaces"]}
        for port in host["inventory"]
    }


def test_rpcmap_lists_what_the_inventory_lists_on_every_port(
    rpcmap: str, inventories: dict[str, dict[str, Any]]
) -> None:
    ours = per_port(inventories[ANSWERS])
    assert len(ours) >= 8
    unregistered = {
        (e["uuid"], e["version"], e["port"])
        for e in inventories[ANSWERS]["endpoints"]
        if not e["registered"]
    }
    assert {item[:2] for item in unregistered} >= {
        ("86d35949-83c9-4044-b424-db363231fd0c", "1.0"),
        ("e3514235-4b06-11d1-ab04-00c04fc2dcd2", "4.0"),
        ("50abc2a4-574d-40b3-9d66-ee4fd5fba076", "5.0"),
    }
    for port, interfaces in ours.items():
        run = run_rpcmap(rpcmap, ANSWERS, port)
        assert not run.brute_forced, run.output
        assert MGMT in run.interfaces, run.output
        assert run.interfaces - {MGMT} == interfaces, f"port {port}:\n{run.output}"


def test_with_the_management_interface_refused_both_find_the_same_candidates(
    rpcmap: str, inventories: dict[str, dict[str, Any]]
) -> None:
    candidates = {(i.uuid, i.version) for i in INVENTORY_CANDIDATES}
    host = inventories[REJECTS]
    assert all(port["method"] == "bind" for port in host["inventory"])
    found_hidden = False
    for port, interfaces in per_port(host).items():
        run = run_rpcmap(rpcmap, REJECTS, port)
        assert run.brute_forced, run.output
        assert interfaces == run.interfaces & candidates, f"port {port}:\n{run.output}"
        found_hidden |= ("86d35949-83c9-4044-b424-db363231fd0c", "1.0") in interfaces
    assert found_hidden


def test_rpcmap_is_denied_where_the_inventory_falls_back(
    rpcmap: str, inventories: dict[str, dict[str, Any]]
) -> None:
    host = inventories[DENIES]
    port = host["inventory"][-1]
    assert port["method"] == "bind"
    assert port["mgmt_error"] == "rpc fault rpc_s_access_denied"
    run = run_rpcmap(rpcmap, DENIES, port["port"])
    assert "rpc_s_access_denied" in run.output, run.output
    assert not run.interfaces
