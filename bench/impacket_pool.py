"""impacket's own client as a user would script it: ``hept_lookup`` in a thread pool.

Each thread opens ``ncacn_ip_tcp:ADDRESS[PORT]`` with ``DCERPCTransportFactory``,
connects, and calls ``epm.hept_lookup(None, dce=dce)`` (which binds and pages through
every entry), then disconnects. Blocking sockets, one host per thread at a time.

    python bench/impacket_pool.py --targets live.txt --port 135 --threads 64

Prints one JSON object: hosts, answered, entries, errors, elapsed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from impacket.dcerpc.v5 import epm, transport


def lookup(address: str, port: int, timeout: float) -> int:
    """Entries of one host, or -1 when it failed."""
    binding = f"ncacn_ip_tcp:{address}[{port}]"
    rpc = transport.DCERPCTransportFactory(binding)
    rpc.set_connect_timeout(timeout)
    dce = rpc.get_dce_rpc()
    try:
        dce.connect()
        entries = epm.hept_lookup(None, dce=dce)
    except Exception:
        return -1
    finally:
        try:
            dce.disconnect()
        except Exception:
            pass
    return len(entries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", required=True, help="file of addresses, one a line")
    parser.add_argument("--port", type=int, default=135)
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--limit", type=int, default=0, help="only the first N addresses")
    parser.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args()
    with open(args.targets, encoding="ascii") as lines:
        addresses = [line.strip() for line in lines if line.strip()]
    if args.limit:
        addresses = addresses[: args.limit]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.threads) as pool:
        counts = list(pool.map(lambda a: lookup(a, args.port, args.timeout), addresses))
    elapsed = time.perf_counter() - started
    json.dump(
        {
            "hosts": len(addresses),
            "answered": sum(1 for n in counts if n >= 0),
            "entries": sum(n for n in counts if n > 0),
            "errors": sum(1 for n in counts if n < 0),
            "elapsed": round(elapsed, 4),
        },
        sys.stdout,
    )
    print()


if __name__ == "__main__":
    main()
