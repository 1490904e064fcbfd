"""What every command prints and writes, frozen: console, JSON, JSONL, CSV, exit codes.

The commands run as a user runs them (``python -m epmscan`` subprocesses) against a lab
on 127.110.0.0/24: one run of each before a change of the site (lab A), one after
(lab B), then the offline commands (diff, firewall) on what they saved. Each case's
output, normalised by ``tests.support.golden``, must equal its file in ``data/``.
A behaviour change shows up as a change of those files
(``EPMSCAN_UPDATE_GOLDENS=1 python -m pytest tests/golden``), reviewed like code.
"""

from __future__ import annotations

import os
import random
import re
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from epmscan.lab import LabThread
from epmscan.lab.config import parse_lab
from tests.support.cli import cli_env
from tests.support.golden import (
    check_golden,
    console_text,
    csv_text,
    json_text,
    jsonl_text,
    render,
)

NET = "127.110.0"
CAS = "exchange2010-cas-static"
HOSTS_BEFORE: list[dict[str, object]] = [
    {"address": f"{NET}.1", "profile": CAS, "name": "EXCAS01"},
    {"address": f"{NET}.2", "profile": CAS, "name": "EXCAS02", "ports": {"mapi": "dynamic"}},
    {"address": f"{NET}.3", "profile": "windows-member", "name": "MEMBER01"},
    {"address": f"{NET}.4", "profile": CAS, "name": "EXSAMBA", "paging": "samba"},
    {"address": f"{NET}.5", "profile": CAS, "name": "EXDOWN", "down": True},
    {
        "address": f"{NET}.6",
        "profile": "exchange2010-mailbox-pf",
        "name": "EXPF01",
        "filtered_ports": [60001],
    },
    {
        "address": f"{NET}.7",
        "profile": CAS,
        "name": "EXCAS03",
        "http_closed": [6004],
        "http_banners": {"6002": "HTTP/1.1 400 Bad Request"},
    },
]
HOSTS_AFTER: list[dict[str, object]] = [
    {"address": f"{NET}.1", "profile": CAS, "name": "EXCAS01", "silent_ports": [60001]},
    {"address": f"{NET}.2", "profile": CAS, "name": "EXCAS02"},
    {"address": f"{NET}.3", "profile": "windows-member", "name": "MEMBER01", "down": True},
    {"address": f"{NET}.4", "profile": CAS, "name": "EXSAMBA", "paging": "samba"},
    {"address": f"{NET}.5", "profile": CAS, "name": "EXDOWN", "down": True},
    {"address": f"{NET}.6", "profile": "exchange2010-mailbox-pf", "name": "EXPF01"},
    {"address": f"{NET}.7", "profile": CAS, "name": "EXCAS03", "ports": {"mapi": 5123}},
]
TARGETS = f"{NET}.1-7"
PORT_STAND_IN = 99999
EXPECT = "--expect mapi=60001 --expect nspi=60002 --expect rfr=60002"
FAST = "--connect-timeout 0.5 --read-timeout 1.5 --no-progress -c 1"
POLICY = f"""
[[group]]
name = "cas"
role = "client_access"
servers = ["{NET}.1", "{NET}.2", "{NET}.4", "{NET}.7"]
require_http = [6001, 6002, 6004]
allow_dynamic = false
ports = {{ mapi = 60001, nspi = 60002, rfr = 60002 }}

[[group]]
name = "pf"
role = "mailbox_public_folders"
servers = ["{NET}.6"]
require_http = [6001]
ports = {{ mapi = 60001 }}

[[group]]
name = "member"
role = "windows"
servers = ["{NET}.3", "{NET}.5"]
"""


@dataclass
class Case:
    """One command run for the goldens."""

    command: str
    """The arguments as one line (no quoting: split on white space)."""
    columns: int = 80
    stdout_as: Callable[[str], str] = console_text
    files: dict[str, Callable[[str], str]] = field(default_factory=dict)
    """Output files (by name in the run's folder) and how to normalise each."""


@dataclass
class Site:
    folder: Path
    epm_port: int
    texts: dict[str, str] = field(default_factory=dict)

    def run(self, name: str, case: Case) -> None:
        env = cli_env()
        env["COLUMNS"] = str(case.columns)
        args = case.command.replace("{EPM}", str(self.epm_port)).split()
        completed = subprocess.run(
            [sys.executable, "-m", "epmscan", *args],
            capture_output=True,
            text=True,
            timeout=90,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=self.folder,
        )
        files = {}
        for file_name, normalise in case.files.items():
            path = self.folder / file_name
            files[file_name] = (
                normalise(self._placeholders(path.read_text()))
                if path.exists()
                else "(not written)"
            )
        text = render(
            case.command.split(),
            completed.returncode,
            self._placeholders(completed.stdout),
            self._placeholders(completed.stderr),
            files,
            stdout_as=case.stdout_as,
        )
        self.texts[name] = text.replace(str(PORT_STAND_IN), "{EPM}")

    def _placeholders(self, text: str) -> str:
        """The run's folder and lab port replaced before anything parses or hashes it.

        The port becomes a number no port can be (JSON still parses), ``{EPM}`` at the end.
        """
        text = text.replace(str(self.folder), "{DIR}")
        return re.sub(rf"(?<![0-9]){self.epm_port}(?![0-9])", str(PORT_STAND_IN), text)


