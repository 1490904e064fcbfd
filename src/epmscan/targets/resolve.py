"""Host-name targets to addresses, asynchronously, failures as results.

``loop.getaddrinfo`` runs the system resolver (hosts file, DNS, ...) in the default
executor. A name that does not resolve, times out or has no address of the wanted family
(or only to addresses no scan connects to, such as a sinkhole's ``0.0.0.0``) becomes a
:class:`Resolution` with ``error`` set, which the engine reports as
``HostStatus.UNRESOLVED``; nothing here raises for a bad name.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from epmscan.targets.space import Target
from epmscan.targets.unscannable import unscannable_reason


@dataclass(frozen=True, slots=True)
class Resolution:
    """The addresses one target stands for, or why it stands for none."""

    target: Target
    addresses: tuple[str, ...]
    error: str | None = None
    """One line, None when ``addresses`` is not empty."""

    @property
    def ok(self) -> bool:
        return self.error is None


async def resolve_target(
    target: Target,
    *,
    family: int = socket.AF_UNSPEC,
    timeout: float,
) -> Resolution:
    """Every address of ``target`` for TCP, in the resolver's order, without duplicates.

    An address target resolves to itself without a lookup. ``family`` (``AF_INET``,
    ``AF_INET6``) keeps only that family.
    """
    if target.name is None:
        assert target.address is not None
        return Resolution(target, (target.address,))
    name = target.name
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            infos = await loop.getaddrinfo(
                name, None, family=family, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
    except TimeoutError:
        return Resolution(target, (), f"{name}: name resolution timed out after {timeout:g}s")
    except (OSError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return Resolution(target, (), f"{name}: {reason}")
    found = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    if not found:
        return Resolution(target, (), f"{name}: no address")
    addresses = tuple(a for a in found if unscannable_reason(a) is None)
    if not addresses:
        # A sinkholed name (0.0.0.0) or a multicast group: nothing to connect to.
        reasons = ", ".join(f"{a} ({unscannable_reason(a)})" for a in found)
        return Resolution(target, (), f"{name}: resolves only to {reasons}")
    return Resolution(target, addresses)


async def resolve_names(
    targets: Iterable[Target],
    *,
    family: int = socket.AF_UNSPEC,
    timeout: float,
    concurrency: int = 16,
) -> list[Resolution]:
    """:func:`resolve_target` for each target, at most ``concurrency`` at once, in order."""
    limit = asyncio.Semaphore(concurrency)

    async def one(target: Target) -> Resolution:
        async with limit:
            return await resolve_target(target, family=family, timeout=timeout)

    return list(await asyncio.gather(*(one(target) for target in targets)))
