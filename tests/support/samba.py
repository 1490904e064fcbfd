"""Samba's endpoint mapper as a real peer: start ``samba-dcerpcd`` on one loopback address.

Debian's Samba runs ``samba-dcerpcd`` standalone in the foreground with a private directory
tree (recipe: ``fixtures/captures/samba-4.17-standalone-epm.md``). With
``interfaces = ADDR/8`` and ``bind interfaces only = yes`` it listens on ADDR only: port 135
plus one dynamic port per worker group (49152 and up). ``rpcclient -c epmlookup`` is Samba's
own client for the same list and serves as an independent expectation.

``start_samba_epm(..., netns=NAME)`` runs it inside a network namespace of a test network
(``tests/support/netns.py``) on that namespace's address instead; readiness is then read
from ``/proc`` (no connection from outside the namespace).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.loopback import (
    listening_sockets,
    require_loopback,
    wait_for_listener,
    wait_for_listening,
)

SAMBA_DCERPCD_PATHS = ("/usr/libexec/samba/samba-dcerpcd", "/usr/lib/samba/samba-dcerpcd")
EPM_PORT = 135

_SUBDIRS = ("lock", "state", "cache", "pid", "private", "ncalrpc", "winbindd", "log")

_SMB_CONF = """\
[global]
    workgroup = LAB
    netbios name = {netbios_name}
    server role = standalone server
    interfaces = {address}/{prefix_len}
    bind interfaces only = yes
    rpc start on demand helpers = no
    disable netbios = yes
    load printers = no
    printing = bsd
    printcap name = /dev/null
    disable spoolss = yes
    lock directory = {root}/lock
    state directory = {root}/state
    cache directory = {root}/cache
    pid directory = {root}/pid
    private dir = {root}/private
    ncalrpc dir = {root}/ncalrpc
    winbindd socket directory = {root}/winbindd
    log file = {root}/log/samba.log
"""


def find_samba_dcerpcd() -> str | None:
    """Path of Debian's ``samba-dcerpcd``, or None when Samba is not installed."""
    for path in SAMBA_DCERPCD_PATHS:
        if os.access(path, os.X_OK):
            return path
    return None


def samba_version(binary: str) -> tuple[int, int, int] | None:
    """Samba's version from ``samba-dcerpcd --version`` (``Version 4.17.12-Debian``)."""
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    match = re.search(r"Version (\d+)\.(\d+)\.(\d+)", out.stdout)
    if match is None:
        return None
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


@dataclass
class SambaEpm:
    """A running ``samba-dcerpcd`` serving the endpoint mapper on ``address:135``."""

    address: str
    root: Path
    process: subprocess.Popen[bytes]
    version: tuple[int, int, int] | None
    netns: str | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def listening(self) -> set[tuple[str, int]]:
        """Every (address, port) on which ``samba-dcerpcd`` itself listens right now."""
        return listening_sockets(self.pid)

    def log_text(self) -> str:
        return (self.root / "samba-dcerpcd.out").read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM, then wait (SIGKILL after 10 s). Samba makes no process group of its own."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_samba_epm(
    binary: str,
    root: Path,
    address: str,
    *,
    netbios_name: str = "LABEPM",
    timeout: float = 10.0,
    netns: str | None = None,
    prefix_len: int = 8,
) -> SambaEpm:
    """Write a private smb.conf under ``root``, start ``samba-dcerpcd`` and wait for port 135.

    Without ``netns`` the address must be a loopback one; with it, samba-dcerpcd runs in
    that namespace (``ip netns exec``) and serves ``address``, one of the namespace's own
    (``prefix_len`` is its network's prefix length).
    """
    if netns is None:
        require_loopback(address)
    for sub in _SUBDIRS:
        (root / sub).mkdir(parents=True, exist_ok=True)
    conf = root / "smb.conf"
    conf.write_text(
        _SMB_CONF.format(
            netbios_name=netbios_name, address=address, prefix_len=prefix_len, root=root
        )
    )
    command = [binary, "-F", "--debug-stdout", "-d", "1", f"--configfile={conf}", "--libexec-rpcds"]
    if netns is not None:
        command = ["ip", "netns", "exec", netns, *command]  # exec: the child is samba-dcerpcd
    log = open(root / "samba-dcerpcd.out", "wb")  # noqa: SIM115 - handed to the child
    try:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    finally:
        log.close()
    samba = SambaEpm(address, root, process, samba_version(binary), netns)
    if netns is None:
        ready = wait_for_listener(address, EPM_PORT, timeout=timeout)
    else:
        ready = wait_for_listening(process.pid, address, EPM_PORT, timeout=timeout)
    if not ready or process.poll() is not None:
        samba.stop()
        raise RuntimeError(
            f"samba-dcerpcd did not listen on {address}:{EPM_PORT}:\n{samba.log_text()[-2000:]}"
        )
    return samba


