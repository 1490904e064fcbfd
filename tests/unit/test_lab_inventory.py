"""The lab's inventory knobs: ``unregistered`` (served, not in the endpoint map) and ``mgmt``
(how the ports treat the management interface): parsing, one-line errors, the plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from epmscan.errors import LabConfigError
from epmscan.lab import load_lab_file, single_host_lab
from epmscan.lab.catalog import CATALOG
from epmscan.lab.plan import HostPlan, plan_host, random_dynamic_chooser

HOST = '[[hosts]]\naddress = "127.111.9.1"\nprofile = "windows-member"\n'


def plan(profile: str = "windows-member", **overrides: object) -> HostPlan:
    config = single_host_lab(profile, "127.111.9.1", epm_port=13135, **overrides)
    return plan_host(
        config.hosts[0],
        epm_port=13135,
        port_offset=config.port_offset,
        choose_dynamic=random_dynamic_chooser(lambda port: True),
    )


def registered_keys(host: HostPlan) -> set[str]:
    return {entry.key for entry in host.entries}


def test_defaults_answer_the_management_interface_and_hide_nothing(tmp_path: Path) -> None:
    path = tmp_path / "lab.toml"
    path.write_text(HOST)
    (host,) = load_lab_file(path).hosts
    assert host.mgmt == "answer"
    assert host.unregistered == {}
    assert plan().unregistered == {}


def test_a_profile_interface_left_out_of_the_map_is_still_served_on_its_port() -> None:
    honest, hidden = plan(), plan(unregistered=["tsch"])
    assert "tsch" in registered_keys(honest)
    assert "tsch" not in registered_keys(hidden)
    port = hidden.tcp_endpoints["tsch"]
    assert hidden.unregistered == {"tsch": port}
    assert CATALOG["tsch"].interface in hidden.tcp_listeners[port]
    assert registered_keys(hidden) == registered_keys(honest) - {"tsch"}
    # its process still registers the rest on the same port
    assert any(e.port == port and e.key == "atsvc" for e in hidden.entries)


def test_a_catalogue_interface_served_beside_a_profile_one() -> None:
    host = plan(unregistered=["drsuapi@lsarpc"])
    port = host.tcp_endpoints["lsarpc"]
    assert host.unregistered == {"drsuapi": port}
    assert CATALOG["drsuapi"].interface in host.tcp_listeners[port]
    assert "drsuapi" not in registered_keys(host)


def test_an_interface_on_the_endpoint_mappers_port() -> None:
    host = plan(unregistered=["remote_activation"])
    assert host.unregistered == {"remote_activation": 13135}
    assert CATALOG["remote_activation"].interface in host.epm_interfaces


def test_a_process_whose_every_interface_is_hidden_listens_unadvertised() -> None:
    host = plan(unregistered=["svcctl"])
    port = host.unregistered["svcctl"]
    assert port in host.listening_ports
    assert all(entry.port != port for entry in host.entries)


@pytest.mark.parametrize("mode", ["answer", "reject", "access_denied"])
def test_mgmt_modes(mode: str) -> None:
    config = single_host_lab("windows-member", "127.111.9.1", mgmt=mode)
    assert config.hosts[0].mgmt == mode


BAD = [
    ('unregistered = "tsch"\n', "hosts[0].unregistered", "must be a list of interface keys"),
    ("unregistered = [5]\n", "hosts[0].unregistered[0]", "must be an interface key"),
    ('unregistered = ["nope"]\n', "hosts[0].unregistered[0]", "unknown interface 'nope'"),
    (
        'unregistered = ["drsuapi"]\n',
        "hosts[0].unregistered[0]",
        "profile windows-member does not serve drsuapi: write drsuapi@KEY",
    ),
    (
        'unregistered = ["winreg"]\n',
        "hosts[0].unregistered[0]",
        "serves winreg on no TCP port",
    ),
    (
        'unregistered = ["tsch@lsarpc"]\n',
        "hosts[0].unregistered[0]",
        "profile windows-member serves tsch itself: write 'tsch'",
    ),
    (
        'unregistered = ["drsuapi@winreg"]\n',
        "hosts[0].unregistered[0]",
        "'winreg' is not an interface profile windows-member serves on TCP",
    ),
    ('unregistered = ["tsch", "tsch"]\n', "hosts[0].unregistered[1]", "tsch is listed twice"),
    ('mgmt = "deny"\n', "hosts[0].mgmt", "'deny' is not one of answer, reject, access_denied"),
    ("mgmt = true\n", "hosts[0].mgmt", "must be a string"),
]


@pytest.mark.parametrize(("text", "key", "message"), BAD)
def test_bad_values_are_one_line_naming_file_and_key(
    tmp_path: Path, text: str, key: str, message: str
) -> None:
    path = tmp_path / "lab.toml"
    path.write_text(HOST + text)
    with pytest.raises(LabConfigError) as caught:
        load_lab_file(path)
    line = str(caught.value)
    assert "\n" not in line
    assert line.startswith(f"{path}: {key}: "), line
    assert message in line
