"""The I/O edge: TCP connections with per-phase deadlines, OS errors translated.

A thin ``asyncio.Protocol`` (cheaper than streams on the hot path) buffers what the
peer sends; :meth:`Connection.read` waits for the next bytes with a deadline of its
own. This is the only module that sees ``OSError``: everything it raises is an
:class:`epmscan.errors.TransportError`.

:func:`open_tcp` makes the socket itself so that, on Linux, it can turn on the error
queue (``IP_RECVERR``) before connecting: when the connect fails as unreachable, the ICMP
message behind it (type, code, the router or host that sent it) is read from that queue
(:mod:`epmscan.engine.icmp`) and carried by :class:`~epmscan.errors.HostUnreachableError`.
Once connected, the option is turned off again, so an established connection behaves as
without it (soft ICMP errors do not end it). The connect itself is a non-blocking
``connect_ex`` and one wait for writability, then the socket is handed to the loop's
transport: ``loop.sock_connect`` costs about twice as much CPU per connect under uvloop
(it resolves the address again), ``create_connection(host=...)`` gives no socket to set
the option on. The numbers are in ``docs/performance.md``.

The deadlines measure the network, not the client. A busy event loop runs its timers
before it looks for I/O, so a timer can fire while the answer already sits in the
kernel, unseen. So when a deadline fires, it first checks the real clock (the loop's
cached time can be stale by a whole iteration: too early, the timer is re-armed for
the rest) and then asks the kernel (``poll`` with a zero timeout on the socket): a
connect that completed, or bytes (or an EOF, or a reset) waiting to be read, are the
answer, and the wait goes on until the loop delivers them. Only a socket the kernel
has nothing for is a timeout.
"""

from __future__ import annotations

import asyncio
import errno
import os
import select
import socket
import struct
import sys
import time
from collections.abc import Callable
from typing import Any, cast

from epmscan.engine.icmp import ERRQUEUE_CONTROL_SIZE, icmp_from_ancillary, recverr_option
from epmscan.errors import (
    ConnectionClosedError,
    ConnectRefusedError,
    ConnectTimeoutError,
    HostUnreachableError,
    LocalResourceError,
    ReadTimeoutError,
    TransportError,
)
from epmscan.models import IcmpError

_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN}
_LOCAL = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM, errno.EADDRNOTAVAIL}
_REFUSED = {errno.ECONNREFUSED, errno.ECONNRESET}
_PROHIBITED = {errno.EACCES, errno.EPERM}
"""What a connect fails with when ICMPv6 says "administratively prohibited" (EACCES):
unreachable when the error queue holds that message."""
_LINGER_ABORT = struct.pack("ii", 1, 0)
_ERROR_QUEUE = sys.platform.startswith("linux")
"""``IP_RECVERR``/``IPV6_RECVERR`` and ``MSG_ERRQUEUE`` are Linux's."""
_STREAM_NONBLOCKING = socket.SOCK_STREAM | getattr(socket, "SOCK_NONBLOCK", 0)
"""Where the platform has it, the socket is made non-blocking by ``socket()`` itself."""


def translate_os_error(exc: OSError, *, connecting: bool) -> TransportError:
    """Map an ``OSError`` from the socket layer onto our hierarchy."""
    code = exc.errno
    if code is not None and code > 0:
        text = os.strerror(code)  # not the event loop's "Connect call failed (address)"
    else:
        text = exc.strerror or str(exc) or type(exc).__name__
    if isinstance(exc, ConnectionRefusedError) or (connecting and code in _REFUSED):
        return ConnectRefusedError("connection refused")
    if code in _UNREACHABLE:
        return HostUnreachableError(text.lower())
    if code in _LOCAL:
        return LocalResourceError(f"local resource exhausted: {text.lower()}")
    if code == errno.ETIMEDOUT:
        return (
            ConnectTimeoutError("no answer to connect")
            if connecting
            else ReadTimeoutError("connection timed out")
        )
    if connecting:
        return TransportError(f"connect failed: {text}")
    if isinstance(exc, ConnectionResetError) or code == errno.ECONNRESET:
        return ConnectionClosedError("connection reset by peer")
    return TransportError(text)


class _BufferingProtocol(asyncio.Protocol):
    __slots__ = ("_chunks", "_closed_exc", "_eof", "_transport", "_waiter")

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._waiter: asyncio.Future[None] | None = None
        self._eof = False
        self._closed_exc: BaseException | None = None
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport: no isinstance check here.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._chunks.append(data)
        self._wake()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._closed_exc = exc
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class Connection:
    """One established TCP connection. Not safe for concurrent readers."""

    __slots__ = ("_fd", "_loop", "_protocol", "_transport")

    def __init__(self, transport: asyncio.Transport, protocol: _BufferingProtocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self._loop = asyncio.get_running_loop()
        self._fd = -1

    def write(self, data: bytes) -> None:
        if self._transport.is_closing():
            raise ConnectionClosedError("connection closed by peer")
        self._transport.write(data)

    async def read(self, timeout: float) -> bytes:
        """The bytes that arrived since the last read; waits up to ``timeout`` for some.

        Raises :class:`ReadTimeoutError` when nothing came, :class:`ConnectionClosedError`
        when the peer closed or reset the connection and nothing is left to read.
        """
        proto = self._protocol
        if not proto._chunks and not proto._eof:
            deadline = time.monotonic() + timeout
            wait = timeout
            while True:
                waiter: asyncio.Future[None] = self._loop.create_future()
                proto._waiter = waiter
                timer = self._loop.call_later(wait, _expire, waiter)
                try:
                    await waiter
                finally:
                    timer.cancel()
                    proto._waiter = None
                if proto._chunks or proto._eof:
                    break
                wait = deadline - time.monotonic()
                if wait > 0:
                    continue  # the loop's clock was behind: the deadline has not come yet
                if not _has_events(self._socket_fd(), select.POLLIN):
                    raise ReadTimeoutError(f"no answer within {timeout:g} s")
                wait = timeout  # the answer is in the kernel: the loop delivers it next
        if proto._chunks:
            chunks = proto._chunks
            data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            proto._chunks = []
            return data
        exc = proto._closed_exc
        if isinstance(exc, OSError):
            raise translate_os_error(exc, connecting=False)
        raise ConnectionClosedError("connection closed by peer")

    def _socket_fd(self) -> int:
        if self._fd < 0:
            sock = self._transport.get_extra_info("socket")
            self._fd = sock.fileno() if sock is not None else -1
        return self._fd

    def close(self, *, abort: bool = False) -> None:
        """Close the connection; ``abort`` sends a RST instead of a FIN (no TIME_WAIT)."""
        if abort:
            sock = self._transport.get_extra_info("socket")
            if sock is not None:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ABORT)
                except OSError:
                    pass
            self._transport.abort()
        else:
            self._transport.close()


