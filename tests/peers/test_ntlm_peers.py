"""NTLM at packet integrity against real peers: impacket's client on the lab, Samba's server.

- impacket 0.13.1's own client (``tests/support/impacket_auth_lookup.py``: credentials and
  ``RPC_C_AUTHN_LEVEL_PKT_INTEGRITY`` on its transport, then ``epm.hept_lookup(None,
  dce=dce)``) against a lab endpoint mapper with ``auth = "ntlm"``: with the test account
  it lists exactly what the lab registered, which it can only do if the lab checked its
  NEGOTIATE/AUTHENTICATE and every signature of its requests as impacket computes them;
  with a wrong password, or none, it gets ``rpc_s_access_denied``.
- ``epmscan dump -u`` against Debian's ``samba-dcerpcd`` with an account in its own passdb:
  the same towers as anonymously (one page, and 38 pages of one entry: every signature
  of Samba's responses verified, every one of ours accepted); a wrong password is
  ``auth_failed`` (Samba answers the first call after a failed AUTH3 with
  ``nca_s_proto_error``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.auth_lab import (
    ACCOUNT,
    PASSWORD,
    WRONG_PASSWORD,
    AuthLab,
    assert_no_secret,
    auth_lab,
    run_epmscan,
)
from tests.support.cli import cli_env
from tests.support.samba import (
    EPM_PORT,
    SambaEpm,
    add_samba_user,
    find_samba_dcerpcd,
    start_samba_epm,
)
from tests.support.skips import require_root

pytestmark = pytest.mark.peer

SCRIPT = Path(__file__).resolve().parents[1] / "support" / "impacket_auth_lookup.py"
LAB_PREFIX = "127.112.2"
SAMBA_ADDRESS = "127.112.3.135"
SAMBA_USER, SAMBA_PASSWORD = "root", "Samba-Lab-Pass-9"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthLab]:
    with auth_lab(tmp_path_factory.mktemp("authlab"), LAB_PREFIX) as running:
        yield running


def impacket_lookup(lab: AuthLab, account: str | None, password: str | None) -> dict[str, Any]:
    env = {k: v for k, v in cli_env().items() if not k.startswith("EPMSCAN_")}
    if password is not None:
        env["EPMSCAN_PASSWORD"] = password
    args = [sys.executable, str(SCRIPT), lab.required, str(lab.epm_port)]
    if account is not None:
        args.append(account)
    completed = subprocess.run(
        args, capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL
    )
    assert completed.returncode == 0, completed.stderr
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def lab_entries(lab: AuthLab) -> Counter[tuple[str, str, str, int | None]]:
    plan = lab.lab.host(lab.required).plan
    return Counter(
        (e.interface.uuid, e.interface.version, e.transport, e.port) for e in plan.entries
    )


def test_impackets_authenticated_client_lists_what_the_lab_registered(lab: AuthLab) -> None:
    result = impacket_lookup(lab, ACCOUNT, PASSWORD)
    assert result["status"] == "ok", result
    got = Counter(tuple(entry) for entry in result["entries"])
    assert got == lab_entries(lab)


def test_epmscan_lists_the_same_as_impacket_with_the_same_account(
    lab: AuthLab, tmp_path: Path
) -> None:
    jsonl = tmp_path / "scan.jsonl"
    run = run_epmscan(
        "scan", lab.required, "-p", str(lab.epm_port), "-u", ACCOUNT, "--jsonl", str(jsonl),
        env={"EPMSCAN_PASSWORD": PASSWORD},
    )  # fmt: skip
    assert run.returncode == 0, run.describe()
    [host] = [json.loads(line) for line in jsonl.read_text().splitlines() if '"address"' in line]
    assert host["status"] == "ok"
    ours = Counter((e["uuid"], e["version"], e["transport"], e["port"]) for e in host["endpoints"])
    impackets = Counter(tuple(e) for e in impacket_lookup(lab, ACCOUNT, PASSWORD)["entries"])
    assert ours == impackets


@pytest.mark.parametrize(
    ("account", "password"), [(ACCOUNT, WRONG_PASSWORD), (None, None)], ids=["wrong", "none"]
)
def test_impacket_is_refused_without_the_right_password(
    lab: AuthLab, account: str | None, password: str | None
) -> None:
    result = impacket_lookup(lab, account, password)
    assert result["status"] == "error"
    assert "rpc_s_access_denied" in result["error"]


# --- Samba's NTLM server ----------------------------------------------------------------


@pytest.fixture(scope="module")
def samba(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SambaEpm]:
    binary = find_samba_dcerpcd()
    if binary is None:
        pytest.skip("samba-dcerpcd not installed (Debian package: samba)")
    require_root("samba-dcerpcd listens on port 135")
    running = start_samba_epm(binary, tmp_path_factory.mktemp("samba-ntlm"), SAMBA_ADDRESS)
    try:
        add_samba_user(running, SAMBA_USER, SAMBA_PASSWORD)
        yield running
    finally:
        running.stop()


def samba_dump(*extra: str, password: str | None = None) -> Any:
    env = {} if password is None else {"EPMSCAN_PASSWORD": password}
    run = run_epmscan("scan", SAMBA_ADDRESS, "--jsonl", "-", *extra, env=env)
    [host] = [json.loads(line) for line in run.stdout.splitlines() if '"address"' in line]
    assert_no_secret({"stdout": run.stdout, "stderr": run.stderr}, SAMBA_PASSWORD)
    return host


def towers(host: dict[str, Any]) -> Counter[tuple[str, str, str, Any, Any]]:
    return Counter(
        (e["uuid"], e["version"], e["transport"], e["port"], e["endpoint"])
        for e in host["endpoints"]
    )


@pytest.mark.parametrize("max_ents", ["500", "1"])
def test_samba_authenticates_epmscan_and_every_signature_verifies(
    samba: SambaEpm, max_ents: str
) -> None:
    anonymous = samba_dump("--max-ents", max_ents)
    authenticated = samba_dump(
        "--max-ents", max_ents, "-u", f"LABEPM\\{SAMBA_USER}", password=SAMBA_PASSWORD
    )
    assert anonymous["status"] == authenticated["status"] == "ok", authenticated
    assert towers(authenticated) == towers(anonymous)
    assert authenticated["lookup_pages"] == anonymous["lookup_pages"]
    if max_ents == "1":
        assert authenticated["lookup_pages"] > 30


def test_samba_refusing_a_wrong_password_is_an_authentication_failure(samba: SambaEpm) -> None:
    host = samba_dump("-u", f"LABEPM\\{SAMBA_USER}", password="Not-" + SAMBA_PASSWORD)
    assert host["status"] == "auth_failed", host
    assert "nca_s_proto_error" in host["error"]
    assert host["port"] == EPM_PORT
