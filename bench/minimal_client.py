"""The ceiling for Python on this machine: connect, bind, one ``ept_lookup``, read, reset.

No parsing beyond the 16-byte PDU header (to know when the bind_ack and the last
response fragment are in), no result objects, no output per host. The bind PDU and
the request PDU are built once and sent unchanged to every host. Each connection is
ended with a reset (``SO_LINGER`` 0), as epmscan does.

    python bench/minimal_client.py --targets live.txt --port 135 --concurrency 1000
    python bench/minimal_client.py --targets 127.77.0.0/16 ...   # every address of a network

Prints one JSON object: hosts, answered, refused, timeouts, errors, elapsed, bytes_in.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import socket
import struct
import sys
import time
from collections.abc import Iterator

from epmscan.protocol.client_connection import ClientConnection
from epmscan.protocol.constants import EPM_INTERFACE, OP_EPT_LOOKUP
from epmscan.protocol.epm_client import build_lookup_request

PTYPE_RESPONSE, PTYPE_FAULT, PTYPE_BIND_ACK, PTYPE_BIND_NAK = 2, 3, 12, 13
LAST_FRAG = 0x02
LINGER_RESET = struct.pack("ii", 1, 0)


def fixed_pdus() -> tuple[bytes, bytes]:
    """The bind PDU and one ``ept_lookup`` request PDU (call ids 1 and 2)."""
    bind = ClientConnection().bind(EPM_INTERFACE)
    stub = build_lookup_request()
    head = struct.pack(
        "<BBBB4sHHIIHH",
        5,
        0,
        0,
        0x03,
        b"\x10\x00\x00\x00",
        24 + len(stub),
        0,
        2,
        len(stub),
        0,
        OP_EPT_LOOKUP,
    )
    return bind, head + stub


BIND, LOOKUP = fixed_pdus()


class LookupOnce(asyncio.Protocol):
    """Send the bind, then the request; resolve ``done`` when the last fragment is in."""

    def __init__(self, done: asyncio.Future[int]) -> None:
        self.done = done
        self.buffer = bytearray()
        self.bound = False
        self.transport: asyncio.Transport | None = None
        self.received = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(BIND)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        buffer = self.buffer
        buffer += data
        while len(buffer) >= 16:
            frag_length = buffer[8] | buffer[9] << 8
            if len(buffer) < frag_length:
                return
            ptype, flags = buffer[2], buffer[3]
            del buffer[:frag_length]
            if not self.bound:
                if ptype != PTYPE_BIND_ACK:
                    self._finish(-1)
                    return
                self.bound = True
                assert self.transport is not None
                self.transport.write(LOOKUP)
            elif ptype == PTYPE_FAULT or (ptype == PTYPE_RESPONSE and flags & LAST_FRAG):
                self._finish(self.received)
                return

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish(-1)

    def _finish(self, value: int) -> None:
        if not self.done.done():
            self.done.set_result(value)


class Tally:
    __slots__ = ("answered", "bytes_in", "errors", "hosts", "refused", "timeouts")

    def __init__(self) -> None:
        self.hosts = self.answered = self.refused = self.timeouts = self.errors = 0
        self.bytes_in = 0


def _reset(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
        except OSError:
            pass
    transport.abort()  # type: ignore[attr-defined]


async def one_host(address: str, port: int, timeout: float, tally: Tally) -> None:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[int] = loop.create_future()
    tally.hosts += 1
    transport = None
    try:
        async with asyncio.timeout(timeout):
            transport, _ = await loop.create_connection(
                lambda: LookupOnce(done), host=address, port=port
            )
            received = await done
    except TimeoutError:
        tally.timeouts += 1
        return
    except ConnectionRefusedError:
        tally.refused += 1
        return
    except OSError:
        tally.errors += 1
        return
    finally:
        if transport is not None:
            _reset(transport)
    if received > 0:
        tally.answered += 1
        tally.bytes_in += received
    else:
        tally.errors += 1


async def worker(addresses: Iterator[str], port: int, timeout: float, tally: Tally) -> None:
    for address in addresses:
        await one_host(address, port, timeout, tally)


def iter_targets(spec: str) -> Iterator[str]:
    if "/" in spec and not spec.endswith(".txt"):
        network = ipaddress.IPv4Network(spec)
        base = int(network.network_address)
        for offset in range(network.num_addresses):
            yield str(ipaddress.IPv4Address(base + offset))
        return
    with open(spec, encoding="ascii") as lines:
        for line in lines:
            if line.strip():
                yield line.strip()


async def main_async(args: argparse.Namespace) -> dict[str, float | int]:
    tally = Tally()
    addresses = iter_targets(args.targets)
    started = time.perf_counter()
    await asyncio.gather(
        *(worker(addresses, args.port, args.timeout, tally) for _ in range(args.concurrency))
    )
    elapsed = time.perf_counter() - started
    return {
        "hosts": tally.hosts,
        "answered": tally.answered,
        "refused": tally.refused,
        "timeouts": tally.timeouts,
        "errors": tally.errors,
        "bytes_in": tally.bytes_in,
        "elapsed": round(elapsed, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", required=True, help="file of addresses, or a CIDR network")
    parser.add_argument("--port", type=int, default=135)
    parser.add_argument("--concurrency", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--asyncio", action="store_true", help="stock asyncio, not uvloop")
    args = parser.parse_args()
    if args.asyncio:
        result = asyncio.run(main_async(args))
    else:
        import uvloop

        result = uvloop.run(main_async(args))
    result["loop"] = "asyncio" if args.asyncio else "uvloop"  # type: ignore[assignment]
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