def _expire(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _has_events(fd: int, events: int) -> bool:
    """Whether the kernel has ``events`` (or an error, or a hang-up) for ``fd`` right now."""
    if fd < 0:
        return False
    poller = select.poll()
    poller.register(fd, events)
    return bool(poller.poll(0))


_WRITABLE = "writable"


def _connect_done(waiter: asyncio.Future[str | None]) -> None:
    if not waiter.done():
        waiter.set_result(_WRITABLE)


async def _wait_connected(
    loop: asyncio.AbstractEventLoop, sock: socket.socket, timeout: float
) -> int:
    """Wait until the connect of ``sock`` ends and return its ``SO_ERROR`` (0: connected).

    The deadline runs from the SYN (the ``connect`` call just before), on the real clock;
    ``ConnectTimeoutError`` when the kernel has no answer for the socket at the deadline.
    """
    fd = sock.fileno()
    deadline = time.monotonic() + timeout
    wait = timeout
    try:
        while True:
            waiter: asyncio.Future[str | None] = loop.create_future()
            loop.add_writer(fd, _connect_done, waiter)
            timer = loop.call_later(wait, _expire, waiter)
            try:
                if await waiter == _WRITABLE:
                    break
            finally:
                timer.cancel()
            wait = deadline - time.monotonic()
            if wait > 0:
                continue  # the loop's clock was behind: the deadline has not come yet
            if _has_events(fd, select.POLLOUT):
                break  # the kernel has the answer: the busy loop had not looked yet
            raise ConnectTimeoutError(f"no answer to connect within {timeout:g} s")
    finally:
        loop.remove_writer(fd)
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)


def _queued_icmp(sock: socket.socket) -> IcmpError | None:
    """The ICMP error waiting in the socket's error queue, if any (never blocks)."""
    try:
        _data, ancillary, _flags, _address = sock.recvmsg(
            1, ERRQUEUE_CONTROL_SIZE, socket.MSG_ERRQUEUE
        )
    except OSError:
        return None
    return icmp_from_ancillary(ancillary)


def _connect_error(sock: socket.socket, code: int) -> TransportError:
    """The error for a connect that failed with ``code``, with the queued ICMP message."""
    error = translate_os_error(OSError(code, os.strerror(code)), connecting=True)
    if _ERROR_QUEUE and (isinstance(error, HostUnreachableError) or code in _PROHIBITED):
        icmp = _queued_icmp(sock)
        if icmp is not None:
            text = str(error) if isinstance(error, HostUnreachableError) else "unreachable"
            error = HostUnreachableError(text, icmp)
    return error


async def open_tcp(
    address: str,
    port: int,
    *,
    connect_timeout: float,
    on_local: Callable[[str, int], None] | None = None,
) -> Connection:
    """Connect to ``address:port`` (an IP literal) within ``connect_timeout`` seconds.

    An unreachable host raises :class:`HostUnreachableError` with the ICMP message that
    said so, where the kernel queued one (Linux). ``on_local`` is told this end's address
    and port as soon as the SYN is on its way, also when the connect then fails (a trace
    finds the connection's packets by them).

    The timeout is the network's: an answer the kernel received in time counts even when
    the event loop was too busy to see it before the timer fired.
    """
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        sock = socket.socket(family, _STREAM_NONBLOCKING)
    except OSError as exc:
        raise translate_os_error(exc, connecting=True) from None
    try:
        if _STREAM_NONBLOCKING == socket.SOCK_STREAM:
            sock.setblocking(False)
        if _ERROR_QUEUE:
            level, option = recverr_option(family)
            sock.setsockopt(level, option, 1)
        code = sock.connect_ex((address, port))
        if on_local is not None:
            local = sock.getsockname()
            on_local(str(local[0]), int(local[1]))
        if code == errno.EINPROGRESS:
            code = await _wait_connected(loop, sock, connect_timeout)
        if code:
            raise _connect_error(sock, code)
        if _ERROR_QUEUE:
            sock.setsockopt(level, option, 0)
        try:
            transport, protocol = await loop.create_connection(_BufferingProtocol, sock=sock)
        except OSError as exc:
            raise translate_os_error(exc, connecting=True) from None
    except BaseException:
        sock.close()
        raise
    return Connection(transport, protocol)  # a uvloop transport at run time, typed as asyncio's
