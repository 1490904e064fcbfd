"""Profiles and host plans: each emulated host registers what a real one would."""

from __future__ import annotations

import random

import pytest

from epmscan.errors import LabConfigError
from epmscan.facts.exchange import EXCHANGE_INTERFACES
from epmscan.lab import get_profile, list_profiles, single_host_lab
from epmscan.lab.catalog import CATALOG
from epmscan.lab.config import HostConfig
from epmscan.lab.plan import HostPlan, plan_host, pool_dynamic_chooser, random_dynamic_chooser
from epmscan.models import ExchangeInterface

EXCHANGE_KEYS = {"mapi", "async_mapi", "nspi", "rfr"}
WINDOWS_KEYS = {
    "lsarpc",
    "samr",
    "netlogon",
    "srvsvc",
    "wkssvc",
    "svcctl",
    "eventlog",
    "winreg",
    "spoolss",
    "remote_activation",
    "tsch",
    "atsvc",
    "event_system",
}


def plan(profile: str, address: str = "127.9.1.1", **overrides: object) -> HostPlan:
    config = single_host_lab(profile, address, epm_port=13135, **overrides)
    return plan_host(
        config.hosts[0],
        epm_port=13135,
        port_offset=config.port_offset,
        choose_dynamic=random_dynamic_chooser(lambda port: True),
    )


def keys(host: HostPlan, transport: str | None = None) -> set[str]:
    return {e.key for e in host.entries if transport is None or e.transport == transport}


def test_profile_names_are_exact() -> None:
    assert [p.name for p in list_profiles()] == [
        "exchange2010-cas-dynamic",
        "exchange2010-cas-static",
        "exchange2010-mailbox-pf",
        "windows-member",
        "windows-dc",
        "windows-ca",
        "windows-file-server",
    ]
    with pytest.raises(LabConfigError, match="known: exchange2010-cas-dynamic"):
        get_profile("exchange2016")


def test_every_profile_key_is_in_the_catalogue_once() -> None:
    for profile in list_profiles():
        assert set(profile.interface_keys) <= set(CATALOG)
        assert len(profile.interface_keys) == len(set(profile.interface_keys))


def test_exchange_catalogue_matches_the_protocol_names() -> None:
    for member in ExchangeInterface:
        assert CATALOG[member.value].interface == EXCHANGE_INTERFACES[member]


@pytest.mark.parametrize("profile", [p.name for p in list_profiles()])
def test_every_profile_has_the_windows_interfaces_and_no_dc(profile: str) -> None:
    host = plan(profile)
    assert keys(host) >= WINDOWS_KEYS
    is_dc = profile == "windows-dc"
    assert ("drsuapi" in keys(host)) is is_dc
    assert ("dnsserver" in keys(host)) is is_dc
    tcp_ports = host.tcp_endpoints
    assert tcp_ports["lsarpc"] == tcp_ports["samr"] == tcp_ports["netlogon"]
    assert tcp_ports["tsch"] == tcp_ports["atsvc"]
    assert tcp_ports["svcctl"] != tcp_ports["lsarpc"]
    assert tcp_ports["remote_activation"] == 13135
    assert "winreg" not in tcp_ports  # RemoteRegistry: named pipe only
    assert {"ncacn_ip_tcp", "ncacn_np", "ncalrpc"} <= {e.transport for e in host.entries}


def test_windows_member_has_no_exchange() -> None:
    host = plan("windows-member")
    assert not keys(host) & EXCHANGE_KEYS
    assert host.http_listeners == {}
    assert all(49152 <= port <= 65535 for port in host.tcp_listeners)


def test_cas_static_ports_and_http() -> None:
    host = plan("exchange2010-cas-static")
    assert keys(host) >= EXCHANGE_KEYS
    ports = host.tcp_endpoints
    assert (ports["mapi"], ports["async_mapi"], ports["nspi"], ports["rfr"]) == (
        60001,
        60001,
        60002,
        60002,
    )
    assert host.tcp_listeners[60002] == {CATALOG["nspi"].interface, CATALOG["rfr"].interface}
    assert host.http_listeners == {
        6001: {CATALOG["mapi"].interface, CATALOG["async_mapi"].interface},
        6002: {CATALOG["rfr"].interface},
        6004: {CATALOG["nspi"].interface},
    }
    http = {(e.key, e.port) for e in host.entries if e.transport == "ncacn_http"}
    assert http == {("mapi", 6001), ("async_mapi", 6001), ("rfr", 6002), ("nspi", 6004)}


def test_cas_dynamic_ports_are_in_the_exchange_range_and_distinct_per_process() -> None:
    host = plan("exchange2010-cas-dynamic")
    ports = host.tcp_endpoints
    assert ports["mapi"] == ports["async_mapi"] and ports["nspi"] == ports["rfr"]
    assert ports["mapi"] != ports["nspi"]
    for port in host.tcp_listeners:
        assert 6005 <= port <= 65534
    assert len(host.tcp_listeners) == 8  # 6 Windows processes + MSExchangeRPC + MSExchangeAB


def test_mailbox_pf_serves_mapi_from_the_store_without_address_book() -> None:
    host = plan("exchange2010-mailbox-pf")
    assert "mapi" in keys(host)
    assert not keys(host) & {"nspi", "rfr", "async_mapi"}
    assert host.tcp_endpoints["mapi"] == host.tcp_endpoints["store_admin"] == 60001
    assert set(host.http_listeners) == {6001}


