"""The I/O edge: TCP connections with per-phase deadlines, OS errors translated.

A thin ``asyncio.Protocol`` (cheaper than streams on the hot path) buffers what the
peer sends; :meth:`Connection.read` waits for the next bytes with a deadline of its
own. This is the only module that sees ``OSError``: everything it raises is an
:class:`epmscan.errors.TransportError`.

The deadlines measure the network, not the client. A busy event loop runs its timers
before it looks for I/O, so a timer can fire while the answer already sits in the
kernel, unseen. So when a deadline fires, it first checks the real clock (the loop's
cached time can be stale by a whole iteration: too early, the timer is re-armed for
the rest) and then asks the kernel (``poll`` with a zero timeout on the socket): a
connect that completed, or bytes (or an EOF, or a reset) waiting to be read, are the
answer, and the wait goes on until the loop delivers them. Only a socket the kernel
has nothing for is a timeout. ``open_tcp`` therefore makes its socket itself (a
non-blocking ``connect``, completion seen as writability) and hands it to the loop's
transport once connected.
"""

from __future__ import annotations

import asyncio
import errno
import os
import select
import socket
import struct
import time
from typing import Any, cast

from epmscan.errors import (
    ConnectionClosedError,
    ConnectRefusedError,
    ConnectTimeoutError,
    HostUnreachableError,
    LocalResourceError,
    ReadTimeoutError,
    TransportError,
)

_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN}
_LOCAL = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM, errno.EADDRNOTAVAIL}
_REFUSED = {errno.ECONNREFUSED, errno.ECONNRESET}
_LINGER_ABORT = struct.pack("ii", 1, 0)


def translate_os_error(exc: OSError, *, connecting: bool) -> TransportError:
    """Map an ``OSError`` from the socket layer onto our hierarchy."""
    code = exc.errno
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
) -> None:
    """Wait until the connect of ``sock`` ends; raises ``ConnectTimeoutError`` or an ``OSError``.

    The deadline runs from the SYN (the ``connect`` call just before), on the real clock.
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
    error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if error:
        raise OSError(error, os.strerror(error))


async def open_tcp(address: str, port: int, *, connect_timeout: float) -> Connection:
    """Connect to ``address:port`` (an IP literal) within ``connect_timeout`` seconds.

    The timeout is the network's: an answer the kernel received in time counts even when
    the event loop was too busy to see it before the timer fired.
    """
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        raise translate_os_error(exc, connecting=True) from None
    try:
        sock.setblocking(False)
        try:
            sock.connect((address, port))
        except BlockingIOError:
            await _wait_connected(loop, sock, connect_timeout)
        transport, protocol = await loop.create_connection(_BufferingProtocol, sock=sock)
    except OSError as exc:
        sock.close()
        raise translate_os_error(exc, connecting=True) from None
    except BaseException:
        sock.close()
        raise
    return Connection(transport, protocol)  # a uvloop transport at run time, typed as asyncio's
