"""impacket's own client, authenticated: ``epm.hept_lookup`` over NTLM at packet integrity.

    EPMSCAN_PASSWORD=... python tests/support/impacket_auth_lookup.py ADDR PORT [DOMAIN\\user]

Sets the credentials and the authentication level on impacket's transport, connects and
calls ``epm.hept_lookup(None, dce=dce)``, which binds the endpoint mapper itself
(impacket's ``rpcdump.py`` never authenticates on port 135, so it cannot be used).
Without a user it does the same anonymously. The password comes from
``EPMSCAN_PASSWORD`` (never the command line). Prints one JSON object,
``{"status": "ok", "entries": [[uuid, version, transport, port], ...]}`` or
``{"status": "error", "error": "..."}``, and exits 0 either way.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from impacket.dcerpc.v5 import epm, transport
from impacket.dcerpc.v5.rpcrt import (
    RPC_C_AUTHN_LEVEL_PKT_INTEGRITY,
    RPC_C_AUTHN_WINNT,
)

from tests.support.impacket_peer import _tower_from_floors
from tests.support.loopback import require_loopback


def lookup(address: str, port: int, account: str | None) -> list[list[object]]:
    rpc = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:{require_loopback(address)}[{port}]")
    rpc.set_connect_timeout(5)
    if account is not None:
        domain, _, user = account.rpartition("\\")
        rpc.set_credentials(user, os.environ["EPMSCAN_PASSWORD"], domain)
    dce = rpc.get_dce_rpc()
    if account is not None:
        dce.set_auth_type(RPC_C_AUTHN_WINNT)
        dce.set_auth_level(RPC_C_AUTHN_LEVEL_PKT_INTEGRITY)
    dce.connect()
    try:
        entries = epm.hept_lookup(None, dce=dce)  # it binds the endpoint mapper itself
    finally:
        dce.disconnect()
    towers = [_tower_from_floors(e["tower"]["Floors"], e["annotation"]) for e in entries]
    return [[t.uuid, t.version, t.transport, t.port] for t in towers]


def main() -> None:
    address, port = sys.argv[1], int(sys.argv[2])
    account = sys.argv[3] if len(sys.argv) > 3 else None
    try:
        result: dict[str, object] = {"status": "ok", "entries": lookup(address, port, account)}
    except Exception as exc:  # impacket's DCERPCException and friends: the peer's answer
        result = {"status": "error", "error": str(exc)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
