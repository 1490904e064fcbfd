"""Lab files: what parses, and the one-line error for each way a file can be wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from epmscan.errors import LabConfigError, UsageError
from epmscan.lab import load_lab_file, parse_lab, single_host_lab

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "labs"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lab.toml"
    path.write_text(text)
    return path


HOST = '[[hosts]]\naddress = "127.9.0.1"\nprofile = "exchange2010-cas-static"\n'


def test_exchange_site_fixture_parses_with_its_overrides() -> None:
    config = load_lab_file(FIXTURES / "exchange-site.toml")
    by_name = {host.name: host for host in config.hosts}
    assert len(config.hosts) == 7
    assert config.epm_port == 135
    assert by_name["EXCAS02"].ports == {"mapi": 6123}
    assert by_name["EXCAS02"].http_closed == {6004}
    assert by_name["EXCAS04"].silent_ports == {60001}
    assert by_name["FILE01"].paging == "samba"
    assert by_name["FILE02"].down
    assert by_name["EXMBX01"].profile.name == "exchange2010-mailbox-pf"
    assert not by_name["EXCAS01"].down and by_name["EXCAS01"].paging == "windows"


def test_wildcard_fixture_parses() -> None:
    config = load_lab_file(FIXTURES / "wildcard-1000.toml")
    assert config.hosts == ()
    assert config.wildcard is not None
    assert str(config.wildcard.network) == "127.77.0.0/16"
    assert config.wildcard.live == 1000
    assert [p.name for p in config.wildcard.profiles] == [
        "exchange2010-cas-static",
        "exchange2010-cas-dynamic",
        "windows-member",
    ]


def test_defaults_come_from_the_profile(tmp_path: Path) -> None:
    config = load_lab_file(write(tmp_path, HOST))
    (host,) = config.hosts
    assert host.name == "EXCAS-0-1"
    assert host.paging == "windows"
    assert not host.zero_address_towers and not host.down and not host.silent_epm
    assert config.port_offset == 0 and config.epm_port == 135


def test_single_host_lab_takes_host_overrides() -> None:
    config = single_host_lab(
        "windows-member",
        "127.9.0.2",
        epm_port=13135,
        paging="samba-dc",
        zero_address_towers=True,
        ports={"lsarpc": 5000},
    )
    (host,) = config.hosts
    assert (config.epm_port, host.paging, host.zero_address_towers) == (13135, "samba-dc", True)
    assert host.ports == {"lsarpc": 5000}


def test_with_ports_replaces_and_validates() -> None:
    config = single_host_lab("exchange2010-cas-static", "127.9.0.3")
    assert config.with_ports(epm_port=14135).epm_port == 14135
    assert config.with_ports(port_offset=10).port_offset == 10
    with pytest.raises(LabConfigError, match="port_offset"):
        config.with_ports(port_offset=6000)  # 60002 + 6000 > 65535


BAD_FILES = [
    ("[lab]\nepm_port = 70000\n" + HOST, "lab.epm_port", "out of range"),
    ('[lab]\nepm_port = "x"\n' + HOST, "lab.epm_port", "must be an integer"),
    ("[lab]\ncolour = 1\n" + HOST, "lab.colour", "unknown key"),
    ("[labs]\n" + HOST, "labs", "unknown key"),
    (HOST + 'flavour = "x"\n', "hosts[0].flavour", "unknown key"),
    (
        HOST.replace("exchange2010-cas-static", "exchange2013"),
        "hosts[0].profile",
        "unknown profile 'exchange2013'",
    ),
    (HOST.replace("127.9.0.1", "127.9.0.300"), "hosts[0].address", "not an IP address"),
    (HOST.replace("127.9.0.1", "192.0.2.5"), "hosts[0].address", "not a loopback address"),
    (HOST.replace('address = "127.9.0.1"\n', ""), "hosts[0].address", "is required"),
    (HOST + "ports = { mapi = 70000 }\n", "hosts[0].ports.mapi", "not a port"),
    (HOST + "ports = { drsuapi = 6000 }\n", "hosts[0].ports.drsuapi", "serves no such interface"),
    (HOST + "ports = { winreg = 6000 }\n", "hosts[0].ports.winreg", "serves no such interface"),
    (HOST + "ports = 6000\n", "hosts[0].ports", "must be a table"),
    (HOST + "http_closed = [6003]\n", "hosts[0].http_closed", "not an RPC over HTTP port"),
    (HOST + "http_closed = [0]\n", "hosts[0].http_closed[0]", "not a port"),
    (HOST + "silent_ports = [12345]\n", "hosts[0].silent_ports", "not a static port"),
    (HOST + "filtered_ports = [12345]\n", "hosts[0].filtered_ports", "not a static port"),
    (HOST + "foreign_ports = [12345]\n", "hosts[0].foreign_ports", "not a static port"),
    (HOST + 'filtered_epm = "yes"\n', "hosts[0].filtered_epm", "must be true or false"),
    (
        HOST + 'http_banners = { 6003 = "x" }\n',
        "hosts[0].http_banners.6003",
        "not an RPC over HTTP port",
    ),
    (HOST + "http_banners = { 6001 = 5 }\n", "hosts[0].http_banners.6001", "non-empty string"),
    (HOST + 'http_banners = "x"\n', "hosts[0].http_banners", "must be a table"),
    (HOST + 'paging = "linux"\n', "hosts[0].paging", "not one of windows, samba, samba-dc"),
    (HOST + 'down = "yes"\n', "hosts[0].down", "must be true or false"),
    (HOST + 'name = "A-NAME-LONGER-THAN-15"\n', "hosts[0].name", "NetBIOS name"),
    (HOST + HOST, "hosts[1].address", "already used by hosts[0]"),
    ("[lab]\nport_offset = 6000\n" + HOST, "lab.port_offset", "past 65535"),
    ("[lab]\n", "hosts", "no hosts"),
    ('[wildcard]\nhosts = "10.0.0.0/16"\n', "wildcard.hosts", "not inside 127.0.0.0/8"),
    ('[wildcard]\nhosts = "127.7.0.1/16"\n', "wildcard.hosts", "not a network"),
    ('[wildcard]\nhosts = "127.7.0.0/24"\nlive = 300\n', "wildcard.live", "out of range 0..254"),
    (
        '[wildcard]\nhosts = "127.7.0.0/24"\nprofiles = ["nope"]\n',
        "wildcard.profiles[0]",
        "unknown profile",
    ),
    ('[wildcard]\nhosts = "127.7.0.0/24"\nrate = 1\n', "wildcard.rate", "unknown key"),
    ('[wildcard]\nhosts = "127.7.0.0/24"\n' + HOST, "wildcard", "not both"),
    ("hosts = 5\n", "hosts", "array of tables"),
    ("[lab]\nany_address = 1\n" + HOST, "lab.any_address", "must be true or false"),
    (HOST.replace("127.9.0.1", "2001:db8::5"), "hosts[0].address", "not a loopback address"),
    (HOST + "delay = -1\n", "hosts[0].delay", "out of range 0..60"),
    (HOST + "delay = 61\n", "hosts[0].delay", "out of range 0..60"),
    (HOST + 'delay = "slow"\n', "hosts[0].delay", "must be a number"),
    (HOST + "delay_ms = 60001\n", "hosts[0].delay_ms", "out of range 0..60000"),
    (HOST + "delay = 1\ndelay_ms = 5\n", "hosts[0].delay_ms", "not both"),
]


@pytest.mark.parametrize(("text", "key", "message"), BAD_FILES)
def test_bad_lab_file_names_file_and_key(tmp_path: Path, text: str, key: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(LabConfigError) as caught:
        load_lab_file(path)
    line = str(caught.value)
    assert "\n" not in line
    assert line.startswith(f"{path}: {key}: "), line
    assert message in line


def test_lab_config_error_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        load_lab_file(write(tmp_path, "[lab]\n"))


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LabConfigError, match=r"lab\.toml: not valid TOML"):
        load_lab_file(write(tmp_path, "[[hosts]\n"))
    with pytest.raises(LabConfigError, match=r"missing\.toml: cannot read"):
        load_lab_file(tmp_path / "missing.toml")


def test_parse_lab_names_its_source() -> None:
    with pytest.raises(LabConfigError, match=r"^inline: hosts: "):
        parse_lab({}, "inline")


def test_other_addresses_need_the_any_address_opt_in(tmp_path: Path) -> None:
    text = HOST.replace("127.9.0.1", "10.77.3.4")
    with pytest.raises(LabConfigError, match=r"not a loopback address.*any_address = true"):
        load_lab_file(write(tmp_path, text))
    from_key = load_lab_file(write(tmp_path, "[lab]\nany_address = true\n" + text))
    assert from_key.any_address and from_key.hosts[0].address == "10.77.3.4"
    from_caller = load_lab_file(write(tmp_path, text), any_address=True)
    assert from_caller.any_address and from_caller.hosts[0].address == "10.77.3.4"
    assert not load_lab_file(write(tmp_path, HOST)).any_address
    single = single_host_lab("windows-member", "10.77.3.5", any_address=True)
    assert single.hosts[0].address == "10.77.3.5"
    with pytest.raises(LabConfigError, match=r"^--profile: hosts\[0\]\.address: "):
        single_host_lab("windows-member", "10.77.3.5")
    wildcard = '[wildcard]\nhosts = "10.77.0.0/24"\nlive = 3\n'
    with pytest.raises(LabConfigError, match=r"not inside 127\.0\.0\.0/8"):
        parse_lab({"wildcard": {"hosts": "10.77.0.0/24", "live": 3}})
    assert load_lab_file(write(tmp_path, wildcard), any_address=True).wildcard is not None


def test_delay_in_seconds_or_milliseconds(tmp_path: Path) -> None:
    assert load_lab_file(write(tmp_path, HOST)).hosts[0].delay == 0.0
    assert load_lab_file(write(tmp_path, HOST + "delay = 0.8\n")).hosts[0].delay == 0.8
    assert load_lab_file(write(tmp_path, HOST + "delay = 2\n")).hosts[0].delay == 2.0
    in_ms = load_lab_file(write(tmp_path, HOST + "delay_ms = 250\n")).hosts[0].delay
    assert in_ms == pytest.approx(0.25)
    assert single_host_lab("windows-member", "127.9.0.4", delay=0.1).hosts[0].delay == 0.1