# --- rpcclient -c epmlookup -----------------------------------------------------------

_EPMLOOKUP_LINE = re.compile(
    r"^(?P<object>[0-9a-f-]{36}) (?P<transport>\w+):(?P<host>[^\[]*)"
    r"\[(?P<endpoint>[^,\]]*),abstract_syntax=(?P<uuid>[0-9a-f-]{36})/0x(?P<version>[0-9a-f]{8})\]"
    r": (?P<annotation>.*)$"
)


@dataclass(frozen=True)
class RpcclientTower:
    """One line of ``rpcclient -c epmlookup``."""

    object_uuid: str
    transport: str
    host: str
    endpoint: str
    uuid: str
    major: int
    minor: int
    annotation: str

    @property
    def version(self) -> str:
        return f"{self.major}.{self.minor}"


def find_rpcclient() -> str | None:
    return shutil.which("rpcclient")


def rpcclient_epmlookup(rpcclient: str, address: str) -> list[RpcclientTower]:
    """Run Samba's own ``rpcclient -U% -c epmlookup ncacn_ip_tcp:ADDR`` and parse its lines.

    rpcclient prints the interface version as one 32-bit number: major in the low 16 bits,
    minor in the high 16 bits.
    """
    out = subprocess.run(
        [rpcclient, "-U%", "-c", "epmlookup", f"ncacn_ip_tcp:{require_loopback(address)}"],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    towers = parse_epmlookup(out.stdout)
    if not towers:
        raise RuntimeError(
            f"rpcclient printed no tower (rc {out.returncode}):\n{out.stdout}\n{out.stderr}"
        )
    return towers


def parse_epmlookup(text: str) -> list[RpcclientTower]:
    """The towers of ``rpcclient -c epmlookup``'s output (other lines are skipped)."""
    towers: list[RpcclientTower] = []
    for line in text.splitlines():
        match = _EPMLOOKUP_LINE.match(line.strip())
        if match is None:
            continue
        packed = int(match["version"], 16)
        towers.append(
            RpcclientTower(
                object_uuid=match["object"],
                transport=match["transport"],
                host=match["host"],
                endpoint=match["endpoint"],
                uuid=match["uuid"].lower(),
                major=packed & 0xFFFF,
                minor=packed >> 16,
                annotation=match["annotation"],
            )
        )
    return towers


def add_samba_user(samba: SambaEpm, user: str, password: str) -> None:
    """Give ``user`` (an account of this machine, e.g. root) ``password`` in the running
    Samba's own passdb (``pdbedit`` on its private smb.conf; nothing outside ``samba.root``
    changes). The password goes to pdbedit's standard input, never its command line."""
    pdbedit = shutil.which("pdbedit")
    if pdbedit is None:
        raise RuntimeError("pdbedit not installed (Debian package: samba)")
    completed = subprocess.run(
        [pdbedit, f"--configfile={samba.root / 'smb.conf'}", "-a", "-u", user, "-t"],
        input=f"{password}\n{password}\n",
        capture_output=True,
        text=True,
        timeout=30,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"pdbedit -a {user} failed: {completed.stderr[-500:]}")
