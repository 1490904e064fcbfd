"""`epmscan dump` and `dump --json` against each lab profile, and its failure statuses."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from epmscan.lab import LabThread
from epmscan.lab.config import parse_lab
from epmscan.lab.server import Lab
from tests.support.cli import cli_env, run_cli
from tests.support.lab import running_lab
from tests.support.loopback import free_address, free_port

EPM_PORT = free_port(["127.0.0.1"])
PROFILES = (
    "exchange2010-cas-dynamic",
    "exchange2010-cas-static",
    "exchange2010-mailbox-pf",
    "windows-member",
)
HOSTS = {profile: f"127.66.0.{i + 1}" for i, profile in enumerate(PROFILES)}
SAMBA_STYLE = "127.66.0.10"
SILENT = "127.66.0.11"
ENDPOINT_FIELDS = {
    "uuid",
    "version",
    "name",
    "annotation",
    "transport",
    "address",
    "port",
    "binding",
}


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    hosts: list[dict[str, object]] = [
        {"address": address, "profile": profile} for profile, address in HOSTS.items()
    ]
    hosts.append({"address": SAMBA_STYLE, "profile": "windows-member", "paging": "samba"})
    hosts.append({"address": SILENT, "profile": "windows-member", "silent_epm": True})
    config = parse_lab({"lab": {"epm_port": EPM_PORT, "seed": 11}, "hosts": hosts}, "dump lab")
    with LabThread(config) as running:
        yield running


def registered(lab: Lab, address: str) -> set[tuple[str, str, str, int | None]]:
    plan = lab.host(address).plan
    return {(e.interface.uuid, e.interface.version, e.transport, e.port) for e in plan.entries}


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("max_ents", [500, 7])
def test_dump_json_lists_exactly_what_the_lab_registered(
    lab: Lab, profile: str, max_ents: int
) -> None:
    address = HOSTS[profile]
    run = run_cli("dump", address, "--port", str(EPM_PORT), "--json", "--max-ents", str(max_ents))
    assert run.returncode == 0, run.describe()
    data = run.json()
    assert (data["target"], data["port"], data["status"], data["error"]) == (
        address,
        EPM_PORT,
        "ok",
        None,
    )
    endpoints = data["endpoints"]
    assert all(set(e) >= ENDPOINT_FIELDS for e in endpoints)
    got = {(e["uuid"], e["version"], e["transport"], e["port"]) for e in endpoints}
    assert got == registered(lab, address)
    assert len(endpoints) == len(lab.host(address).plan.entries)
    expected_pages = -(-len(endpoints) // max_ents)
    assert data["lookup_pages"] == expected_pages


def test_dump_console_groups_by_interface(lab: Lab) -> None:
    address = HOSTS["exchange2010-cas-static"]
    run = run_cli("dump", address, "--port", str(EPM_PORT), "--table", "--width", "200")
    assert run.returncode == 0, run.describe()
    assert "a4f1db00-ca47-1067-b31f-00dd010662da" in run.stdout
    assert "v0.81" in run.stdout and "[MS-OXCRPC]" in run.stdout
    assert f"ncacn_ip_tcp:{address}[60001]" in run.stdout
    assert f"ncacn_http:{address}[6001]" in run.stdout
    assert "\\pipe\\lsass" in run.stdout
    assert "ncalrpc:[epmapper]" in run.stdout  # data is never read as console markup
    interfaces = len({e.interface for e in lab.host(address).plan.entries})
    assert f"{interfaces} interfaces" in run.stdout


def test_samba_style_paging_keeps_the_last_batch(lab: Lab) -> None:
    run = run_cli("dump", SAMBA_STYLE, "--port", str(EPM_PORT), "--json", "--max-ents", "10")
    assert run.returncode == 0, run.describe()
    data = run.json()
    assert data["lookup_status"] == "0x16c9a0d6"
    assert len(data["endpoints"]) == len(lab.host(SAMBA_STYLE).plan.entries)


def test_impacket_decoder_gives_the_same_dump(lab: Lab) -> None:
    address = HOSTS["exchange2010-cas-dynamic"]
    fast = run_cli("dump", address, "--port", str(EPM_PORT), "--json").json()
    slow = run_cli("dump", address, "--port", str(EPM_PORT), "--json", "--decoder", "impacket")
    assert slow.returncode == 0, slow.describe()
    assert slow.json()["endpoints"] == fast["endpoints"]


@pytest.mark.parametrize(
    ("address", "port", "status", "reason"),
    [
        ("127.66.0.99", EPM_PORT, "closed", "connection refused"),  # nothing listens there
        (SILENT, EPM_PORT, "timeout", "no answer"),
        # The MAPI port answers DCE/RPC but does not serve the endpoint mapper interface.
        (HOSTS["exchange2010-cas-static"], 60001, "bind_rejected", "abstract_syntax"),
    ],
)
def test_failures_exit_1_with_a_status(
    lab: Lab, address: str, port: int, status: str, reason: str
) -> None:
    run = run_cli("dump", address, "--port", str(port), "--json", "--timeout", "0.5")
    assert run.returncode == 1, run.describe()
    data = run.json()
    assert data["status"] == status
    assert reason in data["error"]
    assert run.stderr.strip().count("\n") == 0 and status in run.stderr


def test_usage_errors_exit_2() -> None:
    assert run_cli("dump").returncode == 2
    assert run_cli("dump", "127.0.0.1", "--port", "70000").returncode == 2
    bad = run_cli("dump", "127.0.0.1", "--decoder", "fastest")
    assert bad.returncode == 2 and "--decoder" in bad.stderr


def test_dump_piped_is_one_endpoint_per_line(lab: Lab) -> None:
    address = HOSTS["exchange2010-cas-static"]
    run = run_cli("dump", address, "--port", str(EPM_PORT))
    assert run.returncode == 0, run.describe()
    lines = run.stdout.splitlines()
    assert lines[0].startswith(f"# {address} port {EPM_PORT}: ok")
    assert lines[1].split("\t") == ["binding", "uuid", "version", "name", "annotation", "provider"]
    (emsmdb,) = [line for line in lines if "EMSMDB (MAPI)" in line and "ncacn_ip_tcp" in line]
    assert emsmdb.split("\t")[:3] == [
        f"ncacn_ip_tcp:{address}[60001]",
        "a4f1db00-ca47-1067-b31f-00dd010662da",
        "0.81",
    ]
    assert len(lines) - 2 == len(lab.host(address).plan.entries)
    assert not any(ch in run.stdout for ch in "┃│┏━…")


def test_ctrl_c_during_a_dump_says_so_and_exits_130() -> None:
    address = free_address("127.113.2.10", (60001, 60002, 6001, 6002, 6004))
    port = free_port([address])
    with running_lab("exchange2010-cas-static", address, port, filtered_epm=True):
        process = subprocess.Popen(
            [sys.executable, "-m", "epmscan", "dump", address, "-p", str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli_env(),
        )
        time.sleep(2.0)  # started, and waiting for an answer that never comes
        assert process.poll() is None
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 130, err
    assert out == ""
    assert err == f"epmscan: {address}: interrupted before the dump ended (nothing to show)\n"
