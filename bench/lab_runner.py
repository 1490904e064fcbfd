"""Run a wildcard lab until SIGTERM/SIGINT; write its live addresses, then say READY.

Started by ``scan_bench.py`` inside the benchmark's network namespace:
``python bench/lab_runner.py NETWORK LIVE PORT LIVE_FILE``. Every host's endpoint map
is encoded before the clients come (the lab otherwise does it on a host's first
lookup, and each benchmark client asks each host once). The live addresses are
written one a line to LIVE_FILE before ``READY`` is printed on stdout, so the
benchmark can give the same hosts to every client.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys

from epmscan.engine.loop import run
from epmscan.lab import Lab, parse_lab, run_lab

PROFILES = ["exchange2010-cas-static", "exchange2010-cas-dynamic", "windows-member"]


BACKLOG = 4096


def widen_backlogs(lab: Lab) -> None:
    """Listen again with a deeper accept queue on every lab socket.

    ``asyncio.start_server(sock=...)`` calls ``listen(100)`` on the socket it is given, so
    a lab answering a few hundred clients at once overflows its accept queue and the
    kernel drops SYNs (each costing the client a 1 s retransmit). Calling ``listen``
    again on the same descriptor only changes the backlog.
    """
    for server in lab._servers:
        for transport_socket in server.sockets:
            sock = socket.socket(fileno=transport_socket.fileno())
            try:
                sock.listen(BACKLOG)
            finally:
                sock.detach()


async def serve(network: str, live: int, port: int, live_file: str) -> None:
    config = parse_lab(
        {
            "lab": {"epm_port": port},
            "wildcard": {
                "hosts": network,
                "live": live,
                "seed": 7,
                "profiles": PROFILES,
                "paging": "windows",
            },
        },
        "scan_bench",
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with run_lab(config) as lab:
        widen_backlogs(lab)
        for host in lab.hosts.values():
            host.endpoint_map.encoded  # noqa: B018 - encode every map before the clients come
        with open(live_file, "w", encoding="ascii") as out:
            out.writelines(f"{address}\n" for address in lab.hosts)
        print("READY", flush=True)
        await stop.wait()
    print(f"lab stats: {lab.stats}", file=sys.stderr, flush=True)


def main() -> None:
    network, live, port, live_file = sys.argv[1:5]
    run(serve(network, int(live), int(port), live_file))


if __name__ == "__main__":
    main()