def test_towers_carry_the_address_or_zero_and_netbios_name() -> None:
    host = plan("exchange2010-cas-static", "127.9.1.7", name="EXCAS07")
    tcp = [e for e in host.entries if e.transport == "ncacn_ip_tcp"]
    assert {e.address for e in tcp} == {"127.9.1.7"}
    pipes = [e for e in host.entries if e.transport == "ncacn_np"]
    assert {e.address for e in pipes} == {r"\\EXCAS07"}
    assert r"\pipe\lsass" in {e.endpoint for e in pipes}
    zero = plan("exchange2010-cas-static", zero_address_towers=True)
    assert {e.address for e in zero.entries if e.transport in ("ncacn_ip_tcp", "ncacn_http")} == {
        "0.0.0.0"
    }


def test_plans_are_repeatable_per_seed_and_differ_between_seeds() -> None:
    first = plan("exchange2010-cas-dynamic", seed=4)
    again = plan("exchange2010-cas-dynamic", seed=4)
    other = plan("exchange2010-cas-dynamic", seed=5)
    assert first.tcp_endpoints == again.tcp_endpoints
    assert first.tcp_endpoints != other.tcp_endpoints


def test_dynamic_ports_skip_what_is_not_free() -> None:
    taken = set(plan("windows-member").tcp_listeners)
    config = single_host_lab("windows-member", "127.9.1.1", epm_port=13135)
    moved = plan_host(
        config.hosts[0],
        epm_port=13135,
        port_offset=0,
        choose_dynamic=random_dynamic_chooser(lambda port: port not in taken),
    )
    assert not set(moved.tcp_listeners) & taken


def test_port_override_moves_the_process_and_can_split_it() -> None:
    moved = plan("exchange2010-cas-static", ports={"mapi": 6123})
    assert moved.tcp_endpoints["mapi"] == moved.tcp_endpoints["async_mapi"] == 6123
    assert 60001 not in moved.tcp_listeners
    split = plan("exchange2010-cas-static", ports={"nspi": 60002, "rfr": 60003})
    assert split.tcp_endpoints["nspi"] == 60002 and split.tcp_endpoints["rfr"] == 60003
    assert split.tcp_listeners[60003] == {CATALOG["rfr"].interface}
    dynamic = plan("exchange2010-cas-static", ports={"nspi": "dynamic"})
    assert dynamic.tcp_endpoints["rfr"] == dynamic.tcp_endpoints["nspi"] != 60002


def test_http_closed_stays_advertised_but_does_not_listen() -> None:
    host = plan("exchange2010-cas-static", http_closed=[6004])
    assert set(host.http_listeners) == {6001, 6002}
    assert host.http_advertised == (6001, 6002, 6004)
    assert ("nspi", 6004) in {(e.key, e.port) for e in host.entries if e.transport == "ncacn_http"}


def test_port_offset_shifts_static_ports_not_dynamic_ones() -> None:
    config = single_host_lab("exchange2010-cas-static", "127.9.1.1", port_offset=5000)
    host: HostConfig = config.hosts[0]
    shifted = plan_host(
        host,
        epm_port=135 + 5000,
        port_offset=5000,
        choose_dynamic=random_dynamic_chooser(lambda port: True),
    )
    unshifted = plan("exchange2010-cas-static")
    assert shifted.epm_port == 5135
    assert shifted.tcp_endpoints["mapi"] == 65001
    assert shifted.tcp_endpoints["nspi"] == 65002
    assert set(shifted.http_listeners) == {11001, 11002, 11004}
    assert shifted.tcp_endpoints["lsarpc"] == unshifted.tcp_endpoints["lsarpc"]


def test_silent_ports_and_silent_epm_are_actual_ports() -> None:
    host = plan("exchange2010-cas-static", silent_ports=[60001, 6002], silent_epm=True)
    assert host.silent_ports == {60001, 6002, 13135}


def test_pool_chooser_uses_only_the_pool() -> None:
    pool = (50001, 50002, 50003, 50004, 50005, 50006, 50007, 50008)
    config = single_host_lab("windows-member", "127.9.1.1", epm_port=13135)
    host = plan_host(
        config.hosts[0], epm_port=13135, port_offset=0, choose_dynamic=pool_dynamic_chooser(pool)
    )
    assert set(host.tcp_listeners) <= set(pool)
    assert len(host.tcp_listeners) == 6
    with pytest.raises(OSError, match="exhausted"):
        pool_dynamic_chooser((50001,))(random.Random(1), {50001}, (49152, 65535))


@pytest.mark.parametrize(
    ("profile", "added"),
    [
        ("windows-dc", {"drsuapi", "dssetup", "backupkey", "efsr_lsarpc", "efsrpc", "nspi",
                        "netdfs", "dnsserver"}),
        ("windows-ca", {"icpr"}),
        ("windows-file-server", {"netdfs", "fsrvp"}),
    ],
)  # fmt: skip
def test_server_profiles_are_a_member_plus_their_role(profile: str, added: set[str]) -> None:
    member = keys(plan("windows-member"))
    host = plan(profile)
    assert keys(host) - member == added
    assert member <= keys(host)


def test_the_dc_serves_its_directory_interfaces_in_lsass_on_one_port() -> None:
    host = plan("windows-dc")
    tcp = {e.key: e.port for e in host.entries if e.transport == "ncacn_ip_tcp"}
    assert tcp["drsuapi"] == tcp["lsarpc"] == tcp["netlogon"] == tcp["nspi"]
    pipes = {e.endpoint for e in host.entries if e.key == "efsrpc"}
    assert r"\pipe\efsrpc" in pipes
    assert "efsrpc" not in tcp
