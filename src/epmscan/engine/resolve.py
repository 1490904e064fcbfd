"""Host name to address, asynchronously; failures become :class:`NameResolutionError`."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from epmscan.errors import NameResolutionError


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def resolve_host(host: str, *, timeout: float = 5.0) -> list[str]:
    """Every address ``host`` resolves to for TCP (an IP literal resolves to itself)."""
    if is_ip_literal(host):
        return [host]
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except TimeoutError:
        raise NameResolutionError(f"{host}: name resolution timed out") from None
    except (OSError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise NameResolutionError(f"{host}: {reason}") from None
    addresses: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise NameResolutionError(f"{host}: no address")
    return addresses
