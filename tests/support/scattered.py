"""Live lab hosts scattered over a loopback range whose other addresses are closed.

Each lab host listens on its own address only, so every other address of the range
is refused by the kernel (a RST to the SYN) without the lab doing any work: the
range looks like a subnet with a few live hosts. Hosts marked ``silent`` accept and
never answer (the lab's ``silent_epm``), hosts marked ``filtered`` never accept (the
lab's ``filtered_epm``: the kernel drops their SYNs).
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterable
from pathlib import Path

from tests.support.loopback import can_bind, require_loopback

PROFILES = ("windows-member", "exchange2010-cas-static", "exchange2010-cas-dynamic")


def scattered_addresses(network: str, count: int, *, seed: int = 7) -> list[str]:
    """``count`` distinct addresses of ``network`` (a loopback range), drawn by ``seed``."""
    net = ipaddress.ip_network(network)
    require_loopback(str(net.network_address))
    picks = random.Random(seed).sample(range(1, net.num_addresses - 1), count)
    return [str(net.network_address + i) for i in sorted(picks)]


def free_port_on(addresses: Iterable[str], *, seed: int = 0) -> int:
    """A TCP port that can be bound on every one of ``addresses``."""
    wanted = list(addresses)
    rng = random.Random(seed or None)
    for _ in range(200):
        port = rng.randrange(20000, 60000)
        if all(can_bind(address, port) for address in wanted):
            return port
    raise RuntimeError("no port free on every address")


def lab_toml(
    epm_port: int,
    live: Iterable[str],
    *,
    silent: Iterable[str] = (),
    filtered: Iterable[str] = (),
) -> str:
    """A ``[[hosts]]`` lab file: answering hosts, then silent and filtered ones."""
    lines = ["[lab]", f"epm_port = {epm_port}", "seed = 7"]
    hosts = [(a, {}) for a in live]
    hosts += [(a, {"silent_epm": True}) for a in silent]
    hosts += [(a, {"filtered_epm": True}) for a in filtered]
    for i, (address, extra) in enumerate(hosts):
        lines += ["[[hosts]]", f'address = "{require_loopback(address)}"']
        lines.append(f'profile = "{PROFILES[i % len(PROFILES)]}"')
        lines += [f"{key} = {str(value).lower()}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


def write_lab(path: Path, epm_port: int, live: Iterable[str], **kinds: Iterable[str]) -> Path:
    path.write_text(lab_toml(epm_port, live, **kinds))
    return path
