"""Seeds of the authenticated harnesses: ``auth_client``, ``auth_server``, ``ntlm_tokens``.

Real bytes from three sources, all on loopback:

- the lab: two hosts with ``auth = "ntlm"`` (127.101.0.30-31) walked by epmscan's
  authenticating client with the harnesses' fixed random bytes and clock, on fragment
  sizes 4280, 256 and 64, once with the right password and once with a wrong one; the
  server's stream seeds ``auth_client`` (it verifies, the client's keys being the
  harness's), the lab's CHALLENGEs seed ``ntlm_tokens``;
- a small server in this process (127.101.0.32) speaking the protocol layer's
  ``ServerConnection`` with an ``NtlmServer`` holding the harnesses' fixed server
  challenge, for epmscan's client and for impacket's own (``DCERPC_v5`` with
  ``RPC_C_AUTHN_LEVEL_PKT_INTEGRITY``): the clients' streams seed ``auth_server``
  (they authenticate against the harness's server), their NEGOTIATEs and AUTHENTICATEs
  ``ntlm_tokens``;
- Samba's ``samba-dcerpcd`` when ``make_corpus.py --samba ADDRESS`` names a running one
  whose passdb gives the harnesses' account (``root``, a Unix account Samba needs, with
  the harnesses' password): written as ``peer-samba-*`` (kept across runs without Samba,
  like the ``regress-*`` inputs). Its signed answers verify in ``auth_client``.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import (
    AUTH_DOMAIN,
    AUTH_ENTROPY,
    AUTH_MAX_FRAGS,
    AUTH_NOW,
    AUTH_PASSWORD,
    AUTH_PDU_BY_PDU,
    AUTH_SERVER_CHALLENGE,
    AUTH_USER,
    auth_input,
    token_input,
)
from impacket.ntlm import compute_nthash

from epmscan.errors import ProtocolError
from epmscan.protocol.client_connection import ClientConnection
from epmscan.protocol.constants import (
    EPM_INTERFACE,
    NULL_HANDLE,
    OP_EPT_LOOKUP,
    PTYPE_AUTH3,
    PTYPE_BIND,
    PTYPE_BIND_ACK,
)
from epmscan.protocol.epm_server import encode_lookup_entry, encode_lookup_response
from epmscan.protocol.events import Auth3, BindAck, BindRequest, Request, Response
from epmscan.protocol.lookup_walk import LookupWalk
from epmscan.protocol.ntlm_security import NtlmClient, NtlmServer, account_key, read_verifier
from epmscan.protocol.pdu_stream import PduBuffer
from epmscan.protocol.server_connection import ServerConnection
from epmscan.protocol.towers import encode_tower

AUTH_HARNESSES = ("auth_client", "auth_server", "ntlm_tokens")
LAB_AUTH_ADDRESSES = ("127.101.0.30", "127.101.0.31")
FIXED_SERVER_ADDRESS = "127.101.0.32"
WRONG_PASSWORD = "Not-" + AUTH_PASSWORD
Add = Callable[[str, str, bytes], None]


def _mode(max_frag: int, cut: int = 0) -> int:
    """Fed one PDU at a time (as the peer sent them) with ``max_frag``."""
    return (AUTH_MAX_FRAGS.index(max_frag) << 3) | cut | AUTH_PDU_BY_PDU


def _tokens(stream: bytes, ptypes: tuple[int, ...]) -> list[bytes]:
    """The NTLM tokens of the PDUs of ``ptypes`` in ``stream``."""
    buffer = PduBuffer()
    buffer.feed(stream)
    tokens = []
    try:
        while (item := buffer.next_pdu()) is not None:
            header, fragment = item
            if header.ptype in ptypes and header.auth_length:
                body_end = 20 if header.ptype == PTYPE_AUTH3 else 16
                verifier = read_verifier(header, fragment, body_end)
                if verifier is not None:
                    tokens.append(verifier.value)
    except ProtocolError:
        pass
    return tokens


class AuthRecorder:
    """One authenticating connection, spoken with epmscan's client; both directions kept."""

    def __init__(self, address: str, port: int, password: str, max_frag: int = 4280) -> None:
        self.sock = socket.create_connection((address, port), timeout=5)
        security = NtlmClient(AUTH_USER, AUTH_DOMAIN, password=password)
        self.client = ClientConnection(max_frag, security=security)
        self.to_server = bytearray()
        self.to_client = bytearray()

    def send(self, pdu: bytes) -> None:
        self.to_server += pdu
        self.sock.sendall(pdu)

    def receive(self) -> list[Any]:
        while True:
            data = self.sock.recv(65536)
            if not data:
                return []
            self.to_client += data
            try:
                events = self.client.feed(data)
            except ProtocolError:
                return []
            if events:
                return events

    def authenticate_and_walk(self, max_ents: int, account: str | None = None) -> None:
        """Bind with NTLM, answer the challenge (the harness's entropy and clock), walk."""
        self.send(self.client.bind(EPM_INTERFACE))
        events = self.receive()
        if not events or not isinstance(events[-1], BindAck) or events[-1].auth is None:
            return
        self.send(self.client.auth3(events[-1].auth, entropy=AUTH_ENTROPY, now=AUTH_NOW))
        walk = LookupWalk(max_ents=max_ents)
        while (stub := walk.next_request()) is not None:
            self.send(self.client.request(OP_EPT_LOOKUP, stub))
            events = self.receive()
            if not events or not isinstance(events[-1], Response):
                return
            walk.handle_response(events[-1].stub)

    def close(self) -> tuple[bytes, bytes]:
        self.sock.close()
        return bytes(self.to_server), bytes(self.to_client)


