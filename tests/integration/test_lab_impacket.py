"""impacket's blocking DCE/RPC client against the lab: an independent judge of its bytes."""

from __future__ import annotations

import pytest
from impacket.dcerpc.v5 import epm, transport
from impacket.dcerpc.v5.rpcrt import DCERPCException
from impacket.uuid import uuidtup_to_bin

from epmscan.lab import LabThread, single_host_lab
from epmscan.lab.catalog import CATALOG
from epmscan.protocol.constants import EPT_S_NOT_REGISTERED
from tests.support.loopback import free_port

EPM_PORT = free_port(["127.0.0.1"])


def connect(address: str, port: int) -> transport.DCERPC_v5:
    rpc = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:{address}[{port}]")
    rpc.set_connect_timeout(5)
    dce = rpc.get_dce_rpc()
    dce.connect()
    return dce


def test_impacket_hept_lookup_reads_windows_style_paging() -> None:
    address = "127.61.2.1"
    config = single_host_lab("exchange2010-cas-static", address, epm_port=EPM_PORT)
    with LabThread(config) as lab:
        dce = connect(address, EPM_PORT)
        try:
            entries = epm.hept_lookup(None, dce=dce)
        finally:
            dce.disconnect()
        host = lab.hosts[address]
        assert len(entries) == len(host.plan.entries)
        bindings = {epm.PrintStringBinding(entry["tower"]["Floors"]) for entry in entries}
        assert f"ncacn_ip_tcp:{address}[60001]" in bindings
        assert f"ncacn_http:{address}[6004]" in bindings
        assert r"ncacn_np:\\EXCAS-2-1[\pipe\lsass]" in bindings
        assert "ncalrpc:[samss lpc]" in bindings
        annotations = {entry["annotation"].rstrip(b"\0") for entry in entries}
        assert b"Event log TCPIP" in annotations
        assert host.stats.accepted == 1


def test_impacket_hept_map_finds_mapi() -> None:
    address = "127.61.2.2"
    config = single_host_lab(
        "exchange2010-cas-static", address, epm_port=EPM_PORT, ports={"mapi": 6123}
    )
    mapi = CATALOG["mapi"].interface
    with LabThread(config):
        dce = connect(address, EPM_PORT)
        try:
            binding = epm.hept_map(
                address,
                uuidtup_to_bin((mapi.uuid, mapi.version)),
                protocol="ncacn_ip_tcp",
                dce=dce,
            )
        finally:
            dce.disconnect()
    assert binding == f"ncacn_ip_tcp:{address}[6123]"


def test_impacket_hept_lookup_fails_on_samba_style_paging() -> None:
    """impacket raises on the final 0x16c9a0d6 and drops the entries that came with it.

    That is impacket's bug (Samba sends the same), shown here so the lab's Samba paging
    is known to reproduce it.
    """
    address = "127.61.2.3"
    config = single_host_lab("windows-member", address, epm_port=EPM_PORT, paging="samba")
    with LabThread(config):
        dce = connect(address, EPM_PORT)
        try:
            with pytest.raises(DCERPCException) as caught:
                epm.hept_lookup(None, dce=dce)
        finally:
            dce.disconnect()
    assert caught.value.get_error_code() == EPT_S_NOT_REGISTERED


def test_lab_thread_reports_start_errors() -> None:
    address = "127.61.2.4"
    config = single_host_lab("windows-member", address, epm_port=EPM_PORT)
    with LabThread(config), pytest.raises(Exception, match="cannot listen"), LabThread(config):
        pass
