"""``scan --inventory`` against Debian's ``samba-dcerpcd``: a real server's management interface.

Samba answers ``rpc_mgmt_inq_if_ids`` on each of its ports. What epmscan reports for each
port must be what impacket's ``rpcmap.py`` lists there (less the management interface, which
rpcmap adds itself); Samba registers everything it serves, so nothing is unregistered.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.cli import jsonl_hosts, run_cli
from tests.support.impacket_peer import find_rpcmap, run_rpcmap
from tests.support.loopback import can_bind
from tests.support.samba import EPM_PORT, SambaEpm, find_samba_dcerpcd, start_samba_epm
from tests.support.skips import require_root

pytestmark = pytest.mark.peer

MGMT = ("afa8bd80-7d8a-11c9-bef4-08002b102989", "1.0")


@pytest.fixture(scope="module")
def samba(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SambaEpm]:
    binary = find_samba_dcerpcd()
    if binary is None:
        pytest.skip("samba-dcerpcd not installed (Debian package: samba)")
    require_root("samba-dcerpcd listens on port 135")
    address = next(a for a in (f"127.111.3.{i}" for i in range(1, 200)) if can_bind(a, EPM_PORT))
    server = start_samba_epm(binary, tmp_path_factory.mktemp("samba-inventory"), address)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def inventory(samba: SambaEpm) -> dict[str, Any]:
    run = run_cli("scan", samba.address, "--inventory", "--jsonl", "-", "--no-progress")
    assert run.returncode == 0, run.describe()
    (host,) = jsonl_hosts(run.stdout)
    assert host["status"] == "ok", host
    return host


def test_every_port_answers_the_management_interface(
    samba: SambaEpm, inventory: dict[str, Any]
) -> None:
    ports = [port["port"] for port in inventory["inventory"]]
    assert ports == sorted(port for _, port in samba.listening())
    for port in inventory["inventory"]:
        assert (port["status"], port["method"], port["mgmt_error"]) == ("ok", "mgmt", None), port
        assert port["interfaces"], port
    assert all(e["registered"] for e in inventory["endpoints"])


def test_rpcmap_lists_the_same_interfaces_on_each_port(
    samba: SambaEpm, inventory: dict[str, Any]
) -> None:
    rpcmap = find_rpcmap()
    if rpcmap is None:
        pytest.skip("impacket's rpcmap.py script not found")
    for port in inventory["inventory"]:
        run = run_rpcmap(rpcmap, samba.address, port["port"])
        assert not run.brute_forced, run.output
        ours = {(i["uuid"], i["version"]) for i in port["interfaces"]}
        assert run.interfaces - {MGMT} == ours, f"port {port['port']}:\n{run.output}"
