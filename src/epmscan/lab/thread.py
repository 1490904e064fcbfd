"""The lab in a background thread with its own event loop, for blocking callers.

``with LabThread(config) as lab:`` returns once every listener is bound; blocking clients
(impacket, subprocesses of the CLI, synchronous tests) can then connect. Leaving the
block stops the lab and joins the thread. Counters on ``lab.hosts[...].stats`` are plain
integers, readable from the calling thread.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

from epmscan.lab.config import LabConfig
from epmscan.lab.server import Lab


class LabThread:
    """Run a :class:`Lab` in a daemon thread; a context manager yielding the started lab."""

    def __init__(self, config: LabConfig, *, start_timeout: float = 30.0) -> None:
        self.config = config
        self.start_timeout = start_timeout
        self.lab = Lab(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="epmscan-lab", daemon=True)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            await self.lab.start()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self.lab.stop()

    def start(self) -> Lab:
        """Start the thread and wait until the lab listens (re-raises a start error)."""
        self._thread.start()
        if not self._ready.wait(self.start_timeout):
            raise TimeoutError("the lab did not start in time")
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self.lab

    def stop(self) -> None:
        """Stop the lab and wait for the thread to end."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and self._thread.is_alive():
            loop.call_soon_threadsafe(stop.set)
        if self._thread.is_alive():
            self._thread.join(30)

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
