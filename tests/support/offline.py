"""An event loop whose resolver sends nothing: only 'localhost' is looked up for real.

Any other name fails like NXDOMAIN (or hangs, with ``HangingLoop``) without a query
leaving the machine: the tests must never reach a DNS server.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any


class OfflineLoop(asyncio.SelectorEventLoop):
    """Resolves 'localhost' for real; any other name fails (or hangs) without traffic."""

    hang = False

    async def getaddrinfo(self, host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "localhost":
            return await super().getaddrinfo(host, *args, **kwargs)
        if self.hang:
            await asyncio.sleep(3600)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


class HangingLoop(OfflineLoop):
    hang = True


def run_offline(coro: Any, loop_class: type[OfflineLoop] = OfflineLoop) -> Any:
    with asyncio.Runner(loop_factory=loop_class) as runner:
        return runner.run(coro)
