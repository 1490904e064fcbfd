"""What a run says when its targets are empty or hold addresses no scan can reach."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import jsonl_hosts, run_cli
from tests.support.loopback import free_port


def one_line(run: object) -> str:
    lines = run.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1, run.describe()  # type: ignore[attr-defined]
    return lines[0]


@pytest.mark.parametrize("command", ["scan", "check"])
@pytest.mark.parametrize("target", ["0.0.0.0", "::", "224.0.0.1", "ff02::1/127"])
def test_only_unscannable_targets_are_a_usage_error(command: str, target: str) -> None:
    run = run_cli(command, target, "-p", "1")
    assert run.returncode == 2, run.describe()
    assert "no hosts to scan: every target is an address no scan can reach" in one_line(run)
    assert run.stdout == ""


@pytest.mark.parametrize("command", ["dump", "trace"])
def test_one_host_commands_refuse_them(command: str) -> None:
    run = run_cli(command, "0.0.0.0", "-p", "1")
    assert run.returncode == 2, run.describe()
    assert (
        one_line(run)
        == "epmscan: 0.0.0.0 is the unspecified address, not a host: nothing to connect to"
    )


def test_a_mix_scans_the_rest_and_says_what_it_skipped(tmp_path: Path) -> None:
    port = free_port(["127.0.0.1"])  # nothing listens: the scanned host is closed
    run = run_cli("scan", "0.0.0.0", "127.0.0.1", "239.0.0.0/31", "-p", str(port), "--jsonl", "-")
    assert run.returncode == 0, run.describe()
    assert [h["address"] for h in jsonl_hosts(run.stdout)] == ["127.0.0.1"]
    assert "skipped 3 addresses no scan can reach" in run.stderr


def test_an_empty_list_file_and_everything_excluded(tmp_path: Path) -> None:
    empty = tmp_path / "targets.txt"
    empty.write_text("# nothing yet\n\n")
    run = run_cli("scan", "-iL", str(empty))
    assert run.returncode == 2, run.describe()
    assert (
        one_line(run)
        == f"epmscan: no hosts to scan: {empty} holds no targets (blank lines and # comments only)"
    )
    run = run_cli("scan", "192.0.2.0/30", "--exclude", "192.0.2.0/30")
    assert run.returncode == 2, run.describe()
    assert "leave none of the targets" in one_line(run)


def test_a_policy_without_servers_is_a_usage_error(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("[defaults]\nrequire_http = [6001]\n")
    run = run_cli("check", "--policy", str(policy))
    assert run.returncode == 2, run.describe()
    assert one_line(run).startswith(f"epmscan: {policy}: the policy names no servers")
    saved = tmp_path / "out.json"
    run = run_cli("check", "--policy", str(policy), "--save", str(saved))
    assert run.returncode == 2 and not saved.exists(), run.describe()
