"""impacket 0.13.1 as a peer: its blocking EPM client and its ``rpcdump.py`` example script.

Two views of the same endpoint mapper, both decoded by impacket's own NDR code:
- ``raw_lookup`` walks ``ept_lookup`` with ``checkError=False``, so it keeps the last batch
  that Samba sends with status 0x16c9a0d6: the independent list of every tower;
- ``hept_lookup`` is impacket's helper as ``rpcdump.py`` uses it, which does not keep it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from struct import unpack

from tests.support.loopback import require_loopback

TRANSPORT_BY_FLOOR = {
    0x07: "ncacn_ip_tcp",
    0x08: "ncadg_ip_udp",
    0x0F: "ncacn_np",
    0x10: "ncalrpc",
    0x1F: "ncacn_http",
}


@dataclass(frozen=True)
class ImpacketTower:
    """One ``ept_entry_t`` as impacket decodes it (floors read as they are on the wire)."""

    uuid: str
    version: str
    transport: str
    address: str | None
    port: int | None
    endpoint: str | None
    annotation: str


@dataclass(frozen=True)
class RawLookup:
    """Every entry of a complete lookup walk and, per page, (num_ents, status)."""

    towers: tuple[ImpacketTower, ...]
    pages: tuple[tuple[int, int], ...]


def _tower_from_floors(floors: list, annotation: bytes) -> ImpacketTower:  # type: ignore[type-arg]
    from impacket.uuid import bin_to_string

    interface = floors[0]
    transport, address, port, endpoint = "unknown", None, None, None
    for floor in floors[3:]:
        ident, data = floor["ProtocolData"][0], floor["RelatedData"]
        if ident in TRANSPORT_BY_FLOOR and transport == "unknown":
            transport = TRANSPORT_BY_FLOOR[ident]
        if ident in (0x07, 0x08, 0x1F):
            port = unpack("!H", data)[0]
        elif ident == 0x09:
            address = socket.inet_ntoa(data)
        elif ident in (0x0F, 0x10):
            endpoint = data.rstrip(b"\x00").decode()
        elif ident in (0x01, 0x11):
            address = data.rstrip(b"\x00").decode() or None
    return ImpacketTower(
        uuid=bin_to_string(interface["InterfaceUUID"]).lower(),
        version=f"{interface['MajorVersion']}.{interface['MinorVersion']}",
        transport=transport,
        address=address,
        port=port,
        endpoint=endpoint,
        annotation=annotation.rstrip(b"\x00").decode(),
    )


def _connect(address: str, port: int):  # type: ignore[no-untyped-def]
    from impacket.dcerpc.v5 import epm, transport

    rpc_transport = transport.DCERPCTransportFactory(
        f"ncacn_ip_tcp:{require_loopback(address)}[{port}]"
    )
    rpc_transport.set_connect_timeout(5)
    dce = rpc_transport.get_dce_rpc()
    dce.connect()
    dce.bind(epm.MSRPC_UUID_PORTMAP)
    return dce


def raw_lookup(address: str, port: int = 135, *, max_ents: int = 500) -> RawLookup:
    """Walk ``ept_lookup`` with impacket, keeping the entries of the final (status != 0) batch."""
    from impacket.dcerpc.v5 import epm

    dce = _connect(address, port)
    towers: list[ImpacketTower] = []
    pages: list[tuple[int, int]] = []
    handle = epm.ept_lookup_handle_t()
    try:
        for _ in range(10_000):
            request = epm.ept_lookup()
            request["inquiry_type"] = epm.RPC_C_EP_ALL_ELTS
            request["object"] = epm.NULL
            request["Ifid"] = epm.NULL
            request["vers_option"] = epm.RPC_C_VERS_ALL
            request["entry_handle"] = handle
            request["max_ents"] = max_ents
            response = dce.request(request, checkError=False)
            pages.append((response["num_ents"], response["status"]))
            for i in range(response["num_ents"]):
                entry = response["entries"][i]
                tower = epm.EPMTower(b"".join(entry["tower"]["tower_octet_string"]))
                towers.append(_tower_from_floors(tower["Floors"], b"".join(entry["annotation"])))
            handle = response["entry_handle"]
            if response["status"] != 0 or handle.isNull():
                break
    finally:
        dce.disconnect()
    return RawLookup(tuple(towers), tuple(pages))


def hept_lookup(address: str, port: int = 135) -> list[ImpacketTower]:
    """impacket's own ``epm.hept_lookup`` over a connection to ``address:port``."""
    from impacket.dcerpc.v5 import epm, transport

    rpc_transport = transport.DCERPCTransportFactory(
        f"ncacn_ip_tcp:{require_loopback(address)}[{port}]"
    )
    rpc_transport.set_connect_timeout(5)
    dce = rpc_transport.get_dce_rpc()
    dce.connect()
    try:
        entries = epm.hept_lookup(None, dce=dce)
    finally:
        dce.disconnect()
    return [_tower_from_floors(e["tower"]["Floors"], e["annotation"]) for e in entries]


