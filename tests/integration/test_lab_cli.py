"""``epmscan lab`` as a user runs it: a foreground process that SIGTERM/SIGINT stops cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import cli_env, run_cli
from tests.support.loopback import free_port, wait_for_listener

EPM_PORT = free_port(["127.0.0.1"])


def start(*args: str, output: Path) -> subprocess.Popen[bytes]:
    with open(output, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "epmscan", "lab", *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=cli_env(),
        )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_lab_runs_until_signalled_and_exits_zero(tmp_path: Path, signum: int) -> None:
    address = "127.61.3.1" if signum == signal.SIGTERM else "127.61.3.2"
    output = tmp_path / "lab.out"
    process = start(
        "--profile",
        "exchange2010-cas-static",
        "--bind",
        address,
        "--epm-port",
        str(EPM_PORT),
        output=output,
    )
    try:
        assert wait_for_listener(address, EPM_PORT, timeout=20), output.read_text()
        assert wait_for_listener(address, 6004, timeout=5)
        assert wait_for_listener(address, 60001, timeout=5)
    finally:
        process.send_signal(signum)
        returncode = process.wait(timeout=20)
    text = output.read_text()
    assert returncode == 0, text
    assert f"{address}" in text and "exchange2010-cas-static" in text
    assert "mapi=60001" in text and "nspi=60002" in text and "http=6001,6002,6004" in text


def test_lab_with_a_config_file(tmp_path: Path) -> None:
    lab_file = tmp_path / "site.toml"
    lab_file.write_text(
        '[[hosts]]\naddress = "127.61.3.3"\nprofile = "exchange2010-mailbox-pf"\nname = "MBX"\n'
        '[[hosts]]\naddress = "127.61.3.4"\nprofile = "windows-member"\ndown = true\n'
    )
    output = tmp_path / "lab.out"
    process = start("--config", str(lab_file), "--epm-port", str(EPM_PORT), output=output)
    try:
        assert wait_for_listener("127.61.3.3", EPM_PORT, timeout=20), output.read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=20)
    text = output.read_text()
    assert returncode == 0, text
    assert "MBX" in text and "mapi=60001" in text
    assert "127.61.3.4" in text and "down" in text


def test_list_profiles() -> None:
    result = run_cli("lab", "--list-profiles")
    assert result.returncode == 0, result.describe()
    for name in (
        "exchange2010-cas-dynamic",
        "exchange2010-cas-static",
        "exchange2010-mailbox-pf",
        "windows-member",
    ):
        assert name in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--profile", "exchange2016"), "unknown profile 'exchange2016'"),
        (("--profile", "windows-member", "--bind", "192.0.2.1"), "not a loopback address"),
        ((), "give --config FILE or --profile NAME"),
        (("--profile", "windows-member", "--paging", "linux"), "not one of windows"),
    ],
)
def test_usage_errors_are_one_line_exit_2(args: tuple[str, ...], message: str) -> None:
    result = run_cli("lab", *args)
    assert result.returncode == 2, result.describe()
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_config_file_names_file_and_key(tmp_path: Path) -> None:
    lab_file = tmp_path / "bad.toml"
    lab_file.write_text('[[hosts]]\naddress = "127.61.3.5"\nprofile = "windows-member"\nx = 1\n')
    result = run_cli("lab", "--config", str(lab_file))
    assert result.returncode == 2, result.describe()
    assert f"{lab_file}: hosts[0].x: unknown key" in result.stderr


def test_an_address_outside_loopback_needs_any_address() -> None:
    refused = run_cli("lab", "--profile", "windows-member", "--bind", "10.77.250.1")
    assert refused.returncode == 2, refused.describe()
    assert refused.stderr.count("\n") == 1
    assert "10.77.250.1 is not a loopback address" in refused.stderr
    assert "--any-address" in refused.stderr
    # accepted with the flag; this machine has no such address, so binding it fails
    accepted = run_cli(
        "lab",
        "--profile",
        "windows-member",
        "--bind",
        "10.77.250.1",
        "--any-address",
        "--epm-port",
        "13135",
    )
    assert accepted.returncode == 2, accepted.describe()
    assert accepted.stderr.count("\n") == 1
    assert "cannot listen on 10.77.250.1 (windows-member)" in accepted.stderr
