"""ICMP detail of a failed connect, read from the socket's error queue (Linux ``IP_RECVERR``).

With ``IP_RECVERR`` (``IPV6_RECVERR`` on IPv6 sockets) set before ``connect``, the kernel
keeps the ICMP error that ended the connect in the socket's error queue, no privileges
needed. ``recvmsg(..., MSG_ERRQUEUE)`` returns it as one control message: a
``struct sock_extended_err`` (errno, origin, ICMP type and code, ...) followed by the
address of the node that sent the ICMP message (the "offender", a ``sockaddr_in`` or
``sockaddr_in6``). :func:`icmp_from_ancillary` turns that ancillary data into an
:class:`~epmscan.models.IcmpError`; it does no I/O. The socket calls live in
:mod:`epmscan.engine.transport`.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Iterable

from epmscan.models import IcmpError

IP_RECVERR = 11
"""``<linux/in.h>``: queue ICMP errors on the socket (level ``SOL_IP``)."""
IPV6_RECVERR = 25
"""``<linux/in6.h>``: the same for IPv6 sockets (level ``SOL_IPV6``)."""
SOL_IP = 0
SOL_IPV6 = 41

SO_EE_ORIGIN_ICMP = 2
SO_EE_ORIGIN_ICMP6 = 3

_EXTENDED_ERR = struct.Struct("=IBBBBII")
"""``struct sock_extended_err``: ee_errno, ee_origin, ee_type, ee_code, ee_pad, ee_info,
ee_data, in host byte order."""
_FAMILY = struct.Struct("=H")
_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6

ERRQUEUE_CONTROL_SIZE = 512
"""Room for one control message: the header, the extended error and a ``sockaddr_in6``."""


def recverr_option(family: int) -> tuple[int, int]:
    """``(level, option)`` that turns on the error queue for a socket of ``family``."""
    return (SOL_IPV6, IPV6_RECVERR) if family == _AF_INET6 else (SOL_IP, IP_RECVERR)


def _offender(data: bytes) -> str:
    if len(data) < _FAMILY.size:
        return ""
    (family,) = _FAMILY.unpack_from(data)
    if family == _AF_INET and len(data) >= 8:
        return socket.inet_ntop(_AF_INET, data[4:8])
    if family == _AF_INET6 and len(data) >= 24:
        address = ipaddress.IPv6Address(data[8:24])
        mapped = address.ipv4_mapped
        return str(mapped if mapped is not None else address)
    return ""


def icmp_from_ancillary(ancillary: Iterable[tuple[int, int, bytes]]) -> IcmpError | None:
    """The ICMP error in ``recvmsg(..., MSG_ERRQUEUE)``'s ancillary data, if one is there.

    ``ancillary`` is the list of ``(level, type, data)`` that ``socket.recvmsg`` returns.
    Errors of local origin (no ICMP message behind them) and messages too short to hold a
    ``sock_extended_err`` give None. The sender is the offender address, or ``""`` when
    the kernel gave none.
    """
    for level, kind, data in ancillary:
        if (level, kind) not in ((SOL_IP, IP_RECVERR), (SOL_IPV6, IPV6_RECVERR)):
            continue
        if len(data) < _EXTENDED_ERR.size:
            continue
        _errno, origin, icmp_type, icmp_code, _pad, _info, _data = _EXTENDED_ERR.unpack_from(data)
        if origin not in (SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6):
            continue
        return IcmpError(
            type=icmp_type,
            code=icmp_code,
            sender=_offender(data[_EXTENDED_ERR.size :]),
            protocol="icmpv6" if origin == SO_EE_ORIGIN_ICMP6 else "icmp",
        )
    return None