def _free_port(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        port: int = sock.getsockname()[1]
        return port


def add_lab_auth(add: Add) -> None:
    """The lab's ``auth = "ntlm"`` hosts, walked by epmscan's authenticating client."""
    from epmscan.lab import LabThread, parse_lab

    hosts = [
        {"address": address, "profile": profile, "auth": "ntlm"}
        for address, profile in zip(
            LAB_AUTH_ADDRESSES, ("windows-member", "exchange2010-cas-static"), strict=True
        )
    ]
    data = {
        "lab": {"epm_port": _free_port(LAB_AUTH_ADDRESSES[0]), "port_offset": 1000},
        "hosts": hosts,
    }
    data["lab"]["users"] = {f"{AUTH_DOMAIN}\\{AUTH_USER}": AUTH_PASSWORD}
    config = parse_lab(data, "auth-corpus")
    with LabThread(config) as lab:
        for host in hosts:
            address = str(host["address"])
            port = lab.host(address).epm_port
            label = f"lab-{host['profile']}"
            for max_frag, max_ents in ((4280, 500), (256, 50), (64, 20)):
                recorder = AuthRecorder(address, port, AUTH_PASSWORD, max_frag)
                recorder.authenticate_and_walk(max_ents)
                to_server, to_client = recorder.close()
                name = f"{label}-frag{max_frag}"
                add("auth_client", name, auth_input(to_client, _mode(max_frag)))
                add(
                    "auth_server",
                    f"{name}-unknown-challenge",
                    auth_input(to_server, _mode(max_frag)),
                )
                for token in _tokens(to_client, (PTYPE_BIND_ACK,)):
                    add("ntlm_tokens", f"{name}-challenge", token_input(token, "challenge"))
            wrong = AuthRecorder(address, port, WRONG_PASSWORD)
            wrong.authenticate_and_walk(500)
            _, to_client = wrong.close()
            add("auth_client", f"{label}-wrong-password", auth_input(to_client, _mode(4280)))


def _lookup_page() -> bytes:
    towers = [
        encode_tower(EPM_INTERFACE, "ncacn_ip_tcp", port=135, address=FIXED_SERVER_ADDRESS),
        encode_tower(EPM_INTERFACE, "ncacn_np", endpoint="\\pipe\\epmapper", address="FUZZ"),
    ]
    entries = [
        encode_lookup_entry("00000000-0000-0000-0000-000000000000", t, "fuzz") for t in towers
    ]
    return encode_lookup_response(NULL_HANDLE, entries, 0)


class FixedChallengeServer:
    """A loopback server of ``ServerConnection`` and an ``NtlmServer`` with the harnesses'
    fixed challenge: signed lookup pages for authenticated calls; what clients sent kept."""

    def __init__(self) -> None:
        self.listener = socket.create_server((FIXED_SERVER_ADDRESS, 0))
        self.port = self.listener.getsockname()[1]
        self.received: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            with sock:
                self.received.append(self._converse(sock))

    def _converse(self, sock: socket.socket) -> bytes:
        accounts = {account_key(AUTH_USER, AUTH_DOMAIN): compute_nthash(AUTH_PASSWORD)}
        server = ServerConnection()
        seen = bytearray()
        sock.settimeout(5)
        try:
            while data := sock.recv(65536):
                seen += data
                for event in server.feed(data):
                    if isinstance(event, BindRequest) and event.auth is not None:
                        ntlm = NtlmServer(
                            accounts, name="FUZZ", netbios_domain="LAB", dns_domain="lab.test"
                        )
                        challenge = ntlm.challenge(
                            event.auth, server_challenge=AUTH_SERVER_CHALLENGE, now=AUTH_NOW
                        )
                        server.ntlm = ntlm
                        sock.sendall(server.bind_ack(event, lambda _c: True, "135", auth=challenge))
                    elif isinstance(event, Request):
                        if event.signed:
                            sock.sendall(server.response(event.call_id, _lookup_page()))
                        else:
                            sock.sendall(server.fault(event.call_id, 5))
                    elif not isinstance(event, Auth3):
                        sock.sendall(server.bind_ack(event, lambda _c: True, "135"))
        except (OSError, ProtocolError):
            pass
        return bytes(seen)

    def close(self) -> None:
        self.listener.close()
        self.thread.join(5)


def _impacket_lookup(address: str, port: int, password: str) -> None:
    from impacket.dcerpc.v5 import epm, transport
    from impacket.dcerpc.v5.rpcrt import RPC_C_AUTHN_LEVEL_PKT_INTEGRITY, RPC_C_AUTHN_WINNT

    rpc = transport.DCERPCTransportFactory(f"ncacn_ip_tcp:{address}[{port}]")
    rpc.set_credentials(AUTH_USER, password, AUTH_DOMAIN)
    rpc.set_connect_timeout(5)
    dce = rpc.get_dce_rpc()
    dce.set_auth_type(RPC_C_AUTHN_WINNT)
    dce.set_auth_level(RPC_C_AUTHN_LEVEL_PKT_INTEGRITY)
    dce.connect()
    try:
        epm.hept_lookup(None, dce=dce)  # it binds the endpoint mapper itself
    except Exception:  # a wrong password ends in impacket's DCERPCException: expected
        pass
    finally:
        dce.disconnect()


def add_fixed_challenge(add: Add) -> None:
    """epmscan's and impacket's clients against the fixed-challenge server."""
    server = FixedChallengeServer()
    try:
        runs: list[tuple[str, int]] = []
        for max_frag, password in (
            (4280, AUTH_PASSWORD),
            (64, AUTH_PASSWORD),
            (4280, WRONG_PASSWORD),
        ):
            recorder = AuthRecorder(FIXED_SERVER_ADDRESS, server.port, password, max_frag)
            recorder.authenticate_and_walk(500)
            recorder.close()
            runs.append(
                (
                    f"epmscan-frag{max_frag}-{'right' if password == AUTH_PASSWORD else 'wrong'}",
                    max_frag,
                )
            )
        for password in (AUTH_PASSWORD, WRONG_PASSWORD):
            _impacket_lookup(FIXED_SERVER_ADDRESS, server.port, password)
            runs.append((f"impacket-{'right' if password == AUTH_PASSWORD else 'wrong'}", 4280))
    finally:
        server.close()
    for (name, max_frag), stream in zip(runs, server.received, strict=False):
        add("auth_server", name, auth_input(stream, _mode(max_frag)))
        for index, token in enumerate(_tokens(stream, (PTYPE_BIND,))):
            add("ntlm_tokens", f"{name}-negotiate{index}", token_input(token, "negotiate"))
        for index, token in enumerate(_tokens(stream, (PTYPE_AUTH3,))):
            add("ntlm_tokens", f"{name}-authenticate{index}", token_input(token, "authenticate"))


def add_samba(corpus: Path, address: str) -> int:
    """``peer-samba-*`` seeds from a running samba-dcerpcd knowing the harnesses' account."""
    written = 0

    def keep(harness: str, name: str, data: bytes) -> None:
        nonlocal written
        (corpus / harness / f"peer-samba-{name}").write_bytes(data)
        written += 1

    for max_frag, max_ents in ((4280, 500), (256, 3)):
        recorder = AuthRecorder(address, 135, AUTH_PASSWORD, max_frag)
        recorder.authenticate_and_walk(max_ents)
        _, to_client = recorder.close()
        keep("auth_client", f"frag{max_frag}-pages", auth_input(to_client, _mode(max_frag)))
        for token in _tokens(to_client, (PTYPE_BIND_ACK,)):
            keep("ntlm_tokens", "challenge", token_input(token, "challenge"))
    return written


def auth_seeds(add: Add) -> None:
    """Every seed of the authenticated harnesses (lab and in-process server)."""
    add_lab_auth(add)
    add_fixed_challenge(add)
