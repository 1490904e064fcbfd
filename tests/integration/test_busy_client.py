"""A busy client still reports every live host right: the timeouts measure the network.

The event loop is blocked on purpose (``time.sleep`` in a callback: the loop cannot look
at its sockets meanwhile) for longer than the connect timeout, while answers arrive in
the kernel. A deadline that counted the client's own busy time would call those hosts
``filtered`` or ``timeout``; the transport asks the kernel when its timer fires, so it
must not. Peers that really do not answer must still time out. Addresses come from
127.105.0.0/16; ports are picked free.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from epmscan.app.observer import RunObserver, RunStart
from epmscan.app.scan import run_scan
from epmscan.engine.transport import open_tcp
from epmscan.errors import ConnectTimeoutError, ReadTimeoutError
from epmscan.lab import LabThread, load_lab_file
from epmscan.models import HostResult, HostStatus
from epmscan.settings import NetworkSettings, ScanSettings, TargetSettings, Timeouts
from tests.support.scattered import free_port_on, scattered_addresses, write_lab

ADDRESS = "127.105.3.1"


def block_loop(seconds: float) -> None:
    """The client is busy: nothing else runs in the loop meanwhile."""
    time.sleep(seconds)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind((ADDRESS, 0))
    sock.listen(16)
    try:
        yield sock
    finally:
        sock.close()


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A port on ADDRESS whose listener never accepts, queue full: SYNs are dropped."""
    sock = socket.socket()
    sock.bind((ADDRESS, 0))
    sock.listen(0)
    port = sock.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex((ADDRESS, port))
            fillers.append(filler)
        yield port
    finally:
        for filler in fillers:
            filler.close()
        sock.close()


def test_a_connect_answered_while_the_loop_was_blocked_is_connected(
    listener: socket.socket,
) -> None:
    port = listener.getsockname()[1]

    async def main() -> None:
        connecting = asyncio.ensure_future(open_tcp(ADDRESS, port, connect_timeout=0.2))
        await asyncio.sleep(0)  # the SYN goes out
        block_loop(0.6)  # the SYN-ACK arrives now; the timer is long past when we look
        conn = await connecting
        conn.close(abort=True)

    asyncio.run(main())


def test_bytes_that_arrived_while_the_loop_was_blocked_are_read(
    listener: socket.socket,
) -> None:
    port = listener.getsockname()[1]

    async def main() -> bytes:
        conn = await open_tcp(ADDRESS, port, connect_timeout=2)
        peer, _ = listener.accept()
        try:
            reading = asyncio.ensure_future(conn.read(0.2))
            await asyncio.sleep(0)  # the read arms its timer
            peer.sendall(b"answer")
            block_loop(0.6)
            return await reading
        finally:
            peer.close()
            conn.close(abort=True)

    assert asyncio.run(main()) == b"answer"


def test_a_dropped_syn_is_still_a_connect_timeout_when_the_loop_was_blocked(
    full_backlog: int,
) -> None:
    async def main() -> None:
        connecting = asyncio.ensure_future(open_tcp(ADDRESS, full_backlog, connect_timeout=0.2))
        await asyncio.sleep(0)
        block_loop(0.4)
        await connecting

    with pytest.raises(ConnectTimeoutError):
        asyncio.run(main())


def test_a_silent_peer_is_still_a_read_timeout_when_the_loop_was_blocked(
    listener: socket.socket,
) -> None:
    port = listener.getsockname()[1]

    async def main() -> None:
        conn = await open_tcp(ADDRESS, port, connect_timeout=2)
        peer, _ = listener.accept()
        try:
            reading = asyncio.ensure_future(conn.read(0.2))
            await asyncio.sleep(0)
            block_loop(0.4)
            await reading
        finally:
            peer.close()
            conn.close(abort=True)

    with pytest.raises(ReadTimeoutError):
        asyncio.run(main())


class LoopHog(RunObserver[HostResult]):
    """Blocks the scan's event loop for ``seconds`` every ``every`` seconds while it runs."""

    def __init__(self, seconds: float, every: float) -> None:
        self.seconds = seconds
        self.every = every
        self.blocks = 0
        self.results: list[HostResult] = []
        self._handle: asyncio.TimerHandle | None = None

    def run_started(self, start: RunStart) -> None:
        self._handle = asyncio.get_running_loop().call_later(self.every, self._block)

    def _block(self) -> None:
        block_loop(self.seconds)
        self.blocks += 1
        self._handle = asyncio.get_running_loop().call_later(self.every, self._block)

    def host_done(self, result: HostResult) -> None:
        self.results.append(result)

    def run_finished(self, summary: object) -> None:
        if self._handle is not None:
            self._handle.cancel()


@pytest.mark.slow
def test_a_blocked_client_reports_every_live_host_of_a_closed_range_ok(tmp_path: Path) -> None:
    network = "127.105.16.0/20"
    live = scattered_addresses(network, 40, seed=11)
    port = free_port_on(live)
    config = load_lab_file(write_lab(tmp_path / "lab.toml", port, live))
    # The default settings but a short connect timeout (as in the report that found
    # this: --connect-timeout 1); the loop is blocked for twice that, again and again.
    settings = ScanSettings(
        targets=TargetSettings(specs=(network,)),
        network=NetworkSettings(port=port, timeouts=Timeouts(connect=0.3)),
    )
    hog = LoopHog(seconds=0.6, every=0.1)
    with LabThread(config):
        outcome = run_scan(settings, hog)
    by_address = {r.address: r for r in hog.results}
    assert len(hog.results) == len(by_address) == 4096
    assert hog.blocks >= 1
    missed = {a: by_address[a].status.value for a in live if by_address[a].status != "ok"}
    assert missed == {}, f"live hosts not ok: {missed}"
    others = {r.status for r in hog.results if r.address not in set(live)}
    assert others == {HostStatus.CLOSED}
    assert outcome.summary.done == 4096
