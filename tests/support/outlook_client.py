"""An Outlook stand-in made of impacket: ``hept_map`` for an interface, then a bind on the port.

Outlook's RPC runtime asks the endpoint mapper (TCP 135) for the interface's port with
``ept_map``, then connects to that port on the address it asked and binds the interface.
impacket's ``epm.hept_map`` and a ``DCERPC_v5`` bind do the same with another
implementation than epmscan's, so a capture of it is a fair test of ``epmscan pcap``.

Run as ``python -m tests.support.outlook_client ADDRESS INTERFACE_UUID VERSION`` (inside a
test's network namespace); it prints one JSON object: the binding it got and how the
connect and bind ended (``bound``, or the exception's class and text). Exit 0 either way.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def outlook_like(address: str, uuid: str, version: str, *, timeout: float = 4.0) -> dict[str, Any]:
    """Resolve the interface through ``address``'s endpoint mapper, then bind it there."""
    from impacket.dcerpc.v5 import epm, transport
    from impacket.uuid import uuidtup_to_bin

    interface = uuidtup_to_bin((uuid, version))
    result: dict[str, Any] = {"binding": None, "outcome": None, "error": None}
    try:
        binding = epm.hept_map(address, interface, protocol="ncacn_ip_tcp")
    except Exception as exc:  # report whatever impacket raised, as the test's evidence
        result.update(outcome="ept_map failed", error=f"{type(exc).__name__}: {exc}")
        return result
    result["binding"] = binding
    rpc = transport.DCERPCTransportFactory(binding)
    rpc.set_connect_timeout(timeout)
    dce = rpc.get_dce_rpc()
    try:
        dce.connect()
        dce.bind(interface)
    except Exception as exc:
        result.update(outcome="failed", error=f"{type(exc).__name__}: {exc}")
        return result
    finally:
        try:
            dce.disconnect()
        except Exception:
            pass
    result["outcome"] = "bound"
    return result


def main(argv: list[str]) -> int:
    address, uuid, version = argv
    print(json.dumps(outlook_like(address, uuid, version)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
