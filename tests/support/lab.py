"""The epmscan lab as a separate process: ``epmscan lab --profile NAME --bind ADDR --epm-port N``.

Peers that only know port 135 (impacket's rpcdump, scapy's ``get_endpoint``) need the lab on
135 of its own loopback address, so the lab runs as its own process, exactly as a user starts
it, and is stopped with SIGTERM. ``running_lab`` runs one in this process instead (epmscan's
``LabThread``), for tests that read what the lab registered. ``start_lab_file(...,
netns=NAME, env=...)`` starts it inside a network namespace of a test network
(``tests/support/netns.py``), serving that namespace's own address (``any_address``).
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.support.cli import cli_env
from tests.support.loopback import require_loopback, wait_for_listener, wait_for_listening

if TYPE_CHECKING:
    from epmscan.lab.config import LabConfig
    from epmscan.lab.server import Lab, LabHost


@dataclass
class LabProcess:
    """A running ``epmscan lab``: where its endpoint mapper listens, and its output."""

    profile: str
    address: str
    epm_port: int
    process: subprocess.Popen[bytes]
    output: Path

    def output_text(self) -> str:
        return self.output.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_lab(
    profile: str,
    address: str,
    epm_port: int,
    output: Path,
    *,
    timeout: float = 15.0,
    netns: str | None = None,
    env: dict[str, str] | None = None,
) -> LabProcess:
    """``epmscan lab --profile NAME --bind ADDR --epm-port N``, once its mapper accepts.

    With ``netns`` it runs in that namespace with ``--any-address`` (``ADDR`` is the
    namespace's own address); ``env`` as in :func:`start_lab_file`.
    """
    if netns is None:
        require_loopback(address)
    args = ["--profile", profile, "--bind", address, "--epm-port", str(epm_port)]
    if netns is not None:
        args.append("--any-address")
    return _start(args, profile, address, epm_port, output, timeout, netns, env)


def write_lab_file(
    path: Path,
    profile: str,
    address: str,
    epm_port: int,
    *,
    any_address: bool = False,
    **host: object,
) -> Path:
    """A one-host TOML lab file; ``host`` adds keys of the ``[[hosts]]`` table (``paging``...).

    ``any_address`` writes ``any_address = true`` for an address outside loopback (a lab in
    a network namespace); otherwise the address must be a loopback one.
    """
    lines = ["[lab]", f"epm_port = {epm_port}"]
    if any_address:
        lines.append("any_address = true")
    else:
        require_loopback(address)
    lines += ["", "[[hosts]]", f'address = "{address}"']
    lines.append(f'profile = "{profile}"')
    for key, value in host.items():
        lines.append(f"{key} = " + (f'"{value}"' if isinstance(value, str) else str(value).lower()))
    path.write_text("\n".join(lines) + "\n")
    return path


def start_lab_file(
    config: Path,
    address: str,
    epm_port: int,
    output: Path,
    *,
    timeout: float = 15.0,
    netns: str | None = None,
    env: dict[str, str] | None = None,
) -> LabProcess:
    """``epmscan lab --config FILE`` for a lab file whose one host is ``address:epm_port``.

    With ``netns`` the lab runs in that namespace (``ip netns exec``) and readiness is read
    from ``/proc``; ``env`` replaces the child's environment (``PYTHONPATH`` of the tree).
    """
    return _start(
        ["--config", str(config)], config.stem, address, epm_port, output, timeout, netns, env
    )


def _start(
    args: list[str],
    label: str,
    address: str,
    epm_port: int,
    output: Path,
    timeout: float,
    netns: str | None = None,
    env: dict[str, str] | None = None,
) -> LabProcess:
    command = [sys.executable, "-m", "epmscan", "lab", *args]
    if netns is not None:
        command = ["ip", "netns", "exec", netns, *command]  # exec: the child is the lab
    out = open(output, "wb")  # noqa: SIM115 - handed to the child
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=cli_env() if env is None else env,
        )
    finally:
        out.close()
    lab = LabProcess(label, address, epm_port, process, output)
    if netns is None:
        ready = wait_for_listener(address, epm_port, timeout=timeout)
    else:
        ready = wait_for_listening(process.pid, address, epm_port, timeout=timeout)
    if not ready or process.poll() is not None:
        lab.stop()
        raise RuntimeError(
            f"epmscan lab {' '.join(args)} did not listen on {address}:{epm_port}:\n"
            f"{lab.output_text()[-3000:]}"
        )
    return lab


@dataclass(frozen=True)
class RunningLab:
    """A one-host lab running in this process: where it listens and what it registered."""

    address: str
    epm_port: int
    lab: Lab

    @property
    def host(self) -> LabHost:
        return self.lab.host(self.address)


@contextlib.contextmanager
def running_lab(profile: str, address: str, epm_port: int, **host: Any) -> Iterator[RunningLab]:
    """``single_host_lab(profile, address, epm_port=...)`` in epmscan's ``LabThread``."""
    from epmscan.lab import LabThread, single_host_lab

    config = single_host_lab(profile, require_loopback(address), epm_port=epm_port, **host)
    with LabThread(config) as lab:
        yield RunningLab(address, epm_port, lab)


@dataclass(frozen=True)
class MovedLab:
    """A lab file's lab running in this process with its ports moved to free ones."""

    lab: Lab
    epm_port: int
    """The endpoint mapper's port as moved (the file's port plus ``offset``)."""
    offset: int
    """Added to every static port of the file (60001 listens on 60001 + offset)."""


@contextlib.contextmanager
def lab_on_free_ports(config: LabConfig, what: str) -> Iterator[MovedLab]:
    """``config`` in a ``LabThread`` on an endpoint mapper port and offset found free."""
    import random

    from epmscan.errors import LabConfigError
    from epmscan.lab import LabThread

    rng = random.Random()
    for _ in range(40):
        offset = rng.randrange(1000, 5000)
        epm_port = rng.randrange(20000, 60000 - offset)
        thread = LabThread(config.with_ports(epm_port=epm_port, port_offset=offset))
        try:
            lab = thread.start()
        except LabConfigError:
            continue  # something holds one of the ports: another draw
        try:
            yield MovedLab(lab, epm_port + offset, offset)
        finally:
            thread.stop()
        return
    raise RuntimeError(f"no free ports for {what}")