# --- rpcdump.py ------------------------------------------------------------------------


def find_rpcdump() -> str | None:
    """The ``rpcdump.py`` script pip installed with impacket (next to this interpreter first)."""
    beside = shutil.which("rpcdump.py", path=str(_scripts_dir()))
    return beside or shutil.which("rpcdump.py")


def _scripts_dir() -> str:
    import sysconfig

    return sysconfig.get_path("scripts")


@dataclass(frozen=True)
class RpcdumpBlock:
    """One ``Protocol/Provider/UUID/Bindings`` block of rpcdump's output."""

    protocol: str
    provider: str
    uuid: str
    version: str
    annotation: str
    bindings: tuple[str, ...]


@dataclass(frozen=True)
class RpcdumpRun:
    returncode: int
    output: str
    blocks: tuple[RpcdumpBlock, ...]


def run_rpcdump(rpcdump: str, address: str) -> RpcdumpRun:
    """``rpcdump.py ADDR`` (it only speaks to port 135) and its parsed blocks."""
    completed = subprocess.run(
        [sys.executable, rpcdump, require_loopback(address)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    output = completed.stdout + completed.stderr
    return RpcdumpRun(completed.returncode, output, parse_rpcdump(completed.stdout))


def parse_rpcdump(text: str) -> tuple[RpcdumpBlock, ...]:
    """Parse rpcdump's blocks::

    Protocol: [MS-RSP]: Remote Shutdown Protocol
    Provider: wininit.exe
    UUID    : D95AFE70-A6D5-4259-822E-2C84DA1DDB0D v1.0 annotation
    Bindings:
              ncacn_ip_tcp:192.0.2.5[49664]
    """
    blocks: list[RpcdumpBlock] = []
    fields: dict[str, str] = {}
    bindings: list[str] | None = None

    def flush() -> None:
        nonlocal bindings
        if bindings is not None and "uuid" in fields:
            uuid_text, version, *annotation = fields["uuid"].split(" ", 2)
            blocks.append(
                RpcdumpBlock(
                    protocol=fields.get("protocol", ""),
                    provider=fields.get("provider", ""),
                    uuid=uuid_text.lower(),
                    version=version.removeprefix("v"),
                    annotation=annotation[0].strip() if annotation else "",
                    bindings=tuple(bindings),
                )
            )
        fields.clear()
        bindings = None

    for line in text.splitlines():
        if line.startswith("Protocol: "):
            flush()
            fields["protocol"] = line[len("Protocol: ") :].strip()
        elif line.startswith("Provider: "):
            fields["provider"] = line[len("Provider: ") :].strip()
        elif line.startswith("UUID    : "):
            fields["uuid"] = line[len("UUID    : ") :].strip()
        elif line.startswith("Bindings:"):
            bindings = []
        elif bindings is not None and line.startswith("          ") and line.strip():
            bindings.append(line.strip())
        elif not line.strip():
            flush()
    flush()
    return tuple(blocks)


# --- rpcmap.py -------------------------------------------------------------------------


def find_rpcmap() -> str | None:
    """The ``rpcmap.py`` script pip installed with impacket (next to this interpreter first)."""
    beside = shutil.which("rpcmap.py", path=str(_scripts_dir()))
    return beside or shutil.which("rpcmap.py")


@dataclass(frozen=True)
class RpcmapRun:
    """One ``rpcmap.py ncacn_ip_tcp:ADDR[PORT]``: the interfaces it printed, and how it got them."""

    returncode: int
    output: str
    interfaces: frozenset[tuple[str, str]]
    """(lowercase UUID, version) of every ``UUID:`` line."""

    @property
    def brute_forced(self) -> bool:
        """True when the management interface was not available and rpcmap bound its list."""
        return "Bruteforcing UUIDs" in self.output


def run_rpcmap(rpcmap: str, address: str, port: int) -> RpcmapRun:
    """``rpcmap.py -auth-level 1 ncacn_ip_tcp:ADDR[PORT]``: no authentication, as epmscan binds."""
    completed = subprocess.run(
        [
            sys.executable,
            rpcmap,
            "-auth-level",
            "1",
            f"ncacn_ip_tcp:{require_loopback(address)}[{port}]",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    output = completed.stdout + completed.stderr
    return RpcmapRun(completed.returncode, output, parse_rpcmap(completed.stdout))


def parse_rpcmap(text: str) -> frozenset[tuple[str, str]]:
    """The ``UUID: 86D35949-83C9-4044-B424-DB363231FD0C v1.0`` lines of rpcmap's output."""
    found = set()
    for line in text.splitlines():
        if line.startswith("UUID: "):
            uuid_text, version = line[len("UUID: ") :].split()[:2]
            found.add((uuid_text.lower(), version.removeprefix("v")))
    return frozenset(found)
