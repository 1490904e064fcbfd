"""Loopback addresses and listening sockets: where a peer may listen, and what it listens on.

Every address here is in 127.0.0.0/8; nothing in this module talks to anything else.
What a process listens on is read from ``/proc/PID/net/tcp``, the table of that process's
own network namespace, so it also works for a process inside a namespace of a test network
(``tests/support/netns.py``).
"""

from __future__ import annotations

import ipaddress
import os
import random
import socket
import time
from collections.abc import Iterable, Iterator

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


def require_loopback(address: str) -> str:
    """Return ``address`` if it is in 127.0.0.0/8 or ::1, else raise: tests never leave
    loopback."""
    ip = ipaddress.ip_address(address)
    if ip not in LOOPBACK and ip != ipaddress.IPv6Address("::1"):
        raise ValueError(f"{address} is not a loopback address")
    return address


def can_bind(address: str, port: int) -> bool:
    """True when nothing holds ``address:port`` (nor a wildcard listener on ``port``)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.bind((require_loopback(address), port))
    except OSError:
        return False
    finally:
        sock.close()
    return True


def candidate_addresses(preferred: str) -> Iterator[str]:
    """``preferred`` first, then other addresses of 127.0.0.0/8 derived from it."""
    yield require_loopback(preferred)
    last = int(preferred.rsplit(".", 1)[1])
    for second in range(201, 255):
        yield f"127.{second}.0.{last}"


def free_address(preferred: str, ports: Iterable[int]) -> str:
    """The first candidate address on which every port in ``ports`` can be bound."""
    wanted = tuple(ports)
    for address in candidate_addresses(preferred):
        if all(can_bind(address, port) for port in wanted):
            return address
    raise RuntimeError(f"no free loopback address for ports {wanted}")


def free_port(addresses: Iterable[str], *, low: int = 20000, high: int = 32000) -> int:
    """A port, below the kernel's ephemeral range, that every one of ``addresses`` can bind.

    Tests pick their listening ports with this instead of fixed numbers, so two test runs
    (or two developers) on one machine do not collide.
    """
    wanted = [require_loopback(a) for a in addresses] or ["127.0.0.1"]
    rng = random.Random()
    for _ in range(500):
        port = rng.randint(low, high)
        if all(can_bind(address, port) for address in wanted):
            return port
    raise RuntimeError(f"no port free on {wanted}")


def wait_for_listener(address: str, port: int, *, timeout: float = 10.0) -> bool:
    """Poll-connect until ``address:port`` accepts; False when ``timeout`` runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((require_loopback(address), port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def _tcp_listeners_by_inode(pid: int) -> dict[int, tuple[str, int]]:
    """Inode -> (address, port) of every IPv4 TCP socket in LISTEN state in the network
    namespace of process ``pid`` (``/proc/PID/net/tcp``)."""
    listeners: dict[int, tuple[str, int]] = {}
    with open(f"/proc/{pid}/net/tcp", encoding="ascii") as table:
        next(table)
        for line in table:
            fields = line.split()
            local, state, inode = fields[1], fields[3], int(fields[9])
            if state != "0A":
                continue
            hex_addr, hex_port = local.split(":")
            address = socket.inet_ntoa(bytes.fromhex(hex_addr)[::-1])
            listeners[inode] = (address, int(hex_port, 16))
    return listeners


def listening_sockets(pid: int) -> set[tuple[str, int]]:
    """The IPv4 (address, port) pairs on which process ``pid`` holds a listening TCP socket."""
    listeners = _tcp_listeners_by_inode(pid)
    found: set[tuple[str, int]] = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inode = int(target[len("socket:[") : -1])
            if inode in listeners:
                found.add(listeners[inode])
    return found


def wait_for_listening(pid: int, address: str, port: int, *, timeout: float = 10.0) -> bool:
    """Poll ``/proc`` until process ``pid`` listens on ``address:port`` (no packet sent).

    False when ``timeout`` runs out or the process is gone.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if (address, port) in listening_sockets(pid):
                return True
        except OSError:
            return False
        time.sleep(0.05)
    return False
