"""A lab whose endpoint mappers want NTLM, and the CLI run with a secret that must not leak.

``auth_lab(tmp_path, prefix)`` writes and starts (in a :class:`LabThread`) a lab file with a
lab-wide test account, ``LAB\\alice``, and three hosts on ``prefix.10``-``.12`` (addresses
of this suite's range, 127.112.0.0/16):

- ``.10`` windows-member with ``auth = "ntlm"``: anonymous calls get ``rpc_s_access_denied``;
- ``.11`` exchange2010-cas-static with ``auth = "ntlm"`` (an Exchange check against it);
- ``.12`` windows-member without ``auth``: anonymous works, and the account works too.

``run_epmscan(*args, env=..., stdin=...)`` is ``python -m epmscan`` with the given extra
environment and nothing of the developer's own ``EPMSCAN_PASSWORD``/``EPMSCAN_NTHASH``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from impacket.ntlm import compute_nthash

from epmscan.lab import Lab, load_lab_file
from tests.support.cli import CliRun, cli_env
from tests.support.lab import lab_on_free_ports

ACCOUNT = "LAB\\alice"
PASSWORD = "Tr0ub4dor&3-epm"
"""The test account's password: distinctive, so a grep for it finds nothing else."""
NT_HASH = compute_nthash(PASSWORD).hex()
WRONG_PASSWORD = "Wr0ng-Passw0rd-epm"
SECRET_VARIABLES = ("EPMSCAN_PASSWORD", "EPMSCAN_NTHASH")


def lab_text(prefix: str) -> str:
    return f"""\
[lab]
seed = 5
users = {{ "LAB\\\\alice" = "{PASSWORD}" }}

[[hosts]]
address = "{prefix}.10"
profile = "windows-member"
auth = "ntlm"

[[hosts]]
address = "{prefix}.11"
profile = "exchange2010-cas-static"
auth = "ntlm"

[[hosts]]
address = "{prefix}.12"
profile = "windows-member"
"""


@dataclass
class AuthLab:
    lab: Lab
    path: Path
    prefix: str
    epm_port: int
    port_offset: int

    @property
    def required(self) -> str:
        return f"{self.prefix}.10"

    @property
    def exchange(self) -> str:
        return f"{self.prefix}.11"

    @property
    def open(self) -> str:
        return f"{self.prefix}.12"


@contextlib.contextmanager
def auth_lab(directory: Path, prefix: str) -> Iterator[AuthLab]:
    """The lab above on ports found free (endpoint mapper and static ports moved)."""
    path = directory / "auth-lab.toml"
    path.write_text(lab_text(prefix))
    with lab_on_free_ports(load_lab_file(path), "the authentication lab") as moved:
        yield AuthLab(moved.lab, path, prefix, moved.epm_port, moved.offset)


def run_epmscan(
    *args: str,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 60.0,
) -> CliRun:
    """``python -m epmscan ARGS`` with ``env`` added to a clean environment."""
    child_env = {k: v for k, v in cli_env().items() if k not in SECRET_VARIABLES}
    child_env.update(env or {})
    completed = subprocess.run(
        [sys.executable, "-m", "epmscan", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        env=child_env,
    )
    return CliRun(tuple(args), completed.returncode, completed.stdout, completed.stderr)


def secret_forms(password: str = PASSWORD) -> list[str]:
    """Every way the secret could show up in text: as typed, and its NT hash in hex."""
    hashed = compute_nthash(password).hex()
    return [password, hashed, hashed.upper()]


def texts_in(directory: Path) -> dict[str, str]:
    """Every file under ``directory`` read as text (bytes that are not UTF-8 replaced)."""
    return {
        str(path): path.read_bytes().decode("utf-8", "replace")
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def assert_no_secret(texts: Mapping[str, str], password: str = PASSWORD) -> None:
    """No text holds the password or its NT hash."""
    for name, text in texts.items():
        for secret in secret_forms(password):
            assert secret not in text, f"the secret shows in {name}"


def environment_without_secrets() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in SECRET_VARIABLES}