def free_epm_port(addresses: list[str]) -> int:
    """A port free on every address (the lab binds each host's address separately)."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randint(20000, 32000)
        ok = True
        for address in addresses:
            with socket.socket() as sock:
                try:
                    sock.bind((address, port))
                except OSError:
                    ok = False
                    break
        if ok:
            return port
    raise RuntimeError("no free endpoint mapper port for the golden lab")


def lab(hosts: list[dict[str, object]], epm_port: int) -> LabThread:
    config = parse_lab({"lab": {"epm_port": epm_port, "seed": 11}, "hosts": hosts}, "golden")
    return LabThread(config)


T = TARGETS
SCAN = f"scan {T} -p {{EPM}} --seed 1 {FAST}"
CHECK = f"check {T} -p {{EPM}} --seed 1 {FAST}"
CHECK_EXPECT = f"{CHECK} {EXPECT} --require-http 6001,6002,6004"
POLICY_CHECK = f"check --policy policy.toml -p {{EPM}} --seed 1 {FAST}"

BEFORE_CASES: dict[str, Case] = {
    "dump_console_piped": Case(f"dump {NET}.1 -p {{EPM}} -t 2"),
    "dump_console_wide": Case(f"dump {NET}.3 -p {{EPM}} -t 2", columns=200),
    "dump_table_narrow": Case(f"dump {NET}.3 -p {{EPM}} -t 2 --table --width 60"),
    "dump_json": Case(f"dump {NET}.1 -p {{EPM}} --json", stdout_as=json_text),
    "dump_samba_paging_json": Case(
        f"dump {NET}.4 -p {{EPM}} --max-ents 7 --json", stdout_as=json_text
    ),
    "dump_closed": Case(f"dump {NET}.5 -p {{EPM}} -t 2"),
    "trace_json": Case(
        f"trace {NET}.7 -p {{EPM}} --no-capture --connect-timeout 0.5 --read-timeout 1.5 --json",
        stdout_as=json_text,
    ),
    "trace_epm_closed_json": Case(
        f"trace {NET}.5 -p {{EPM}} --no-capture --connect-timeout 0.5 --no-http --json",
        stdout_as=json_text,
    ),
    "scan_console_and_files": Case(
        f"{SCAN} --jsonl scan.jsonl --json scan.json --csv scan.csv",
        files={"scan.jsonl": jsonl_text, "scan.json": json_text, "scan.csv": csv_text},
    ),
    "scan_jsonl_stdout": Case(f"{SCAN} --jsonl -", stdout_as=jsonl_text),
    "scan_map_mode": Case(f"{SCAN} --mode map --jsonl map.jsonl", files={"map.jsonl": jsonl_text}),
    "scan_only_answered": Case(
        f"{SCAN} --only-answered --csv answered.csv", files={"answered.csv": csv_text}
    ),
    "check_expect": Case(
        f"{CHECK_EXPECT} --save before.json --csv check.csv --jsonl check.jsonl",
        columns=100,
        files={"before.json": json_text, "check.csv": csv_text, "check.jsonl": jsonl_text},
    ),
    "check_no_expectations": Case(
        f"{CHECK} --save plain.json", columns=100, files={"plain.json": json_text}
    ),
    "check_policy": Case(
        f"{POLICY_CHECK} --save policy-before.json",
        columns=100,
        files={"policy-before.json": json_text},
    ),
    "scan_save_for_firewall": Case(f"{SCAN} --save scan-save.json"),
}
AFTER_CASES: dict[str, Case] = {
    "check_expect_after": Case(
        f"{CHECK_EXPECT} --save after.json", columns=100, files={"after.json": json_text}
    ),
    "check_policy_after": Case(f"{POLICY_CHECK} --save policy-after.json", columns=100),
}
OFFLINE_CASES: dict[str, Case] = {
    "diff_before_after": Case("diff before.json after.json", columns=100),
    "diff_policy": Case(
        "diff policy-before.json policy-after.json --policy policy.toml", columns=100
    ),
    "diff_same": Case("diff before.json before.json"),
    "diff_json_stdout": Case("diff before.json after.json --json -", stdout_as=json_text),
    "firewall_netsh": Case("firewall before.json --allow-dynamic"),
    "firewall_nftables": Case(
        "firewall before.json --format nftables --source 192.0.2.0/24 --allow-dynamic"
    ),
    "firewall_iptables": Case("firewall after.json -f iptables --allow-dynamic"),
    "firewall_powershell": Case("firewall after.json -f powershell --allow-dynamic"),
    "firewall_csv": Case("firewall after.json -f csv --allow-dynamic"),
    "firewall_refuses_dynamic": Case("firewall before.json"),
    "firewall_from_plain_check": Case("firewall plain.json"),
    "firewall_from_scan": Case("firewall scan-save.json"),
    "lab_list_profiles": Case("lab --list-profiles", columns=100),
}
USAGE_CASES: dict[str, Case] = {
    "usage_scan_no_targets": Case("scan"),
    "usage_scan_bad_target": Case("scan 1.2.3"),
    "usage_scan_bad_mode": Case(f"scan {NET}.1 --mode walk"),
    "usage_scan_shard_without_seed": Case(f"scan {NET}.1 --shard 1/2"),
    "usage_check_bad_expect": Case(f"check {NET}.1 --expect mapi=abc"),
    "usage_check_bad_fail_on": Case(f"check {NET}.1 --fail-on fatal"),
    "usage_check_policy_and_expect": Case("check --policy policy.toml --expect mapi=1"),
    "usage_dump_bad_decoder": Case(f"dump {NET}.1 --decoder slow"),
    "usage_diff_missing_file": Case("diff nothing.json other.json"),
    "usage_diff_not_json": Case("diff policy.toml policy.toml"),
    "usage_firewall_bad_format": Case("firewall before.json -f pf"),
    "usage_firewall_bad_source": Case("firewall before.json --source 10.0.0.0/33"),
    "usage_lab_no_config": Case("lab"),
    "usage_scan_only_unscannable": Case("scan 0.0.0.0 224.0.0.0/30"),
    "usage_dump_multicast": Case("dump ff02::1"),
    "usage_scan_output_in_missing_folder": Case(f"scan {NET}.1 --json missing/out.json"),
    "usage_scan_two_outputs_one_path": Case(f"scan {NET}.1 --json same.json --save same.json"),
    "help_scan": Case("scan --help", columns=100),
    "help_check": Case("check --help", columns=100),
    "help_dump": Case("dump --help", columns=100),
}
ALL_CASES = {**BEFORE_CASES, **AFTER_CASES, **OFFLINE_CASES, **USAGE_CASES}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    addresses = [str(h["address"]) for h in HOSTS_BEFORE]
    folder = tmp_path_factory.mktemp("golden")
    site = Site(folder, free_epm_port(addresses))
    (folder / "policy.toml").write_text(POLICY)
    with lab(HOSTS_BEFORE, site.epm_port):
        for name, case in BEFORE_CASES.items():
            site.run(name, case)
    with lab(HOSTS_AFTER, site.epm_port):
        for name, case in AFTER_CASES.items():
            site.run(name, case)
    for name, case in {**OFFLINE_CASES, **USAGE_CASES}.items():
        site.run(name, case)
    yield site


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ALL_CASES))
def test_output_matches_golden(site: Site, name: str) -> None:
    check_golden(name, site.texts[name])


@pytest.mark.slow
def test_demo_matches_golden(tmp_path: Path) -> None:
    env = cli_env()
    env["COLUMNS"] = "100"
    completed = subprocess.run(
        [sys.executable, "-m", "epmscan", "demo"],
        capture_output=True,
        text=True,
        timeout=90,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=tmp_path,
    )
    text = render(["demo"], completed.returncode, completed.stdout, completed.stderr)
    port = re.search(r"endpoint mapper on port (\d+)", completed.stdout)
    assert port, text
    text = text.replace(port.group(1), "{EPM}")
    demo_folder = re.search(r"--policy (\S+)/policy\.toml", completed.stdout)
    if demo_folder:
        text = text.replace(demo_folder.group(1), "{DEMO}")
    check_golden("demo", text)


def test_goldens_cover_every_case() -> None:
    """No stale golden file lies around for a case that no longer runs."""
    from tests.support.golden import GOLDEN_DIR

    if os.environ.get("EPMSCAN_UPDATE_GOLDENS") == "1" or not GOLDEN_DIR.exists():
        pytest.skip("goldens are being written")
    files = {p.stem for p in GOLDEN_DIR.glob("*.txt")}
    assert files == set(ALL_CASES) | {"demo"}
